//! One prior (one VQ-VAE level): its conditioning, prefill and step graphs, and the state they
//! share (docs/prior-graphs.md).
//!
//! - `sessions`: which session runs which call (one decoder session for prefill and step, so one
//!   copy of the weights; a captured step session on CUDA with graphs).
//! - `state`: caches, `start_emb`, `cond` and the step's inputs and outputs, allocated once per
//!   (prior, batch) where the graphs run and bound once.
//! - `placement`: host or device memory, and the copies the host reaches the latter through.

mod placement;
mod sessions;
mod state;

use std::path::Path;

use ort::memory::Allocator;
use ort::value::Tensor;

use self::placement::{Access, Placement, host_tensor};
use self::sessions::PriorSessions;
use self::state::{State, StepSession, run_error};
use super::error::EngineError;
use super::session::{Device, SessionFactory};
use crate::jukebox::{Manifest, Precision, PriorSpec};

pub use self::sessions::StepGraphs;

/// Attention blocks per prefill run (see [`Prior::max_prefill_chunk`]).
pub const PREFILL_BLOCKS: usize = 4;

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

pub struct Prior {
    spec: PriorSpec,
    precision: Precision,
    device: Device,
    sessions: PriorSessions,
    /// Handle host state through copies as on a device (tests of the device path).
    copied_state: bool,
    state: Option<State>,
}

impl Prior {
    /// Opens the graphs of the prior at `level` in `precision`.
    pub fn open(
        dir: &Path,
        manifest: &Manifest,
        level: usize,
        factory: &SessionFactory,
        precision: Precision,
    ) -> Result<Self, EngineError> {
        let spec = manifest
            .prior(level)
            .ok_or_else(|| EngineError::MissingGraph {
                what: format!("prior for level {level}"),
            })?
            .clone();
        Ok(Self {
            sessions: PriorSessions::open(dir, manifest, level, factory, precision)?,
            precision,
            device: factory.device,
            spec,
            copied_state: false,
            state: None,
        })
    }

    /// On the CPU, reach the state only through ONNX Runtime copies, exactly as on a GPU, so
    /// that the device path runs in CPU tests. Takes effect at the next [`Prior::allocate`].
    pub fn copy_state_as_on_a_device(&mut self) {
        self.copied_state = true;
        self.state = None;
    }

    pub fn spec(&self) -> &PriorSpec {
        &self.spec
    }

    pub fn level(&self) -> usize {
        self.spec.level
    }

    /// How the steps run: on the CPU, captured as CUDA graphs, or why not.
    pub fn step_graphs(&self) -> &StepGraphs {
        &self.sessions.step_graphs
    }

    /// Batch size of the allocated state, if any.
    pub fn batch(&self) -> Option<usize> {
        self.state.as_ref().map(|b| b.batch)
    }

    /// Allocates the state (zeroed caches) for `batch` takes and binds it; a no-op when it
    /// exists for that batch already. Caches never need clearing between windows.
    pub fn allocate(&mut self, batch: usize) -> Result<(), EngineError> {
        if batch == 0 {
            return Err(EngineError::InvalidInput(
                "a generation needs at least one take".into(),
            ));
        }
        if self.batch() == Some(batch) {
            return Ok(());
        }
        self.state = None;
        let graph = format!("prior l{} state", self.spec.level);
        let placement = if self.copied_state && self.device == Device::Cpu {
            Placement::staged_cpu()
        } else {
            Placement::for_session(self.device, &self.sessions.decoder)
                .map_err(|e| run_error(&graph, e))?
        };
        let step = self.step_session();
        self.state = Some(State::new(
            &self.spec,
            self.precision,
            batch,
            placement,
            &self.sessions.conditioning,
            &self.sessions.decoder,
            step,
        )?);
        Ok(())
    }

