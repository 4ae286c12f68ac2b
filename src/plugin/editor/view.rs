//! What one frame draws, copied out of the shared state at the start of the frame.
//!
//! Every lock is a short read lock taken here, never across drawing: the worker must be able to
//! write at any time. Copies are only made when something changed, so a model with thousands
//! of artists is not cloned sixty times a second.

use super::super::capture::TimeSignature;
use super::super::recordings::Meter;
use std::sync::atomic::Ordering;

use parking_lot::RwLock;

use super::super::diagnostics::RuntimeStatus;
use super::super::params::EncoreParams;
use super::super::session::{GenerationPhase, GenerationView, ModelStatus, SessionState};

#[derive(Debug, Default)]
pub struct FrameView {
    pub runtime: RuntimeStatus,
    pub model: ModelStatus,
    pub generation: Option<GenerationView>,
    pub session: SessionState,
    pub last_error: Option<String>,
    pub host: HostView,
}

/// The host side, read from the audio thread's atomics.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostView {
    pub playing: bool,
    /// 0 when the host gives no tempo.
    pub tempo_bpm: f64,
    pub time_signature: Option<TimeSignature>,
    pub sample_rate: f32,
    pub received_frames: u64,
    pub dropped_frames: u64,
    /// The host's timeline position of the last block (samples at `sample_rate`); -1 when the
    /// host gives none.
    pub position_samples: i64,
}

impl HostView {
    /// Tempo and time signature, to turn bars into seconds as the worker will.
    pub fn meter(&self) -> Meter {
        Meter {
            tempo_bpm: (self.tempo_bpm > 0.0).then_some(self.tempo_bpm),
            time_signature: self.time_signature,
        }
    }

    /// The playhead in seconds, when the host gives a position.
    pub fn position_seconds(&self) -> Option<f64> {
        (self.position_samples >= 0 && self.sample_rate > 0.0)
            .then(|| self.position_samples as f64 / f64::from(self.sample_rate))
    }

    pub fn captured_seconds(&self) -> f64 {
        if self.sample_rate > 0.0 {
            self.received_frames as f64 / f64::from(self.sample_rate)
        } else {
            0.0
        }
    }
}

impl FrameView {
    pub fn refresh(&mut self, params: &EncoreParams) {
        let shared = &params.shared;
        // Small and without `PartialEq`: copied every frame.
        self.runtime = params.diagnostics.runtime.read().clone();
        copy_if_changed(&mut self.model, &shared.model);
        copy_if_changed(&mut self.generation, &shared.generation);
        copy_if_changed(&mut self.session, &shared.session);
        copy_if_changed(&mut self.last_error, &shared.last_error);

        let diag = &params.diagnostics;
        self.host = HostView {
            playing: diag.host_playing.load(Ordering::Relaxed),
            tempo_bpm: f64::from_bits(diag.host_tempo_bits.load(Ordering::Relaxed)),
            time_signature: TimeSignature::unpacked(
                diag.host_time_signature.load(Ordering::Relaxed),
            ),
            sample_rate: f32::from_bits(diag.sample_rate_bits.load(Ordering::Relaxed)),
            received_frames: diag.received_frames.load(Ordering::Relaxed),
            dropped_frames: diag.dropped_frames.load(Ordering::Relaxed),
            position_samples: diag.host_position_samples.load(Ordering::Relaxed),
        };
    }

    /// Whether a generation is queued or running (Cancel is offered, progress is polled faster).
    pub fn is_generating(&self) -> bool {
        self.generation.as_ref().is_some_and(|g| {
            matches!(
                g.phase,
                GenerationPhase::Queued { .. }
                    | GenerationPhase::Preparing
                    | GenerationPhase::Running
            )
        })
    }
}

/// Comparing is a read of memory the copy already holds; cloning allocates.
fn copy_if_changed<T: Clone + PartialEq>(copy: &mut T, shared: &RwLock<T>) {
    let current = shared.read();
    if *copy != *current {
        copy.clone_from(&current);
    }
}
