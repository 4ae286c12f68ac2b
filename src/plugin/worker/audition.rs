//! Playing a take (audition) or the prompt's last seconds now, through the playback ring.

use super::Worker;
use crate::plugin::jobs::report;
use crate::plugin::takes::{self, TakeError};

impl Worker {
    pub(super) fn audition(&mut self, take: Option<u64>) {
        self.audition.clear();
        self.playback.stop();
        let Some(id) = take else {
            return;
        };
        let found = self.shared.session.read().take(id).cloned();
        let result = match found {
            None => Err(TakeError::NoSuchTake { id }),
            Some(take) => takes::read_take(&take, self.sample_rate),
        };
        match result {
            Ok(samples) => self.audition.extend(samples.iter().flat_map(|&s| [s, s])),
            Err(e) => report(&self.shared, format!("cannot play the take: {e}")),
        }
    }

    /// A take heard from `seconds` into it: the whole take is read, the start skipped.
    pub(super) fn audition_from(&mut self, take: u64, seconds: f64) {
        self.audition(Some(take));
        let frames = (seconds.max(0.0) * f64::from(self.sample_rate)) as usize;
        let skip = (frames * 2).min(self.audition.len());
        self.audition.drain(..skip);
    }

    pub(super) fn play_prompt(&mut self, seconds: f32) {
        let Some(latest) = self.recorder.latest() else {
            return;
        };
        let frames = (seconds.max(0.0) * latest.sample_rate) as i64;
        let samples = latest.interleaved(latest.end() - frames, latest.end());
        self.audition.extend(samples);
    }

    /// Moves as much of the waiting audio into the playback ring as it has room for.
    pub(super) fn feed_playback(&mut self) {
        let room = self.playback.slots().min(self.audition.len());
        for sample in self.audition.drain(..room) {
            // Cannot fail: we only take as many samples as there are free slots.
            let _ = self.playback.push(sample);
        }
    }
}
