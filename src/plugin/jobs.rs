//! The worker's side of generations: submits them to the engine's [`JobQueue`], streams their
//! audio into the takes' playback buffers, writes every finished level as a WAV and keeps the
//! session (takes, unfinished generations) and the editor's progress view up to date.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::audio::{DecodedAudio, resample_mono};
use crate::engine::{
    DevicePreference, Event, Job, JobEvent, JobId, JobInput, JobQueue, JobUpdate, Runtime,
    Settings as GenerationSettings,
};
use crate::jukebox::manifest::Verify;

use super::request::JobClient;
use super::session::{
    GenerationPhase, GenerationView, LevelProgress, ModelStatus, Shared, Take, Unfinished,
};
use super::stream_resampler::{StreamResampler, convert_frames};
use super::takes;
use super::timeline::TakeBuffer;

/// How long stopping waits for the engine to confirm that its jobs stopped (it answers
/// within one step, then saves a checkpoint).
const STOP_WAIT: Duration = Duration::from_secs(5);
/// Room in a take's buffer beyond the requested length (the engine rounds up to whole
/// top-level hops, a few milliseconds).
const BUFFER_MARGIN_SECONDS: f64 = 1.0;

/// What the event handlers need from the worker.
pub struct JobContext<'a> {
    pub shared: &'a Shared,
    /// Where this instance's takes are written.
    pub takes_dir: &'a Path,
}

pub struct Generations {
    queue: JobQueue,
    host_rate: f32,
    live: HashMap<JobId, LiveJob>,
    /// The job the editor shows: the latest one submitted.
    shown: Option<JobId>,
}

/// A submitted job, until it ends.
struct LiveJob {
    checkpoint: PathBuf,
    /// Known once the engine has prepared the job.
    prepared: Option<Prepared>,
    /// Takes whose audio is not wanted any more (deleted while generating).
    skipped: HashSet<u64>,
    /// The user pressed Cancel: drop the unfinished part instead of resuming it later (a stop
    /// for deactivate or a closing project keeps it, to resume at the next activation).
    discard: bool,
}

struct Prepared {
    client: JobClient,
    settings: GenerationSettings,
    prompt_samples: usize,
    /// Host timeline position of the continuation, at the host's rate now.
    timeline_start: i64,
    takes: Vec<LiveTake>,
}

struct LiveTake {
    id: u64,
    buffer: Arc<TakeBuffer>,
    stream: Option<LevelStream>,
}

/// One level's streamed audio of one take on its way into the buffer.
struct LevelStream {
    level: usize,
    resampler: StreamResampler,
    /// Buffer frame the next resampled sample goes to.
    next: usize,
}

impl Generations {
    pub fn start(runtime: &'static Runtime, host_rate: f32) -> Self {
        Self {
            // CUDA when it works, else the CPU; the engine says which and why (Event::Device).
            queue: JobQueue::start_on(runtime, None, DevicePreference::Auto),
            host_rate,
            live: HashMap::new(),
            shown: None,
        }
    }

    pub fn events(&self) -> &Receiver<JobEvent> {
        self.queue.events()
    }

    /// A new continuation of `prompt`.
    pub fn submit_new(
        &mut self,
        shared: &Shared,
        model_dir: &Path,
        prompt: DecodedAudio,
        settings: GenerationSettings,
        client: &JobClient,
        checkpoint: PathBuf,
    ) -> JobId {
        let view = GenerationView {
            job: 0,
            phase: GenerationPhase::Queued { ahead: 0 },
            levels: Vec::new(),
            target_level: settings.target_level,
            takes: settings.takes,
            timeline_start: client.timeline_start,
        };
        let job = Job {
            model_dir: model_dir.to_path_buf(),
            input: JobInput::Prompt { prompt, settings },
            checkpoint_path: Some(checkpoint.clone()),
            client: serde_json::to_value(client).unwrap_or_default(),
            verify: Verify::Sizes,
        };
        self.submit(shared, job, checkpoint, view)
    }

