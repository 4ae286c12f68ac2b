//! One generation at a time, with a queue behind it.
//!
//! A [`JobQueue`] owns a thread that runs jobs in the order they were submitted. It keeps the
//! last model folder open between jobs (loading a model opens its VQ-VAE sessions, which takes
//! seconds for a real model), also across a job that failed. Every update a job produces is
//! tagged with its [`JobId`], so a caller can follow several jobs through one receiver.
//!
//! Every job ends with exactly one of [`Event::Finished`], [`Event::Cancelled`] or
//! [`Event::Error`] (as [`JobUpdate::Engine`]), whatever happens: a job cancelled while queued
//! ends at once and never starts; a running one stops within one graph call; a failure to load
//! the model or read a checkpoint, and even a panic inside the engine, end it with an error and
//! the queue goes on with the next job.

mod runner;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, unbounded};
use parking_lot::Mutex;

use super::device::DevicePreference;
use super::generation::{EngineOptions, Event, Settings, TakeCut};
use super::runtime::Runtime;
use crate::audio::DecodedAudio;
use crate::jukebox::manifest::Verify;
use runner::Runner;

/// Names one submitted job; unique within its queue.
pub type JobId = u64;

/// What a job generates from.
#[derive(Debug, Clone)]
pub enum JobInput {
    /// A new continuation of `prompt`.
    Prompt {
        prompt: DecodedAudio,
        settings: Settings,
    },
    /// The generation saved in this checkpoint, continued where it stopped.
    Resume { checkpoint: PathBuf },
    /// The finished generation in this checkpoint taken down to `target_level` (finer), for
    /// the take numbers `takes` (empty: all); see [`Checkpoint::upsample`].
    Upsample {
        checkpoint: PathBuf,
        target_level: usize,
        takes: Vec<usize>,
    },
    /// A take of this checkpoint kept up to `cut` and sampled on from there with `settings`;
    /// see [`Checkpoint::continue_take`].
    ContinueTake {
        checkpoint: PathBuf,
        cut: TakeCut,
        settings: Settings,
    },
}

/// One request to the queue.
#[derive(Debug, Clone)]
pub struct Job {
    /// The model folder of a [`JobInput::Prompt`]; the other inputs use their checkpoint's.
    pub model_dir: PathBuf,
    pub input: JobInput,
    /// Where the running generation saves its state (every few seconds, at every level's end
    /// and on cancel). `None`: nothing is saved.
    pub checkpoint_path: Option<PathBuf>,
    /// The caller's own data, kept in the checkpoint. [`JobInput::Resume`] keeps the saved
    /// one; [`JobInput::Upsample`] keeps it too unless this is not null.
    pub client: serde_json::Value,
    pub verify: Verify,
}

/// What happened to a job. Every job ends with exactly one of [`Event::Finished`],
/// [`Event::Cancelled`] or [`Event::Error`] ([`JobUpdate::is_end`]).
#[derive(Debug, Clone, PartialEq)]
pub enum JobUpdate {
    /// Waiting behind `ahead` other jobs (the running one included).
    Queued {
        ahead: usize,
    },
    /// The job left the queue: its model is loading and its prompt encoding.
    Started,
    /// The generation is set up: its seed and prompt length are final (a resumed job's
    /// client data is the checkpoint's).
    Prepared {
        settings: Settings,
        prompt_samples: usize,
        client: serde_json::Value,
    },
    Engine(Event),
}

