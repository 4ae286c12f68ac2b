//! Settings that are not automatable parameters but are saved with the project.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// ONNX Runtime library chosen by the user; `None` means "search the usual places".
    pub ort_library: Option<PathBuf>,
    /// Exported Jukebox model folder (holds `manifest.json`).
    pub model_dir: Option<PathBuf>,
    pub artist: String,
    pub genre: String,
    pub lyrics: String,
    /// Seed for sampling; the same seed, settings and prompt give the same takes.
    pub seed: u64,
}
