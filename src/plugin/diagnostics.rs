//! Counters the plugin exposes to hosts and tests through its saved state.
//!
//! Everything here is an atomic, so the audio thread updates it without locks. The counters are
//! written into the plugin state (key `diagnostics`) but never read back from it: restoring a
//! project must not rewind them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use nice_plug::params::persist::PersistentField;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default)]
pub struct Diagnostics {
    /// Frames the audio thread handed to the capture ring.
    pub captured_frames: AtomicU64,
    /// Frames the worker took out of the capture ring.
    pub received_frames: AtomicU64,
    /// Frames lost because the capture ring was full (the worker fell behind).
    pub dropped_frames: AtomicU64,
    /// Frames of generated audio played onto the track.
    pub played_frames: AtomicU64,
    /// Calls to `process()`.
    pub process_calls: AtomicU64,
    /// Whether the host's transport was playing in the last block.
    pub host_playing: AtomicBool,
    /// Host tempo in the last block, as f64 bits (0 when the host gives none).
    pub host_tempo_bits: AtomicU64,
    /// Host timeline position of the last block's first sample (-1 when unknown).
    pub host_position_samples: AtomicI64,
    /// How many times the worker thread was started.
    pub worker_starts: AtomicU64,
}

/// A plain copy of the counters, as saved in the plugin state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticsSnapshot {
    pub captured_frames: u64,
    pub received_frames: u64,
    pub dropped_frames: u64,
    pub played_frames: u64,
    pub process_calls: u64,
    pub host_playing: bool,
    pub host_tempo_bpm: f64,
    pub host_position_samples: i64,
    pub worker_starts: u64,
}

impl Diagnostics {
    pub fn snapshot(&self) -> DiagnosticsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Acquire);
        DiagnosticsSnapshot {
            captured_frames: load(&self.captured_frames),
            received_frames: load(&self.received_frames),
            dropped_frames: load(&self.dropped_frames),
            played_frames: load(&self.played_frames),
            process_calls: load(&self.process_calls),
            host_playing: self.host_playing.load(Ordering::Acquire),
            host_tempo_bpm: f64::from_bits(load(&self.host_tempo_bits)),
            host_position_samples: self.host_position_samples.load(Ordering::Acquire),
            worker_starts: load(&self.worker_starts),
        }
    }
}

impl<'a> PersistentField<'a, DiagnosticsSnapshot> for Arc<Diagnostics> {
    fn set(&self, _restored: DiagnosticsSnapshot) {
        // Read-only: the counters describe this instance's life, not the project's.
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&DiagnosticsSnapshot) -> R,
    {
        f(&self.snapshot())
    }
}
