//! The generation state on disk: serde_json with the codes in binary (`codes_format`), written
//! atomically (temporary file, fsync, rename) so a crash leaves either the previous checkpoint
//! or the new one, never half of one. A running generation writes them off its sampling thread
//! (`checkpoint_writer`).
//!
//! The model folder is stored twice: absolute, and relative to the checkpoint's own folder
//! (`model_dir_relative`). A checkpoint read from anywhere finds its model by the absolute path;
//! one moved together with the model (a project folder copied to another machine) finds it by
//! the relative one. A model moved on its own is re-pointed by the caller (`--model`).

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
    /// The model folder (absolute, as the generation opened it; on load, where it was found)
    /// and its name (checked on resume).
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
            model_dir: absolute_path(&engine.dir),
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
        let folder = absolute_path(path.parent().unwrap_or(Path::new("")));
        let model_dir = absolute_path(&self.model_dir);
        let on_disk = OnDisk {
            model_dir_relative: relative_path(&folder, &model_dir),
            checkpoint: &Checkpoint {
                model_dir,
                ..self.clone()
            },
        };
        let json = serde_json::to_vec(&on_disk).map_err(|e| failed(e.to_string()))?;
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
        let relative = value
            .get("model_dir_relative")
            .and_then(serde_json::Value::as_str)
            .map(PathBuf::from);
        let mut checkpoint: Self =
            serde_json::from_value(value).map_err(|e| failed(format!("not a checkpoint: {e}")))?;
        let folder = path.parent().unwrap_or(Path::new(""));
        checkpoint.model_dir = found_path(&checkpoint.model_dir, relative.as_deref(), folder);
        Ok(checkpoint)
    }
}

/// A checkpoint as written: the model folder relative to the checkpoint's folder beside it.
#[derive(Serialize)]
struct OnDisk<'a> {
    #[serde(flatten)]
    checkpoint: &'a Checkpoint,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_dir_relative: Option<PathBuf>,
}

/// `path` made absolute against the current folder (symlinks kept, nothing read from disk).
pub fn absolute_path(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `to` relative to the folder `from` (both absolute): `../models/x` and the like. `None` when
/// there is no such path (another drive, a relative input).
pub fn relative_path(from: &Path, to: &Path) -> Option<PathBuf> {
    if !from.is_absolute() || !to.is_absolute() {
        return None;
    }
    let (from, to) = (normal_components(from), normal_components(to));
    if from.first() != to.first() {
        return None;
    }
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for part in &to[common..] {
        relative.push(part.as_os_str());
    }
    if relative.as_os_str().is_empty() {
        relative.push(".");
    }
    Some(relative)
}

/// `path`'s components with `.` and `a/..` taken out.
fn normal_components(path: &Path) -> Vec<std::path::Component<'_>> {
    use std::path::Component;
    let mut parts: Vec<Component<'_>> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts
}

/// Where a stored path is now: `absolute` if it exists, else `relative` (to `base`, the folder
/// of the file that stored it) if that exists, else `absolute` as stored (the caller's error
/// names it).
pub fn found_path(absolute: &Path, relative: Option<&Path>, base: &Path) -> PathBuf {
    if absolute.exists() {
        return absolute.to_path_buf();
    }
    relative
        .map(|relative| base.join(relative))
        .filter(|candidate| candidate.exists())
        .unwrap_or_else(|| absolute.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_folders() {
        let rel = |a: &str, b: &str| relative_path(Path::new(a), Path::new(b));
        assert_eq!(
            rel("/work/takes", "/work/models/tiny"),
            Some(PathBuf::from("../models/tiny"))
        );
        assert_eq!(rel("/work", "/work/models"), Some(PathBuf::from("models")));
        assert_eq!(rel("/work/a/b", "/work"), Some(PathBuf::from("../..")));
        assert_eq!(rel("/work", "/work"), Some(PathBuf::from(".")));
        assert_eq!(
            rel("/work/./x/../t", "/work/m"),
            Some(PathBuf::from("../m"))
        );
        assert_eq!(rel("takes", "/work"), None);
    }

    #[test]
    fn a_stored_path_is_found_by_the_relative_one_when_the_absolute_one_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("models/m");
        std::fs::create_dir_all(&model).unwrap();
        let takes = dir.path().join("takes");
        std::fs::create_dir_all(&takes).unwrap();
        let gone = Path::new("/nonexistent/models/m");
        assert_eq!(
            found_path(gone, Some(Path::new("../models/m")), &takes),
            takes.join("../models/m")
        );
        assert_eq!(found_path(&model, Some(Path::new("x")), &takes), model);
        assert_eq!(found_path(gone, Some(Path::new("x")), &takes), gone);
    }
}
