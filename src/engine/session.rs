//! Opening ONNX Runtime sessions for a model's graphs on the chosen device.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use super::error::EngineError;
use super::runtime::Runtime;
use crate::jukebox::Precision;

/// Where the graphs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Device::Cpu => "CPU",
            Device::Cuda => "CUDA",
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
    /// On CUDA, capture the priors' step graph once per batch and replay it (CUDA graphs).
    /// Ignored on the CPU.
    pub cuda_graphs: bool,
    /// Whether ONNX Runtime's intra-op threads spin while they wait for work (ONNX Runtime's
    /// default; off here). With one core busy elsewhere, as a DAW's audio thread keeps one,
    /// spinning threads halved the step's speed and took that core's time besides
    /// (docs/performance.md, "Spinning"); alone, it made no steady difference.
    pub spin_wait: bool,
    /// Where ONNX Runtime writes each session's profile (one JSON file per session, named from
    /// this prefix and the time; every node's run with its duration). For benchmarks only.
    pub profile_prefix: Option<PathBuf>,
}

impl SessionFactory {
    pub fn cpu(runtime: &'static Runtime) -> Self {
        Self::on(runtime, Device::Cpu)
    }

    pub fn on(runtime: &'static Runtime, device: Device) -> Self {
        Self {
            runtime,
            device,
            intra_threads: None,
            cuda_graphs: true,
            spin_wait: false,
            profile_prefix: None,
        }
    }

    /// The same factory with CUDA-graph capture of the step switched on or off.
    pub fn with_cuda_graphs(mut self, enabled: bool) -> Self {
        self.cuda_graphs = enabled;
        self
    }

    /// Whether a prior's step graph is to be captured as a CUDA graph.
    pub fn captures_steps(&self) -> bool {
        self.device == Device::Cuda && self.cuda_graphs
    }

    /// The graphs' precision for this device: fp16 on CUDA (half the weight bytes read per
    /// step), fp32 on the CPU (ONNX Runtime's CPU kernels are fp32).
    pub fn precision(&self) -> Precision {
        match self.device {
            Device::Cpu => Precision::Fp32,
            Device::Cuda => Precision::Fp16,
        }
    }

    /// Every optimisation on the CPU: ONNX Runtime 1.31.1's CPU MatMulNBits (8/4-bit weights,
    /// accuracy_level 4) gives wrong logits below ORT_ENABLE_ALL (tiny-5b int8: max error 4.8
    /// instead of 0.08; `test_quantisation.py` runs at this level). CUDA stays at the layout
    /// level its step timings were measured with.
    fn optimization_level(&self) -> GraphOptimizationLevel {
        match self.device {
            Device::Cpu => GraphOptimizationLevel::All,
            Device::Cuda => GraphOptimizationLevel::Level3,
        }
    }

    /// The session config entries every graph is opened with (ONNX Runtime's
    /// `onnxruntime_session_options_config_keys.h`).
    pub fn config_entries(&self) -> Vec<(&'static str, &'static str)> {
        let mut entries = Vec::new();
        if !self.spin_wait {
            entries.push(("session.intra_op.allow_spinning", "0"));
        }
        entries
    }

    pub fn open(&self, path: &Path) -> Result<Session, EngineError> {
        self.open_as(path, false)
    }

    /// Opens a graph whose runs are captured and replayed as CUDA graphs (CUDA only): every
    /// node must run on the GPU, every input and output be bound at a fixed device address.
    pub fn open_captured(&self, path: &Path) -> Result<Session, EngineError> {
        self.open_as(path, true)
    }

    fn open_as(&self, path: &Path, captured: bool) -> Result<Session, EngineError> {
        let failed = |reason: String| EngineError::OpenGraph {
            path: path.to_path_buf(),
            reason,
        };
        let mut builder = Session::builder(self.runtime.environment())
            .map_err(|e| failed(e.to_string()))?
            .with_optimization_level(self.optimization_level())
            .map_err(|e| failed(e.to_string()))?;
        if self.device == Device::Cuda {
            // error_on_failure: a failed registration must be reported (the caller falls back
            // with a reason), not silently turned into a CPU session.
            let cuda = ort::ep::CUDA::default()
                .with_device_id(0)
                .with_cuda_graph(captured)
                // fp32 graphs exist on CUDA for parity with the reference: TF32 would round
                // their matmuls to 10 mantissa bits (fp16 graphs, the fast path, are unaffected).
                .with_tf32(false)
                .build()
                .error_on_failure();
            builder = builder
                .with_execution_providers([cuda])
                .map_err(|e| failed(e.to_string()))?;
        }
        // No `disable_cpu_fallback` for a captured graph: ONNX Runtime puts a symbolic batch's
        // shape arithmetic on the CPU by design and still captures, as long as no copy between
        // host and device is needed; where one is, it refuses the session with its own reason
        // (and the caller runs the steps uncaptured).
        for (key, value) in self.config_entries() {
            builder = builder
                .with_config_entry(key, value)
                .map_err(|e| failed(e.to_string()))?;
        }
        if let Some(prefix) = &self.profile_prefix {
            // One file per graph: ONNX Runtime only adds the time (to the millisecond), which
            // sessions opened together share.
            let graph = path.file_stem().unwrap_or_default().to_string_lossy();
            let mut named = prefix.clone().into_os_string();
            named.push(format!("-{graph}"));
            builder = builder
                .with_profiling(PathBuf::from(named))
                .map_err(|e| failed(e.to_string()))?;
        }
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
