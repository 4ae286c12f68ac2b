//! The plugin's worker thread: the bridge between the audio thread, the editor and the engine.
//!
//! It drains the capture ring into recordings, answers the editor's commands and the
//! `continue` parameter, runs generations through the process-wide job queue, hands take
//! buffers to the audio thread and streams auditions through the playback ring. Everything
//! slow happens here, never on the audio thread or the host's main thread.
//!
//! It lives as long as its plugin instance, whatever the host does with activation: activate
//! only hands it a new set of ring ends ([`AudioLinks`], through a channel, without waiting),
//! which it swaps in after draining the old capture ring; generations go on meanwhile. A panic
//! inside it is caught, shown to the user and followed by a fresh start of its duties
//! (`supervision`).
//!
//! This file holds the thread's lifecycle and its loop; each of the loop's duties has a file
//! of its own.

mod audio_links;
mod audition;
mod capture_drain;
mod commands;
mod continue_request;
mod follow_ups;
mod host_triggers;
mod prompt;
mod resume;
mod runtime_and_model;
mod supervision;
mod take_edits;
#[cfg(test)]
mod tests;
mod timeline_handover;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};

pub use audio_links::{AudioLinks, ReadyTake};
pub use commands::WorkerCommand;
use host_triggers::HostTriggers;
use resume::RESUME_DELAY;

use super::capture::{BlockHeader, CaptureConsumer};
use super::diagnostics::Diagnostics;
use super::jobs::{Generations, JobContext};
use super::model::default_model_dir;
use super::params::EncoreParams;
use super::playback::PlaybackProducer;
use super::recordings::Recorder;
use super::session::Shared;
use super::start_line::LineWait;
use super::takes;
use super::timeline::{TakeBuffer, TimelineSender};

/// How often the worker wakes to drain the capture ring when nothing else happens.
const POLL: Duration = Duration::from_millis(5);

/// What a worker needs that outlives it (shared with the editor across activations).
#[derive(Clone)]
pub struct WorkerLinks {
    pub commands: Receiver<WorkerCommand>,
    pub params: Arc<EncoreParams>,
}

pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    /// New ring ends from each activation.
    audio: Sender<AudioLinks>,
    /// The chosen take as the worker loaded it, for the next activation's first block.
    ready: Arc<ReadyTake>,
    thread: Option<JoinHandle<Recorder>>,
}

