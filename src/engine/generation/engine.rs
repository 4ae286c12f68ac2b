//! A model folder opened for generating: its manifest, how sessions are made, its VQ-VAE and
//! the priors opened so far (kept for the next level or generation that needs them).

use std::path::{Path, PathBuf};

use crate::engine::device::{self, DeviceChoice, DevicePreference};
use crate::engine::error::EngineError;
use crate::engine::memory_plan::{MemoryPlan, check_fits, device_memory, job_plan};
use crate::engine::prior::Prior;
use crate::engine::runtime::Runtime;
use crate::engine::session::{Device, SessionFactory};
use crate::engine::vqvae::Vqvae;
use crate::jukebox::manifest::Verify;
use crate::jukebox::{GraphKind, Manifest, Precision};

/// A model folder with its VQ-VAE open; priors are opened when a level first needs them and
/// kept open while the engine lives (opening a full-size prior takes seconds).
pub struct Engine {
    pub(super) dir: PathBuf,
    pub(super) manifest: Manifest,
    pub(super) factory: SessionFactory,
    pub(super) vqvae: Vqvae,
    /// Why the graphs run where they run (shown to the user).
    pub(super) device_reason: String,
    /// Precision of the prior graphs: fp16 on CUDA when the model has them, else fp32.
    pub(super) prior_precision: Precision,
    /// By level; `None` while not opened yet or lent to a running level.
    priors: Vec<Option<Prior>>,
    /// Priors opened since [`Engine::count_new_prior_opens`] last looked.
    prior_opens: u64,
}

/// What [`Engine::open_on`] made for one device.
struct Opened {
    factory: SessionFactory,
    vqvae: Vqvae,
    reason: String,
    prior_precision: Precision,
}

/// How to open a model folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    pub verify: Verify,
    /// Threads per ONNX Runtime operator on the CPU; `None`: every core.
    pub intra_threads: Option<usize>,
    pub device: DevicePreference,
    /// The priors' precision; `None`: the device's (fp16 on CUDA, fp32 on the CPU) where the
    /// model has it, else fp32. A precision asked for that the model lacks is an error.
    pub precision: Option<Precision>,
    /// On CUDA, capture each prior's step once per batch and replay it as a CUDA graph
    /// (default); `false` runs every step uncaptured. Ignored on the CPU.
    pub cuda_graphs: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            verify: Verify::Sizes,
            intra_threads: None,
            device: DevicePreference::Auto,
            precision: None,
            cuda_graphs: true,
        }
    }
}

impl Engine {
    /// Loads `dir` (manifest, file sizes and each sha256 once with [`Verify::Sizes`]; every
    /// sha256 with [`Verify::Hashes`]) on the CPU, in fp32: what the parity tests and the CPU
    /// benchmarks use.
    pub fn load(
        dir: &Path,
        runtime: &'static Runtime,
        verify: Verify,
        intra_threads: Option<usize>,
    ) -> Result<Self, EngineError> {
        let options = EngineOptions {
            verify,
            intra_threads,
            device: DevicePreference::Cpu,
            precision: None,
            cuda_graphs: false,
        };
        Self::open(dir, runtime, options)
    }

    /// Loads `dir` on the device `options` asks for: CUDA when it works (falling back to the
    /// CPU under [`DevicePreference::Auto`], with the reason kept for [`Engine::device_reason`]).
    pub fn open(
        dir: &Path,
        runtime: &'static Runtime,
        options: EngineOptions,
    ) -> Result<Self, EngineError> {
        let manifest = Manifest::load(dir)?;
        manifest.verify_files(dir, options.verify)?;
        if manifest.priors.len() < manifest.vqvae.levels {
            return Err(EngineError::MissingGraph {
                what: "priors for every level".into(),
            });
        }
        let choice = device::choose(runtime, options.device)?;
        match Self::open_on(dir, &manifest, runtime, options, &choice) {
            Err(error) if choice.device == Device::Cuda => {
                let cpu = device::fall_back(options.device, error)?;
                Self::open_on(dir, &manifest, runtime, options, &cpu)
            }
            result => result,
        }
        .map(|opened| Self {
            dir: dir.to_path_buf(),
            manifest,
            factory: opened.factory,
            vqvae: opened.vqvae,
            device_reason: opened.reason,
            prior_precision: opened.prior_precision,
            priors: Vec::new(),
            prior_opens: 0,
        })
    }