    /// The generation saved in `checkpoint`, continued.
    pub fn submit_resume(&mut self, shared: &Shared, unfinished: &Unfinished) -> JobId {
        let view = GenerationView {
            job: 0,
            phase: GenerationPhase::Queued { ahead: 0 },
            levels: Vec::new(),
            target_level: 0,
            takes: unfinished.take_ids.len(),
            timeline_start: convert_frames(
                unfinished.timeline_start,
                f64::from(unfinished.sample_rate),
                f64::from(self.host_rate),
            ),
        };
        let job = Job {
            model_dir: PathBuf::new(),
            input: JobInput::Resume {
                checkpoint: unfinished.checkpoint.clone(),
            },
            checkpoint_path: Some(unfinished.checkpoint.clone()),
            client: serde_json::Value::Null,
            verify: Verify::Sizes,
        };
        self.submit(shared, job, unfinished.checkpoint.clone(), view)
    }

    fn submit(
        &mut self,
        shared: &Shared,
        job: Job,
        checkpoint: PathBuf,
        mut view: GenerationView,
    ) -> JobId {
        let id = self.queue.submit(job);
        view.job = id;
        *shared.generation.write() = Some(view);
        self.shown = Some(id);
        self.live.insert(
            id,
            LiveJob {
                checkpoint,
                prepared: None,
                skipped: HashSet::new(),
                discard: false,
            },
        );
        id
    }

    pub fn is_live(&self, checkpoint: &Path) -> bool {
        self.live.values().any(|job| job.checkpoint == checkpoint)
    }

    /// The user's Cancel: every generation stops and is not resumed later. Levels already
    /// finished keep their takes.
    pub fn cancel_all(&mut self) {
        for job in self.live.values_mut() {
            job.discard = true;
        }
        self.queue.cancel_all();
    }

    /// The buffer a generating take streams into, if the take is generating.
    pub fn buffer_of(&self, take: u64) -> Option<Arc<TakeBuffer>> {
        self.live
            .values()
            .filter_map(|job| job.prepared.as_ref())
            .flat_map(|p| &p.takes)
            .find(|t| t.id == take)
            .map(|t| t.buffer.clone())
    }

    /// Stops writing `take` (it was deleted while generating).
    pub fn skip_take(&mut self, take: u64) {
        for job in self.live.values_mut() {
            job.skipped.insert(take);
        }
    }

