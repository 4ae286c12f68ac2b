//! One generation: a prompt continued at the top level, then upsampled level by level.
//!
//! prompt audio -> codes at every level (VQ-VAE) -> level 2 sampled window by window for the
//! requested seconds -> levels 1 and 0 upsampled from the level above, each primed by the
//! prompt's own codes at that level -> every finished level decoded.
//!
//! [`Generation::step`] does one graph call (or one level transition), so [`Generation::run`]
//! answers a cancel within one step. The state is a [`Checkpoint`] at any step; resuming it
//! gives exactly the codes an uninterrupted run gives.

mod checkpoint;
mod events;
mod plan;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use serde::{Deserialize, Serialize};

pub use checkpoint::{CHECKPOINT_VERSION, Checkpoint};
pub use events::Event;
use plan::{LevelPlan, plan};

use super::error::EngineError;
use super::prior::Prior;
use super::runtime::Runtime;
use super::sampler::SeededUniforms;
use super::session::{Device, SessionFactory};
use super::vqvae::Vqvae;
use super::windows::{LevelCheckpoint, LevelSampler};
use crate::audio::{DecodedAudio, prepare_prompt};
use crate::jukebox::Manifest;
use crate::jukebox::manifest::Verify;

/// Song length the top prior is told when the user does not say (the Jukebox notebook's 180 s),
/// so a continuation is not conditioned to end where the generated audio ends.
pub const DEFAULT_SONG_SECONDS: f64 = 180.0;
/// How often a running generation saves its checkpoint (besides at the end of every level).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);
/// Least time between two [`Event::Progress`] of a level.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Audio streamed per [`Event::Audio`] chunk by default, in seconds.
pub const STREAM_CHUNK_SECONDS: f64 = 1.0;
/// Codes of context decoded on each side of a streamed chunk (the decoder's convolutions look
/// this far; the chunk's edges then match a decode of the whole level).
const STREAM_CONTEXT_CODES: usize = 64;

/// A model folder with its VQ-VAE open; priors are opened one level at a time.
pub struct Engine {
    dir: PathBuf,
    manifest: Manifest,
    factory: SessionFactory,
    vqvae: Vqvae,
}

impl Engine {
    /// Loads `dir` (manifest, file sizes; with [`Verify::Hashes`] every sha256 too) on the CPU.
    pub fn load(
        dir: &Path,
        runtime: &'static Runtime,
        verify: Verify,
        intra_threads: Option<usize>,
    ) -> Result<Self, EngineError> {
        let manifest = Manifest::load(dir)?;
        manifest.verify_files(dir, verify)?;
        if manifest.priors.len() < manifest.vqvae.levels {
            return Err(EngineError::MissingGraph {
                what: "priors for every level".into(),
            });
        }
        let mut factory = SessionFactory::cpu(runtime);
        factory.intra_threads = intra_threads;
        let vqvae = Vqvae::open(dir, &manifest, &factory, "fp32")?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            factory,
            vqvae,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn device(&self) -> Device {
        self.factory.device
    }
}

/// What the user asks for. Serialised into checkpoints and the CLI's sidecars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Seconds of new audio after the prompt.
    pub seconds: f64,
    /// Takes sampled together as one batch.
    pub takes: usize,
    /// Stop after this level: 2 = top-level preview only, 1, or 0 (full quality).
    pub target_level: usize,
    /// `None`: the unknown artist.
    pub artist: Option<String>,
    pub genres: Vec<String>,
    /// Lyrics for the top prior (ignored by models without lyrics only when empty).
    pub lyrics: String,
    /// Song length the top prior is conditioned on; `None`: [`DEFAULT_SONG_SECONDS`] or the
    /// generated length if longer.
    pub song_seconds: Option<f64>,
    /// `None`: the manifest's default of each level.
    pub temperature: Option<f32>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub seed: u64,
}

impl Settings {
    pub fn new(seconds: f64, seed: u64) -> Self {
        Self {
            seconds,
            takes: 1,
            target_level: 0,
            artist: None,
            genres: Vec::new(),
            lyrics: String::new(),
            song_seconds: None,
            temperature: None,
            top_k: None,
            top_p: None,
            seed,
        }
    }
}

/// How [`Generation::run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Cancelled,
}

