//! End-to-end speed of a continuation through the library, per level: codes per second,
//! real-time factor and peak memory, as a markdown table. `cargo xtask bench` runs it after the
//! criterion bench; by hand:
//!
//! ```text
//! cargo run --release --example continue_bench -- [MODEL_DIR] [SECONDS] [TAKES] [THREADS]
//! ```
//!
//! Defaults: models/tiny-5b, 2 s, 1 take, ONNX Runtime's own thread count. The prompt is
//! examples/chord.wav. A level's time runs from its `LevelStarted` event to the next level's (or
//! `Finished`), so it includes that level's conditioning, prefill, streamed decodes and the final
//! decode of every take.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crossbeam_channel::unbounded;
use encore::audio::read_audio_file;
use encore::engine::{Engine, Event, GenStep, Generation, RuntimeSearch, Settings, ensure_loaded};
use encore::jukebox::manifest::Verify;

struct LevelRun {
    level: usize,
    codes: usize,
    started: Instant,
    elapsed: Duration,
    peak_kib: Option<u64>,
}

/// Peak resident set of this process so far (`VmHWM`), in KiB; Linux only.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .map_or_else(|| root.join("models/tiny-5b"), PathBuf::from);
    let seconds: f64 = args.next().map_or(Ok(2.0), |s| s.parse())?;
    let takes: usize = args.next().map_or(Ok(1), |s| s.parse())?;
    let threads: Option<usize> = args.next().map(|s| s.parse()).transpose()?;

    let runtime = ensure_loaded(&RuntimeSearch::from_this_binary(None))
        .context("ONNX Runtime is needed: run `cargo xtask setup`")?;
    let load_started = Instant::now();
    let engine = Engine::load(&model, runtime, Verify::Sizes, threads)?;
    let hops = engine.manifest().vqvae.hop_lengths.clone();
    let rate = f64::from(engine.manifest().audio.sample_rate);
    let prompt = read_audio_file(&root.join("examples/chord.wav"))?;
    let mut settings = Settings::new(seconds, 42);
    settings.takes = takes;
    settings.target_level = 0;
    let mut generation = Generation::new(engine, &prompt, settings)?;
    let setup = load_started.elapsed();

    let (tx, rx) = unbounded();
    let mut runs: Vec<LevelRun> = Vec::new();
    let close = |runs: &mut Vec<LevelRun>, now: Instant| {
        if let Some(last) = runs.last_mut().filter(|r| r.elapsed.is_zero()) {
            last.elapsed = now - last.started;
            last.peak_kib = peak_rss_kib();
        }
    };
    let started = Instant::now();
    loop {
        let step = generation.step(&tx)?;
        for event in rx.try_iter() {
            match event {
                Event::LevelStarted { level, total } => {
                    let now = Instant::now();
                    close(&mut runs, now);
                    runs.push(LevelRun {
                        level,
                        codes: total,
                        started: now,
                        elapsed: Duration::ZERO,
                        peak_kib: None,
                    });
                }
                Event::Finished => close(&mut runs, Instant::now()),
                Event::Error(message) => bail!("generation failed: {message}"),
                _ => {}
            }
        }
        if step == GenStep::Finished {
            close(&mut runs, Instant::now());
            break;
        }
    }
    let total = started.elapsed();

    println!(
        "End to end: {} continuing examples/chord.wav by {seconds} s, {takes} take(s), to level 0 \
         (setup {:.2} s, sampling {:.2} s)\n",
        model.display(),
        setup.as_secs_f64(),
        total.as_secs_f64()
    );
    println!(
        "| level | codes per take | wall s | codes/s per take | real-time factor | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|");
    for run in &runs {
        let wall = run.elapsed.as_secs_f64();
        let audio = run.codes as f64 * hops[run.level] as f64 / rate;
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.3} | {} |",
            run.level,
            run.codes,
            wall,
            run.codes as f64 / wall,
            audio / wall,
            run.peak_kib
                .map_or_else(|| "n/a".into(), |k| format!("{:.0}", k as f64 / 1024.0)),
        );
    }
    println!(
        "\nReal-time factor: seconds of audio per take produced at that level per wall second \
         (codes x hop / 44100 / wall). Peak RSS is the process's VmHWM when the level ended."
    );
    Ok(())
}
