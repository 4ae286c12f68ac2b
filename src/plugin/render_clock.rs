//! Whether the audio thread has a deadline: a real-time host needs each block back in time, an
//! offline render (a bounce, DawDreamer, pedalboard) has none and may be kept waiting for the
//! worker (room in the capture ring, a restored take) so that nothing is lost.
//!
//! The host's word is not enough: nice-plug's VST3 wrapper reports the process mode of the
//! previous `setupProcessing`, and JUCE hosts such as DawDreamer never say offline at all. So
//! the clock also measures: a host that has handed over more audio than wall time has passed,
//! by more than any real-time output buffer holds ([`AHEAD_MARGIN_SECONDS`]), is rendering
//! faster than real time. Real-time safe: `Instant::now()` per block, no allocation.

use std::time::Instant;

/// How far ahead of the wall clock a host's audio may run while it still plays in real time
/// (output buffers and prefetching hosts stay well under this).
pub const AHEAD_MARGIN_SECONDS: f64 = 1.0;

pub struct RenderClock {
    /// When the first block of this activation came.
    started: Option<Instant>,
    /// Frames processed before the current block.
    frames: u64,
    sample_rate: f64,
    /// The host said offline at activate.
    offline: bool,
}

impl RenderClock {
    pub fn new(sample_rate: f32, offline: bool) -> Self {
        Self {
            started: None,
            frames: 0,
            sample_rate: f64::from(sample_rate),
            offline,
        }
    }

    /// Real-time safe. Call once at the start of each block, with its length; returns whether
    /// this block has no deadline (see [`RenderClock::no_deadline`]).
    pub fn block(&mut self, frames: usize) -> bool {
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        let no_deadline = self.no_deadline_at(now.duration_since(started).as_secs_f64());
        self.frames += frames as u64;
        no_deadline
    }

    /// Whether the host said offline, or the audio before this block ran ahead of
    /// `elapsed_seconds` of wall time by more than the margin.
    fn no_deadline_at(&self, elapsed_seconds: f64) -> bool {
        let audio_seconds = self.frames as f64 / self.sample_rate;
        self.offline || audio_seconds - elapsed_seconds > AHEAD_MARGIN_SECONDS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_render_ahead_of_the_wall_clock_has_no_deadline() {
        let mut clock = RenderClock::new(48_000.0, false);
        clock.frames = 48_000; // one second handed over
        assert!(
            !clock.no_deadline_at(0.5),
            "half a second ahead: maybe real time"
        );
        clock.frames = 48_000 * 3;
        assert!(
            clock.no_deadline_at(0.1),
            "three seconds in 0.1 s: faster than real time"
        );
        assert!(!clock.no_deadline_at(2.5));
        assert!(
            RenderClock::new(48_000.0, true).no_deadline_at(0.0),
            "the host said so"
        );
        // Real time, block by block: never ahead.
        let mut clock = RenderClock::new(48_000.0, false);
        assert!(!clock.block(480));
        assert!(!clock.block(480));
    }
}