    /// The prior of `level`: the one kept from before, else opened now. Give it back with
    /// [`Engine::keep_prior`] so the next level or generation does not open it again.
    pub(super) fn take_prior(&mut self, level: usize) -> Result<Prior, EngineError> {
        if let Some(prior) = self.priors.get_mut(level).and_then(Option::take) {
            return Ok(prior);
        }
        let prior = Prior::open(
            &self.dir,
            &self.manifest,
            level,
            &self.factory,
            self.prior_precision,
        )?;
        self.prior_opens += 1;
        Ok(prior)
    }

    /// Keeps `prior` open for the next use of its level.
    pub(super) fn keep_prior(&mut self, prior: Prior) {
        let level = prior.level();
        if self.priors.len() <= level {
            self.priors.resize_with(level + 1, || None);
        }
        self.priors[level] = Some(prior);
    }

    /// How many priors this engine opened since the last call (each level's once while the
    /// engine lives).
    pub fn count_new_prior_opens(&mut self) -> u64 {
        std::mem::take(&mut self.prior_opens)
    }

    /// Sessions for `choice`: the VQ-VAE opened (fp32: its encoders only exist in fp32) and
    /// the priors' precision picked.
    fn open_on(
        dir: &Path,
        manifest: &Manifest,
        runtime: &'static Runtime,
        options: EngineOptions,
        choice: &DeviceChoice,
    ) -> Result<Opened, EngineError> {
        let mut factory =
            SessionFactory::on(runtime, choice.device).with_cuda_graphs(options.cuda_graphs);
        factory.intra_threads = options.intra_threads;
        let vqvae = Vqvae::open(dir, manifest, &factory, Precision::Fp32)?;
        let has = |precision: Precision| {
            manifest.priors.iter().all(|prior| {
                let graphs = [
                    GraphKind::PriorConditioning,
                    GraphKind::PriorPrefill,
                    GraphKind::PriorStep,
                ];
                graphs
                    .into_iter()
                    .all(|kind| manifest.graph(kind, prior.level, precision).is_some())
            })
        };
        if let Some(asked) = options.precision
            && !has(asked)
        {
            return Err(EngineError::MissingPrecision { precision: asked });
        }
        let wanted = options.precision.unwrap_or_else(|| factory.precision());
        let (precision, note) = if has(wanted) {
            (wanted, String::new())
        } else {
            (
                Precision::Fp32,
                format!("; the model has no {wanted} prior graphs, so fp32"),
            )
        };
        Ok(Opened {
            factory,
            vqvae,
            reason: format!("{}{note}", choice.reason),
            prior_precision: precision,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn device(&self) -> Device {
        self.factory.device
    }

    /// Why the graphs run on [`Engine::device`], in words.
    pub fn device_reason(&self) -> &str {
        &self.device_reason
    }

    /// The precision of the prior graphs this engine opens.
    pub fn prior_precision(&self) -> Precision {
        self.prior_precision
    }

    /// How this engine opens sessions (device, threads, CUDA graphs): for opening a
    /// [`crate::engine::Prior`] directly (benchmarks, the GPU check).
    pub fn session_factory(&self) -> &SessionFactory {
        &self.factory
    }

    /// The device memory the largest prior needs for `takes` takes (see [`MemoryPlan`]).
    pub fn memory_plan(&self, takes: usize) -> Result<Option<MemoryPlan>, EngineError> {
        let levels = self.manifest.priors.iter().map(|p| p.level);
        job_plan(
            &self.manifest,
            levels,
            self.prior_precision,
            self.factory.captures_steps(),
            takes,
        )
    }

    /// Refuses `takes` takes when the largest prior would not fit in the free device memory
    /// (`free`: bytes; `None` measures it now). Always passes on the CPU.
    pub fn check_device_memory(&self, takes: usize, free: Option<u64>) -> Result<(), EngineError> {
        let Some(free) = free.or_else(|| device_memory(self.device()).map(|(free, _)| free)) else {
            return Ok(());
        };
        match self.memory_plan(takes)? {
            Some(plan) => check_fits(&plan, takes, free),
            None => Ok(()),
        }
    }

    /// Hop length in samples of every level, finest first.
    pub fn hop_lengths(&self) -> &[usize] {
        &self.manifest.vqvae.hop_lengths
    }
}
