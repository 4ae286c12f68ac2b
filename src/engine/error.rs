//! The engine's error type: every failure a user can cause or meet, with what to do about it.

use std::path::PathBuf;

use crate::jukebox::ManifestError;

use super::runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("the model has no {what}: export it with the full exporter (not --vqvae-only)")]
    MissingGraph { what: String },
    #[error("ONNX Runtime could not open {path}: {reason}")]
    OpenGraph { path: PathBuf, reason: String },
    #[error("ONNX Runtime failed running {graph}: {reason}")]
    Run { graph: String, reason: String },
    #[error("{0}")]
    InvalidInput(String),
}