/// What one [`Generation::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenStep {
    /// A graph call or a level transition; more to do.
    Working,
    Finished,
}

pub struct Generation {
    engine: Engine,
    settings: Settings,
    prompt_samples: usize,
    prompt_codes: Vec<Vec<i64>>,
    /// By level.
    plans: Vec<LevelPlan>,
    finished: Vec<Option<Vec<Vec<i64>>>>,
    level: usize,
    /// The level under way: its prior and sampler (`None` between levels).
    active: Option<(Prior, LevelSampler)>,
    /// A level checkpoint to resume from when the level starts.
    pending: Option<LevelCheckpoint>,
    uniforms: SeededUniforms,
    done: bool,
    /// Codes of the current level already sent as [`Event::Audio`].
    streamed: usize,
    level_clock: Option<(Instant, usize)>,
    last_progress: Option<Instant>,
    checkpoint_path: Option<PathBuf>,
    last_checkpoint: Instant,
    /// Graph calls and level transitions done (shared so another thread can watch).
    steps: Arc<AtomicU64>,
    client: serde_json::Value,
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
        let manifest = &engine.manifest;
        let levels = manifest.vqvae.levels;
        let top_hop = manifest.vqvae.hop_lengths[levels - 1];
        let samples = prepare_prompt(prompt, manifest.audio.sample_rate, top_hop)?;
        let prompt_samples = samples.len();
        let plans = plan(manifest, &settings, prompt_samples)?;
        let mut prompt_codes = Vec::with_capacity(levels);
        for level in 0..levels {
            let codes = if level >= settings.target_level {
                engine.vqvae.encode(level, &samples)?
            } else {
                Vec::new()
            };
            prompt_codes.push(codes);
        }
        let uniforms = SeededUniforms::new(settings.seed);
        Ok(Self::assemble(
            engine,
            settings,
            prompt_samples,
            prompt_codes,
            plans,
            vec![None; levels],
            levels - 1,
            None,
            uniforms,
            false,
        ))
    }

    /// Continues the generation saved in `checkpoint` (on `engine`, loaded from the same model).
    pub fn resume(engine: Engine, checkpoint: Checkpoint) -> Result<Self, EngineError> {
        let manifest = &engine.manifest;
        let levels = manifest.vqvae.levels;
        let bad = |reason: &str| {
            EngineError::InvalidInput(format!("the checkpoint does not fit this model: {reason}"))
        };
        if checkpoint.model_name != manifest.model.name {
            return Err(bad(&format!(
                "it was made with model {:?}, not {:?}",
                checkpoint.model_name, manifest.model.name
            )));
        }
        if checkpoint.prompt_codes.len() != levels
            || checkpoint.finished.len() != levels
            || checkpoint.level >= levels
        {
            return Err(bad("its levels differ"));
        }
        let plans = plan(manifest, &checkpoint.settings, checkpoint.prompt_samples)?;
        let mut generation = Self::assemble(
            engine,
            checkpoint.settings,
            checkpoint.prompt_samples,
            checkpoint.prompt_codes,
            plans,
            checkpoint.finished,
            checkpoint.level,
            checkpoint.current,
            SeededUniforms::from_state(checkpoint.rng),
            checkpoint.done,
        );
        generation.client = checkpoint.client;
        Ok(generation)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        engine: Engine,
        settings: Settings,
        prompt_samples: usize,
        prompt_codes: Vec<Vec<i64>>,
        plans: Vec<LevelPlan>,
        finished: Vec<Option<Vec<Vec<i64>>>>,
        level: usize,
        pending: Option<LevelCheckpoint>,
        uniforms: SeededUniforms,
        done: bool,
    ) -> Self {
        Self {
            engine,
            settings,
            prompt_samples,
            prompt_codes,
            plans,
            finished,
            level,
            active: None,
            pending,
            uniforms,
            done,
            streamed: 0,
            level_clock: None,
            last_progress: None,
            checkpoint_path: None,
            last_checkpoint: Instant::now(),
            steps: Arc::new(AtomicU64::new(0)),
            client: serde_json::Value::Null,
            device_announced: false,
            stream_chunk_seconds: STREAM_CHUNK_SECONDS,
        }
    }

    /// Saves a checkpoint to `path` every [`CHECKPOINT_EVERY`], at the end of every level and
    /// on cancel.
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
        self.client = client;
    }

    pub fn client_data(&self) -> &serde_json::Value {
        &self.client
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn into_engine(self) -> Engine {
        self.engine
    }

    pub fn prompt_samples(&self) -> usize {
        self.prompt_samples
    }

    /// Counts [`Self::step`] calls that did work.
    pub fn step_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.steps)
    }

    pub fn is_finished(&self) -> bool {
        self.done
    }

    /// Codes of every take at a finished `level`.
    pub fn codes(&self, level: usize) -> Option<&[Vec<i64>]> {
        self.finished.get(level)?.as_deref()
    }

    /// The state now, resumable with [`Self::resume`].
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            format_version: CHECKPOINT_VERSION,
            model_dir: self.engine.dir.clone(),
            model_name: self.engine.manifest.model.name.clone(),
            settings: self.settings.clone(),
            prompt_samples: self.prompt_samples,
            prompt_codes: self.prompt_codes.clone(),
            finished: self.finished.clone(),
            level: self.level,
            current: match &self.active {
                Some((_, sampler)) => Some(sampler.checkpoint()),
                None => self.pending.clone(),
            },
            rng: self.uniforms.state(),
            done: self.done,
            client: self.client.clone(),
        }
    }

    fn save_checkpoint(&mut self, events: &Sender<Event>) -> Result<(), EngineError> {
        if let Some(path) = self.checkpoint_path.clone() {
            self.checkpoint().save(&path)?;
            self.last_checkpoint = Instant::now();
            let _ = events.send(Event::Checkpointed { path });
        }
        Ok(())
    }

    /// Steps until finished, failed or `cancel` is set (checked before every step). Errors are
    /// also sent as [`Event::Error`].
    pub fn run(
        &mut self,
        events: &Sender<Event>,
        cancel: &AtomicBool,
    ) -> Result<Outcome, EngineError> {
        let result = self.run_inner(events, cancel);
        match &result {
            Ok(Outcome::Finished) => drop(events.send(Event::Finished)),
            Ok(Outcome::Cancelled) => drop(events.send(Event::Cancelled)),
            Err(error) => drop(events.send(Event::Error(error.to_string()))),
        }
        result
    }

    fn run_inner(
        &mut self,
        events: &Sender<Event>,
        cancel: &AtomicBool,
    ) -> Result<Outcome, EngineError> {
        loop {
            if cancel.load(Ordering::Acquire) {
                self.save_checkpoint(events)?;
                return Ok(Outcome::Cancelled);
            }
            if self.step(events)? == GenStep::Finished {
                return Ok(Outcome::Finished);
            }
        }
    }

    /// One unit of work: open the next level, one graph call of the level under way, or finish
    /// the level (decode every take).
    pub fn step(&mut self, events: &Sender<Event>) -> Result<GenStep, EngineError> {
        if !self.device_announced {
            self.device_announced = true;
            let _ = events.send(Event::Device {
                device: self.engine.device(),
                reason: "this build runs every graph on the CPU: no GPU execution provider is \
                         wired up yet"
                    .into(),
            });
        }
        if self.done {
            return Ok(GenStep::Finished);
        }
        self.steps.fetch_add(1, Ordering::AcqRel);
        let Some((prior, sampler)) = &mut self.active else {
            self.start_level(events)?;
            return Ok(GenStep::Working);
        };
        if !sampler.is_finished() {
            sampler.step(prior, &mut self.uniforms)?;
        }
        if sampler.is_finished() {
            self.finish_level(events)?;
        } else {
            self.report(events, false);
            self.stream(events, false)?;
            if self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                self.save_checkpoint(events)?;
            }
        }
        Ok(if self.done {
            GenStep::Finished
        } else {
            GenStep::Working
        })
    }

    fn start_level(&mut self, events: &Sender<Event>) -> Result<(), EngineError> {
        let level = self.level;
        let takes = self.settings.takes;
        let engine = &self.engine;
        let prior = Prior::open(
            &engine.dir,
            &engine.manifest,
            level,
            &engine.factory,
            "fp32",
        )?;
        let spec = prior.spec().clone();
        let plan = &self.plans[level];
        let upper = match self.finished.get(level + 1) {
            Some(Some(codes)) => Some(codes.clone()),
            _ => None,
        };
        let sampler = match self.pending.take() {
            Some(saved) => {
                LevelSampler::resume(&spec, plan.labels.clone(), upper, &plan.request, saved)?
            }
            None => {
                let prompt = vec![self.prompt_codes[level].clone(); takes];
                LevelSampler::new(&spec, plan.labels.clone(), upper, prompt, &plan.request)?
            }
        };
        let (done, total) = sampler.progress();
        self.streamed = sampler.codes()[0].len();
        self.level_clock = Some((Instant::now(), done));
        self.last_progress = None;
        self.active = Some((prior, sampler));
        let _ = events.send(Event::LevelStarted { level, total });
        self.report(events, true);
        Ok(())
    }

    fn finish_level(&mut self, events: &Sender<Event>) -> Result<(), EngineError> {
        self.report(events, true);
        self.stream(events, true)?;
        let Some((_prior, sampler)) = self.active.take() else {
            return Ok(());
        };
        let level = self.level;
        let codes = sampler.into_codes();
        for (take, take_codes) in codes.iter().enumerate() {
            let audio = self.engine.vqvae.decode(level, take_codes)?;
            let _ = events.send(Event::TakeFinished {
                take,
                level,
                audio,
                codes: take_codes.clone(),
            });
        }
        self.finished[level] = Some(codes);
        if level == self.settings.target_level {
            self.done = true;
        } else {
            self.level -= 1;
        }
        self.save_checkpoint(events)
    }

    /// Sends [`Event::Progress`] at most every [`PROGRESS_EVERY`] (always when `force`).
    fn report(&mut self, events: &Sender<Event>, force: bool) {
        let Some((_, sampler)) = &self.active else {
            return;
        };
        if !force
            && self
                .last_progress
                .is_some_and(|t| t.elapsed() < PROGRESS_EVERY)
        {
            return;
        }
        self.last_progress = Some(Instant::now());
        let (done, total) = sampler.progress();
        let (started, done_at_start) = self.level_clock.unwrap_or((Instant::now(), done));
        let seconds = started.elapsed().as_secs_f64();
        let fresh = done - done_at_start;
        let codes_per_second = if seconds > 0.0 {
            fresh as f64 / seconds
        } else {
            0.0
        };
        let eta = (fresh > 0 && codes_per_second > 0.0)
            .then(|| Duration::from_secs_f64((total - done) as f64 / codes_per_second));
        let _ = events.send(Event::Progress {
            level: self.level,
            done,
            total,
            codes_per_second,
            eta,
        });
    }

    /// Decodes what has been sampled since the last chunk, once a chunk's worth (or the rest,
    /// when `flush`) is there, with context on both sides.
    fn stream(&mut self, events: &Sender<Event>, flush: bool) -> Result<(), EngineError> {
        let Some((_, sampler)) = &self.active else {
            return Ok(());
        };
        let level = self.level;
        let hop = self.engine.vqvae.hop_length(level);
        let chunk = (self.stream_chunk_seconds * f64::from(self.engine.manifest.audio.sample_rate)
            / hop as f64)
            .ceil()
            .max(1.0) as usize;
        let have = sampler.codes()[0].len();
        let upto = if flush {
            have
        } else {
            have.saturating_sub(STREAM_CONTEXT_CODES)
        };
        if upto <= self.streamed || (!flush && upto - self.streamed < chunk) {
            return Ok(());
        }
        let from = self.streamed.saturating_sub(STREAM_CONTEXT_CODES);
        let to = (upto + STREAM_CONTEXT_CODES).min(have);
        let codes: Vec<Vec<i64>> = sampler
            .codes()
            .iter()
            .map(|c| c[from..to].to_vec())
            .collect();
        for (take, codes) in codes.iter().enumerate() {
            let audio = self.engine.vqvae.decode(level, codes)?;
            let skip = (self.streamed - from) * hop;
            let len = (upto - self.streamed) * hop;
            let samples = audio
                .get(skip..skip + len)
                .map(<[f32]>::to_vec)
                .ok_or_else(|| {
                    EngineError::InvalidInput(format!(
                        "the level {level} decoder gave {} samples for {} codes",
                        audio.len(),
                        codes.len()
                    ))
                })?;
            let _ = events.send(Event::Audio {
                take,
                level,
                start_sample: self.streamed * hop,
                samples,
            });
        }
        self.streamed = upto;
        Ok(())
    }
}
