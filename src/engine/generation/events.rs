//! What a running generation tells its caller, and where it sends it.

use std::path::PathBuf;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::engine::session::Device;

/// Where a generation sends its events: a `Sender<Event>`, or the job queue's sink that tags
/// them with their job.
pub trait EventSink {
    /// Delivers `event`. A receiver that has gone away is no error: nobody is listening.
    fn emit(&self, event: Event);
}

impl EventSink for Sender<Event> {
    fn emit(&self, event: Event) {
        let _ = self.send(event);
    }
}

/// `take` fields are take numbers (`GenerationState::take_numbers`): the batch row for a new
/// generation, the original number for takes upsampled later.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Where the graphs run, and why there.
    Device { device: Device, reason: String },
    /// A level starts (or resumes): `total` new codes per take to sample.
    LevelStarted { level: usize, total: usize },
    /// Codes sampled so far at `level` (per take; every take advances together).
    Progress {
        level: usize,
        done: usize,
        total: usize,
        /// Codes per take per second since the level started (or resumed).
        codes_per_second: f64,
        /// `None` until there is a rate to extrapolate from.
        eta: Option<Duration>,
    },
    /// Decoded audio of take `take` at `level`, mono at the model's rate, from `start_sample`
    /// (counted from the start of the prompt). Chunks of a level follow each other without gaps
    /// or overlap, starting where the level's given codes end (the prompt's end), so playback
    /// can begin before the level ends.
    /// Each chunk is decoded with context on both sides; the level's final audio
    /// ([`Event::TakeFinished`]) is decoded in one piece and may differ very slightly.
    Audio {
        take: usize,
        level: usize,
        start_sample: usize,
        samples: Vec<f32>,
    },
    /// Take `take` is finished at `level`: the whole song (prompt as the model hears it, then
    /// the continuation), decoded in one piece, and its codes.
    TakeFinished {
        take: usize,
        level: usize,
        audio: Vec<f32>,
        codes: Vec<i64>,
    },
    /// The generation state was saved.
    Checkpointed { path: PathBuf },
    /// Every level down to the target is finished.
    Finished,
    /// Stopped on request; resumable from the last checkpoint if one was being written.
    Cancelled,
    /// The generation failed; the message is the error's.
    Error(String),
}
