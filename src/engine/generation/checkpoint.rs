//! The generation state on disk: serde_json, written atomically (temporary file, fsync, rename)
//! so a crash leaves either the previous checkpoint or the new one, never half of one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Settings;
use crate::engine::error::EngineError;
use crate::engine::sampler::RngState;
use crate::engine::windows::LevelCheckpoint;

/// The checkpoint format this build reads and writes.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Everything needed to continue a generation exactly where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format_version: u32,
    /// The model folder and its name (checked on resume).
    pub model_dir: PathBuf,
    pub model_name: String,
    pub settings: Settings,
    /// Prompt length in samples at the model's rate.
    pub prompt_samples: usize,
    /// The prompt's codes by level (one row, shared by every take).
    pub prompt_codes: Vec<Vec<i64>>,
    /// Codes of every take, by level, for the levels already finished.
    pub finished: Vec<Option<Vec<Vec<i64>>>>,
    /// The level under way (meaningless once `done`).
    pub level: usize,
    /// Where that level stands, if it has started.
    pub current: Option<LevelCheckpoint>,
    /// The sampling stream (one for the whole generation, all levels).
    pub rng: RngState,
    pub done: bool,
    /// Whatever the caller wants back on resume (the CLI keeps its output folder here).
    #[serde(default)]
    pub client: serde_json::Value,
}

impl Checkpoint {
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
        if version != Some(u64::from(CHECKPOINT_VERSION)) {
            return Err(failed(format!(
                "checkpoint format {version:?}, this Encore reads {CHECKPOINT_VERSION}"
            )));
        }
        serde_json::from_value(value).map_err(|e| failed(format!("not a checkpoint: {e}")))
    }
}
