//! Resuming a saved project's unfinished generations, after activate or a restore while running.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Worker;
use crate::plugin::jobs::{forget_unfinished, report};

/// Unfinished generations are resumed this long after activate: hosts activate and deactivate
/// several times while loading a project, and each resume would load the model.
pub(super) const RESUME_DELAY: Duration = Duration::from_millis(500);

impl Worker {
    /// A restored project: its model folder, its chosen take and its unfinished work.
    pub(super) fn notice_restored_state(&mut self) {
        let restores = self.shared.restored.load(Ordering::Acquire);
        if restores != self.seen_restores {
            self.seen_restores = restores;
            self.ensure_instance_id();
            // The chosen take first: a host may render right after the load, and the take must
            // be on the timeline by then (reading the model folder can take longer).
            self.timeline_stale = true;
            self.update_timeline();
            self.ready.mark_handled(restores);
            // The project's model folder is read now, so a Continue right after the load
            // finds it ready; resuming (which loads the model) waits a little.
            self.reload_model_if_changed();
            self.resume_at = Some(Instant::now() + RESUME_DELAY);
        }
    }

    pub(super) fn resume_when_due(&mut self) {
        if self.resume_at.is_none_or(|at| Instant::now() < at) {
            return;
        }
        self.resume_at = None;
        self.reload_model_if_changed();
        let Some(generations) = self.generations.as_mut() else {
            return;
        };
        let unfinished = self.shared.session.read().unfinished.clone();
        for entry in unfinished {
            if generations.is_live(&entry.checkpoint) {
                continue;
            }
            if !entry.checkpoint.is_file() {
                forget_unfinished(&self.shared, &entry.checkpoint);
                report(
                    &self.shared,
                    format!(
                        "an unfinished generation cannot be resumed: its checkpoint {} is \
                         missing (it stopped before saving one)",
                        entry.checkpoint.display()
                    ),
                );
                continue;
            }
            tracing::info!("resuming {}", entry.checkpoint.display());
            generations.submit_resume(&self.shared, &entry);
        }
    }
}
