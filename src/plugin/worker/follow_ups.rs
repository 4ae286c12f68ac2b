//! Per-take follow-ups (Upsample, Extend, Re-generate from here, Retry): each becomes a job in
//! the engine's queue like a Continue.

use super::Worker;
use crate::plugin::jobs::report;

impl Worker {
    pub(super) fn upsample_take(&mut self, take: u64, level: usize) {
        report(
            &self.shared,
            format!("Upsample take {take} to level {level}: not built yet"),
        );
    }

    pub(super) fn extend_take(&mut self, take: u64, seconds: f64) {
        report(
            &self.shared,
            format!("Extend take {take} by {seconds} s: not built yet"),
        );
    }

    pub(super) fn regenerate_take(&mut self, take: u64, at_seconds: f64, takes: usize) {
        report(
            &self.shared,
            format!("Re-generate take {take} from {at_seconds} s ({takes} takes): not built yet"),
        );
    }

    pub(super) fn retry_take(&mut self, take: u64) {
        report(&self.shared, format!("Retry take {take}: not built yet"));
    }
}