    fn step_session(&self) -> StepSession<'_> {
        match &self.sessions.captured_step {
            Some(session) => StepSession::Captured(session),
            None => StepSession::Decoder(&self.sessions.decoder),
        }
    }

    fn state(&self) -> Result<&State, EngineError> {
        self.state.as_ref().ok_or_else(not_allocated)
    }

    /// Runs the conditioning graph for one window: start embedding, per-position conditioning
    /// and (5b_lyrics) the cross-attention caches, all written into the bound state.
    pub fn condition(&mut self, inputs: &ConditioningInputs) -> Result<(), EngineError> {
        let graph = format!("prior l{} conditioning", self.spec.level);
        let err = |e: ort::Error| run_error(&graph, e);
        let state = self.state.as_mut().ok_or_else(not_allocated)?;
        let batch = state.batch;
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
            // Host tensors: ONNX Runtime copies them to the device as it binds them (once per
            // window, a few integers).
            let tensor = match per_row {
                None => Tensor::from_array(([batch], values.clone())),
                Some(n) => Tensor::from_array(([batch, n], values.clone())),
            }
            .map_err(err)?;
            state
                .conditioning
                .bind_input(name.as_str(), &tensor)
                .map_err(err)?;
        }
        self.sessions
            .conditioning
            .run_binding(&state.conditioning)
            .map_err(err)?;
        Ok(())
    }

    /// `[batch, width]` start embedding of the last conditioned window (copied to the host).
    pub fn start_emb(&self) -> Result<Vec<f32>, EngineError> {
        let state = self.state()?;
        read_back(&state.placement, &state.start_emb, "start_emb")
    }

    /// `[batch, n_ctx, width]` conditioning of the last conditioned window (copied to the host).
    pub fn cond(&self) -> Result<Vec<f32>, EngineError> {
        let state = self.state()?;
        read_back(&state.placement, &state.cond, "cond")
    }

    /// The prefill chunk the engine feeds at most: a few attention blocks per run (fewer runs
    /// and bigger matrix products than block-aligned chunks; the transients grow with it).
    pub fn max_prefill_chunk(&self) -> usize {
        PREFILL_BLOCKS * self.spec.block_ctx
    }

    /// Feeds `tokens` (`[batch, chunk]`, row-major: the ids fed at `position..position+chunk`,
    /// i.e. each the id of the position before) and writes their keys/values. Any chunk inside
    /// the window; one that crosses an attention block has its ring caches written through
    /// scratch buffers. The logits stay where the graph wrote them (nothing copied to the
    /// host: sampling only needs the keys and values of a prefill); see
    /// [`Prior::prefill_logits`].
    pub fn prefill(&mut self, tokens: &[i64], position: usize) -> Result<(), EngineError> {
        self.run_prefill(tokens, position, false).map(drop)
    }

    /// [`Prior::prefill`], returning the logits `[batch, chunk, vocab]` on the host too (tests,
    /// and the few steps a captured step graph cannot take).
    pub fn prefill_logits(
        &mut self,
        tokens: &[i64],
        position: usize,
    ) -> Result<Vec<f32>, EngineError> {
        self.run_prefill(tokens, position, true)
            .map(Option::unwrap_or_default)
    }

    fn run_prefill(
        &mut self,
        tokens: &[i64],
        position: usize,
        want_logits: bool,
    ) -> Result<Option<Vec<f32>>, EngineError> {
        let graph = format!("prior l{} prefill", self.spec.level);
        let err = |e: ort::Error| run_error(&graph, e);
        let state = self.state.as_mut().ok_or_else(not_allocated)?;
        let (batch, bc) = (state.batch, self.spec.block_ctx);
        let vocab = self.spec.vocab_size;
        if tokens.is_empty() || !tokens.len().is_multiple_of(batch) {
            return Err(EngineError::InvalidInput(format!(
                "prefill takes a non-empty [batch={batch}, chunk] block of ids; got {}",
                tokens.len()
            )));
        }
        let chunk = tokens.len() / batch;
        if position + chunk > self.spec.n_ctx {
            return Err(EngineError::InvalidInput(format!(
                "prefill chunk [{position}, {}) runs past the window of {}",
                position + chunk,
                self.spec.n_ctx
            )));
        }
        // Inside one block, a chunk overwrites only ring slots none of its queries may see, so
        // the rings stay bound in place; across blocks they are written apart, then copied.
        let across = position % bc + chunk > bc;
        // Per chunk only the ids and the position go in (host tensors, copied by ONNX Runtime as
        // it binds them; the prefill is never captured): `cond` is gathered in the graph.
        let tokens = Tensor::from_array(([batch, chunk], tokens.to_vec())).map_err(err)?;
        let position = Tensor::from_array(([1usize], vec![position as i64])).map_err(err)?;
        // The chunk length varies, so asked-for logits get a host tensor of this chunk's shape;
        // otherwise ONNX Runtime keeps them in its own memory on the device, freed after the run.
        let mut logits = if want_logits {
            Some(Tensor::<f32>::new(&Allocator::default(), [batch, chunk, vocab]).map_err(err)?)
        } else {
            None
        };
        {
            let memory = state.placement.allocator().memory_info();
            let binding = if across {
                &mut state.prefill_across
            } else {
                &mut state.prefill
            };
            binding.bind_input("tokens", &tokens).map_err(err)?;
            binding.bind_input("position", &position).map_err(err)?;
            match logits.as_mut() {
                Some(logits) => binding.bind_output("logits", logits).map_err(err)?,
                None => binding
                    .bind_output_to_device("logits", memory)
                    .map_err(err)?,
            }
            drop(self.sessions.decoder.run_binding(binding).map_err(err)?);
        }
        if across {
            state.copy_rings_back().map_err(err)?;
        }
        Ok(logits.map(|l| l.extract_tensor().1.to_vec()))
    }

    /// Feeds one id per batch row at `position` (the id of the position before; ignored at 0)
    /// and returns the logits `[batch, vocab]` for `position`.
    pub fn step(&mut self, tokens: &[i64], position: usize) -> Result<&[f32], EngineError> {
        let (batch, n_ctx) = (self.state()?.batch, self.spec.n_ctx);
        if tokens.len() != batch || position >= n_ctx {
            return Err(EngineError::InvalidInput(format!(
                "step takes one id per take ({batch}) at a position below {n_ctx}; got {} ids \
                 at {position}",
                tokens.len()
            )));
        }
        if position < self.spec.step_from_position && self.sessions.captured_step.is_some() {
            // The step graph is exact only from there on (the manifest says): the few steps
            // before (a short prompt's first block) run through the prefill graph.
            let logits = self.prefill_logits(tokens, position)?;
            let state = self.state.as_mut().ok_or_else(not_allocated)?;
            let host = state.step.logits_host.extract_tensor_mut().1;
            host.copy_from_slice(&logits);
            return Ok(host);
        }
        if let Err(error) = self.run_step(tokens, position) {
            if self.sessions.captured_step.is_none() {
                return Err(error);
            }
            // A failed capture or replay: the step writes the same cache rows again, so running
            // it uncaptured from here on loses nothing.
            tracing::warn!(%error, "captured step failed; steps run uncaptured from now on");
            self.sessions.give_up_capture(error.to_string());
            let state = self.state.as_mut().ok_or_else(not_allocated)?;
            state.rebind_step(&self.spec, StepSession::Decoder(&self.sessions.decoder))?;
            self.run_step(tokens, position)?;
        }
        let level = self.spec.level;
        let state = self.state.as_mut().ok_or_else(not_allocated)?;
        let io = &mut state.step;
        state
            .placement
            .download(&io.logits, &mut io.logits_host)
            .map_err(|e| step_error(level, e))
    }

    fn run_step(&mut self, tokens: &[i64], position: usize) -> Result<(), EngineError> {
        // Named only on failure: this runs once per sampled token.
        let level = self.spec.level;
        let err = |e: ort::Error| step_error(level, e);
        let state = self.state.as_mut().ok_or_else(not_allocated)?;
        let io = &mut state.step;
        let placement = &state.placement;
        placement
            .upload(tokens, &mut io.token, &mut io.token_host)
            .map_err(err)?;
        placement
            .upload(&[position as i64], &mut io.position, &mut io.position_host)
            .map_err(err)?;
        let outputs = match (&mut self.sessions.captured_step, &io.options) {
            (Some(session), Some(options)) => {
                session.run_binding_with_options(&io.binding, options)
            }
            _ => self.sessions.decoder.run_binding(&io.binding),
        }
        .map_err(err)?;
        drop(outputs);
        Ok(())
    }

    /// Raw data pointers of the caches, for checking that they stay in place.
    pub fn cache_addresses(&self) -> Result<Vec<usize>, EngineError> {
        Ok(self
            .state()?
            .caches
            .iter()
            .map(|(_, t)| t.data_ptr() as usize)
            .collect())
    }

    /// Raw data pointers of every bound tensor of the step (caches, `start_emb`, `cond`, ids,
    /// position, logits), for checking that a replay finds them where it captured them.
    pub fn step_addresses(&self) -> Result<Vec<usize>, EngineError> {
        let state = self.state()?;
        let io = &state.step;
        let mut addresses = self.cache_addresses()?;
        addresses.extend([
            state.start_emb.data_ptr() as usize,
            state.cond.data_ptr() as usize,
            io.token.data_ptr() as usize,
            io.position.data_ptr() as usize,
            io.logits.data_ptr() as usize,
        ]);
        Ok(addresses)
    }

    /// Whether the host reaches the state through copies (GPU, or the staged CPU test path).
    pub fn state_is_copied(&self) -> Result<bool, EngineError> {
        Ok(self.state()?.placement.access() == Access::Copied)
    }
}

/// The values of a state tensor, on the host.
fn read_back(
    placement: &Placement,
    tensor: &Tensor<f32>,
    what: &str,
) -> Result<Vec<f32>, EngineError> {
    let err = |e: ort::Error| run_error(what, e);
    let shape: Vec<usize> = tensor.shape().iter().map(|&d| d as usize).collect();
    let mut host = host_tensor::<f32>(&shape).map_err(err)?;
    Ok(placement.download(tensor, &mut host).map_err(err)?.to_vec())
}

fn not_allocated() -> EngineError {
    EngineError::InvalidInput("the prior's caches are not allocated: call allocate first".into())
}

// The engine runs priors on a worker thread.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Prior>();
};

fn step_error(level: usize, error: ort::Error) -> EngineError {
    run_error(&format!("prior l{level} step"), error)
}
