//! One prior (one VQ-VAE level): its conditioning, prefill and step graphs, and the key/value
//! caches they share (docs/prior-graphs.md).
//!
//! The caches are allocated and zeroed once per generation ([`Prior::allocate`]) and bound in
//! place through `IoBinding`: the same tensor is input `cache.{i}.key` and output
//! `cache.{i}.key_out` of the decoder graphs (and output `cache.{i}.key` of the conditioning
//! graph for type-6 layers), so ONNX Runtime's ScatterElements writes the new rows straight into
//! it and no step copies a cache. `start_emb` and `cond` stay in the tensors the conditioning graph
//! wrote; per step the host only writes the token, the position and one `cond` row, and reads the
//! logits.

use std::path::Path;

use ort::memory::Allocator;
use ort::session::{IoBinding, Session};
use ort::value::{DynTensor, Tensor, TensorElementType};

use super::error::EngineError;
use super::session::SessionFactory;
use crate::jukebox::{Manifest, PriorSpec};

/// Label inputs of one window's conditioning graph, row-major over the batch. Fields a prior's
/// graph does not take (see `PriorSpec::conditioning.inputs`) are ignored and may stay empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditioningInputs {
    /// `[batch]`
    pub artist: Vec<i64>,
    /// `[batch, max_nb_genres]`, `-1` = empty slot.
    pub genres: Vec<i64>,
    /// `[batch]`, top level: song length in samples.
    pub total_length: Vec<i64>,
    /// `[batch]`, top level: window offset in samples.
    pub offset: Vec<i64>,
    /// `[batch]`, top level: window length in samples.
    pub sample_length: Vec<i64>,
    /// `[batch, n_tokens]`, 5b_lyrics: the lyric window.
    pub lyrics: Vec<i64>,
    /// `[batch, n_ctx / cond_downsample]`, upsamplers: the upper level's codes under the window.
    pub upper_codes: Vec<i64>,
}

/// The per-generation state: caches and bindings, made once by [`Prior::allocate`].
struct Bound {
    batch: usize,
    /// `(name, tensor)` for every cache of every layer; the bindings hold the same tensors.
    caches: Vec<(String, DynTensor)>,
    start_emb: Tensor<f32>,
    /// `[batch, n_ctx, width]`, written by the conditioning graph.
    cond: Tensor<f32>,
    conditioning: IoBinding,
    prefill: IoBinding,
    step: IoBinding,
    step_token: Tensor<i64>,
    step_position: Tensor<i64>,
    step_cond: Tensor<f32>,
    step_logits: Tensor<f32>,
}

pub struct Prior {
    spec: PriorSpec,
    precision: String,
    conditioning: Session,
    prefill: Session,
    step: Session,
    bound: Option<Bound>,
}

impl Prior {
    /// Opens the three graphs of the prior at `level` in `precision` ("fp32" or "fp16").
    pub fn open(
        dir: &Path,
        manifest: &Manifest,
        level: usize,
        factory: &SessionFactory,
        precision: &str,
    ) -> Result<Self, EngineError> {
        let spec = manifest
            .prior(level)
            .ok_or_else(|| EngineError::MissingGraph {
                what: format!("prior for level {level}"),
            })?
            .clone();
        let open = |graph: &str| {
            let kind = format!("prior_{graph}");
            let spec = manifest.graph(&kind, level, precision).ok_or_else(|| {
                EngineError::MissingGraph {
                    what: format!("{kind} graph for level {level} ({precision})"),
                }
            })?;
            factory.open(&dir.join(&spec.file))
        };
        Ok(Self {
            conditioning: open("conditioning")?,
            prefill: open("prefill")?,
            step: open("step")?,
            precision: precision.to_string(),
            spec,
            bound: None,
        })
    }

    pub fn spec(&self) -> &PriorSpec {
        &self.spec
    }

    pub fn level(&self) -> usize {
        self.spec.level
    }

    /// Batch size of the allocated caches, if any.
    pub fn batch(&self) -> Option<usize> {
        self.bound.as_ref().map(|b| b.batch)
    }

