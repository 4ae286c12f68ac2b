//! Opening ONNX Runtime sessions for a model's graphs on the chosen device.

use std::path::Path;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use super::error::EngineError;
use super::runtime::Runtime;

/// Where the graphs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Device::Cpu => "CPU",
        })
    }
}

/// Opens sessions with one set of options, so every graph of a model runs alike.
#[derive(Clone)]
pub struct SessionFactory {
    runtime: &'static Runtime,
    pub device: Device,
    /// Threads per operator; `None` lets ONNX Runtime use every core.
    pub intra_threads: Option<usize>,
}

impl SessionFactory {
    pub fn cpu(runtime: &'static Runtime) -> Self {
        Self {
            runtime,
            device: Device::Cpu,
            intra_threads: None,
        }
    }

    pub fn open(&self, path: &Path) -> Result<Session, EngineError> {
        let failed = |reason: String| EngineError::OpenGraph {
            path: path.to_path_buf(),
            reason,
        };
        let mut builder = Session::builder(self.runtime.environment())
            .map_err(|e| failed(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| failed(e.to_string()))?;
        if let Some(threads) = self.intra_threads {
            builder = builder
                .with_intra_threads(threads)
                .map_err(|e| failed(e.to_string()))?;
        }
        builder
            .commit_from_file(path)
            .map_err(|e| failed(e.to_string()))
    }
}
