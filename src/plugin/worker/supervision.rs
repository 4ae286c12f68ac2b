//! A worker that cannot die silently: a panic in any of its duties is caught, shown to the user
//! with its reason, and the worker starts its duties afresh (the plugin is not reloaded); a job
//! queue whose thread died is replaced the same way. Also keeps the process-wide engine's
//! figures and idle time in step with this instance.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Worker;
use super::resume::RESUME_DELAY;
use crate::plugin::jobs::{JobContext, report};

/// Pause after each restart.
const RESTART_PAUSE: Duration = Duration::from_millis(100);

impl Worker {
    /// Runs `duty`; a panic inside it is reported and the worker restarted.
    pub(super) fn supervised(&mut self, duty: fn(&mut Self)) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| duty(self))) {
            let reason = panic_message(&*panic);
            self.restart(&format!(
                "Encore's worker failed ({reason}) and was restarted"
            ));
            // A failure that comes back at once must not spin a core.
            std::thread::sleep(RESTART_PAUSE);
        }
    }

    /// Starts the worker's duties afresh after a failure: this instance's generations are
    /// stopped (each saves its checkpoint) and resumed shortly, the engine is looked for again.
    fn restart(&mut self, message: &str) {
        self.diagnostics
            .worker_restarts
            .fetch_add(1, Ordering::AcqRel);
        report(
            &self.shared,
            format!("{message}; unfinished generations resume"),
        );
        if let Some(generations) = self.generations.take() {
            let takes_dir = self.takes_dir();
            let stopped = catch_unwind(AssertUnwindSafe(|| {
                generations.stop(&JobContext {
                    shared: &self.shared,
                    takes_dir: &takes_dir,
                })
            }));
            if stopped.is_err() {
                tracing::error!("stopping the generations failed too");
            }
        }
        self.audition.clear();
        self.timeline_stale = true;
        self.resume_at = Some(Instant::now() + RESUME_DELAY);
        self.idle_release_applied = None;
        // Not `supervised`: a start that fails every time must not loop here.
        if catch_unwind(AssertUnwindSafe(|| self.start_engine())).is_err() {
            report(
                &self.shared,
                "Encore's worker could not restart the engine; reload the plugin".into(),
            );
        }
    }

    /// Notices a dead engine, applies the user's idle time and copies the engine's figures.
    pub(super) fn watch_engine(&mut self) {
        let Some(generations) = &self.generations else {
            return;
        };
        let queue = generations.queue();
        if let Some(reason) = queue.failure() {
            self.restart(&format!("{reason}; the engine was restarted"));
            return;
        }
        let idle = self.links.params.settings.read().model_idle_release();
        if self.idle_release_applied != Some(idle) {
            queue.set_idle_release(idle);
            self.idle_release_applied = Some(idle);
        }
        let counts = queue.model_counts();
        let diag = &self.diagnostics;
        diag.models_opened
            .store(counts.models_opened, Ordering::Relaxed);
        diag.priors_opened
            .store(counts.priors_opened, Ordering::Relaxed);
        diag.models_released
            .store(counts.models_released, Ordering::Relaxed);
        diag.engine_clients
            .store(queue.clients() as u64, Ordering::Relaxed);
    }
}

/// The text of a panic's payload, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
