//! The engine's error type: every failure a user can cause or meet, with what to do about it.

use std::path::PathBuf;

use crate::jukebox::{ManifestError, Precision};

use super::runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("the model has no {what}: export it with the full exporter (not --vqvae-only)")]
    MissingGraph { what: String },
    #[error(
        "the model has no {precision} prior graphs: export it with `--precision {precision}` \
         (or choose another precision)"
    )]
    MissingPrecision { precision: Precision },
    #[error("CUDA is not usable: {reason}")]
    DeviceUnavailable { reason: String },
    #[error("ONNX Runtime could not open {path}: {reason}")]
    OpenGraph { path: PathBuf, reason: String },
    #[error("ONNX Runtime failed running {graph}: {reason}")]
    Run { graph: String, reason: String },
    #[error("{0}")]
    InvalidInput(String),
    #[error("unknown artist {name:?}: the closest names the model knows are {closest}")]
    UnknownArtist { name: String, closest: String },
    #[error("unknown genre {name:?}: the closest names the model knows are {closest}")]
    UnknownGenre { name: String, closest: String },
    #[error(
        "the song would be {seconds:.1} s long (prompt + continuation), but the model allows at \
         most {max_seconds:.1} s"
    )]
    TooLong { seconds: f64, max_seconds: f64 },
    #[error(transparent)]
    Prompt(#[from] crate::audio::PromptError),
    #[error(
        "{takes} takes do not fit in the GPU's free memory: the level {level} prior needs \
         {:.1} GB, {:.1} GB are free; at most {max_takes} takes fit",
        *needed as f64 / 1e9,
        *free as f64 / 1e9
    )]
    OutOfDeviceMemory {
        takes: usize,
        needed: u64,
        free: u64,
        level: usize,
        max_takes: usize,
    },
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
}
