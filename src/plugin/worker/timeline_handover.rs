//! Handing the chosen take's buffer to the audio thread, which plays it on the timeline, and
//! keeping it ready for the next activation (see `audio_links`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Worker;
use crate::plugin::jobs::report;
use crate::plugin::takes;
use crate::plugin::timeline::TakeBuffer;

impl Worker {
    /// Hands the chosen take's buffer to the audio thread when the choice or the buffer
    /// changed.
    pub(super) fn update_timeline(&mut self) {
        self.timeline.drop_returned();
        if !self.timeline_stale {
            return;
        }
        let (chosen, rate) = {
            let session = self.shared.session.read();
            let chosen = session.chosen;
            // Before the first activation the host's rate is unknown: the project's own (the
            // take's, as saved) is the best guess for the activation to come.
            let rate = match (self.host_rate_known, chosen.and_then(|id| session.take(id))) {
                (false, Some(take)) => take.sample_rate,
                _ => self.sample_rate,
            };
            (chosen, rate)
        };
        // Only the chosen take of a running generation holds a buffer (made here when chosen).
        let live = self
            .generations
            .as_mut()
            .and_then(|g| g.playing_buffer(chosen, &self.shared));
        let wanted = match (chosen, live) {
            (None, _) => None,
            (Some(_), Some(live)) => Some(live),
            // Loaded from disk once, then kept (also while the swap ring is full).
            (Some(id), None) => match self.ready.kept(id, rate) {
                Some(kept) => Some(kept),
                None => self.load_take_buffer(id, rate),
            },
        };
        self.ready.set(rate, wanted.clone());
        self.diagnostics
            .timeline_take
            .store(wanted.as_ref().map_or(0, |b| b.take + 1), Ordering::Release);
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

    fn load_take_buffer(&self, id: u64, rate: f32) -> Option<Arc<TakeBuffer>> {
        let take = self.shared.session.read().take(id).cloned()?;
        match takes::load_buffer(&take, rate) {
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
}