    /// Cancels everything and handles what the engine still says until every job has
    /// ended (so a level finished just before is still written), then stops the queue.
    pub fn stop(mut self, ctx: &JobContext) {
        self.queue.cancel_all();
        let deadline = Instant::now() + STOP_WAIT;
        while !self.live.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.queue.events().recv_timeout(left) {
                Ok(event) => {
                    self.handle(event, ctx);
                }
                Err(_) => {
                    tracing::warn!("the engine did not confirm that its jobs stopped");
                    break;
                }
            }
        }
    }

    /// Handles one update. Returns true when a take's playback buffer appeared (the worker
    /// may have to hand it to the audio thread).
    pub fn handle(&mut self, event: JobEvent, ctx: &JobContext) -> bool {
        let JobEvent { job, update } = event;
        match update {
            JobUpdate::Queued { ahead } => {
                self.show(ctx, job, |v| v.phase = GenerationPhase::Queued { ahead });
            }
            JobUpdate::Started => self.show(ctx, job, |v| v.phase = GenerationPhase::Preparing),
            JobUpdate::Prepared {
                settings,
                prompt_samples,
                client,
            } => return self.prepared(ctx, job, settings, prompt_samples, client),
            JobUpdate::Engine(event) => self.engine_event(ctx, job, event),
        }
        false
    }

    fn show(&self, ctx: &JobContext, job: JobId, update: impl FnOnce(&mut GenerationView)) {
        if self.shown != Some(job) {
            return;
        }
        if let Some(view) = ctx.shared.generation.write().as_mut()
            && view.job == job
        {
            update(view);
        }
    }

    fn prepared(
        &mut self,
        ctx: &JobContext,
        job: JobId,
        settings: GenerationSettings,
        prompt_samples: usize,
        client: serde_json::Value,
    ) -> bool {
        let Some(live) = self.live.get_mut(&job) else {
            return false;
        };
        let client: JobClient = match serde_json::from_value(client) {
            Ok(client) => client,
            Err(e) => {
                report(
                    ctx.shared,
                    format!(
                        "{} was not written by this plugin ({e}): not resuming it",
                        live.checkpoint.display()
                    ),
                );
                self.queue.cancel(job);
                return false;
            }
        };
        let host_rate = self.host_rate;
        let timeline_start = convert_frames(
            client.timeline_start,
            f64::from(client.sample_rate),
            f64::from(host_rate),
        );
        let region = (settings.seconds * f64::from(host_rate)).round() as usize;
        let capacity =
            ((settings.seconds + BUFFER_MARGIN_SECONDS) * f64::from(host_rate)).ceil() as usize;
        let session = ctx.shared.session.read();
        let unfinished = session
            .unfinished
            .iter()
            .find(|u| u.checkpoint == live.checkpoint);
        let mut takes = Vec::with_capacity(client.take_ids.len());
        for &id in &client.take_ids {
            // Takes deleted since the project was saved stay deleted.
            if unfinished.is_some_and(|u| !u.take_ids.contains(&id)) {
                live.skipped.insert(id);
            }
            let buffer = TakeBuffer::new(id, timeline_start, capacity, region);
            if let Some(take) = session.takes.iter().find(|t| t.id == id) {
                preload(&buffer, take, host_rate);
            }
            takes.push(LiveTake {
                id,
                buffer: Arc::new(buffer),
                stream: None,
            });
        }
        drop(session);
        let view_takes = takes.len();
        let target_level = settings.target_level;
        live.prepared = Some(Prepared {
            client,
            settings,
            prompt_samples,
            timeline_start,
            takes,
        });
        self.show(ctx, job, |v| {
            v.phase = GenerationPhase::Running;
            v.takes = view_takes;
            v.target_level = target_level;
            v.timeline_start = timeline_start;
        });
        true
    }

    fn engine_event(&mut self, ctx: &JobContext, job: JobId, event: Event) {
        match event {
            Event::Device { device, reason } => {
                if let ModelStatus::Ready(info) = &mut *ctx.shared.model.write() {
                    info.device = format!("{device}: {reason}");
                }
            }
            Event::Checkpointed { .. } => {}
            Event::LevelStarted { level, total } => self.show(ctx, job, |v| {
                v.levels.retain(|l| l.level != level);
                v.levels.push(LevelProgress {
                    level,
                    done: 0,
                    total,
                    codes_per_second: 0.0,
                    eta_seconds: None,
                });
            }),
            Event::Progress {
                level,
                done,
                total,
                codes_per_second,
                eta,
            } => self.show(ctx, job, |v| {
                if let Some(progress) = v.levels.iter_mut().find(|l| l.level == level) {
                    progress.done = done;
                    progress.total = total;
                    progress.codes_per_second = codes_per_second;
                    progress.eta_seconds = eta.map(|e| e.as_secs_f64());
                }
            }),
            Event::Audio {
                take,
                level,
                start_sample,
                samples,
            } => self.stream_audio(job, take, level, start_sample, &samples),
            Event::TakeFinished {
                take, level, audio, ..
            } => {
                if let Err(reason) = self.take_finished(ctx, job, take, level, &audio) {
                    report(ctx.shared, reason);
                }
            }
            Event::Finished => {
                self.show(ctx, job, |v| v.phase = GenerationPhase::Finished);
                if let Some(live) = self.live.remove(&job) {
                    forget_unfinished(ctx.shared, &live.checkpoint);
                    let _ = std::fs::remove_file(&live.checkpoint);
                }
            }
            Event::Cancelled => {
                self.show(ctx, job, |v| v.phase = GenerationPhase::Cancelled);
                // Stopped by deactivate: its checkpoint stays in the unfinished list and is
                // resumed at the next activation. Stopped by the user: forgotten.
                if let Some(live) = self.live.remove(&job)
                    && live.discard
                {
                    forget_unfinished(ctx.shared, &live.checkpoint);
                    let _ = std::fs::remove_file(&live.checkpoint);
                }
            }
            Event::Error(message) => {
                self.show(ctx, job, |v| {
                    v.phase = GenerationPhase::Failed(message.clone())
                });
                report(ctx.shared, format!("the generation failed: {message}"));
                if let Some(live) = self.live.remove(&job)
                    && !live.checkpoint.exists()
                {
                    // Nothing was saved: there is nothing to resume.
                    forget_unfinished(ctx.shared, &live.checkpoint);
                }
            }
        }
    }

    fn stream_audio(
        &mut self,
        job: JobId,
        row: usize,
        level: usize,
        start: usize,
        samples: &[f32],
    ) {
        let host_rate = self.host_rate;
        let Some(prepared) = self.live.get_mut(&job).and_then(|j| j.prepared.as_mut()) else {
            return;
        };
        let model_rate = prepared.client.model_rate;
        let prompt_samples = prepared.prompt_samples;
        let Some(take) = prepared.takes.get_mut(row) else {
            return;
        };
        if take.stream.as_ref().is_none_or(|s| s.level != level) {
            let resampler = match StreamResampler::new(model_rate, host_rate.round() as u32) {
                Ok(resampler) => resampler,
                Err(e) => {
                    tracing::warn!("take {}: {e}", take.id);
                    return;
                }
            };
            let from_prompt_end = start.saturating_sub(prompt_samples) as i64;
            let next = convert_frames(from_prompt_end, f64::from(model_rate), f64::from(host_rate));
            take.stream = Some(LevelStream {
                level,
                resampler,
                next: next as usize,
            });
        }
        let Some(stream) = take.stream.as_mut() else {
            return;
        };
        let mut out = Vec::with_capacity(samples.len() * 3);
        if let Err(e) = stream.resampler.push(samples, &mut out) {
            tracing::warn!("take {}: {e}", take.id);
            return;
        }
        take.buffer.write(stream.next, &out);
        stream.next += out.len();
    }

    /// Writes one finished level of one take and puts it in the take's buffer and the list.
    fn take_finished(
        &mut self,
        ctx: &JobContext,
        job: JobId,
        row: usize,
        level: usize,
        song: &[f32],
    ) -> Result<(), String> {
        let host_rate = self.host_rate;
        let Some(live) = self.live.get_mut(&job) else {
            return Ok(());
        };
        let Some(prepared) = live.prepared.as_mut() else {
            return Ok(());
        };
        let Some(take) = prepared.takes.get_mut(row) else {
            return Ok(());
        };
        if live.skipped.contains(&take.id) {
            return Ok(());
        }
        let rate = host_rate.round() as u32;
        let model_rate = prepared.client.model_rate;
        // The whole song is resampled, so the continuation's first samples have their real
        // left context; it starts where the prompt ends.
        let song = resample_mono(song, model_rate, rate).map_err(|e| e.to_string())?;
        let cut = convert_frames(
            prepared.prompt_samples as i64,
            f64::from(model_rate),
            f64::from(rate),
        ) as usize;
        let continuation = song.get(cut..).unwrap_or_default();
        let id = take.id;
        let name = ctx
            .shared
            .session
            .read()
            .takes
            .iter()
            .find(|t| t.id == id)
            .map_or_else(|| takes::default_name(id), |t| t.name.clone());
        let file = takes::write_level(ctx.takes_dir, &name, level, continuation, rate)
            .map_err(|e| format!("take {name} (level {level}) could not be written: {e}"))?;
        tracing::info!("take {id} level {level}: {}", file.display());
        take.buffer.write(0, continuation);
        take.buffer.set_region(continuation.len());
        take.stream = None;
        let mut session = ctx.shared.session.write();
        let frames = continuation.len() as u64;
        session
            .level_files
            .entry(id)
            .or_default()
            .push(file.clone());
        match session.takes.iter_mut().find(|t| t.id == id) {
            Some(existing) => {
                existing.level = level;
                existing.file = file;
                existing.frames = frames;
                existing.timeline_start = prepared.timeline_start;
                existing.sample_rate = host_rate;
            }
            None => session.takes.push(Take {
                id,
                name,
                level,
                file,
                timeline_start: prepared.timeline_start,
                sample_rate: host_rate,
                frames,
                batch_row: row,
                settings: prepared.settings.clone(),
            }),
        }
        Ok(())
    }
}

/// A resumed take plays the best level it already has until a better one comes.
fn preload(buffer: &TakeBuffer, take: &Take, host_rate: f32) {
    match takes::read_take(take, host_rate) {
        Ok(samples) => buffer.write(0, &samples),
        Err(e) => tracing::warn!("take {}: {e}", take.id),
    }
}

/// Removes the unfinished generation saved in `checkpoint` from the session.
fn forget_unfinished(shared: &Shared, checkpoint: &Path) {
    shared
        .session
        .write()
        .unfinished
        .retain(|u| u.checkpoint != checkpoint);
}

/// Tells the user (the editor shows `last_error`) and the log.
pub fn report(shared: &Shared, message: String) {
    tracing::warn!("{message}");
    *shared.last_error.write() = Some(message);
}
