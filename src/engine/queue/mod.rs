//! One generation at a time, with a queue behind it, shared by any number of callers.
//!
//! A [`JobQueue`] owns a thread that runs jobs one by one. Callers that share it each take a
//! [`QueueClient`] (with its own receiver of updates); waiting jobs are served round-robin per
//! client, each client's in the order it submitted them (`fair`). Models stay open between jobs,
//! priors included, keyed by folder and device, and are released after an idle time the caller
//! sets (`models`); loading a real model takes seconds. Every update a job produces is tagged
//! with its [`JobId`], so a caller can follow several jobs through one receiver.
//!
//! Every job ends with exactly one of [`Event::Finished`], [`Event::Cancelled`] or
//! [`Event::Error`] (as [`JobUpdate::Engine`]), whatever happens: a job cancelled while queued
//! ends at once and never starts; a running one stops within one graph call; a failure to load
//! the model or read a checkpoint, and even a panic inside the engine, end it with an error and
//! the queue goes on with the next job.

mod fair;
mod models;
mod runner;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, unbounded};
use parking_lot::{Condvar, Mutex};

use super::device::DevicePreference;
use super::generation::{EngineOptions, Event, Settings, TakeCut};
use super::runtime::Runtime;
use crate::audio::DecodedAudio;
use crate::jukebox::manifest::Verify;
pub use fair::ClientId;
use fair::FairQueue;
pub use models::ModelCounts;
use models::ModelStats;
use runner::Runner;

/// How long an unused model stays open unless the caller says otherwise.
pub const DEFAULT_IDLE_RELEASE: Duration = Duration::from_secs(10 * 60);

/// The client [`JobQueue`]'s own methods submit for.
const OWNER: ClientId = 0;

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
        /// The take number of each batch row (what the events' `take` fields say): `0..takes`
        /// for a new generation, the chosen numbers for an upsample of a few takes.
        take_numbers: Vec<usize>,
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

/// What the callers' side and the queue's thread both see.
struct Core {
    state: Mutex<State>,
    /// Wakes the queue's thread: a job was queued, the idle time changed, or it must close.
    wake: Condvar,
    stats: ModelStats,
}

struct State {
    next_id: JobId,
    next_client: ClientId,
    waiting: FairQueue<Waiting>,
    running: Option<Running>,
    /// Where each client's updates go.
    clients: HashMap<ClientId, Sender<JobEvent>>,
    idle_release: Duration,
    /// Set when the queue is dropped: the thread stops after the running job.
    closing: bool,
    /// Why the queue's thread stopped, when it died (a bug: jobs' own panics end only the job).
    died: Option<String>,
    /// Tests only: the thread panics outside any job, as a bug in the queue itself would.
    #[cfg(test)]
    broken: bool,
}

struct Waiting {
    id: JobId,
    job: Job,
}

struct Running {
    id: JobId,
    client: ClientId,
    cancel: Arc<AtomicBool>,
}

impl State {
    /// Sends `update` to `client` (nothing when it has gone). Updates about waiting jobs are
    /// sent under the lock, so they come before anything the runner says about the same job.
    fn send(&self, client: ClientId, job: JobId, update: JobUpdate) {
        if let Some(events) = self.clients.get(&client) {
            let _ = events.send(JobEvent { job, update });
        }
    }
}

impl Core {
    fn submit(&self, client: ClientId, job: Job) -> JobId {
        let mut state = self.state.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.waiting.push(client, Waiting { id, job });
        let ahead = state
            .waiting
            .in_order()
            .iter()
            .position(|(_, w)| w.id == id)
            .unwrap_or(0)
            + usize::from(state.running.is_some());
        state.send(client, id, JobUpdate::Queued { ahead });
        if state.died.is_some() {
            // Nobody will run it: end it at once.
            state.waiting.remove(|_, w| w.id == id);
            let reason = state.died.clone().unwrap_or_default();
            state.send(client, id, JobUpdate::Engine(Event::Error(reason)));
        }
        self.wake.notify_all();
        id
    }

    /// Cancels `job` when `client` owns it (`None`: whoever does).
    fn cancel(&self, client: Option<ClientId>, job: JobId) -> bool {
        let mut state = self.state.lock();
        if let Some(running) = &state.running
            && running.id == job
            && client.is_none_or(|c| c == running.client)
        {
            running.cancel.store(true, Ordering::Release);
            return true;
        }
        let Some((owner, _)) = state
            .waiting
            .remove(|owner, w| w.id == job && client.is_none_or(|c| c == owner))
        else {
            return false;
        };
        state.send(owner, job, JobUpdate::Engine(Event::Cancelled));
        true
    }