impl WorkerHandle {
    /// Starts the worker (with rings nobody plays: activate attaches real ones).
    pub fn spawn(links: WorkerLinks) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (audio, audio_links) = crossbeam_channel::unbounded();
        let ready = Arc::new(ReadyTake::default());
        let detached = AudioLinks::detached();
        let host_triggers = HostTriggers::new(&links.params);
        let worker = Worker {
            diagnostics: links.params.diagnostics.clone(),
            shared: links.params.shared.clone(),
            links,
            audio_links,
            ready: ready.clone(),
            capture: detached.capture,
            playback: detached.playback,
            timeline: detached.timeline,
            playing: None,
            timeline_stale: false,
            stop: stop.clone(),
            sample_rate: detached.sample_rate,
            host_rate_known: false,
            block: Vec::new(),
            recorder: Recorder::default(),
            audition: VecDeque::new(),
            generations: None,
            runtime_error: "not looked for yet".into(),
            resume_at: Some(Instant::now() + RESUME_DELAY),
            seen_restores: 0,
            host_triggers,
            idle_release_applied: None,
            line_wait: None,
            last_block: None,
        };
        let thread = std::thread::Builder::new()
            .name("encore-worker".into())
            .spawn(move || worker.run())
            .expect("the OS refused to start Encore's worker thread");
        Self {
            stop,
            audio,
            ready,
            thread: Some(thread),
        }
    }

    /// Hands the worker the ring ends of a new activation. Never waits: the worker swaps them
    /// in within one poll interval.
    pub fn attach(&self, audio: AudioLinks) {
        // The worker holds the receiver until it stops; after that nothing plays anyway.
        let _ = self.audio.send(audio);
    }

    /// The chosen take as the worker last loaded it (never waits), and the slot itself: after
    /// a state load the worker fills it a little later (it reads the take's file), and an
    /// offline render's first block waits for that (see `Encore::process`).
    pub fn ready_take(&self, sample_rate: f32) -> Option<Arc<super::timeline::TakeBuffer>> {
        self.ready.for_rate(sample_rate)
    }

    pub fn ready_slot(&self) -> Arc<ReadyTake> {
        self.ready.clone()
    }

    /// Stops the thread and waits for it: within one poll interval, plus the engine's answer
    /// to the cancel of this instance's generations (they save their checkpoints to resume
    /// when the project is opened again). Returns the recordings.
    pub fn stop_and_join(&mut self) -> Option<Recorder> {
        self.stop.store(true, Ordering::Release);
        let thread = self.thread.take()?;
        match thread.join() {
            Ok(recorder) => Some(recorder),
            Err(_) => {
                tracing::error!("Encore's worker thread panicked");
                None
            }
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

struct Worker {
    links: WorkerLinks,
    diagnostics: Arc<Diagnostics>,
    shared: Arc<Shared>,
    audio_links: Receiver<AudioLinks>,
    ready: Arc<ReadyTake>,
    capture: CaptureConsumer,
    playback: PlaybackProducer,
    timeline: TimelineSender,
    /// What the audio thread plays on the timeline (or will, once it takes it).
    playing: Option<Arc<TakeBuffer>>,
    /// The chosen take or its buffer may have changed: hand the audio thread the right one
    /// (again if the swap ring was full).
    timeline_stale: bool,
    stop: Arc<AtomicBool>,
    sample_rate: f32,
    /// False until the first activation tells the host's rate.
    host_rate_known: bool,
    /// Reused buffer for one captured block's samples.
    block: Vec<f32>,
    recorder: Recorder,
    /// Audio waiting for room in the playback ring.
    audition: VecDeque<f32>,
    /// `None` while ONNX Runtime is not loaded.
    generations: Option<Generations>,
    runtime_error: String,
    /// When to resume the unfinished generations (`None`: done).
    resume_at: Option<Instant>,
    seen_restores: u64,
    /// Rising edges of the follow-up trigger parameters already acted on.
    host_triggers: HostTriggers,
    /// The idle time last given to the job queue.
    idle_release_applied: Option<Duration>,
    /// A Continue waiting for its beat or bar line.
    line_wait: Option<LineWait>,
    /// The last captured block with audio (where an editor's press may find its line).
    last_block: Option<BlockHeader>,
}

impl Worker {
    fn run(mut self) -> Recorder {
        self.diagnostics
            .worker_starts
            .fetch_add(1, Ordering::Relaxed);
        // A project restored before the worker started (or while it starts: the host may load
        // the state while ONNX Runtime loads here) is handled by the first turn of the loop, with
        // every field of the state in place: `seen_restores` starts at 0, never at the count
        // seen now, which may be a restore whose settings are not set yet.
        self.timeline_stale = true;
        self.supervised(Self::start_engine);
        while !self.stop.load(Ordering::Acquire) {
            self.supervised(Self::serve_once);
        }
        // Whatever the audio thread pushed before it stopped still counts as received.
        self.drain_capture();
        if let Some(generations) = self.generations.take() {
            let takes_dir = self.takes_dir();
            generations.stop(&JobContext {
                shared: &self.shared,
                takes_dir: &takes_dir,
            });
        }
        self.timeline.drop_returned();
        self.recorder
    }

    /// ONNX Runtime and the model folder of the settings.
    fn start_engine(&mut self) {
        self.ensure_instance_id();
        let user_path = self.links.params.settings.read().ort_library.clone();
        self.load_runtime(user_path);
        let saved = self.links.params.settings.read().model_dir.clone();
        if let Some(dir) = default_model_dir(saved.as_deref()) {
            self.load_model(dir);
        }
    }

    /// One turn of the loop.
    fn serve_once(&mut self) {
        self.wait_and_handle();
        // Before the captured blocks: a Continue in them uses the restored project's settings.
        self.notice_restored_state();
        self.drain_capture();
        self.watch_host_triggers();
        self.resume_when_due();
        self.feed_playback();
        self.update_timeline();
        self.watch_engine();
    }

    /// Waits up to one poll interval for a command or an engine update, and handles it.
    fn wait_and_handle(&mut self) {
        let never = crossbeam_channel::never();
        let events = self
            .generations
            .as_ref()
            .map_or(&never, |g| g.events())
            .clone();
        select! {
            recv(self.audio_links) -> links => {
                if let Ok(links) = links {
                    self.attach(links);
                }
            },
            recv(self.links.commands) -> command => match command {
                Ok(command) => self.handle(command),
                Err(_) => std::thread::sleep(POLL),
            },
            recv(events) -> event => {
                let takes_dir = self.takes_dir();
                if let (Ok(event), Some(generations)) = (event, self.generations.as_mut()) {
                    let ctx = JobContext { shared: &self.shared, takes_dir: &takes_dir };
                    if generations.handle(event, &ctx) {
                        self.timeline_stale = true;
                    }
                }
            },
            default(POLL) => {},
        }
    }

    fn ensure_instance_id(&self) {
        let mut session = self.shared.session.write();
        if session.instance_id.is_empty() {
            let chosen = self.links.params.settings.read().takes_dir.clone();
            let track = self.shared.track_name.read().clone();
            session.instance_id = takes::instance_folder_name(
                track.as_deref(),
                std::time::SystemTime::now(),
                |name| chosen.is_none() && takes::takes_folder(None, name).exists(),
            );
        }
    }

    fn takes_dir(&self) -> PathBuf {
        let chosen = self.links.params.settings.read().takes_dir.clone();
        let instance = self.shared.session.read().instance_id.clone();
        takes::takes_folder(chosen.as_deref(), &instance)
    }
}
