//! How much device memory a prior needs for a batch of takes, from the manifest alone, and the
//! check a job passes before it starts on a GPU.
//!
//! One prior is open at a time (levels run one after another), so a job needs the largest of
//! its priors' plans, on top of what is already resident when it is checked (the VQ-VAE).
//!
//! Per prior: the weights (the shared weights file at the device precision plus the small
//! tensors inside the graphs), once per decoder session that holds them (two on CUDA with
//! captured steps: the prefill session and the captured step session each upload their own);
//! per take the caches (`cache.bytes_per_sample`), `cond` and `start_emb`, the step's logits and
//! the prefill's largest transient tensors; and a stated margin for ONNX Runtime's workspace
//! (arena rounding, cuBLAS workspace, the conditioning session's own tensors).

use crate::engine::error::EngineError;
use crate::engine::prior::PREFILL_BLOCKS;
use crate::engine::session::Device;
use crate::jukebox::{CacheKind, GraphKind, Manifest, Precision, PriorSpec};

/// Fixed workspace margin per job: cuBLAS/cuDNN workspaces, the arena's rounding, kernels.
/// 1.5 GiB: with 1 GiB the plan fell short of what the process held on an H200 at one take
/// (docs/gpu-check.json; `tests/memory_plan.rs` checks the plan against it).
pub const WORKSPACE_MARGIN: u64 = 3 << 29;
/// Margin on each take's bytes: ONNX Runtime's CUDA arena grows in powers of two, so a
/// batch's tensors take up to twice their size. Measured on an H200 (docs/gpu-check.json):
/// 813 MiB more per take for the 1b_lyrics top prior where the tensors need 501, 900 for its
/// level-0 upsampler where they need 526.
pub const PER_TAKE_MARGIN_PERCENT: u64 = 75;
/// Margin on the weights: tensors ONNX Runtime makes from them at load (casts, transposes) and
/// the conditioning graph's own weights.
pub const WEIGHTS_MARGIN_PERCENT: u64 = 10;

/// The device memory one prior needs: fixed bytes plus bytes per take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    pub level: usize,
    /// Weights resident on the device (all sessions holding them), margin included.
    pub weights: u64,
    /// Caches, conditioning, logits and the prefill's transients of one take.
    pub per_take: u64,
    /// Of `per_take`: the key/value caches.
    pub caches_per_take: u64,
    pub workspace: u64,
}

impl MemoryPlan {
    /// The plan of the prior at `level` in `precision` (its graphs' precision on the device);
    /// `captured_steps`: a second decoder session holds the weights (CUDA graphs).
    pub fn for_prior(
        manifest: &Manifest,
        level: usize,
        precision: Precision,
        captured_steps: bool,
    ) -> Result<Self, EngineError> {
        let spec = manifest
            .prior(level)
            .ok_or_else(|| EngineError::MissingGraph {
                what: format!("prior for level {level}"),
            })?;
        let graph = |kind: GraphKind| {
            manifest
                .graph(kind, level, precision)
                .ok_or_else(|| EngineError::MissingGraph {
                    what: format!("{kind} graph for level {level} ({precision})"),
                })
        };
        let decoder = graph(GraphKind::PriorPrefill)?;
        let shared = decoder.external_data.as_ref().map_or(0, |data| data.bytes);
        let sessions = if captured_steps { 2 } else { 1 };
        let step_inline = if captured_steps {
            graph(GraphKind::PriorStep)?.bytes
        } else {
            0
        };
        let raw = sessions * shared
            + decoder.bytes
            + step_inline
            + graph(GraphKind::PriorConditioning)?.bytes;
        let weights = raw + raw * WEIGHTS_MARGIN_PERCENT / 100;
        let caches = spec
            .cache
            .bytes_per_sample
            .get(&precision)
            .copied()
            .ok_or_else(|| {
                EngineError::InvalidInput(format!(
                    "level {level} prior: the manifest gives no cache size for {precision}"
                ))
            })?;
        let element = precision.element_bytes();
        let per_take = caches + state_per_take(spec) + prefill_transients_per_take(spec, element);
        Ok(Self {
            level,
            weights,
            per_take: per_take + per_take * PER_TAKE_MARGIN_PERCENT / 100,
            caches_per_take: caches,
            workspace: WORKSPACE_MARGIN,
        })
    }

    /// Bytes for `takes` takes.
    pub fn bytes(&self, takes: usize) -> u64 {
        self.weights + self.workspace + self.per_take * takes as u64
    }

    /// The most takes that fit in `free` bytes (0: not even one).
    pub fn max_takes(&self, free: u64) -> usize {
        let fixed = self.weights + self.workspace;
        if free < fixed || self.per_take == 0 {
            return 0;
        }
        ((free - fixed) / self.per_take) as usize
    }
}

/// `cond` and `start_emb` (fp32), the step's logits and ids, one take.
fn state_per_take(spec: &PriorSpec) -> u64 {
    let floats = spec.n_ctx * spec.width + spec.width + spec.vocab_size;
    (floats * 4 + 8) as u64
}

