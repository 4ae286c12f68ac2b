//! The generation state on disk: serde_json with the codes in binary (`codes_format`), written
//! atomically (temporary file, fsync, rename) so a crash leaves either the previous checkpoint
//! or the new one, never half of one. A running generation writes them off its sampling thread
//! (`checkpoint_writer`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::engine::Engine;
use super::plan::LevelPlan;
use super::settings::Settings;
use super::state::GenerationState;
use crate::audio::DecodedAudio;
use crate::engine::error::EngineError;
use crate::jukebox::Manifest;

/// The checkpoint format this build writes. Version 2: the prompt at every level, take numbers,
/// and one uniform stream per level and take (no stream state saved). Version 3: the same, its
/// codes in binary (`codes_format`); version 2 files still load (the sampling is the same).
pub const CHECKPOINT_VERSION: u32 = 3;
/// The oldest format this build reads.
const OLDEST_READABLE_VERSION: u32 = 2;

/// Everything needed to continue a generation exactly where it stopped, or to start a new one
/// from it (upsampled later, continued from a point in a take).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format_version: u32,
    /// The model folder and its name (checked on resume).
    pub model_dir: PathBuf,
    pub model_name: String,
    pub state: GenerationState,
}

impl Checkpoint {
    /// A generation of `prompt` on `engine`'s model, not started yet.
    pub fn start(
        engine: &mut Engine,
        prompt: &DecodedAudio,
        settings: Settings,
    ) -> Result<Self, EngineError> {
        let state = GenerationState::start(engine, prompt, settings)?;
        Ok(Self::of(engine, state))
    }

    /// `state` on `engine`'s model.
    pub(super) fn of(engine: &Engine, state: GenerationState) -> Self {
        Self {
            format_version: CHECKPOINT_VERSION,
            model_dir: engine.dir.clone(),
            model_name: engine.manifest.model.name.clone(),
            state,
        }
    }

    /// Checks that the checkpoint was made with `engine`'s model and is whole, so it can be
    /// run without failing on its own content.
    pub fn check(&self, engine: &Engine) -> Result<(), EngineError> {
        self.plans(engine).map(drop)
    }

    /// What [`Self::check`] checks, from the model's manifest alone (without opening the
    /// model): a caller can refuse a generation before queueing it.
    pub fn fits(&self, manifest: &Manifest) -> Result<(), EngineError> {
        self.plans_for(manifest).map(drop)
    }

    pub(super) fn plans(&self, engine: &Engine) -> Result<Vec<LevelPlan>, EngineError> {
        self.plans_for(&engine.manifest)
    }

    fn plans_for(&self, manifest: &Manifest) -> Result<Vec<LevelPlan>, EngineError> {
        let name = &manifest.model.name;
        if &self.model_name != name {
            return Err(EngineError::InvalidInput(format!(
                "the checkpoint was made with model {:?}, not {name:?}",
                self.model_name
            )));
        }
        self.state.plans(manifest)
    }

    /// Writes `self` to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), EngineError> {
        let failed = |reason: String| EngineError::Checkpoint {
            path: path.to_path_buf(),
            reason,
        };
        let json = serde_json::to_vec(self).map_err(|e| failed(e.to_string()))?;
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{}.tmp", std::process::id()));
        let temporary = path.with_file_name(name);
        let written = (|| {
            let mut file = fs::File::create(&temporary)?;
            file.write_all(&json)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temporary, path)?;
            // The rename itself must reach the disk too.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::File::open(dir)?.sync_all()?;
            }
            Ok::<_, std::io::Error>(())
        })();
        written.map_err(|e| {
            let _ = fs::remove_file(&temporary);
            failed(e.to_string())
        })
    }

    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let failed = |reason: String| EngineError::Checkpoint {
            path: path.to_path_buf(),
            reason,
        };
        let text = fs::read(path).map_err(|e| failed(e.to_string()))?;
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| failed(format!("not a checkpoint: {e}")))?;
        let version = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64);
        match version {
            Some(v)
                if (u64::from(OLDEST_READABLE_VERSION)..=u64::from(CHECKPOINT_VERSION))
                    .contains(&v) => {}
            Some(v) if v < u64::from(OLDEST_READABLE_VERSION) => {
                return Err(failed(format!(
                    "checkpoint format {v} was written by an older Encore, which sampled \
                     differently; this Encore reads formats {OLDEST_READABLE_VERSION} to \
                     {CHECKPOINT_VERSION} only"
                )));
            }
            other => {
                return Err(failed(format!(
                    "not a checkpoint of format {CHECKPOINT_VERSION} (format {other:?})"
                )));
            }
        }
        serde_json::from_value(value).map_err(|e| failed(format!("not a checkpoint: {e}")))
    }
}
