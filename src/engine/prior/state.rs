//! The per-(prior, batch) state: caches, `start_emb`, `cond` and the step's inputs and outputs,
//! allocated where the graphs run ([`Placement`]) and bound ONCE.
//!
//! Every cache is bound in place: the same tensor is input `cache.{i}.key` and output
//! `cache.{i}.key_out` of the decoder graphs (and output of the conditioning graph for type-6
//! layers), so ONNX Runtime's ScatterElements writes the new rows straight into it. `start_emb`
//! and the window's whole `cond` stay where the conditioning graph wrote them; the decoder
//! graphs gather their `cond` rows from it. Per step the host writes only the ids and the
//! position, and reads the logits.

use std::sync::atomic::{AtomicU64, Ordering};

use ort::session::{IoBinding, RunOptions, Session};
use ort::value::{DynTensor, Tensor, TensorElementType};

use super::placement::{Placement, host_tensor};
use crate::engine::error::EngineError;
use crate::jukebox::{CacheKind, ElementType, Precision, PriorSpec};

/// CUDA graph ids: one per captured (prior, batch), unique in the process.
static NEXT_GRAPH_ID: AtomicU64 = AtomicU64::new(0);

/// The step's bound inputs and outputs, with the host tensors copies go through.
pub(super) struct StepIo {
    pub binding: IoBinding,
    /// Run options of a captured step (its CUDA graph id); `None`: an ordinary run.
    pub options: Option<RunOptions>,
    pub token: Tensor<i64>,
    pub token_host: Tensor<i64>,
    pub position: Tensor<i64>,
    pub position_host: Tensor<i64>,
    pub logits: Tensor<f32>,
    pub logits_host: Tensor<f32>,
}

pub(super) struct State {
    pub batch: usize,
    pub placement: Placement,
    /// `(name, tensor)` for every cache of every layer; the bindings hold the same tensors.
    pub caches: Vec<(String, DynTensor)>,
    pub start_emb: Tensor<f32>,
    /// `[batch, n_ctx, width]`, written by the conditioning graph, read by the decoders.
    pub cond: Tensor<f32>,
    pub conditioning: IoBinding,
    /// Prefill: everything but `tokens`, `position` and `logits`, which change per chunk.
    pub prefill: IoBinding,
    /// Prefill of a chunk that crosses an attention block: the same, but the ring caches'
    /// outputs bound to `ring_scratch` (the graph reads the rings as they were before the
    /// chunk), copied back into the caches after the run.
    pub prefill_across: IoBinding,
    /// `(index in caches, scratch)` for every ring cache.
    pub ring_scratch: Vec<(usize, DynTensor)>,
    pub step: StepIo,
}

impl State {
    /// Allocates (zeroed caches) and binds the state of `batch` takes. `step` is the session the
    /// steps run on: the decoder (prefill graph at chunk 1) or the captured step graph.
    pub fn new(
        spec: &PriorSpec,
        precision: Precision,
        batch: usize,
        placement: Placement,
        conditioning: &Session,
        decoder: &Session,
        step: StepSession<'_>,
    ) -> Result<Self, EngineError> {
        let graph = format!("prior l{} caches", spec.level);
        let err = |e: ort::Error| run_error(&graph, e);
        let dtype = cache_dtype(spec, precision)?;
        let mut zeros = Vec::new();
        let mut caches = Vec::with_capacity(2 * spec.cache.layers.len());
        for layer in &spec.cache.layers {
            let shape = [batch, spec.heads, layer.slots, spec.head_dim];
            for name in [&layer.key, &layer.value] {
                let tensor = placement.zeroed(dtype, &shape, &mut zeros).map_err(err)?;
                caches.push((name.clone(), tensor));
            }
        }
        drop(zeros);
        let (width, n_ctx) = (spec.width, spec.n_ctx);
        let mut start_emb = placement.tensor::<f32>(&[batch, width]).map_err(err)?;
        let mut cond = placement
            .tensor::<f32>(&[batch, n_ctx, width])
            .map_err(err)?;

        // Conditioning: start_emb, cond and the type-6 caches land in our tensors.
        let mut cond_binding = conditioning.create_binding().map_err(err)?;
        for output in conditioning.outputs() {
            let name = output.name();
            match name {
                "start_emb" => cond_binding.bind_output(name, &mut start_emb),
                "cond" => cond_binding.bind_output(name, &mut cond),
                _ => cond_binding.bind_output(name, find_cache(&mut caches, name)?),
            }
            .map_err(err)?;
        }
        let mut prefill = decoder.create_binding().map_err(err)?;
        bind_decoder_state(&mut prefill, decoder, &mut caches, &start_emb, &cond, spec)?;
        let rings: Vec<&str> = spec
            .cache
            .layers
            .iter()
            .filter(|l| l.kind == CacheKind::Ring)
            .flat_map(|l| [l.key.as_str(), l.value.as_str()])
            .collect();
        let mut ring_scratch = Vec::with_capacity(rings.len());
        for (index, (name, cache)) in caches.iter().enumerate() {
            if rings.contains(&name.as_str()) {
                let shape: Vec<usize> = cache.shape().iter().map(|&d| d as usize).collect();
                let scratch = DynTensor::new(placement.allocator(), dtype, shape).map_err(err)?;
                ring_scratch.push((index, scratch));
            }
        }
        let mut prefill_across = decoder.create_binding().map_err(err)?;
        bind_decoder_state(
            &mut prefill_across,
            decoder,
            &mut caches,
            &start_emb,
            &cond,
            spec,
        )?;
        for (index, scratch) in &mut ring_scratch {
            let output = format!("{}_out", caches[*index].0);
            prefill_across
                .bind_output(output, &mut *scratch)
                .map_err(err)?;
        }
        let step = StepIo::new(
            spec,
            batch,
            &placement,
            step,
            &mut caches,
            &start_emb,
            &cond,
        )?;
        Ok(Self {
            batch,
            placement,
            caches,
            start_emb,
            cond,
            conditioning: cond_binding,
            prefill,
            prefill_across,
            ring_scratch,
            step,
        })
    }

