//! What the integration tests share: where the tiny models are and how to reach ONNX Runtime.
// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

pub mod cli;

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