    /// Cancels every job of `client` (`None`: every job).
    fn cancel_all(&self, client: Option<ClientId>) {
        let mut state = self.state.lock();
        if let Some(running) = &state.running
            && client.is_none_or(|c| c == running.client)
        {
            running.cancel.store(true, Ordering::Release);
        }
        let cancelled: Vec<(ClientId, JobId)> = match client {
            Some(c) => state
                .waiting
                .remove_client(c)
                .into_iter()
                .map(|w| (c, w.id))
                .collect(),
            None => state
                .waiting
                .drain()
                .into_iter()
                .map(|(c, w)| (c, w.id))
                .collect(),
        };
        for (owner, job) in cancelled {
            state.send(owner, job, JobUpdate::Engine(Event::Cancelled));
        }
    }

    fn add_client(&self) -> (ClientId, Receiver<JobEvent>) {
        let (events_tx, events) = unbounded();
        let mut state = self.state.lock();
        state.next_client += 1;
        let id = state.next_client;
        state.clients.insert(id, events_tx);
        (id, events)
    }
}

/// The queue and its thread; dropping it cancels every job and waits for the running one to
/// stop. Share it (`Arc`) and give each caller a [`QueueClient`].
pub struct JobQueue {
    core: Arc<Core>,
    /// ONNX Runtime threads per session (`None`: its default).
    intra_threads: Option<usize>,
    /// Updates of the jobs submitted through the queue's own methods.
    events: Receiver<JobEvent>,
    thread: Option<JoinHandle<()>>,
}

impl JobQueue {
    /// ONNX Runtime threads per session this queue's models use (`None`: its default).
    pub fn intra_threads(&self) -> Option<usize> {
        self.intra_threads
    }

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
        let (events_tx, events) = unbounded();
        let core = Arc::new(Core {
            state: Mutex::new(State {
                next_id: 0,
                next_client: OWNER,
                waiting: FairQueue::default(),
                running: None,
                clients: HashMap::from([(OWNER, events_tx)]),
                idle_release: DEFAULT_IDLE_RELEASE,
                closing: false,
                died: None,
                #[cfg(test)]
                broken: false,
            }),
            wake: Condvar::new(),
            stats: ModelStats::default(),
        });
        let options = EngineOptions {
            verify: Verify::Sizes,
            intra_threads,
            device,
            ..EngineOptions::default()
        };
        let runner = Runner::new(runtime, options, core.clone());
        let thread = std::thread::Builder::new()
            .name("encore-jobs".into())
            .spawn(move || runner.run())
            .expect("the OS refused to start Encore's job thread");
        Self {
            core,
            intra_threads,
            events,
            thread: Some(thread),
        }
    }

    /// A new caller of this queue, with its own updates; its jobs take turns with the other
    /// clients'.
    pub fn client(self: &Arc<Self>) -> QueueClient {
        let (id, events) = self.core.add_client();
        QueueClient {
            queue: self.clone(),
            id,
            events,
        }
    }

    /// Queues `job` and returns its id. Its first update is [`JobUpdate::Queued`].
    pub fn submit(&self, job: Job) -> JobId {
        self.core.submit(OWNER, job)
    }

    /// Cancels a queued job (it ends with [`Event::Cancelled`] at once and never runs) or the
    /// running one (it stops within one step, saving its checkpoint, and ends with
    /// [`Event::Cancelled`]), whoever submitted it. Returns false for a job that is unknown or
    /// already over.
    pub fn cancel(&self, job: JobId) -> bool {
        self.core.cancel(None, job)
    }

    /// Cancels every queued job and the running one, of every client.
    pub fn cancel_all(&self) {
        self.core.cancel_all(None);
    }

    /// The running job, if any.
    pub fn running(&self) -> Option<JobId> {
        self.core.state.lock().running.as_ref().map(|r| r.id)
    }

    /// Jobs waiting, first to run first.
    pub fn queued(&self) -> Vec<JobId> {
        let state = self.core.state.lock();
        state.waiting.in_order().iter().map(|(_, w)| w.id).collect()
    }

    /// Updates of the jobs submitted through [`JobQueue::submit`], in the order they happened.
    pub fn events(&self) -> &Receiver<JobEvent> {
        &self.events
    }

    /// How long a model nobody uses stays open ([`DEFAULT_IDLE_RELEASE`] unless set).
    pub fn set_idle_release(&self, after: Duration) {
        self.core.state.lock().idle_release = after;
        self.core.wake.notify_all();
    }

    pub fn idle_release(&self) -> Duration {
        self.core.state.lock().idle_release
    }

    /// Clients holding this queue now ([`JobQueue::client`]).
    pub fn clients(&self) -> usize {
        let state = self.core.state.lock();
        state.clients.keys().filter(|&&id| id != OWNER).count()
    }

    /// How often models and priors were opened and released.
    pub fn model_counts(&self) -> ModelCounts {
        self.core.stats.counts()
    }

    /// Why the queue's thread stopped, when it did; such a queue ends every new job with an
    /// error: start another one.
    pub fn failure(&self) -> Option<String> {
        let died = self.core.state.lock().died.clone();
        died.or_else(|| {
            self.thread
                .as_ref()
                .filter(|t| t.is_finished())
                .map(|_| "the engine's thread stopped".to_string())
        })
    }
}