    /// Allocates the caches (zeroed) for `batch` takes and binds them; a no-op when they exist
    /// for that batch already. Caches never need clearing between windows.
    pub fn allocate(&mut self, batch: usize) -> Result<(), EngineError> {
        if batch == 0 {
            return Err(EngineError::InvalidInput(
                "a generation needs at least one take".into(),
            ));
        }
        if self.batch() == Some(batch) {
            return Ok(());
        }
        self.bound = None;
        let spec = &self.spec;
        let graph = format!("prior l{} caches", spec.level);
        let err = |e: ort::Error| run_error(&graph, e);
        let dtype = match spec.cache.dtype.get(&self.precision).map(String::as_str) {
            Some("float32") => TensorElementType::Float32,
            Some("float16") => TensorElementType::Float16,
            other => {
                return Err(EngineError::InvalidInput(format!(
                    "level {} prior: unsupported cache dtype {other:?} for {}",
                    spec.level, self.precision
                )));
            }
        };
        let allocator = Allocator::default();
        let mut caches = Vec::with_capacity(2 * spec.cache.layers.len());
        for layer in &spec.cache.layers {
            let shape = [batch, spec.heads, layer.slots, spec.head_dim];
            for name in [&layer.key, &layer.value] {
                // ort zeroes CPU tensors it allocates; zero explicitly anyway, the graphs rely on
                // masked slots holding finite values.
                let mut tensor = DynTensor::new(&allocator, dtype, shape).map_err(err)?;
                zero(&mut tensor).map_err(err)?;
                caches.push((name.clone(), tensor));
            }
        }
        let (width, n_ctx, vocab) = (spec.width, spec.n_ctx, spec.vocab_size);
        let mut start_emb = Tensor::<f32>::new(&allocator, [batch, width]).map_err(err)?;
        let mut cond = Tensor::<f32>::new(&allocator, [batch, n_ctx, width]).map_err(err)?;
        let step_token = Tensor::<i64>::new(&allocator, [batch]).map_err(err)?;
        let step_position = Tensor::<i64>::new(&allocator, [1usize]).map_err(err)?;
        let step_cond = Tensor::<f32>::new(&allocator, [batch, width]).map_err(err)?;
        let mut step_logits = Tensor::<f32>::new(&allocator, [batch, vocab]).map_err(err)?;

        // Conditioning: start_emb, cond and the type-6 caches land in our tensors.
        let mut conditioning = self.conditioning.create_binding().map_err(err)?;
        for output in self.conditioning.outputs() {
            let name = output.name();
            match name {
                "start_emb" => conditioning.bind_output(name, &mut start_emb),
                "cond" => conditioning.bind_output(name, &mut cond),
                _ => {
                    let tensor = find_cache(&mut caches, name)?;
                    conditioning.bind_output(name, tensor)
                }
            }
            .map_err(err)?;
        }

        // Decoders: every cache in place, start_emb read from where conditioning wrote it.
        let mut prefill = self.prefill.create_binding().map_err(err)?;
        let mut step = self.step.create_binding().map_err(err)?;
        for (binding, session) in [(&mut prefill, &self.prefill), (&mut step, &self.step)] {
            for (name, tensor) in &caches {
                binding.bind_input(name.as_str(), tensor).map_err(err)?;
            }
            binding.bind_input("start_emb", &start_emb).map_err(err)?;
            for output in session.outputs() {
                let name = output.name();
                if name == "logits" {
                    continue;
                }
                let cache = name.strip_suffix("_out").ok_or_else(|| {
                    EngineError::InvalidInput(format!(
                        "level {} prior: unexpected decoder output {name}",
                        spec.level
                    ))
                })?;
                binding
                    .bind_output(name, find_cache(&mut caches, cache)?)
                    .map_err(err)?;
            }
        }
        step.bind_input("token", &step_token).map_err(err)?;
        step.bind_input("position", &step_position).map_err(err)?;
        step.bind_input("cond", &step_cond).map_err(err)?;
        step.bind_output("logits", &mut step_logits).map_err(err)?;

        self.bound = Some(Bound {
            batch,
            caches,
            start_emb,
            cond,
            conditioning,
            prefill,
            step,
            step_token,
            step_position,
            step_cond,
            step_logits,
        });
        Ok(())
    }

