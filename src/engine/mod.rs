//! The inference engine. It runs Jukebox through ONNX Runtime and has no idea whether a plugin
//! or the CLI drives it.

pub mod error;
pub mod runtime;
pub mod session;
pub mod vqvae;

pub use error::EngineError;
pub use runtime::{Runtime, RuntimeError, RuntimeInfo, RuntimeSearch, ensure_loaded};
pub use session::{Device, SessionFactory};
pub use vqvae::Vqvae;
