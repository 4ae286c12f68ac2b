//! Running a generation one unit of work at a time: open a level, one graph call of it, or
//! finish it (decode every take), with progress, streamed audio and checkpoints in between.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Generation;
use super::events::{Event, EventSink};
use super::progress::ProgressClock;
use super::streaming::Streamer;
use crate::engine::error::EngineError;
use crate::engine::prior::Prior;
use crate::engine::session::Device;
use crate::engine::streams::TakeStreams;
use crate::engine::windows::LevelSampler;

/// How often a running generation saves its checkpoint (besides at the end of every level).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

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

/// The level under way.
pub(super) struct ActiveLevel {
    pub(super) prior: Prior,
    sampler: LevelSampler,
    uniforms: TakeStreams,
    stream: Streamer,
    progress: ProgressClock,
}

impl ActiveLevel {
    pub fn sampler(&self) -> &LevelSampler {
        &self.sampler
    }
}

impl Generation {
    /// Steps until finished, failed or `cancel` is set (checked before every step). Ends with
    /// exactly one of [`Event::Finished`], [`Event::Cancelled`] or [`Event::Error`].
    pub fn run(
        &mut self,
        events: &dyn EventSink,
        cancel: &AtomicBool,
    ) -> Result<Outcome, EngineError> {
        let result = self.run_until_cancelled(events, cancel);
        events.emit(match &result {
            Ok(Outcome::Finished) => Event::Finished,
            Ok(Outcome::Cancelled) => Event::Cancelled,
            Err(error) => Event::Error(error.to_string()),
        });
        result
    }

    fn run_until_cancelled(
        &mut self,
        events: &dyn EventSink,
        cancel: &AtomicBool,
    ) -> Result<Outcome, EngineError> {
        loop {
            if cancel.load(Ordering::Acquire) {
                self.save_checkpoint(events)?;
                self.flush_checkpoints(events)?;
                return Ok(Outcome::Cancelled);
            }
            if self.step(events)? == GenStep::Finished {
                return Ok(Outcome::Finished);
            }
        }
    }

