//! The queue's thread: takes the next job (round-robin over clients), prepares its generation
//! on a model from the cache and runs it, tagging its events with the job; between jobs it
//! closes models that have been idle too long.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Sender;

use super::models::ModelCache;
use super::{Core, Job, JobEvent, JobId, JobInput, JobUpdate, Running};
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
    core: Arc<Core>,
    models: ModelCache,
}

/// What the runner does next.
enum Next {
    Job {
        id: JobId,
        /// Boxed: a job (its prompt's audio) is much larger than the other answers.
        job: Box<Job>,
        cancel: Arc<AtomicBool>,
        events: Option<Sender<JobEvent>>,
    },
    ReleaseIdleModels,
    Close,
}

impl Runner {
    pub fn new(runtime: &'static Runtime, options: EngineOptions, core: Arc<Core>) -> Self {
        Self {
            core,
            models: ModelCache::new(runtime, options),
        }
    }

    /// Serves jobs until the queue closes. A panic outside a job (a bug of the queue itself)
    /// is recorded, so callers see why the queue stopped, and ends the waiting jobs.
    pub fn run(mut self) {
        let served = catch_unwind(AssertUnwindSafe(|| self.serve()));
        if let Err(panic) = served {
            let reason = format!("the engine stopped: {}", panic_message(&*panic));
            tracing::error!("{reason}");
            let mut state = self.core.state.lock();
            for (client, waiting) in state.waiting.drain() {
                state.send(
                    client,
                    waiting.id,
                    JobUpdate::Engine(Event::Error(reason.clone())),
                );
            }
            state.running = None;
            state.died = Some(reason);
        }
    }

    fn serve(&mut self) {
        loop {
            match self.next() {
                Next::Close => return,
                Next::ReleaseIdleModels => {
                    let idle = self.core.state.lock().idle_release;
                    self.models.release_idle(idle, &self.core.stats);
                }
                Next::Job {
                    id,
                    job,
                    cancel,
                    events,
                } => {
                    let events = events.unwrap_or_else(|| crossbeam_channel::unbounded().0);
                    self.run_caught(id, *job, &cancel, &events);
                    self.core.state.lock().running = None;
                }
            }
        }
    }

    /// Waits for a job, the queue's end, or a model's idle time to run out.
    fn next(&self) -> Next {
        let mut state = self.core.state.lock();
        loop {
            if state.closing {
                return Next::Close;
            }
            #[cfg(test)]
            if state.broken {
                panic!("broken by a test");
            }
            if let Some((client, waiting)) = state.waiting.pop() {
                let cancel = Arc::new(AtomicBool::new(false));
                state.running = Some(Running {
                    id: waiting.id,
                    client,
                    cancel: cancel.clone(),
                });
                return Next::Job {
                    id: waiting.id,
                    job: Box::new(waiting.job),
                    cancel,
                    events: state.clients.get(&client).cloned(),
                };
            }
            match self.models.next_release_in(state.idle_release) {
                Some(due) if due.is_zero() => return Next::ReleaseIdleModels,
                Some(due) => {
                    self.core.wake.wait_for(&mut state, due);
                }
                None => self.core.wake.wait(&mut state),
            }
        }
    }

    /// Runs one job; whatever happens (an error, even a panic inside the engine) it ends with
    /// exactly one end update.
    fn run_caught(&mut self, id: JobId, job: Job, cancel: &AtomicBool, events: &Sender<JobEvent>) {
        send(events, id, JobUpdate::Started);
        let outcome = catch_unwind(AssertUnwindSafe(|| self.run_job(id, job, cancel, events)));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(panic) => Some(format!(
                "the engine failed unexpectedly: {}",
                panic_message(&*panic)
            )),
        };
        if let Some(message) = failure {
            send(events, id, JobUpdate::Engine(Event::Error(message)));
        }
    }

    /// Runs one job to its end. Errors before the generation runs are returned; the
    /// generation reports its own end (and errors) through its events.
    fn run_job(
        &mut self,
        id: JobId,
        job: Job,
        cancel: &AtomicBool,
        events: &Sender<JobEvent>,
    ) -> Result<(), EngineError> {
        let sink = Tagged { job: id, events };
        if cancel.load(Ordering::Acquire) {
            sink.emit(Event::Cancelled);
            return Ok(());
        }
        let mut generation = self.prepare(job)?;
        send(
            events,
            id,
            JobUpdate::Prepared {
                settings: generation.settings().clone(),
                prompt_samples: generation.prompt_samples(),
                take_numbers: generation.take_numbers().to_vec(),
                client: generation.client_data().clone(),
            },
        );
        // `run` reports its own outcome (Finished, Cancelled or Error) as an event.
        let _ = generation.run(&sink, cancel);
        self.models
            .put_back(generation.into_engine(), &self.core.stats);
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
        let mut engine = self.models.take(dir, verify, &self.core.stats)?;
        match build(&mut engine).and_then(|c| c.check(&engine).map(|()| c)) {
            Ok(checkpoint) => Ok((engine, checkpoint)),
            Err(error) => {
                self.models.put_back(engine, &self.core.stats);
                Err(error)
            }
        }
    }
}

fn send(events: &Sender<JobEvent>, job: JobId, update: JobUpdate) {
    let _ = events.send(JobEvent { job, update });
}

/// The text of a panic's payload, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}
