//! The queue's thread: takes jobs off the inbox one by one, prepares each job's generation
//! (keeping the last model open) and runs it, tagging its events with the job.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::{Job, JobEvent, JobId, JobInput, JobUpdate, Shared};
use crate::engine::error::EngineError;
use crate::engine::generation::{Checkpoint, Engine, EngineOptions, Event, EventSink, Generation};
use crate::engine::runtime::Runtime;
use crate::jukebox::manifest::Verify;

/// A generation's events, tagged with their job on the way to the queue's receiver.
struct Tagged<'a> {
    job: JobId,
    events: &'a Sender<JobEvent>,
}

impl EventSink for Tagged<'_> {
    fn emit(&self, event: Event) {
        let _ = self.events.send(JobEvent {
            job: self.job,
            update: JobUpdate::Engine(event),
        });
    }
}

pub(super) struct Runner {
    runtime: &'static Runtime,
    /// How models are opened (the job's own `verify` replaces `options.verify`).
    options: EngineOptions,
    shared: Arc<Mutex<Shared>>,
    events: Sender<JobEvent>,
    /// The last model used, kept open for the next job.
    engine: Option<Engine>,
}

impl Runner {
    pub fn new(
        runtime: &'static Runtime,
        options: EngineOptions,
        shared: Arc<Mutex<Shared>>,
        events: Sender<JobEvent>,
    ) -> Self {
        Self {
            runtime,
            options,
            shared,
            events,
            engine: None,
        }
    }

    pub fn run(mut self, inbox: Receiver<(JobId, Job)>) {
        for (id, job) in inbox.iter() {
            let cancel = Arc::new(AtomicBool::new(false));
            {
                let mut shared = self.shared.lock();
                if shared.closing {
                    break;
                }
                // Not queued any more: cancelled, and already told so.
                let Some(index) = shared.queued.iter().position(|&q| q == id) else {
                    continue;
                };
                shared.queued.remove(index);
                shared.running = Some((id, cancel.clone()));
            }
            self.send(id, JobUpdate::Started);
            let outcome = catch_unwind(AssertUnwindSafe(|| self.run_job(id, job, &cancel)));
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(panic) => Some(format!(
                    "the engine failed unexpectedly: {}",
                    panic_message(&*panic)
                )),
            };
            if let Some(message) = failure {
                self.send(id, JobUpdate::Engine(Event::Error(message)));
            }
            self.shared.lock().running = None;
        }
    }

    /// Runs one job to its end. Errors before the generation runs are returned; the
    /// generation reports its own end (and errors) through its events.
    fn run_job(&mut self, id: JobId, job: Job, cancel: &AtomicBool) -> Result<(), EngineError> {
        let events = self.events.clone();
        let sink = Tagged {
            job: id,
            events: &events,
        };
        if cancel.load(Ordering::Acquire) {
            sink.emit(Event::Cancelled);
            return Ok(());
        }
        let mut generation = self.prepare(job)?;
        self.send(
            id,
            JobUpdate::Prepared {
                settings: generation.settings().clone(),
                prompt_samples: generation.prompt_samples(),
                client: generation.client_data().clone(),
            },
        );
        // `run` reports its own outcome (Finished, Cancelled or Error) as an event.
        let _ = generation.run(&sink, cancel);
        self.engine = Some(generation.into_engine());
        Ok(())
    }

    /// The job's generation, checked against its model before anything runs.
    fn prepare(&mut self, job: Job) -> Result<Generation, EngineError> {
        let Job {
            model_dir,
            input,
            checkpoint_path,
            client,
            verify,
        } = job;
        let (engine, checkpoint) = match input {
            JobInput::Prompt { prompt, settings } => {
                self.with_engine(&model_dir, verify, |engine| {
                    let mut start = Checkpoint::start(engine, &prompt, settings)?;
                    start.state.client = client;
                    Ok(start)
                })?
            }
            JobInput::Resume { checkpoint } => {
                let saved = Checkpoint::load(&checkpoint)?;
                self.with_engine(&saved.model_dir.clone(), verify, |_| Ok(saved))?
            }
            JobInput::Upsample {
                checkpoint,
                target_level,
                takes,
            } => {
                let mut next = Checkpoint::load(&checkpoint)?.upsample(target_level, &takes)?;
                if !client.is_null() {
                    next.state.client = client;
                }
                self.with_engine(&next.model_dir.clone(), verify, |_| Ok(next))?
            }
            JobInput::ContinueTake {
                checkpoint,
                cut,
                settings,
            } => {
                let saved = Checkpoint::load(&checkpoint)?;
                self.with_engine(&saved.model_dir, verify, |engine| {
                    let mut next = saved.continue_take(engine.manifest(), cut, settings)?;
                    next.state.client = client;
                    Ok(next)
                })?
            }
        };
        let mut generation = Generation::resume(engine, checkpoint)?;
        generation.set_checkpoint_path(checkpoint_path);
        Ok(generation)
    }

    /// The engine for `dir` and what `build` makes with it, checked against it. On failure
    /// the engine stays open for the next job.
    fn with_engine(
        &mut self,
        dir: &Path,
        verify: Verify,
        build: impl FnOnce(&mut Engine) -> Result<Checkpoint, EngineError>,
    ) -> Result<(Engine, Checkpoint), EngineError> {
        let mut engine = self.engine_for(dir, verify)?;
        match build(&mut engine).and_then(|c| c.check(&engine).map(|()| c)) {
            Ok(checkpoint) => Ok((engine, checkpoint)),
            Err(error) => {
                self.engine = Some(engine);
                Err(error)
            }
        }
    }

    /// The open engine if it is `dir`'s, else `dir` loaded afresh (the old one closed first,
    /// so two models are never in memory at once).
    fn engine_for(&mut self, dir: &Path, verify: Verify) -> Result<Engine, EngineError> {
        match self.engine.take() {
            Some(engine) if engine.dir() == dir && verify == Verify::Sizes => Ok(engine),
            other => {
                drop(other);
                let options = EngineOptions {
                    verify,
                    ..self.options
                };
                Engine::open(dir, self.runtime, options)
            }
        }
    }

    fn send(&self, job: JobId, update: JobUpdate) {
        let _ = self.events.send(JobEvent { job, update });
    }
}

/// The text of a panic's payload, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}