    fn bound(&self) -> Result<&Bound, EngineError> {
        self.bound.as_ref().ok_or_else(not_allocated)
    }

    /// Runs the conditioning graph for one window: start embedding, per-position conditioning
    /// and (5b_lyrics) the cross-attention caches.
    pub fn condition(&mut self, inputs: &ConditioningInputs) -> Result<(), EngineError> {
        let graph = format!("prior l{} conditioning", self.spec.level);
        let err = |e: ort::Error| run_error(&graph, e);
        let bound = self.bound.as_mut().ok_or_else(not_allocated)?;
        let batch = bound.batch;
        let spec = &self.spec;
        for name in &spec.conditioning.inputs {
            let (values, per_row) = match name.as_str() {
                "artist" => (&inputs.artist, None),
                "genres" => (&inputs.genres, Some(spec.conditioning.max_nb_genres)),
                "total_length" => (&inputs.total_length, None),
                "offset" => (&inputs.offset, None),
                "sample_length" => (&inputs.sample_length, None),
                "lyrics" => (
                    &inputs.lyrics,
                    Some(spec.lyrics.as_ref().map_or(0, |l| l.n_tokens)),
                ),
                "upper_codes" => (
                    &inputs.upper_codes,
                    Some(spec.n_ctx / spec.conditioning.cond_downsample.max(1)),
                ),
                other => {
                    return Err(EngineError::InvalidInput(format!(
                        "level {} conditioning graph wants an input this engine does not know: \
                         {other}",
                        spec.level
                    )));
                }
            };
            let expected = batch * per_row.unwrap_or(1);
            if values.len() != expected {
                return Err(EngineError::InvalidInput(format!(
                    "level {} conditioning input {name}: {} values for {expected}",
                    spec.level,
                    values.len()
                )));
            }
            let tensor = match per_row {
                None => Tensor::from_array(([batch], values.clone())),
                Some(n) => Tensor::from_array(([batch, n], values.clone())),
            }
            .map_err(err)?;
            bound
                .conditioning
                .bind_input(name.as_str(), &tensor)
                .map_err(err)?;
        }
        self.conditioning
            .run_binding(&bound.conditioning)
            .map_err(err)?;
        Ok(())
    }

    /// `[batch, width]` start embedding of the last conditioned window.
    pub fn start_emb(&self) -> Result<&[f32], EngineError> {
        Ok(self.bound()?.start_emb.extract_tensor().1)
    }

    /// `[batch, n_ctx, width]` conditioning of the last conditioned window.
    pub fn cond(&self) -> Result<&[f32], EngineError> {
        Ok(self.bound()?.cond.extract_tensor().1)
    }

    /// Feeds `tokens` (`[batch, chunk]`, row-major: the ids fed at `position..position+chunk`,
    /// i.e. each the id of the position before) and writes their keys/values. The chunk must
    /// stay inside one attention block. Returns the logits `[batch, chunk, vocab]`.
    pub fn prefill(&mut self, tokens: &[i64], position: usize) -> Result<Vec<f32>, EngineError> {
        let graph = format!("prior l{} prefill", self.spec.level);
        let err = |e: ort::Error| run_error(&graph, e);
        let bound = self.bound.as_mut().ok_or_else(not_allocated)?;
        let (batch, width, bc) = (bound.batch, self.spec.width, self.spec.block_ctx);
        let vocab = self.spec.vocab_size;
        if tokens.is_empty() || !tokens.len().is_multiple_of(batch) {
            return Err(EngineError::InvalidInput(format!(
                "prefill takes a non-empty [batch={batch}, chunk] block of ids; got {}",
                tokens.len()
            )));
        }
        let chunk = tokens.len() / batch;
        if position % bc + chunk > bc || position + chunk > self.spec.n_ctx {
            return Err(EngineError::InvalidInput(format!(
                "prefill chunk [{position}, {}) crosses an attention block of {bc} or the \
                 window of {}",
                position + chunk,
                self.spec.n_ctx
            )));
        }
        let n_ctx = self.spec.n_ctx;
        let all_cond = bound.cond.extract_tensor().1;
        let mut cond = Vec::with_capacity(batch * chunk * width);
        for row in 0..batch {
            let from = (row * n_ctx + position) * width;
            cond.extend_from_slice(&all_cond[from..from + chunk * width]);
        }
        let tokens = Tensor::from_array(([batch, chunk], tokens.to_vec())).map_err(err)?;
        let position = Tensor::from_array(([1usize], vec![position as i64])).map_err(err)?;
        let cond = Tensor::from_array(([batch, chunk, width], cond)).map_err(err)?;
        bound.prefill.bind_input("tokens", &tokens).map_err(err)?;
        bound
            .prefill
            .bind_input("position", &position)
            .map_err(err)?;
        bound.prefill.bind_input("cond", &cond).map_err(err)?;
        // The chunk length varies, so the logits get a tensor of this chunk's shape.
        let mut logits =
            Tensor::<f32>::new(&Allocator::default(), [batch, chunk, vocab]).map_err(err)?;
        bound
            .prefill
            .bind_output("logits", &mut logits)
            .map_err(err)?;
        drop(self.prefill.run_binding(&bound.prefill).map_err(err)?);
        Ok(logits.extract_tensor().1.to_vec())
    }