/// The prefill's largest live tensors for one take at the largest chunk
/// ([`PREFILL_BLOCKS`] blocks): the keys and values gathered for the type-2 layers (`blocks` per
/// query), the scores of a layer over all `n_ctx` slots (types 0 and 7), the residual and MLP
/// activations, the chunk's logits, and the scratch copies of the ring caches a chunk across
/// blocks writes.
fn prefill_transients_per_take(spec: &PriorSpec, element: usize) -> u64 {
    let chunk = PREFILL_BLOCKS * spec.block_ctx;
    let gathered = 2 * chunk * spec.blocks * spec.attn_width * element;
    let scores = chunk * spec.n_ctx * spec.heads * 4 * 2;
    let activations = chunk * spec.width * (4 * 4 + 4 * element);
    let logits = chunk * spec.vocab_size * 4;
    let rings: usize = (spec.cache.layers.iter())
        .filter(|layer| layer.kind == CacheKind::Ring)
        .map(|layer| 2 * spec.heads * layer.slots * spec.head_dim * element)
        .sum();
    (gathered + scores + activations + logits + rings) as u64
}

/// The largest plan among the priors a job still has to run (levels `levels`).
pub fn job_plan(
    manifest: &Manifest,
    levels: impl IntoIterator<Item = usize>,
    precision: Precision,
    captured_steps: bool,
    takes: usize,
) -> Result<Option<MemoryPlan>, EngineError> {
    let mut worst: Option<MemoryPlan> = None;
    for level in levels {
        let plan = MemoryPlan::for_prior(manifest, level, precision, captured_steps)?;
        if worst.is_none_or(|w| plan.bytes(takes) > w.bytes(takes)) {
            worst = Some(plan);
        }
    }
    Ok(worst)
}

/// Refuses `takes` when `plan` does not fit in `free` bytes of device memory.
pub fn check_fits(plan: &MemoryPlan, takes: usize, free: u64) -> Result<(), EngineError> {
    let needed = plan.bytes(takes);
    if needed <= free {
        return Ok(());
    }
    Err(EngineError::OutOfDeviceMemory {
        takes,
        needed,
        free,
        level: plan.level,
        max_takes: plan.max_takes(free),
    })
}

