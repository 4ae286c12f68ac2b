//! The inference engine. It runs Jukebox through ONNX Runtime and has no idea whether a plugin
//! or the CLI drives it.

pub mod error;
pub mod generation;
pub mod labels;
pub mod prior;
pub mod runtime;
pub mod sampler;
pub mod session;
pub mod vqvae;
pub mod windows;

pub use error::EngineError;
pub use generation::{Checkpoint, Engine, Event, GenStep, Generation, Outcome, Settings};
pub use prior::{ConditioningInputs, Prior};
pub use runtime::{Runtime, RuntimeError, RuntimeInfo, RuntimeSearch, ensure_loaded};
pub use sampler::{RngState, RowSampler, SamplingParams, SeededUniforms, UniformSource};
pub use session::{Device, SessionFactory};
pub use vqvae::Vqvae;
pub use windows::{LevelCheckpoint, LevelRequest, LevelSampler, SongLabels, StepOutcome, Window};