    /// Feeds one id per batch row at `position` (the id of the position before; ignored at 0)
    /// and returns the logits `[batch, vocab]` for `position`.
    pub fn step(&mut self, tokens: &[i64], position: usize) -> Result<&[f32], EngineError> {
        let graph = format!("prior l{} step", self.spec.level);
        let err = |e: ort::Error| run_error(&graph, e);
        let bound = self.bound.as_mut().ok_or_else(not_allocated)?;
        let (batch, width, n_ctx) = (bound.batch, self.spec.width, self.spec.n_ctx);
        if tokens.len() != batch || position >= n_ctx {
            return Err(EngineError::InvalidInput(format!(
                "step takes one id per take ({batch}) at a position below {n_ctx}; got {} ids \
                 at {position}",
                tokens.len()
            )));
        }
        bound
            .step_token
            .extract_tensor_mut()
            .1
            .copy_from_slice(tokens);
        bound.step_position.extract_tensor_mut().1[0] = position as i64;
        let all_cond = bound.cond.extract_tensor().1;
        let step_cond = bound.step_cond.extract_tensor_mut().1;
        for row in 0..batch {
            let from = (row * n_ctx + position) * width;
            step_cond[row * width..(row + 1) * width]
                .copy_from_slice(&all_cond[from..from + width]);
        }
        drop(self.step.run_binding(&bound.step).map_err(err)?);
        Ok(bound.step_logits.extract_tensor().1)
    }

    /// Raw data pointers of the caches, for checking that they stay in place.
    pub fn cache_addresses(&self) -> Result<Vec<usize>, EngineError> {
        Ok(self
            .bound()?
            .caches
            .iter()
            .map(|(_, t)| t.data_ptr() as usize)
            .collect())
    }
}

fn find_cache<'a>(
    caches: &'a mut [(String, DynTensor)],
    name: &str,
) -> Result<&'a mut DynTensor, EngineError> {
    caches
        .iter_mut()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| {
            EngineError::InvalidInput(format!(
                "a prior graph names cache {name}, which the manifest does not list"
            ))
        })
}

/// Zeroes a CPU tensor's bytes (0.0 in fp32 and fp16 alike).
fn zero(tensor: &mut DynTensor) -> Result<(), ort::Error> {
    let bytes = tensor
        .data_type()
        .byte_size(tensor.shape().num_elements())
        .unwrap_or(0);
    let data = tensor.data_ptr_mut().cast::<u8>();
    if bytes > 0 && !data.is_null() {
        // SAFETY: the tensor was just allocated on the CPU by ONNX Runtime with exactly
        // `bytes` bytes of data, and nothing else refers to it yet.
        unsafe { std::ptr::write_bytes(data, 0, bytes) };
    }
    Ok(())
}

fn not_allocated() -> EngineError {
    EngineError::InvalidInput("the prior's caches are not allocated: call allocate first".into())
}

fn run_error(graph: &str, error: ort::Error) -> EngineError {
    EngineError::Run {
        graph: graph.to_string(),
        reason: error.to_string(),
    }
}

// The engine runs priors on a worker thread.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Prior>();
};
