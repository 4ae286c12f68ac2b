//! The audio thread's rings, remade at every activation and handed to the running worker, and
//! the chosen take kept ready for the next activation's first block.
//!
//! The contract with activate: it makes fresh rings for the new rate and block size, gives the
//! audio thread its ends (its timeline starting with [`ReadyTake::for_rate`]) and sends the
//! worker's ends as one [`AudioLinks`] (a channel send: it never waits). The worker drains the
//! old capture ring first, so no captured frame is lost, then swaps the new ends in; at a new
//! rate it reloads the chosen take and moves its live generations to that rate. Generations
//! never notice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::Worker;
use crate::plugin::capture::{CaptureConsumer, capture_rings};
use crate::plugin::playback::{PlaybackProducer, playback_ring};
use crate::plugin::timeline::{TakeBuffer, TimelineSender, timeline};

/// The worker's ends of one activation's rings.
pub struct AudioLinks {
    pub sample_rate: f32,
    pub capture: CaptureConsumer,
    pub playback: PlaybackProducer,
    pub timeline: TimelineSender,
    /// The buffer the audio thread's timeline starts with.
    pub playing: Option<Arc<TakeBuffer>>,
}

impl AudioLinks {
    /// Rings whose audio ends are gone: what the worker holds before the first activation.
    pub fn detached() -> Self {
        const RATE: f32 = 44_100.0;
        let (_, capture) = capture_rings(RATE, 1);
        let (playback, _) = playback_ring(RATE);
        let (timeline, _) = timeline(None);
        Self {
            sample_rate: RATE,
            capture,
            playback,
            timeline,
            playing: None,
        }
    }
}

/// The chosen take's buffer as the worker last handed it to the audio thread, with the rate it
/// was made for. Activate and the audio thread read it without waiting: the worker holds the
/// lock only to swap an `Arc` (nanoseconds), and a reader that finds it held goes without
/// (the take then reaches the audio thread through the timeline ring a block or two later).
#[derive(Default)]
pub struct ReadyTake {
    slot: Mutex<Option<(f32, Arc<TakeBuffer>)>>,
    /// The count of restored states (`Shared::restored`) whose chosen take the slot reflects.
    restores_handled: AtomicU64,
}

impl ReadyTake {
    /// Whether the slot reflects the restored state number `restores` (or a later one).
    pub fn has_handled(&self, restores: u64) -> bool {
        self.restores_handled.load(Ordering::Acquire) >= restores
    }

    pub(super) fn mark_handled(&self, restores: u64) {
        self.restores_handled.fetch_max(restores, Ordering::AcqRel);
    }

    /// Real-time safe (never waits; an `Arc` clone).
    pub fn for_rate(&self, sample_rate: f32) -> Option<Arc<TakeBuffer>> {
        let slot = self.slot.try_lock()?;
        let (rate, buffer) = slot.as_ref()?;
        (*rate == sample_rate).then(|| buffer.clone())
    }

    /// The buffer kept for `take` at `sample_rate`, if that is the one kept (the worker's own
    /// view: it may wait for the lock).
    pub(super) fn kept(&self, take: u64, sample_rate: f32) -> Option<Arc<TakeBuffer>> {
        let slot = self.slot.lock();
        let (rate, buffer) = slot.as_ref()?;
        (*rate == sample_rate && buffer.take == take).then(|| buffer.clone())
    }

    pub(super) fn set(&self, sample_rate: f32, buffer: Option<Arc<TakeBuffer>>) {
        // The previous buffer is dropped after the lock is released.
        let _previous = std::mem::replace(
            &mut *self.slot.lock(),
            buffer.map(|buffer| (sample_rate, buffer)),
        );
    }
}

impl Worker {
    /// Swaps in the rings of a new activation.
    pub(super) fn attach(&mut self, links: AudioLinks) {
        // What the audio thread captured before it stopped belongs to the recordings.
        self.drain_capture();
        self.timeline.drop_returned();
        let first = !std::mem::replace(&mut self.host_rate_known, true);
        if first || links.sample_rate != self.sample_rate {
            self.sample_rate = links.sample_rate;
            // Auditions and the chosen take were made for the old rate.
            self.audition.clear();
            self.playing = None;
            if let Some(generations) = &mut self.generations {
                generations.set_host_rate(self.sample_rate);
            }
        }
        self.capture = links.capture;
        self.playback = links.playback;
        self.timeline = links.timeline;
        // What the new timeline starts with; the chosen take follows if it differs.
        self.playing = links.playing;
        self.timeline_stale = true;
    }
}
