//! The inference engine. It runs Jukebox through ONNX Runtime and has no idea whether a plugin
//! or the CLI drives it.

pub mod runtime;

pub use runtime::{RuntimeError, RuntimeInfo, RuntimeSearch, ensure_loaded};
