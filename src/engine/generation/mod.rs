//! One generation: a prompt continued at the top level, then upsampled level by level.
//!
//! prompt audio -> codes at every level (VQ-VAE) -> level 2 sampled window by window for the
//! requested seconds -> levels 1 and 0 upsampled from the level above, each primed by the
//! prompt's own codes at that level -> every finished level decoded.
//!
//! [`Generation::step`] does one graph call (or one level transition), so [`Generation::run`]
//! answers a cancel within one step. The state is a [`Checkpoint`] at any step; resuming it
//! gives exactly the codes an uninterrupted run gives. A finished checkpoint can also start a
//! follow-up: upsampled later ([`Generation::upsample`]) or a take continued from a chosen time
//! ([`Generation::continue_take`]).
//!
//! Files: `engine` (the model folder), `settings`, `state` (what a checkpoint holds),
//! `checkpoint` (on disk), `follow_up` (upsample later, continue a take), `plan` (settings to
//! per-level requests), `stepping` (the run loop), `streaming`, `progress`, `events`.

mod checkpoint;
mod checkpoint_writer;
pub(crate) mod codes_format;
mod engine;
mod events;
mod follow_up;
mod plan;
mod progress;
mod settings;
mod state;
mod stepping;
mod streaming;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

pub use checkpoint::{CHECKPOINT_VERSION, Checkpoint, absolute_path, found_path, relative_path};
pub use engine::{Engine, EngineOptions};
pub use events::{Event, EventSink};
pub use follow_up::{TakeCut, TakeSpan};
pub use settings::{DEFAULT_SONG_SECONDS, Settings};
pub use state::GenerationState;
pub use stepping::{CHECKPOINT_EVERY, GenStep, Outcome};
pub use streaming::{STREAM_CHUNK_SECONDS, Streamer};

use super::error::EngineError;
use crate::audio::DecodedAudio;
use plan::LevelPlan;
use stepping::ActiveLevel;

pub struct Generation {
    engine: Engine,
    /// Its `current` is empty while a level runs: the active sampler holds that part.
    state: GenerationState,
    /// By level.
    plans: Vec<LevelPlan>,
    /// The level under way (`None` between levels).
    active: Option<ActiveLevel>,
    checkpoint_path: Option<PathBuf>,
    last_checkpoint: Instant,
    /// Writes the checkpoints off the sampling thread.
    writer: checkpoint_writer::CheckpointWriter,
    /// Graph calls and level transitions done (shared so another thread can watch).
    steps: Arc<AtomicU64>,
    device_announced: bool,
    stream_chunk_seconds: f64,
}

impl Generation {
    /// Prepares a generation: checks the settings, brings the prompt to the model's rate and
    /// encodes it at every level.
    pub fn new(
        mut engine: Engine,
        prompt: &DecodedAudio,
        settings: Settings,
    ) -> Result<Self, EngineError> {
        let checkpoint = Checkpoint::start(&mut engine, prompt, settings)?;
        Self::resume(engine, checkpoint)
    }

    /// Continues the generation saved in `checkpoint` (on `engine`, loaded from the same model).
    pub fn resume(engine: Engine, checkpoint: Checkpoint) -> Result<Self, EngineError> {
        let plans = checkpoint.plans(&engine)?;
        // On a GPU, a batch that cannot fit is refused now, naming the takes that fit, rather
        // than failing with CUDA out of memory mid-job.
        engine.check_device_memory(checkpoint.state.take_numbers.len(), None)?;
        Ok(Self {
            engine,
            state: checkpoint.state,
            plans,
            active: None,
            checkpoint_path: None,
            last_checkpoint: Instant::now(),
            writer: checkpoint_writer::CheckpointWriter::new(),
            steps: Arc::new(AtomicU64::new(0)),
            device_announced: false,
            stream_chunk_seconds: STREAM_CHUNK_SECONDS,
        })
    }

