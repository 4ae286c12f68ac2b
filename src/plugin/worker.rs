//! The plugin's worker thread: the bridge between the audio thread, the editor and the engine.
//!
//! It drains the capture ring into recordings, answers the editor's commands and the
//! `continue` parameter, runs generations through the engine's job queue, hands take buffers
//! to the audio thread and streams auditions through the playback ring. It runs from activate
//! to deactivate; everything slow happens here, never on the audio thread.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};

use super::capture::{BlockHeader, CaptureConsumer};
use super::diagnostics::{Diagnostics, RuntimeStatus};
use super::jobs::{Generations, JobContext, report};
use super::model::{check_model, default_model_dir};
use super::params::EncoreParams;
use super::playback::PlaybackProducer;
use super::prompt_file::read_prompt_file;
use super::recordings::{KEEP_SECONDS, Recorder};
use super::request::{JobClient, generation_settings};
use super::session::{ModelStatus, Shared, Unfinished};
use super::settings::{PromptSource, Settings};
use super::stream_resampler::convert_frames;
use super::takes::{self, TakeError};
use super::timeline::{TakeBuffer, TimelineSender};
use crate::audio::DecodedAudio;
use crate::engine::DevicePreference;
use crate::engine::runtime::{self, RuntimeSearch};
use crate::jukebox::Manifest;

/// How often the worker wakes to drain the capture ring when nothing else happens.
const POLL: Duration = Duration::from_millis(5);
/// Unfinished generations are resumed this long after activate: hosts activate and deactivate
/// several times while loading a project, and each resume would load the model.
const RESUME_DELAY: Duration = Duration::from_millis(500);

/// Requests from the editor (or the plugin) to the worker.
#[derive(Debug, Clone)]
pub enum WorkerCommand {
    /// Look for ONNX Runtime again, with the user's chosen path first.
    LoadRuntime { user_path: Option<PathBuf> },
    /// Play the last `seconds` of captured audio back onto the track, so the user can hear what
    /// Encore will use as the prompt.
    PlayPrompt { seconds: f32 },
    /// Read and check a model folder (the result lands in `Shared::model`); also saved in
    /// the settings.
    LoadModel { dir: PathBuf },
    /// Send the prompt to the engine with the current parameters and settings (the editor's
    /// button; the `continue` parameter does the same through the audio thread).
    Continue,
    /// Cancel the running generation and every queued one; they are not resumed later (levels
    /// already finished keep their takes).
    Cancel,
    /// Play a take now, whatever the transport does; `None` stops.
    Audition { take: Option<u64> },
    /// The take that plays on the timeline; `None`: none.
    Choose { take: Option<u64> },
    /// Renames the take and its file (refused when the new file name is taken).
    Rename { take: u64, name: String },
    /// Removes the take from the list and deletes its files.
    Delete { take: u64 },
}

/// What a worker needs that outlives it (shared with the editor across activations).
#[derive(Clone)]
pub struct WorkerLinks {
    pub commands: Receiver<WorkerCommand>,
    pub params: Arc<EncoreParams>,
}

/// The audio side's other ends, made at activate.
pub struct WorkerStart {
    pub sample_rate: f32,
    pub capture: CaptureConsumer,
    pub playback: PlaybackProducer,
    pub timeline: TimelineSender,
    /// The buffer the audio thread starts with.
    pub playing: Option<Arc<TakeBuffer>>,
    /// Recordings of earlier activations.
    pub recorder: Recorder,
}

pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Recorder>>,
}

impl WorkerHandle {
    pub fn spawn(links: WorkerLinks, start: WorkerStart) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            diagnostics: links.params.diagnostics.clone(),
            shared: links.params.shared.clone(),
            links,
            capture: start.capture,
            playback: start.playback,
            timeline: start.timeline,
            playing: start.playing,
            timeline_stale: false,
            stop: stop.clone(),
            sample_rate: start.sample_rate,
            block: Vec::new(),
            recorder: start.recorder,
            audition: VecDeque::new(),
            generations: None,
            runtime_error: "not looked for yet".into(),
            resume_at: Some(Instant::now() + RESUME_DELAY),
            seen_restores: 0,
        };
        let thread = std::thread::Builder::new()
            .name("encore-worker".into())
            .spawn(move || worker.run())
            .expect("the OS refused to start Encore's worker thread");
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread and waits for it (within one poll interval, plus the engine's answer
    /// to a cancel). Returns the recordings, for the next activation.
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
}

