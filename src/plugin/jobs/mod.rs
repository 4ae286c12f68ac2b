//! The worker's side of generations: submits them to the engine's [`JobQueue`], streams their
//! audio into the takes' playback buffers, writes every finished level as a WAV and keeps the
//! session (takes, unfinished generations) and the editor's progress view up to date.
//!
//! This file holds the jobs' bookkeeping (submitting, cancelling, stopping); the engine's
//! updates are handled in `engine_events`, the takes' audio in `take_audio`.

mod engine_events;
mod sources;
mod take_audio;
#[cfg(test)]
mod tests;
mod waveform_feed;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::audio::DecodedAudio;
use crate::engine::{
    Job, JobEvent, JobId, JobInput, JobQueue, QueueClient, Runtime, Settings as GenerationSettings,
};
use crate::jukebox::manifest::Verify;

use super::engine_host;
use super::request::JobClient;
use super::session::{GenerationPhase, GenerationView, Shared, Take, Unfinished};
use super::stream_resampler::convert_frames;
use super::timeline::TakeBuffer;
pub use sources::release_unused_sources;
use take_audio::{BufferShape, LiveTake};

/// How long stopping waits for the engine to confirm that its jobs stopped (it answers
/// within one step, then saves a checkpoint).
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What the event handlers need from the worker.
pub struct JobContext<'a> {
    pub shared: &'a Shared,
    /// Where this instance's takes are written.
    pub takes_dir: &'a Path,
}

pub struct Generations {
    /// This instance's seat at the process-wide job queue.
    queue: QueueClient,
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
    /// A level of this job's takes was written: cancelled, it still leaves them codes to
    /// follow up from.
    wrote_level: bool,
}

struct Prepared {
    client: JobClient,
    settings: GenerationSettings,
    /// The take number of each batch row (events name takes by number).
    take_numbers: Vec<usize>,
    /// Where the takes' continuation (their WAVs, their buffers) starts in the song, in samples
    /// at the model's rate: the prompt's end, or the original one for a derived take.
    origin: usize,
    /// Seconds from `origin` to the takes' end.
    seconds: f64,
    /// The parent's audio a derived take starts with, until its own levels are written.
    kept: Option<KeptPart>,
    /// Host timeline position of the continuation, at the host's rate now.
    timeline_start: i64,
    /// The shape of a take's buffer, made when the take is chosen.
    shape: BufferShape,
    takes: Vec<LiveTake>,
}

/// The part of its parent a derived take keeps: the parent's first `samples` (at the model's
/// rate) of continuation.
#[derive(Debug, Clone)]
pub(super) struct KeptPart {
    pub parent: Take,
    pub samples: usize,
    pub model_rate: u32,
}

impl Prepared {
    /// The batch row of take number `number`.
    fn row_of(&self, number: usize) -> Option<usize> {
        self.take_numbers.iter().position(|&n| n == number)
    }
}

impl Generations {
    /// Joins the process-wide job queue (started on first use, on `intra_threads` ONNX Runtime
    /// threads).
    pub fn start(runtime: &'static Runtime, host_rate: f32, intra_threads: usize) -> Self {
        Self {
            queue: engine_host::shared_queue(runtime, intra_threads).client(),
            host_rate,
            live: HashMap::new(),
            shown: None,
        }
    }

    pub fn events(&self) -> &Receiver<JobEvent> {
        self.queue.events()
    }

    /// The process-wide queue this instance's jobs run on.
    pub fn queue(&self) -> &JobQueue {
        self.queue.queue()
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

    /// A follow-up of a take (Upsample, Extend, Re-generate, Retry), its generation already
    /// saved in `unfinished.checkpoint`: run as a resume, so a project saved at any moment
    /// (queued too) finds it there. `view`: what the editor shows until the engine prepares it.
    pub fn submit_follow_up(
        &mut self,
        shared: &Shared,
        unfinished: &Unfinished,
        view: GenerationView,
    ) -> JobId {
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
        // The same job as a follow-up's: the saved generation, continued.
        self.submit_follow_up(shared, unfinished, view)
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
                wrote_level: false,
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

    /// The buffer that plays `chosen` if it is generating: made (with the best level already
    /// written) when the take is chosen. The buffers of the other generating takes are dropped:
    /// only what plays is held in memory.
    pub fn playing_buffer(
        &mut self,
        chosen: Option<u64>,
        shared: &Shared,
    ) -> Option<Arc<TakeBuffer>> {
        let host_rate = self.host_rate;
        let mut playing = None;
        for prepared in self
            .live
            .values_mut()
            .filter_map(|job| job.prepared.as_mut())
        {
            for take in &mut prepared.takes {
                if Some(take.id) != chosen {
                    take.buffer = None;
                    continue;
                }
                let buffer = take.buffer.get_or_insert_with(|| {
                    let session = shared.session.read();
                    Arc::new(prepared.shape.buffer(
                        take.id,
                        session.take(take.id),
                        prepared.kept.as_ref(),
                        host_rate,
                    ))
                });
                playing = Some(buffer.clone());
            }
        }
        playing
    }

    /// Frames held in the generating takes' buffers.
    #[cfg(test)]
    pub fn held_frames(&self) -> usize {
        self.live
            .values()
            .filter_map(|job| job.prepared.as_ref())
            .flat_map(|p| &p.takes)
            .filter_map(|t| t.buffer.as_ref())
            .map(|b| b.capacity())
            .sum()
    }

    /// Stops writing `take` (it was deleted while generating).
    pub fn skip_take(&mut self, take: u64) {
        for job in self.live.values_mut() {
            job.skipped.insert(take);
        }
    }

    /// Cancels this instance's jobs and handles what the engine still says until every one
    /// has ended (so a level finished just before is still written), then leaves the queue.
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
}

/// Removes the unfinished generation saved in `checkpoint` from the session.
pub fn forget_unfinished(shared: &Shared, checkpoint: &Path) {
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