    /// After a prefill through `prefill_across`: the ring caches take their new contents.
    pub fn copy_rings_back(&mut self) -> Result<(), ort::Error> {
        for (index, scratch) in &self.ring_scratch {
            self.placement.copy(scratch, &mut self.caches[*index].1)?;
        }
        Ok(())
    }

    /// Rebinds the step to `session` (after a failed capture), keeping every cache.
    pub fn rebind_step(
        &mut self,
        spec: &PriorSpec,
        session: StepSession<'_>,
    ) -> Result<(), EngineError> {
        self.step = StepIo::new(
            spec,
            self.batch,
            &self.placement,
            session,
            &mut self.caches,
            &self.start_emb,
            &self.cond,
        )?;
        Ok(())
    }
}

/// The session steps run on, and its graph's shapes.
#[derive(Clone, Copy)]
pub(super) enum StepSession<'a> {
    /// The prefill graph at chunk 1: `tokens [batch, 1]`, `logits [batch, 1, vocab]`.
    Decoder(&'a Session),
    /// The step graph, captured: `token [batch]`, `logits [batch, vocab]`.
    Captured(&'a Session),
}

impl StepIo {
    fn new(
        spec: &PriorSpec,
        batch: usize,
        placement: &Placement,
        session: StepSession<'_>,
        caches: &mut [(String, DynTensor)],
        start_emb: &Tensor<f32>,
        cond: &Tensor<f32>,
    ) -> Result<Self, EngineError> {
        let graph = format!("prior l{} step", spec.level);
        let err = |e: ort::Error| run_error(&graph, e);
        let vocab = spec.vocab_size;
        let (session, token_name, token_shape, logits_shape, options) = match session {
            StepSession::Decoder(s) => (s, "tokens", vec![batch, 1], vec![batch, 1, vocab], None),
            StepSession::Captured(s) => {
                let mut options = RunOptions::new().map_err(err)?;
                let id = NEXT_GRAPH_ID.fetch_add(1, Ordering::Relaxed);
                options.set("gpu_graph_id", id.to_string()).map_err(err)?;
                (s, "token", vec![batch], vec![batch, vocab], Some(options))
            }
        };
        let token = placement.tensor::<i64>(&token_shape).map_err(err)?;
        let position = placement.tensor::<i64>(&[1]).map_err(err)?;
        let mut logits = placement.tensor::<f32>(&logits_shape).map_err(err)?;
        let mut binding = session.create_binding().map_err(err)?;
        bind_decoder_state(&mut binding, session, caches, start_emb, cond, spec)?;
        binding.bind_input(token_name, &token).map_err(err)?;
        binding.bind_input("position", &position).map_err(err)?;
        binding.bind_output("logits", &mut logits).map_err(err)?;
        Ok(Self {
            binding,
            options,
            token_host: host_tensor(&token_shape).map_err(err)?,
            token,
            position_host: host_tensor(&[1]).map_err(err)?,
            position,
            logits_host: host_tensor(&logits_shape).map_err(err)?,
            logits,
        })
    }
}

/// Binds what every decoder run shares: the caches in place, `start_emb` and `cond`.
fn bind_decoder_state(
    binding: &mut IoBinding,
    session: &Session,
    caches: &mut [(String, DynTensor)],
    start_emb: &Tensor<f32>,
    cond: &Tensor<f32>,
    spec: &PriorSpec,
) -> Result<(), EngineError> {
    let graph = format!("prior l{} decoder", spec.level);
    let err = |e: ort::Error| run_error(&graph, e);
    for (name, tensor) in caches.iter() {
        binding.bind_input(name.as_str(), tensor).map_err(err)?;
    }
    binding.bind_input("start_emb", start_emb).map_err(err)?;
    binding.bind_input("cond", cond).map_err(err)?;
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
            .bind_output(name, find_cache(caches, cache)?)
            .map_err(err)?;
    }
    Ok(())
}

fn cache_dtype(spec: &PriorSpec, precision: Precision) -> Result<TensorElementType, EngineError> {
    match spec.cache.dtype.get(&precision) {
        Some(ElementType::Float32) => Ok(TensorElementType::Float32),
        Some(ElementType::Float16) => Ok(TensorElementType::Float16),
        other => Err(EngineError::InvalidInput(format!(
            "level {} prior: unsupported cache dtype {other:?} for {precision}",
            spec.level
        ))),
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

pub(super) fn run_error(graph: &str, error: ort::Error) -> EngineError {
    EngineError::Run {
        graph: graph.to_string(),
        reason: error.to_string(),
    }
}
