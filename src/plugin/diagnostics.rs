//! What the plugin knows about itself, shared by the audio thread, the worker and the editor,
//! and exposed to hosts and tests through the saved state (key `diagnostics`).
//!
//! The audio thread only touches the atomics. The runtime status is behind a lock that only the
//! worker writes and the editor or the host's state save read. Nothing here is read back from a
//! restored state: restoring a project must not rewind an instance's history.
//!
//! The counters go into the saved state only where [`DIAGNOSTICS_ENV`] is set (the tests, a bug
//! report): elsewhere the field holds a fixed placeholder, so that saving a restored state gives
//! back the very same bytes (hosts and clap-validator check that) and projects do not carry an
//! instance's history.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use nice_plug::params::persist::PersistentField;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use super::capture::{TimeSignature, TransportSnapshot};
use crate::engine::RuntimeInfo;

/// Whether the engine can run, as the editor shows it.
#[derive(Debug, Clone, Default)]
pub enum RuntimeStatus {
    #[default]
    NotChecked,
    Ready(RuntimeInfo),
    /// The full, user-facing reason and what to do about it.
    Unavailable(String),
}

impl std::fmt::Display for RuntimeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuntimeStatus::NotChecked => f.write_str("not checked yet"),
            RuntimeStatus::Ready(info) => {
                write!(f, "ready: {} ({})", info.path.display(), info.origin)
            }
            RuntimeStatus::Unavailable(reason) => write!(f, "unavailable: {reason}"),
        }
    }
}

/// Set (to anything but `0`) to have the saved state carry the live counters.
pub const DIAGNOSTICS_ENV: &str = "ENCORE_DIAGNOSTICS";

/// Whether a state saved now carries the live counters (read at each save, on the host's
/// main thread: the tests switch it between instances).
fn in_state() -> bool {
    std::env::var_os(DIAGNOSTICS_ENV).is_some_and(|v| v != "0")
}

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
    /// Trigger presses (Continue, Upsample, ...) the audio thread fired.
    pub triggers_fired: AtomicU64,
    /// Whether the host's transport was playing in the last block.
    pub host_playing: AtomicBool,
    /// Blocks processed while the host's transport was playing.
    pub playing_blocks: AtomicU64,
    /// Host tempo in the last block, as f64 bits (0 when the host gives none).
    pub host_tempo_bits: AtomicU64,
    /// Host timeline position of the last block's first sample (-1 when unknown).
    pub host_position_samples: AtomicI64,
    /// Host time signature in the last block: numerator << 16 | denominator (0 when the host
    /// gives none).
    pub host_time_signature: AtomicU32,
    /// Host position of the last block's first sample in quarter notes, as f64 bits (NaN when
    /// the host gives none).
    pub host_beats_bits: AtomicU64,
    /// Where the bar holding the last block started, in quarter notes, as f64 bits (NaN when
    /// unknown).
    pub host_bar_start_bits: AtomicU64,
    /// How many times the worker thread was started (once per instance: it lives across
    /// activations).
    pub worker_starts: AtomicU64,
    /// Times the worker failed (a panic) and started its duties afresh.
    pub worker_restarts: AtomicU64,
    /// The take the worker handed to the timeline (and keeps ready for the next activation),
    /// as id + 1; 0: none.
    pub timeline_take: AtomicU64,
    /// Of the process-wide engine (every instance shares it): model folders opened, priors
    /// opened, idle models released.
    pub models_opened: AtomicU64,
    pub priors_opened: AtomicU64,
    pub models_released: AtomicU64,
    /// Instances that share this instance's engine (itself included).
    pub engine_clients: AtomicU64,
    /// Sample rate of the current activation, as f32 bits.
    pub sample_rate_bits: AtomicU32,
    /// Whether the current activation is an offline render, as the host said at activate.
    pub offline: AtomicBool,
    /// ONNX Runtime's intra-op threads in the engine this instance uses (0: not started).
    pub engine_threads: AtomicU32,
    /// Written by the worker only.
    pub runtime: RwLock<RuntimeStatus>,
}

/// A plain copy of the counters, as saved in the plugin state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticsSnapshot {
    pub captured_frames: u64,
    pub received_frames: u64,
    pub dropped_frames: u64,
    pub played_frames: u64,
    pub process_calls: u64,
    pub triggers_fired: u64,
    pub host_playing: bool,
    pub playing_blocks: u64,
    pub host_tempo_bpm: f64,
    pub host_position_samples: i64,
    pub worker_starts: u64,
    pub worker_restarts: u64,
    pub timeline_take: Option<u64>,
    pub models_opened: u64,
    pub priors_opened: u64,
    pub models_released: u64,
    pub engine_clients: u64,
    pub sample_rate: f32,
    pub offline: bool,
    pub engine_threads: u32,
    /// The runtime status in words, e.g. "unavailable: ONNX Runtime library not found ...".
    pub runtime: String,
}

impl Diagnostics {
    /// The host transport at the start of the last block the audio thread processed.
    pub fn last_transport(&self) -> TransportSnapshot {
        let finite = |bits: u64| Some(f64::from_bits(bits)).filter(|v| v.is_finite());
        let position = self.host_position_samples.load(Ordering::Acquire);
        TransportSnapshot {
            playing: self.host_playing.load(Ordering::Acquire),
            tempo_bpm: finite(self.host_tempo_bits.load(Ordering::Acquire)).filter(|t| *t > 0.0),
            position_samples: (position >= 0).then_some(position),
            sample_rate: f32::from_bits(self.sample_rate_bits.load(Ordering::Acquire)),
            time_signature: TimeSignature::unpacked(
                self.host_time_signature.load(Ordering::Acquire),
            ),
            pos_beats: finite(self.host_beats_bits.load(Ordering::Acquire)),
            bar_start_beats: finite(self.host_bar_start_bits.load(Ordering::Acquire)),
        }
    }

    pub fn snapshot(&self) -> DiagnosticsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Acquire);
        DiagnosticsSnapshot {
            captured_frames: load(&self.captured_frames),
            received_frames: load(&self.received_frames),
            dropped_frames: load(&self.dropped_frames),
            played_frames: load(&self.played_frames),
            process_calls: load(&self.process_calls),
            triggers_fired: load(&self.triggers_fired),
            host_playing: self.host_playing.load(Ordering::Acquire),
            playing_blocks: load(&self.playing_blocks),
            host_tempo_bpm: f64::from_bits(load(&self.host_tempo_bits)),
            host_position_samples: self.host_position_samples.load(Ordering::Acquire),
            worker_starts: load(&self.worker_starts),
            worker_restarts: load(&self.worker_restarts),
            timeline_take: load(&self.timeline_take).checked_sub(1),
            models_opened: load(&self.models_opened),
            priors_opened: load(&self.priors_opened),
            models_released: load(&self.models_released),
            engine_clients: load(&self.engine_clients),
            sample_rate: f32::from_bits(self.sample_rate_bits.load(Ordering::Acquire)),
            offline: self.offline.load(Ordering::Acquire),
            engine_threads: self.engine_threads.load(Ordering::Acquire),
            runtime: self.runtime.read().to_string(),
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
        if in_state() {
            f(&self.snapshot())
        } else {
            f(&DiagnosticsSnapshot::default())
        }
    }
}
