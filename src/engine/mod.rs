//! The inference engine. It runs Jukebox through ONNX Runtime and has no idea whether a plugin
//! or the CLI drives it.

pub mod device;
pub mod error;
pub mod generation;
pub mod labels;
pub mod memory_plan;
pub mod prior;
pub mod queue;
pub mod runtime;
pub mod sampler;
pub mod session;
pub mod streams;
pub mod threads;
pub mod transliterate;
pub mod vqvae;
pub mod windows;

pub use device::{DeviceChoice, DevicePreference};
pub use error::EngineError;
pub use generation::{
    Checkpoint, Engine, EngineOptions, Event, EventSink, GenStep, Generation, GenerationState,
    Outcome, Settings, TakeCut, TakeSpan,
};
pub use memory_plan::MemoryPlan;
pub use prior::{ConditioningInputs, Prior, StepGraphs};
pub use queue::{
    DEFAULT_IDLE_RELEASE, Job, JobEvent, JobId, JobInput, JobQueue, JobUpdate, ModelCounts,
    QueueClient,
};
pub use runtime::{Runtime, RuntimeError, RuntimeInfo, RuntimeSearch, ensure_loaded};
pub use sampler::{RngState, RowSampler, SamplingParams, SeededUniforms, UniformSource};
pub use session::{Device, SessionFactory};
pub use streams::TakeStreams;
pub use vqvae::Vqvae;
pub use windows::{LevelCheckpoint, LevelRequest, LevelSampler, SongLabels, StepOutcome, Window};