    /// One unit of work: open the next level, one graph call of the level under way, or finish
    /// the level (decode every take).
    pub fn step(&mut self, events: &dyn EventSink) -> Result<GenStep, EngineError> {
        if !self.device_announced {
            self.device_announced = true;
            events.emit(Event::Device {
                device: self.engine.device(),
                reason: self.engine.device_reason().to_string(),
            });
        }
        if self.state.done {
            self.flush_checkpoints(events)?;
            return Ok(GenStep::Finished);
        }
        self.report_checkpoints(events)?;
        self.steps.fetch_add(1, Ordering::AcqRel);
        let Some(active) = &mut self.active else {
            self.start_level(events)?;
            return Ok(GenStep::Working);
        };
        if !active.sampler.is_finished() {
            active
                .sampler
                .step(&mut active.prior, &mut active.uniforms)?;
        }
        if active.sampler.is_finished() {
            self.finish_level(events)?;
        } else {
            let level = self.state.level;
            active
                .progress
                .report(events, level, active.sampler.progress(), false);
            active.stream.stream(
                active.sampler.codes(),
                &self.state.take_numbers,
                &mut self.engine.vqvae,
                events,
                false,
            )?;
            if self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                self.save_checkpoint(events)?;
            }
        }
        if self.state.done {
            // The end: the caller reads the last checkpoint once this returns.
            self.flush_checkpoints(events)?;
            return Ok(GenStep::Finished);
        }
        Ok(GenStep::Working)
    }

    /// Opens the prior of the level under way and its sampler (fresh, or from the checkpoint).
    fn start_level(&mut self, events: &dyn EventSink) -> Result<(), EngineError> {
        let level = self.state.level;
        let prior = self.engine.take_prior(level)?;
        let state = &mut self.state;
        let engine = &self.engine;
        if engine.device() == Device::Cuda {
            // The device line, with how this level's steps run (CUDA graphs or why not).
            events.emit(Event::Device {
                device: engine.device(),
                reason: format!(
                    "{}; level {level}: {}",
                    engine.device_reason(),
                    prior.step_graphs()
                ),
            });
        }
        let plan = &self.plans[level];
        let upper = state.finished.get(level + 1).cloned().flatten();
        let sampler = match state.current.take() {
            Some(saved) => LevelSampler::resume(
                prior.spec(),
                plan.labels.clone(),
                upper,
                &plan.request,
                saved,
            ),
            None => {
                let prompt = vec![state.prompt_codes[level].clone(); state.settings.takes];
                LevelSampler::new(
                    prior.spec(),
                    plan.labels.clone(),
                    upper,
                    prompt,
                    &plan.request,
                )
            }
        };
        let sampler = match sampler {
            Ok(sampler) => sampler,
            Err(error) => {
                self.engine.keep_prior(prior);
                return Err(error);
            }
        };
        let (done, total) = sampler.progress();
        // Each take's stream stands where the level's sampled codes end.
        let uniforms =
            TakeStreams::new(state.settings.seed, level, &state.take_numbers, done as u64);
        let stream = Streamer::new(
            level,
            sampler.codes()[0].len(),
            self.stream_chunk_seconds,
            &engine.vqvae,
            engine.manifest.audio.sample_rate,
        );
        let mut progress = ProgressClock::start(done);
        events.emit(Event::LevelStarted { level, total });
        progress.report(events, level, (done, total), true);
        self.active = Some(ActiveLevel {
            prior,
            sampler,
            uniforms,
            stream,
            progress,
        });
        Ok(())
    }

    /// Streams the rest of the level, decodes every take whole and moves to the next level.
    fn finish_level(&mut self, events: &dyn EventSink) -> Result<(), EngineError> {
        let Some(ActiveLevel {
            prior,
            sampler,
            mut stream,
            mut progress,
            ..
        }) = self.active.take()
        else {
            return Ok(());
        };
        self.engine.keep_prior(prior);
        let level = self.state.level;
        let takes = &self.state.take_numbers;
        progress.report(events, level, sampler.progress(), true);
        stream.stream(sampler.codes(), takes, &mut self.engine.vqvae, events, true)?;
        let codes = sampler.into_codes();
        for (take, take_codes) in takes.iter().zip(&codes) {
            let audio = self.engine.vqvae.decode(level, take_codes)?;
            events.emit(Event::TakeFinished {
                take: *take,
                level,
                audio,
                codes: take_codes.clone(),
            });
        }
        self.state.finished[level] = Some(codes);
        if level == self.state.settings.target_level {
            self.state.done = true;
        } else {
            self.state.level -= 1;
        }
        self.save_checkpoint(events)
    }

    /// Hands the state to the checkpoint writer (never waits for the disk); reports the writes
    /// finished meanwhile.
    fn save_checkpoint(&mut self, events: &dyn EventSink) -> Result<(), EngineError> {
        if let Some(path) = self.checkpoint_path.clone() {
            let checkpoint = self.checkpoint_reusing(self.writer.take_spare());
            self.writer.submit(path, checkpoint);
            self.last_checkpoint = Instant::now();
        }
        self.report_checkpoints(events)
    }

    /// [`Event::Checkpointed`] for each checkpoint written since the last look; the first
    /// failed write as the error.
    fn report_checkpoints(&mut self, events: &dyn EventSink) -> Result<(), EngineError> {
        report(self.writer.finished(), events)
    }

    /// Waits until every checkpoint handed over is on disk, and reports them.
    fn flush_checkpoints(&mut self, events: &dyn EventSink) -> Result<(), EngineError> {
        report(self.writer.flush(), events)
    }
}

fn report(
    written: Vec<Result<std::path::PathBuf, EngineError>>,
    events: &dyn EventSink,
) -> Result<(), EngineError> {
    for result in written {
        events.emit(Event::Checkpointed { path: result? });
    }
    Ok(())
}
