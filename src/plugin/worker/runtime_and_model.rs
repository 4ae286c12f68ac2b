//! Finding ONNX Runtime (which starts the job queue) and reading and checking model folders.

use std::path::PathBuf;

use super::Worker;
use crate::engine::DevicePreference;
use crate::engine::runtime::{self, RuntimeSearch};
use crate::plugin::diagnostics::RuntimeStatus;
use crate::plugin::jobs::{Generations, report};
use crate::plugin::model::{check_model, default_model_dir};
use crate::plugin::session::ModelStatus;

impl Worker {
    pub(super) fn load_runtime(&mut self, user_path: Option<PathBuf>) {
        let search = RuntimeSearch::from_this_binary(user_path);
        let status = match runtime::ensure_loaded(&search) {
            Ok(runtime) => {
                if self.generations.is_none() {
                    let threads = self.links.params.settings.read().intra_threads();
                    let generations = Generations::start(runtime, self.sample_rate, threads);
                    // What the shared engine runs on (another instance may have started it).
                    let used = generations.queue().intra_threads().unwrap_or(0);
                    self.diagnostics
                        .engine_threads
                        .store(used as u32, std::sync::atomic::Ordering::Release);
                    self.generations = Some(generations);
                }
                RuntimeStatus::Ready(runtime.info.clone())
            }
            Err(error) => {
                tracing::warn!("{error}");
                self.runtime_error = error.to_string();
                RuntimeStatus::Unavailable(error.to_string())
            }
        };
        *self.diagnostics.runtime.write() = status;
    }

    pub(super) fn load_model(&mut self, dir: PathBuf) {
        *self.shared.model.write() = ModelStatus::Loading(dir.clone());
        let runtime = match &self.generations {
            Some(_) => Ok(()),
            None => Err(self.runtime_error.clone()),
        };
        let mut status = check_model(&dir, runtime);
        if let (ModelStatus::Ready(info), Some(runtime)) =
            (&mut status, crate::engine::runtime::loaded())
        {
            // Cheap (no session opened): the device generations will use, and why.
            info.device = match crate::engine::device::choose(runtime, DevicePreference::Auto) {
                Ok(choice) => format!("{}: {}", choice.device, choice.reason),
                Err(error) => error.to_string(),
            };
        }
        if let ModelStatus::Unusable { reason, .. } = &status {
            report(
                &self.shared,
                format!("model folder {}: {reason}", dir.display()),
            );
        }
        *self.shared.model.write() = status;
    }

    /// A restored project may name another model folder than the one loaded.
    pub(super) fn reload_model_if_changed(&mut self) {
        let saved = self.links.params.settings.read().model_dir.clone();
        let Some(wanted) = default_model_dir(saved.as_deref()) else {
            return;
        };
        let loaded = match &*self.shared.model.read() {
            ModelStatus::Ready(info) => Some(info.dir.clone()),
            ModelStatus::Loading(dir) | ModelStatus::Unusable { dir, .. } => Some(dir.clone()),
            ModelStatus::NotSet => None,
        };
        if loaded.as_ref() != Some(&wanted) {
            self.load_model(wanted);
        }
    }
}
