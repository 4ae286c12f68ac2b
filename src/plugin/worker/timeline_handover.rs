//! Handing the chosen take's buffer to the audio thread, which plays it on the timeline.

use std::sync::Arc;

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
        let chosen = self.shared.session.read().chosen;
        let live = self
            .generations
            .as_mut()
            .and_then(|g| g.playing_buffer(chosen, &self.shared));
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
        let take = self.shared.session.read().take(id).cloned()?;
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
}