impl JobUpdate {
    /// Whether this is the job's last update.
    pub fn is_end(&self) -> bool {
        matches!(
            self,
            JobUpdate::Engine(Event::Finished | Event::Cancelled | Event::Error(_))
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    pub job: JobId,
    pub update: JobUpdate,
}

/// What the caller's side and the queue's thread both see.
#[derive(Default)]
struct Shared {
    next_id: JobId,
    queued: VecDeque<JobId>,
    running: Option<(JobId, Arc<AtomicBool>)>,
    /// Set when the queue is dropped: the thread stops after the running job.
    closing: bool,
}

/// The handle; dropping it cancels every job and waits for the running one to stop.
pub struct JobQueue {
    requests: Option<Sender<(JobId, Job)>>,
    /// For updates made on the caller's thread (`Queued`, a queued job's `Cancelled`).
    updates: Sender<JobEvent>,
    events: Receiver<JobEvent>,
    shared: Arc<Mutex<Shared>>,
    thread: Option<JoinHandle<()>>,
}

impl JobQueue {
    /// Starts the queue's thread with models on the CPU in fp32 (what tests compare against
    /// the reference). `intra_threads`: ONNX Runtime threads per session (`None`: its default).
    pub fn start(runtime: &'static Runtime, intra_threads: Option<usize>) -> Self {
        Self::start_on(runtime, intra_threads, DevicePreference::Cpu)
    }

    /// Starts the queue's thread with models opened on `device` (see [`Engine::open`]).
    pub fn start_on(
        runtime: &'static Runtime,
        intra_threads: Option<usize>,
        device: DevicePreference,
    ) -> Self {
        let (requests, inbox) = unbounded();
        let (events_tx, events) = unbounded();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let runner = Runner::new(
            runtime,
            EngineOptions {
                verify: Verify::Sizes,
                intra_threads,
                device,
                ..EngineOptions::default()
            },
            shared.clone(),
            events_tx.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("encore-jobs".into())
            .spawn(move || runner.run(inbox))
            .expect("the OS refused to start Encore's job thread");
        Self {
            requests: Some(requests),
            updates: events_tx,
            events,
            shared,
            thread: Some(thread),
        }
    }

    /// Queues `job` behind the others and returns its id. Its first update is
    /// [`JobUpdate::Queued`].
    pub fn submit(&self, job: Job) -> JobId {
        let mut shared = self.shared.lock();
        let id = shared.next_id;
        shared.next_id += 1;
        let ahead = shared.queued.len() + usize::from(shared.running.is_some());
        shared.queued.push_back(id);
        // Updates about queued jobs are sent under the lock, so they are ordered before
        // anything the runner says about the same job.
        self.send_update(id, JobUpdate::Queued { ahead });
        if let Some(requests) = &self.requests {
            let _ = requests.send((id, job));
        }
        id
    }

    /// Cancels a queued job (it ends with [`Event::Cancelled`] at once and never runs) or the
    /// running one (it stops within one step, saving its checkpoint, and ends with
    /// [`Event::Cancelled`]). Returns false for a job that is unknown or already over.
    pub fn cancel(&self, job: JobId) -> bool {
        let mut shared = self.shared.lock();
        if let Some((running, flag)) = &shared.running
            && *running == job
        {
            flag.store(true, Ordering::Release);
            return true;
        }
        let Some(index) = shared.queued.iter().position(|&id| id == job) else {
            return false;
        };
        shared.queued.remove(index);
        self.send_update(job, JobUpdate::Engine(Event::Cancelled));
        true
    }

    /// Cancels every queued job and the running one.
    pub fn cancel_all(&self) {
        let ids: Vec<JobId> = {
            let shared = self.shared.lock();
            shared
                .running
                .iter()
                .map(|(id, _)| *id)
                .chain(shared.queued.iter().copied())
                .collect()
        };
        for id in ids {
            self.cancel(id);
        }
    }

    /// The running job, if any.
    pub fn running(&self) -> Option<JobId> {
        self.shared.lock().running.as_ref().map(|(id, _)| *id)
    }

    /// Jobs waiting, first to run first.
    pub fn queued(&self) -> Vec<JobId> {
        self.shared.lock().queued.iter().copied().collect()
    }

    /// Updates of every job, in the order they happened.
    pub fn events(&self) -> &Receiver<JobEvent> {
        &self.events
    }

    fn send_update(&self, job: JobId, update: JobUpdate) {
        // The queue holds the receiver too, so this cannot fail while `self` exists.
        let _ = self.updates.send(JobEvent { job, update });
    }
}

impl Drop for JobQueue {
    fn drop(&mut self) {
        {
            let mut shared = self.shared.lock();
            shared.closing = true;
            // Someone may hold a clone of the receiver: end the queued jobs properly.
            for job in std::mem::take(&mut shared.queued) {
                self.send_update(job, JobUpdate::Engine(Event::Cancelled));
            }
            if let Some((_, flag)) = &shared.running {
                flag.store(true, Ordering::Release);
            }
        }
        // Closing the inbox ends the runner's loop once the running job has stopped.
        self.requests = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("Encore's job thread panicked");
        }
    }
}