    /// The finished generation in `checkpoint` taken down to `target_level`: `takes` (numbers;
    /// empty: all) get exactly the codes a run that went there in one go gave them.
    pub fn upsample(
        engine: Engine,
        checkpoint: Checkpoint,
        target_level: usize,
        takes: &[usize],
    ) -> Result<Self, EngineError> {
        Self::resume(engine, checkpoint.upsample(target_level, takes)?)
    }

    /// A new generation that keeps a take of `checkpoint` up to `cut` and samples on from there
    /// with `settings` (see [`Checkpoint::continue_take`]).
    pub fn continue_take(
        engine: Engine,
        checkpoint: &Checkpoint,
        cut: TakeCut,
        settings: Settings,
    ) -> Result<Self, EngineError> {
        let next = checkpoint.continue_take(engine.manifest(), cut, settings)?;
        Self::resume(engine, next)
    }

    /// Saves a checkpoint to `path` every [`CHECKPOINT_EVERY`], at the end of every level and
    /// on cancel, off the sampling thread; all of them are on disk when the generation reports
    /// its end.
    pub fn set_checkpoint_path(&mut self, path: Option<PathBuf>) {
        self.checkpoint_path = path;
    }

    pub fn checkpoint_path(&self) -> Option<&Path> {
        self.checkpoint_path.as_deref()
    }

    /// Audio per [`Event::Audio`] chunk (shorter: playback starts sooner, more decoder calls).
    pub fn set_stream_chunk_seconds(&mut self, seconds: f64) {
        self.stream_chunk_seconds = seconds.max(0.0);
    }

    /// Data of the caller's kept in checkpoints.
    pub fn set_client_data(&mut self, client: serde_json::Value) {
        self.state.client = client;
    }

    pub fn client_data(&self) -> &serde_json::Value {
        &self.state.client
    }

    pub fn settings(&self) -> &Settings {
        &self.state.settings
    }

    /// The take number of each batch row (the `take` of its events).
    pub fn take_numbers(&self) -> &[usize] {
        &self.state.take_numbers
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine back, with every prior this generation opened (the one of a level under
    /// way too) kept open for the next generation.
    pub fn into_engine(mut self) -> Engine {
        if let Some(active) = self.active.take() {
            self.engine.keep_prior(active.prior);
        }
        self.engine
    }

    pub fn prompt_samples(&self) -> usize {
        self.state.prompt_samples
    }

    /// Counts [`Self::step`] calls that did work.
    pub fn step_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.steps)
    }

    pub fn is_finished(&self) -> bool {
        self.state.done
    }

    /// Codes of every take (in row order) at a finished `level`.
    pub fn codes(&self, level: usize) -> Option<&[Vec<i64>]> {
        self.state.finished.get(level)?.as_deref()
    }

    /// [`Self::checkpoint`] written over `spare` (a checkpoint the writer is done with),
    /// reusing its buffers: a copy of the codes without fresh pages.
    fn checkpoint_reusing(&self, spare: Option<Checkpoint>) -> Checkpoint {
        let Some(mut checkpoint) = spare else {
            return self.checkpoint();
        };
        checkpoint.state.refresh_from(&self.state);
        match (&self.active, &mut checkpoint.state.current) {
            (Some(active), Some(current)) => active.sampler().checkpoint_into(current),
            (Some(active), current) => *current = Some(active.sampler().checkpoint()),
            (None, current) => current.clone_from(&self.state.current),
        }
        checkpoint.format_version = CHECKPOINT_VERSION;
        checkpoint.model_dir.clone_from(&self.engine.dir);
        checkpoint
            .model_name
            .clone_from(&self.engine.manifest.model.name);
        checkpoint
    }

    /// The state now, resumable with [`Self::resume`].
    pub fn checkpoint(&self) -> Checkpoint {
        let mut state = self.state.clone();
        if let Some(active) = &self.active {
            state.current = Some(active.sampler().checkpoint());
        }
        Checkpoint::of(&self.engine, state)
    }
}
