//! The models the queue keeps open between jobs, keyed by folder and device, each released
//! after it has been idle for a while (to give the GPU's memory back).
//!
//! Only the queue's thread touches a [`ModelCache`]; what others may read (how often models
//! were opened) goes through [`ModelStats`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::engine::device::DevicePreference;
use crate::engine::error::EngineError;
use crate::engine::generation::{Engine, EngineOptions};
use crate::engine::runtime::Runtime;
use crate::jukebox::manifest::Verify;

/// Models open at once: one, so that two full-size models never share a GPU. Jobs for another
/// folder close the open one first.
const MODELS_KEPT: usize = 1;

/// Counters anyone may read while the queue runs.
#[derive(Debug, Default)]
pub struct ModelStats {
    /// Model folders opened (VQ-VAE sessions made).
    pub models_opened: AtomicU64,
    /// Priors opened, over every model.
    pub priors_opened: AtomicU64,
    /// Models closed because nobody used them for the idle time.
    pub models_released: AtomicU64,
}

/// A plain copy of [`ModelStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelCounts {
    pub models_opened: u64,
    pub priors_opened: u64,
    pub models_released: u64,
}

impl ModelStats {
    pub fn counts(&self) -> ModelCounts {
        ModelCounts {
            models_opened: self.models_opened.load(Ordering::Acquire),
            priors_opened: self.priors_opened.load(Ordering::Acquire),
            models_released: self.models_released.load(Ordering::Acquire),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ModelKey {
    dir: PathBuf,
    device: DevicePreference,
}

struct Cached {
    key: ModelKey,
    engine: Engine,
    last_used: Instant,
}

pub struct ModelCache {
    runtime: &'static Runtime,
    options: EngineOptions,
    open: Vec<Cached>,
}

impl ModelCache {
    pub fn new(runtime: &'static Runtime, options: EngineOptions) -> Self {
        Self {
            runtime,
            options,
            open: Vec::new(),
        }
    }

    /// The engine of `dir`, out of the cache (opened when it is not there). Give it back with
    /// [`ModelCache::put_back`]. A job that asks for [`Verify::Hashes`] always opens the folder
    /// afresh, since the check happens when a folder is opened.
    pub fn take(
        &mut self,
        dir: &Path,
        verify: Verify,
        stats: &ModelStats,
    ) -> Result<Engine, EngineError> {
        let key = self.key(dir);
        if verify == Verify::Sizes
            && let Some(index) = self.open.iter().position(|c| c.key == key)
        {
            let cached = self.open.swap_remove(index);
            return Ok(cached.engine);
        }
        // Close what would not fit before opening (the memory is needed now).
        while self.open.len() >= MODELS_KEPT {
            let oldest = self.oldest();
            self.open.remove(oldest);
        }
        let options = EngineOptions {
            verify,
            ..self.options
        };
        test_hooks::delay_model_open();
        let engine = Engine::open(dir, self.runtime, options)?;
        stats.models_opened.fetch_add(1, Ordering::AcqRel);
        Ok(engine)
    }

    /// Keeps `engine` open for the next job.
    pub fn put_back(&mut self, mut engine: Engine, stats: &ModelStats) {
        stats
            .priors_opened
            .fetch_add(engine.count_new_prior_opens(), Ordering::AcqRel);
        let key = self.key(engine.dir());
        self.open.retain(|c| c.key != key);
        self.open.push(Cached {
            key,
            engine,
            last_used: Instant::now(),
        });
        while self.open.len() > MODELS_KEPT {
            let oldest = self.oldest();
            self.open.remove(oldest);
        }
    }

    /// Closes every model idle for `idle_after` or longer.
    pub fn release_idle(&mut self, idle_after: Duration, stats: &ModelStats) {
        let before = self.open.len();
        self.open.retain(|c| c.last_used.elapsed() < idle_after);
        let released = (before - self.open.len()) as u64;
        if released > 0 {
            stats.models_released.fetch_add(released, Ordering::AcqRel);
            tracing::info!("{released} idle model(s) closed");
        }
    }

    /// How long until the next model is due for release; `None` when none is open.
    pub fn next_release_in(&self, idle_after: Duration) -> Option<Duration> {
        self.open
            .iter()
            .map(|c| idle_after.saturating_sub(c.last_used.elapsed()))
            .min()
    }

    fn key(&self, dir: &Path) -> ModelKey {
        ModelKey {
            dir: dir.to_path_buf(),
            device: self.options.device,
        }
    }

    fn oldest(&self) -> usize {
        self.open
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| c.last_used)
            .map_or(0, |(index, _)| index)
    }
}

/// Test-only ways to make the engine slow, so tests can show that nobody waits for it.
/// Compiled out of release builds.
mod test_hooks {
    /// Milliseconds every model open is delayed by, in debug builds (the plugin's tests load a
    /// debug bundle into real hosts, where no other hook reaches the engine).
    #[cfg(debug_assertions)]
    pub const MODEL_OPEN_DELAY_ENV: &str = "ENCORE_TEST_MODEL_OPEN_DELAY_MS";

    pub fn delay_model_open() {
        #[cfg(debug_assertions)]
        if let Some(ms) = std::env::var(MODEL_OPEN_DELAY_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            tracing::debug!("model open delayed by {ms} ms ({MODEL_OPEN_DELAY_ENV})");
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
}