/// Free and total bytes of the current CUDA device, from the CUDA runtime ONNX Runtime's CUDA
/// provider loaded (`cudaMemGetInfo`); `None` where there is none.
pub fn device_memory(device: Device) -> Option<(u64, u64)> {
    if device != Device::Cuda {
        return None;
    }
    type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> i32;
    for library in [c"libcudart.so.13", c"libcudart.so.12", c"libcudart.so"] {
        // SAFETY: dlopen with a valid C string; RTLD_NOLOAD first would miss a library the
        // provider loads lazily, so this may load it (it stays loaded, as device.rs does).
        let handle = unsafe { libc::dlopen(library.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if handle.is_null() {
            continue;
        }
        // SAFETY: `handle` is a loaded library; the symbol, if present, has cudaMemGetInfo's
        // C signature `cudaError_t (size_t *free, size_t *total)`.
        let symbol = unsafe { libc::dlsym(handle, c"cudaMemGetInfo".as_ptr()) };
        if symbol.is_null() {
            continue;
        }
        let get: MemGetInfo = unsafe { std::mem::transmute(symbol) };
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: both pointers point to live usize values.
        if unsafe { get(&mut free, &mut total) } == 0 {
            return Some((free as u64, total as u64));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jukebox::CacheWriter;
    use crate::jukebox::manifest::{CacheLayer, CacheSpec, ExternalData, GraphSpec};

    fn tiny(name: &str) -> Manifest {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(name);
        Manifest::load(&dir).unwrap()
    }

    /// The tiny-1b-lyrics top prior's plan: the cache bytes are the manifest's, the weights
    /// the shared file plus the graphs, and the per-take parts add up as documented.
    #[test]
    fn the_plan_of_a_tiny_prior_adds_up() {
        let manifest = tiny("tiny-1b-lyrics");
        let plan = MemoryPlan::for_prior(&manifest, 2, Precision::Fp32, false).unwrap();
        let spec = manifest.prior(2).unwrap();
        let prefill = manifest
            .graph(GraphKind::PriorPrefill, 2, Precision::Fp32)
            .unwrap();
        let conditioning = manifest
            .graph(GraphKind::PriorConditioning, 2, Precision::Fp32)
            .unwrap();
        let raw =
            prefill.external_data.as_ref().unwrap().bytes + prefill.bytes + conditioning.bytes;
        assert_eq!(plan.weights, raw + raw / 10);
        assert_eq!(
            plan.caches_per_take,
            spec.cache.bytes_per_sample[&Precision::Fp32]
        );
        let tensors =
            plan.caches_per_take + state_per_take(spec) + prefill_transients_per_take(spec, 4);
        assert_eq!(plan.per_take, tensors + tensors * 3 / 4);
        assert_eq!(
            plan.bytes(3),
            plan.weights + WORKSPACE_MARGIN + 3 * plan.per_take
        );
        // A captured step session holds a second copy of the shared weights.
        let captured = MemoryPlan::for_prior(&manifest, 2, Precision::Fp32, true).unwrap();
        let step = manifest
            .graph(GraphKind::PriorStep, 2, Precision::Fp32)
            .unwrap();
        let extra = prefill.external_data.as_ref().unwrap().bytes + step.bytes;
        assert_eq!(captured.weights, plan.weights + extra + extra / 10);
    }

    /// A manifest shaped like the real 1b_lyrics top prior (72 layers, width 2048, 6528
    /// positions, fp16 weights of 1.9 GB): batch 3 needs about 6 GiB, and 24 GiB free take
    /// 20-odd takes but not 40 (the arena's rounding included).
    #[test]
    fn a_full_size_plan_counts_gigabytes_of_caches() {
        let mut manifest = tiny("tiny-1b-lyrics");
        let (heads, head_dim, width, blocks, bc, n_ctx) = (2usize, 256, 2048, 64, 102, 6528);
        let types: Vec<u8> = (0..72)
            .map(|i| match i {
                71 => 0,
                i if i % 12 == 11 => 7,
                i => [1, 2, 3][i % 3],
            })
            .collect();
        let layers: Vec<CacheLayer> = types
            .iter()
            .enumerate()
            .map(|(i, &t)| CacheLayer {
                layer: i,
                attention_type: t,
                kind: match t {
                    0 => CacheKind::Linear,
                    1 | 3 => CacheKind::Ring,
                    2 => CacheKind::Transposed,
                    _ => CacheKind::Prime,
                },
                slots: match t {
                    1 => bc,
                    3 => 2 * bc,
                    7 => 448 + bc,
                    _ => n_ctx,
                },
                key: format!("cache.{i}.key"),
                value: format!("cache.{i}.value"),
                written_by: CacheWriter::Decoder,
            })
            .collect();
        let per_sample: u64 = layers
            .iter()
            .map(|l| (2 * heads * l.slots * head_dim * 2) as u64)
            .sum();
        let spec = &mut manifest.priors.iter_mut().find(|p| p.level == 2).unwrap();
        spec.width = width;
        spec.heads = heads;
        spec.head_dim = head_dim;
        spec.attn_width = heads * head_dim;
        spec.blocks = blocks;
        spec.block_ctx = bc;
        spec.n_ctx = n_ctx;
        spec.vocab_size = 2127;
        spec.attention_types = types;
        spec.cache = CacheSpec {
            layers,
            bytes_per_sample: [(Precision::Fp16, per_sample)].into(),
            ..spec.cache.clone()
        };
        let weights = 1_900_000_000u64;
        let fp16 = |kind: GraphKind| GraphSpec {
            kind,
            level: 2,
            precision: Precision::Fp16,
            bytes: 1_000_000,
            external_data: Some(ExternalData {
                file: "prior_l2.fp16.weights".into(),
                bytes: weights,
                sha256: String::new(),
            }),
            ..manifest.graph(kind, 2, Precision::Fp32).unwrap().clone()
        };
        let graphs: Vec<GraphSpec> = [
            GraphKind::PriorConditioning,
            GraphKind::PriorPrefill,
            GraphKind::PriorStep,
        ]
        .into_iter()
        .map(fp16)
        .collect();
        manifest.graphs.extend(graphs);

        let plan = MemoryPlan::for_prior(&manifest, 2, Precision::Fp16, false).unwrap();
        // 0.3 GiB of caches per take (docs/prior-graphs.md: 0.315 GiB for 1b_lyrics fp16).
        let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
        assert!(
            (0.25..0.35).contains(&gib(plan.caches_per_take)),
            "{}",
            gib(plan.caches_per_take)
        );
        assert!(
            (5.0..7.0).contains(&gib(plan.bytes(3))),
            "{} GiB",
            gib(plan.bytes(3))
        );
        let max = plan.max_takes(24 << 30);
        assert!((20..40).contains(&max), "{max} takes in 24 GiB");
        assert!(plan.bytes(max) <= 24 << 30 && plan.bytes(max + 1) > 24 << 30);
        assert!(
            MemoryPlan::for_prior(&manifest, 2, Precision::Fp16, true)
                .unwrap()
                .weights
                > plan.weights
        );
    }

    /// A job that does not fit is refused with the most takes that do, before it starts.
    #[test]
    fn a_job_that_does_not_fit_names_the_takes_that_do() {
        let manifest = tiny("tiny-5b");
        let plan = job_plan(&manifest, [2, 1, 0], Precision::Fp32, false, 16)
            .unwrap()
            .unwrap();
        let free = plan.bytes(5) + plan.per_take / 2; // room for 5 takes and a half
        let error = check_fits(&plan, 16, free).unwrap_err();
        assert!(
            matches!(
                error,
                EngineError::OutOfDeviceMemory {
                    max_takes: 5,
                    takes: 16,
                    ..
                }
            ),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("at most 5 takes"), "{message}");
        assert!(check_fits(&plan, 5, free).is_ok());
        assert_eq!(plan.max_takes(plan.weights), 0);
    }

    #[test]
    fn there_is_no_device_memory_on_the_cpu() {
        assert_eq!(device_memory(Device::Cpu), None);
    }
}