impl Worker {
    fn run(mut self) -> Recorder {
        self.diagnostics
            .worker_starts
            .fetch_add(1, Ordering::Relaxed);
        self.seen_restores = self.shared.restored.load(Ordering::Acquire);
        self.ensure_instance_id();
        let user_path = self.links.params.settings.read().ort_library.clone();
        self.load_runtime(user_path);
        let saved = self.links.params.settings.read().model_dir.clone();
        if let Some(dir) = default_model_dir(saved.as_deref()) {
            self.load_model(dir);
        }
        while !self.stop.load(Ordering::Acquire) {
            self.wait_and_handle();
            self.drain_capture();
            self.notice_restored_state();
            self.resume_when_due();
            self.feed_playback();
            self.update_timeline();
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

    /// Waits up to one poll interval for a command or an engine update, and handles it.
    fn wait_and_handle(&mut self) {
        let never = crossbeam_channel::never();
        let events = self
            .generations
            .as_ref()
            .map_or(&never, |g| g.events())
            .clone();
        select! {
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

    fn handle(&mut self, command: WorkerCommand) {
        match command {
            WorkerCommand::LoadRuntime { user_path } => {
                self.load_runtime(user_path);
                let dir = self.links.params.settings.read().model_dir.clone();
                if let Some(dir) = default_model_dir(dir.as_deref()) {
                    self.load_model(dir);
                }
            }
            WorkerCommand::PlayPrompt { seconds } => self.play_prompt(seconds),
            WorkerCommand::LoadModel { dir } => {
                self.links.params.settings.write().model_dir = Some(dir.clone());
                self.load_model(dir);
            }
            WorkerCommand::Continue => {
                // Everything played up to the press belongs to the prompt.
                self.drain_capture();
                let position = self
                    .diagnostics
                    .host_position_samples
                    .load(Ordering::Acquire);
                self.continue_generation((position >= 0).then_some(position));
            }
            WorkerCommand::Cancel => {
                if let Some(generations) = &mut self.generations {
                    generations.cancel_all();
                }
            }
            WorkerCommand::Audition { take } => self.audition(take),
            WorkerCommand::Choose { take } => {
                self.shared.session.write().chosen = take;
                self.timeline_stale = true;
            }
            WorkerCommand::Rename { take, name } => {
                if let Err(e) = self.rename(take, &name) {
                    report(&self.shared, format!("cannot rename the take: {e}"));
                }
            }
            WorkerCommand::Delete { take } => {
                if let Err(e) = self.delete(take) {
                    report(&self.shared, format!("cannot delete the take: {e}"));
                }
            }
        }
    }

    fn load_runtime(&mut self, user_path: Option<PathBuf>) {
        let search = RuntimeSearch::from_this_binary(user_path);
        let status = match runtime::ensure_loaded(&search) {
            Ok(runtime) => {
                if self.generations.is_none() {
                    self.generations = Some(Generations::start(runtime, self.sample_rate));
                }
                RuntimeStatus::Ready(runtime.info.clone())
            }
            Err(error) => {
                tracing::warn!("{error}");
                self.runtime_error = error.to_string();
                RuntimeStatus::Unavailable(error.to_string())
            }
        };
        *self.diagnostics.runtime.write() = status;
    }

    fn load_model(&mut self, dir: PathBuf) {
        *self.shared.model.write() = ModelStatus::Loading(dir.clone());
        let runtime = match &self.generations {
            Some(_) => Ok(()),
            None => Err(self.runtime_error.clone()),
        };
        let mut status = check_model(&dir, runtime);
        if let (ModelStatus::Ready(info), Some(runtime)) =
            (&mut status, crate::engine::runtime::loaded())
        {
            // Cheap (no session opened): the device generations will use, and why.
            info.device = match crate::engine::device::choose(runtime, DevicePreference::Auto) {
                Ok(choice) => format!("{}: {}", choice.device, choice.reason),
                Err(error) => error.to_string(),
            };
        }
        if let ModelStatus::Unusable { reason, .. } = &status {
            report(
                &self.shared,
                format!("model folder {}: {reason}", dir.display()),
            );
        }
        *self.shared.model.write() = status;
    }

    fn ensure_instance_id(&self) {
        let mut session = self.shared.session.write();
        if session.instance_id.is_empty() {
            session.instance_id = takes::new_instance_id();
        }
    }

    fn takes_dir(&self) -> PathBuf {
        let chosen = self.links.params.settings.read().takes_dir.clone();
        let instance = self.shared.session.read().instance_id.clone();
        takes::takes_folder(chosen.as_deref(), &instance)
    }

    fn drain_capture(&mut self) {
        loop {
            self.block.clear();
            let Some(header) = self.capture.pop_block(&mut self.block) else {
                break;
            };
            self.diagnostics
                .received_frames
                .fetch_add(u64::from(header.frames), Ordering::Release);
            // The request was made at the block's start: the prompt is the audio before it.
            if header.continue_requests > 0 {
                self.continue_from_parameter(&header);
            }
            self.recorder.append(&header, &self.block);
        }
    }

    fn continue_from_parameter(&mut self, header: &BlockHeader) {
        // Several rising edges in one block are one request.
        self.continue_generation(header.transport.position_samples);
    }

    /// Starts a generation from the prompt before `playhead`; failures go to `last_error`.
    fn continue_generation(&mut self, playhead: Option<i64>) {
        if let Err(message) = self.try_continue(playhead) {
            report(&self.shared, format!("cannot continue: {message}"));
        }
    }

    fn try_continue(&mut self, playhead: Option<i64>) -> Result<(), String> {
        if self.generations.is_none() {
            return Err(format!(
                "ONNX Runtime is not available: {}",
                self.runtime_error
            ));
        }
        let model_dir = match &*self.shared.model.read() {
            ModelStatus::Ready(info) => info.dir.clone(),
            ModelStatus::Unusable { reason, .. } => return Err(reason.clone()),
            ModelStatus::Loading(_) | ModelStatus::NotSet => {
                return Err("choose a model folder first".into());
            }
        };
        let model_rate = Manifest::load(&model_dir)
            .map_err(|e| e.to_string())?
            .audio
            .sample_rate;
        let settings = self.links.params.settings.read().clone();
        let clip = self.prompt(&settings, playhead)?;
        let generation = generation_settings(&self.links.params, &settings, &self.recorder.meter())
            .map_err(|e| e.to_string())?;
        self.ensure_instance_id();
        let takes_dir = self.takes_dir();
        let checkpoints = takes::checkpoints_folder(&takes_dir);
        takes::create_folder(&checkpoints).map_err(|e| e.to_string())?;
        let take_ids: Vec<u64> = {
            let mut session = self.shared.session.write();
            let first = session
                .next_take_id
                .max(session.takes.iter().map(|t| t.id + 1).max().unwrap_or(0));
            session.next_take_id = first + generation.takes as u64;
            (first..first + generation.takes as u64).collect()
        };
        let checkpoint = unused_checkpoint_path(&checkpoints, take_ids[0]);
        let client = JobClient {
            timeline_start: clip.end,
            sample_rate: self.sample_rate,
            take_ids: take_ids.clone(),
            model_rate,
        };
        {
            let mut session = self.shared.session.write();
            session.unfinished.push(Unfinished {
                checkpoint: checkpoint.clone(),
                timeline_start: clip.end,
                sample_rate: self.sample_rate,
                take_ids: take_ids.clone(),
            });
            // The new take plays as it is generated.
            session.chosen = take_ids.first().copied();
        }
        self.timeline_stale = true;
        tracing::info!(
            "continue: {:.2} s of prompt, the continuation at {}, {:.2} s x {} takes to level \
             {}, seed {}",
            clip.seconds,
            clip.end,
            generation.seconds,
            generation.takes,
            generation.target_level,
            generation.seed
        );
        if let Some(generations) = self.generations.as_mut() {
            generations.submit_new(
                &self.shared,
                &model_dir,
                clip.audio,
                generation,
                &client,
                checkpoint,
            );
        }
        Ok(())
    }

    /// The prompt's audio, and where on the timeline (host samples) the continuation goes.
    fn prompt(&self, settings: &Settings, playhead: Option<i64>) -> Result<Prompt, String> {
        if settings.prompt == PromptSource::File {
            let audio = read_prompt_file(settings.prompt_file.as_deref(), KEEP_SECONDS)
                .map_err(|e| e.to_string())?;
            let frames = audio.channels.first().map_or(0, Vec::len);
            // A file has no place on the timeline: its continuation goes at the playhead.
            let end = playhead
                .or_else(|| self.recorder.latest().map(|r| r.end()))
                .unwrap_or(0);
            return Ok(Prompt {
                seconds: frames as f64 / f64::from(audio.sample_rate.max(1)),
                audio,
                end,
            });
        }
        let clip = self
            .recorder
            .select(&settings.prompt, playhead)
            .map_err(|e| e.to_string())?;
        // Recordings at another rate than now (before a rate change) are placed at this one.
        let end = convert_frames(
            clip.end,
            f64::from(clip.sample_rate),
            f64::from(self.sample_rate),
        );
        Ok(Prompt {
            seconds: (clip.end - clip.start) as f64 / f64::from(clip.sample_rate),
            audio: DecodedAudio {
                sample_rate: clip.sample_rate.round() as u32,
                channels: vec![clip.left, clip.right],
            },
            end,
        })
    }

    /// A restored project while running: reload the chosen take and resume its unfinished work.
    fn notice_restored_state(&mut self) {
        let restores = self.shared.restored.load(Ordering::Acquire);
        if restores != self.seen_restores {
            self.seen_restores = restores;
            self.ensure_instance_id();
            self.timeline_stale = true;
            self.resume_at = Some(Instant::now() + RESUME_DELAY);
        }
    }

    fn resume_when_due(&mut self) {
        if self.resume_at.is_none_or(|at| Instant::now() < at) {
            return;
        }
        self.resume_at = None;
        self.reload_model_if_changed();
        let Some(generations) = self.generations.as_mut() else {
            return;
        };
        let unfinished = self.shared.session.read().unfinished.clone();
        for entry in unfinished {
            if generations.is_live(&entry.checkpoint) {
                continue;
            }
            if !entry.checkpoint.is_file() {
                self.shared
                    .session
                    .write()
                    .unfinished
                    .retain(|u| u.checkpoint != entry.checkpoint);
                report(
                    &self.shared,
                    format!(
                        "an unfinished generation cannot be resumed: its checkpoint {} is \
                         missing (it stopped before saving one)",
                        entry.checkpoint.display()
                    ),
                );
                continue;
            }
            tracing::info!("resuming {}", entry.checkpoint.display());
            generations.submit_resume(&self.shared, &entry);
        }
    }

    /// A restored project may name another model folder than the one loaded.
    fn reload_model_if_changed(&mut self) {
        let saved = self.links.params.settings.read().model_dir.clone();
        let Some(wanted) = default_model_dir(saved.as_deref()) else {
            return;
        };
        let loaded = match &*self.shared.model.read() {
            ModelStatus::Ready(info) => Some(info.dir.clone()),
            ModelStatus::Loading(dir) | ModelStatus::Unusable { dir, .. } => Some(dir.clone()),
            ModelStatus::NotSet => None,
        };
        if loaded.as_ref() != Some(&wanted) {
            self.load_model(wanted);
        }
    }

    /// Hands the chosen take's buffer to the audio thread when the choice or the buffer
    /// changed.
    fn update_timeline(&mut self) {
        self.timeline.drop_returned();
        if !self.timeline_stale {
            return;
        }
        let chosen = self.shared.session.read().chosen;
        let live = chosen.and_then(|id| self.generations.as_ref()?.buffer_of(id));
        let wanted = match (chosen, live) {
            (None, _) => None,
            (Some(_), Some(live)) => Some(live),
            (Some(id), None) => match &self.playing {
                Some(playing) if playing.take == id => Some(playing.clone()),
                _ => self.load_take_buffer(id),
            },
        };
        let same = match (&wanted, &self.playing) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same || self.timeline.send(wanted.clone()) {
            self.playing = wanted;
            self.timeline_stale = false;
        }
    }

    fn load_take_buffer(&self, id: u64) -> Option<Arc<TakeBuffer>> {
        let take = self
            .shared
            .session
            .read()
            .takes
            .iter()
            .find(|t| t.id == id)
            .cloned()?;
        match takes::load_buffer(&take, self.sample_rate) {
            Ok(buffer) => Some(Arc::new(buffer)),
            Err(e) => {
                report(
                    &self.shared,
                    format!("take {} cannot be played: {e}", take.name),
                );
                None
            }
        }
    }

    fn audition(&mut self, take: Option<u64>) {
        self.audition.clear();
        self.playback.stop();
        let Some(id) = take else {
            return;
        };
        let found = self
            .shared
            .session
            .read()
            .takes
            .iter()
            .find(|t| t.id == id)
            .cloned();
        let result = match found {
            None => Err(TakeError::NoSuchTake { id }),
            Some(take) => takes::read_take(&take, self.sample_rate),
        };
        match result {
            Ok(samples) => self.audition.extend(samples.iter().flat_map(|&s| [s, s])),
            Err(e) => report(&self.shared, format!("cannot play the take: {e}")),
        }
    }

    fn play_prompt(&mut self, seconds: f32) {
        let Some(latest) = self.recorder.latest() else {
            return;
        };
        let frames = (seconds.max(0.0) * latest.sample_rate) as i64;
        let samples = latest.interleaved(latest.end() - frames, latest.end());
        self.audition.extend(samples);
    }

    fn rename(&mut self, id: u64, name: &str) -> Result<(), TakeError> {
        let name = takes::valid_name(name)?;
        let mut guard = self.shared.session.write();
        let session = &mut *guard;
        if session.takes.iter().any(|t| t.id != id && t.name == name) {
            return Err(TakeError::NameTaken { name });
        }
        let take = session
            .takes
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(TakeError::NoSuchTake { id })?;
        let files = session.level_files.entry(id).or_default();
        takes::rename_files(take, files, &name)
    }

    fn delete(&mut self, id: u64) -> Result<(), TakeError> {
        if let Some(generations) = self.generations.as_mut() {
            generations.skip_take(id);
        }
        let mut session = self.shared.session.write();
        for entry in &mut session.unfinished {
            entry.take_ids.retain(|&t| t != id);
        }
        if session.chosen == Some(id) {
            session.chosen = None;
            self.timeline_stale = true;
        }
        let Some(index) = session.takes.iter().position(|t| t.id == id) else {
            return Ok(());
        };
        let take = session.takes.remove(index);
        let files = session.level_files.remove(&id).unwrap_or_default();
        drop(session);
        takes::delete_files(&take, &files)
    }

    fn feed_playback(&mut self) {
        let room = self.playback.slots().min(self.audition.len());
        for sample in self.audition.drain(..room) {
            // Cannot fail: we only take as many samples as there are free slots.
            let _ = self.playback.push(sample);
        }
    }
}

/// A prompt ready for the engine.
struct Prompt {
    audio: DecodedAudio,
    seconds: f64,
    /// Host timeline position (samples at the current rate) where the continuation starts.
    end: i64,
}

/// `dir/generation <first take>.json`, or `-2`, `-3`, ... when taken.
fn unused_checkpoint_path(dir: &Path, first_take: u64) -> PathBuf {
    let stem = format!("generation {first_take}");
    std::iter::once(dir.join(format!("{stem}.json")))
        .chain((2..).map(|n| dir.join(format!("{stem}-{n}.json"))))
        .find(|p| !p.exists())
        .unwrap_or_else(|| dir.join(format!("{stem}.json")))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::plugin::capture::{TransportSnapshot, capture_rings};
    use crate::plugin::params::PlaybackMode;
    use crate::plugin::playback::playback_ring;
    use crate::plugin::timeline::timeline;

    const RATE: f32 = 1000.0;

    fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn receives_every_captured_frame_and_plays_the_prompt_back() {
        let params = Arc::new(EncoreParams::default());
        params.settings.write().ort_library = Some("/nonexistent/libonnxruntime.so".into());
        let diagnostics = params.diagnostics.clone();
        let (commands_tx, commands) = crossbeam_channel::unbounded();
        let links = WorkerLinks {
            commands,
            params: params.clone(),
        };
        let (mut capture, capture_rx) = capture_rings(RATE, 64);
        let (playback_tx, mut playback) = playback_ring(RATE);
        let (timeline_tx, _player) = timeline(None);
        let mut worker = WorkerHandle::spawn(
            links,
            WorkerStart {
                sample_rate: RATE,
                capture: capture_rx,
                playback: playback_tx,
                timeline: timeline_tx,
                playing: None,
                recorder: Recorder::default(),
            },
        );

        let transport = TransportSnapshot {
            playing: true,
            tempo_bpm: None,
            position_samples: None,
            sample_rate: RATE,
            time_signature: None,
        };
        let ramp: Vec<f32> = (0..50).map(|i| i as f32).collect();
        for _ in 0..4 {
            assert!(capture.push(&[&ramp], transport, 0, &diagnostics));
        }
        wait_until("the worker drained the ring", || {
            diagnostics.received_frames.load(Ordering::Acquire) == 200
        });

        // The last 10 ms at 1 kHz are the ramp's last 10 samples, duplicated to stereo.
        commands_tx
            .send(WorkerCommand::PlayPrompt { seconds: 0.01 })
            .unwrap();
        let mut out = [0.0f32; 10];
        wait_until("the prompt reached the playback ring", || {
            playback.play_into(&mut [&mut out], PlaybackMode::Replace, &diagnostics);
            diagnostics.played_frames.load(Ordering::Acquire) >= 10
        });
        assert_eq!(
            out,
            [40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0]
        );

        // Without ONNX Runtime (or a model), Continue says why instead of doing anything.
        commands_tx.send(WorkerCommand::Continue).unwrap();
        wait_until("the worker reported why it cannot continue", || {
            params.shared.last_error.read().is_some()
        });
        let error = params.shared.last_error.read().clone().unwrap();
        assert!(error.starts_with("cannot continue: "), "{error}");

        let stopping = Instant::now();
        let recorder = worker
            .stop_and_join()
            .expect("the worker returns its recordings");
        assert!(stopping.elapsed() < Duration::from_secs(1));
        assert_eq!(recorder.latest().map(|r| r.frames()), Some(200));
        // ONNX Runtime is loaded once per process: another test may have loaded it first.
        if runtime::loaded().is_none() {
            assert!(error.contains("ONNX Runtime is not available"), "{error}");
            let status = diagnostics.runtime.read().to_string();
            assert!(status.starts_with("unavailable"), "{status}");
        }
    }

    #[test]
    fn checkpoint_names_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = unused_checkpoint_path(dir.path(), 3);
        assert_eq!(first, dir.path().join("generation 3.json"));
        std::fs::write(&first, "{}").unwrap();
        assert_eq!(
            unused_checkpoint_path(dir.path(), 3),
            dir.path().join("generation 3-2.json")
        );
    }
}
