//! Progress of the level under way: codes done, rate and time left, sent at a bounded rate.

use std::time::{Duration, Instant};

use super::events::{Event, EventSink};

/// Least time between two [`Event::Progress`] of a level.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// When the level started (or resumed) and what it had done then.
pub(super) struct ProgressClock {
    started: Instant,
    done_at_start: usize,
    last_sent: Option<Instant>,
}

impl ProgressClock {
    pub fn start(done: usize) -> Self {
        Self {
            started: Instant::now(),
            done_at_start: done,
            last_sent: None,
        }
    }

    /// Sends [`Event::Progress`] at most every [`PROGRESS_EVERY`] (always when `force`).
    /// `done` and `total`: codes per take sampled and to sample at `level`.
    pub fn report(
        &mut self,
        events: &dyn EventSink,
        level: usize,
        (done, total): (usize, usize),
        force: bool,
    ) {
        if !force && self.last_sent.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        self.last_sent = Some(Instant::now());
        let seconds = self.started.elapsed().as_secs_f64();
        let fresh = done.saturating_sub(self.done_at_start);
        let codes_per_second = if seconds > 0.0 {
            fresh as f64 / seconds
        } else {
            0.0
        };
        let eta = (fresh > 0 && codes_per_second > 0.0)
            .then(|| Duration::from_secs_f64(total.saturating_sub(done) as f64 / codes_per_second));
        events.emit(Event::Progress {
            level,
            done,
            total,
            codes_per_second,
            eta,
        });
    }
}