#[cfg(test)]
impl JobQueue {
    /// Makes the queue's thread panic outside any job (tests of what callers see then).
    pub(crate) fn break_thread_for_test(&self) {
        self.core.state.lock().broken = true;
        self.core.wake.notify_all();
    }
}

impl Drop for JobQueue {
    fn drop(&mut self) {
        {
            let mut state = self.core.state.lock();
            state.closing = true;
            // Someone may hold a clone of a receiver: end the queued jobs properly.
            for (client, waiting) in state.waiting.drain() {
                state.send(client, waiting.id, JobUpdate::Engine(Event::Cancelled));
            }
            if let Some(running) = &state.running {
                running.cancel.store(true, Ordering::Release);
            }
        }
        self.core.wake.notify_all();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("Encore's job thread panicked");
        }
    }
}

/// One caller's side of a shared [`JobQueue`]: its jobs, its updates. Dropping it cancels its
/// jobs (without waiting: a running one saves its checkpoint as it stops); the queue lives on
/// while anyone holds it.
pub struct QueueClient {
    queue: Arc<JobQueue>,
    id: ClientId,
    events: Receiver<JobEvent>,
}

impl QueueClient {
    /// Queues `job` behind this client's others; clients take turns.
    pub fn submit(&self, job: Job) -> JobId {
        self.queue.core.submit(self.id, job)
    }

    /// Cancels one of this client's jobs (see [`JobQueue::cancel`]).
    pub fn cancel(&self, job: JobId) -> bool {
        self.queue.core.cancel(Some(self.id), job)
    }

    /// Cancels every job of this client.
    pub fn cancel_all(&self) {
        self.queue.core.cancel_all(Some(self.id));
    }

    /// Updates of this client's jobs, in the order they happened.
    pub fn events(&self) -> &Receiver<JobEvent> {
        &self.events
    }

    pub fn queue(&self) -> &Arc<JobQueue> {
        &self.queue
    }
}

impl Drop for QueueClient {
    fn drop(&mut self) {
        self.cancel_all();
        self.queue.core.state.lock().clients.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::engine::runtime::{RuntimeSearch, ensure_loaded};

    #[test]
    fn a_dead_queue_says_why_and_ends_new_jobs_with_that_reason() {
        let runtime = ensure_loaded(&RuntimeSearch::from_this_binary(None))
            .expect("ONNX Runtime (cargo xtask setup)");
        let queue = Arc::new(JobQueue::start(runtime, Some(1)));
        let client = queue.client();
        assert_eq!(queue.failure(), None);
        queue.break_thread_for_test();
        let deadline = Instant::now() + Duration::from_secs(10);
        while queue.failure().is_none() {
            assert!(
                Instant::now() < deadline,
                "the queue never reported its death"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let reason = queue.failure().unwrap();
        assert!(reason.contains("broken by a test"), "{reason}");
        let job = client.submit(Job {
            model_dir: PathBuf::from("/nonexistent"),
            input: JobInput::Resume {
                checkpoint: PathBuf::from("/nonexistent.json"),
            },
            checkpoint_path: None,
            client: serde_json::Value::Null,
            verify: Verify::Sizes,
        });
        let updates: Vec<JobUpdate> = client.events().try_iter().map(|e| e.update).collect();
        assert_eq!(updates.len(), 2, "{updates:?}");
        assert!(matches!(
            &updates[1],
            JobUpdate::Engine(Event::Error(message)) if message.contains("broken by a test")
        ));
        assert!(!client.cancel(job), "the job is over");
    }
}
