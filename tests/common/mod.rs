//! What the integration tests share: where the tiny models are and how to reach ONNX Runtime.
// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

pub mod cli;

use std::path::PathBuf;

use encore::engine::{Device, Runtime, RuntimeSearch, SessionFactory, ensure_loaded};

/// The committed tiny models, one per kind of top prior.
pub const TINY_MODELS: [&str; 3] = ["tiny-5b", "tiny-5b-lyrics", "tiny-1b-lyrics"];

/// Where the tests find the repository's files (models, examples) when they run from a copy of
/// it elsewhere, as the GPU check's prebuilt test binaries do on the device machine.
pub const REPO_DIR_VAR: &str = "ENCORE_TEST_REPO_DIR";
/// `cuda` runs the parity and replay tests' priors on CUDA (the GPU check); unset or `cpu`:
/// on the CPU.
pub const DEVICE_VAR: &str = "ENCORE_TEST_DEVICE";

pub fn repo_dir() -> PathBuf {
    std::env::var_os(REPO_DIR_VAR)
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

pub fn model_dir(name: &str) -> PathBuf {
    repo_dir().join("models").join(name)
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

/// The device `ENCORE_TEST_DEVICE` names; the CPU when unset. A value that is neither is a
/// mistake of whoever runs the tests, not a reason to test the CPU quietly.
pub fn test_device() -> Device {
    match std::env::var(DEVICE_VAR).as_deref() {
        Err(_) | Ok("") | Ok("cpu") => Device::Cpu,
        Ok("cuda") => Device::Cuda,
        Ok(other) => panic!("{DEVICE_VAR}={other}: use cpu or cuda"),
    }
}

/// Sessions for the parity and replay tests: one CPU thread (tests run in parallel, and
/// results must not depend on it), or CUDA when `ENCORE_TEST_DEVICE=cuda`.
pub fn test_factory() -> SessionFactory {
    match test_device() {
        Device::Cpu => single_threaded_cpu(),
        Device::Cuda => SessionFactory::on(runtime(), Device::Cuda),
    }
}

/// The tiny model `name` on one CPU thread.
pub fn engine(name: &str) -> encore::engine::Engine {
    encore::engine::Engine::load(
        &model_dir(name),
        runtime(),
        encore::jukebox::manifest::Verify::Sizes,
        Some(1),
    )
    .unwrap()
}

/// A C major chord at `rate`, `seconds` long, in stereo.
pub fn chord(rate: u32, seconds: f64) -> encore::audio::DecodedAudio {
    let n = (f64::from(rate) * seconds) as usize;
    let left: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            ([261.63, 329.63, 392.0].iter())
                .map(|f| (2.0 * std::f64::consts::PI * f * t).sin() * 0.2)
                .sum::<f64>() as f32
        })
        .collect();
    let right = left.iter().map(|s| s * 0.5).collect();
    encore::audio::DecodedAudio {
        sample_rate: rate,
        channels: vec![left, right],
    }
}

/// Settings for `seconds` of continuation: `takes` takes down to `level`.
pub fn settings(seconds: f64, seed: u64, takes: usize, level: usize) -> encore::engine::Settings {
    let mut s = encore::engine::Settings::new(seconds, seed);
    s.takes = takes;
    s.target_level = level;
    s
}

/// Runs `generation` to its end, panicking on anything but `Finished`; returns its events.
pub fn run_to_end(generation: &mut encore::engine::Generation) -> Vec<encore::engine::Event> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let outcome = generation
        .run(&tx, &std::sync::atomic::AtomicBool::new(false))
        .unwrap();
    assert_eq!(outcome, encore::engine::Outcome::Finished);
    drop(tx);
    rx.into_iter().collect()
}

/// Every update of `job` until its end (Finished, Cancelled or Error), in order; the queue must
/// run nothing else meanwhile.
pub fn updates_until_end(
    queue: &encore::engine::JobQueue,
    job: encore::engine::JobId,
) -> Vec<encore::engine::JobUpdate> {
    let mut updates = Vec::new();
    while !updates
        .last()
        .is_some_and(encore::engine::JobUpdate::is_end)
    {
        let event = queue.events().recv().unwrap();
        assert_eq!(event.job, job);
        updates.push(event.update);
    }
    updates
}
