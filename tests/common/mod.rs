//! What the integration tests share: where the tiny models are and how to reach ONNX Runtime.
// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use encore::engine::{Runtime, RuntimeSearch, SessionFactory, ensure_loaded};

/// The committed tiny models, one per kind of top prior.
pub const TINY_MODELS: [&str; 3] = ["tiny-5b", "tiny-5b-lyrics", "tiny-1b-lyrics"];

pub fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

pub fn runtime() -> &'static Runtime {
    ensure_loaded(&RuntimeSearch::from_this_binary(None))
        .expect("ONNX Runtime must be installed for this test: run `cargo xtask setup`")
}

/// CPU sessions on one thread: tests run in parallel, and results must not depend on it.
pub fn single_threaded_cpu() -> SessionFactory {
    let mut factory = SessionFactory::cpu(runtime());
    factory.intra_threads = Some(1);
    factory
}
