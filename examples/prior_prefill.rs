//! Measures one prior on the CPU: resident memory once its sessions are open and run, the
//! prefill of a prime, and steps after it.
//!
//! `cargo run --example prior_prefill -- MODEL_DIR [--level 2] [--batch 1] [--prime 400]
//! [--steps 10] [--aligned] [--old-step-session]`
//!
//! `--old-step-session` also opens and runs the step graph in its own session, as the engine
//! did before it stepped through the prefill graph: the RSS difference is the second packed
//! copy of the weights. ONNX Runtime does the heavy work, so a debug build measures it fine.

use std::path::PathBuf;
use std::time::Instant;

use encore::engine::{ConditioningInputs, Prior, RuntimeSearch, SessionFactory, ensure_loaded};
use encore::jukebox::Manifest;
use encore::jukebox::{GraphKind, Precision};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

/// (current, peak) resident set in MB, from /proc/self/status.
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().expect("MODEL_DIR"));
    let (level, batch) = (arg(&args, "--level", 2), arg(&args, "--batch", 1));
    let (prime, steps) = (arg(&args, "--prime", 400), arg(&args, "--steps", 10));
    let runtime = ensure_loaded(&RuntimeSearch::from_this_binary(None)).expect("ONNX Runtime");
    let manifest = Manifest::load(&dir).expect("manifest");
    let factory = SessionFactory::cpu(runtime);
    println!("start: rss {:.0} MB", rss_mb().0);
    let mut prior = Prior::open(&dir, &manifest, level, &factory, Precision::Fp32).expect("prior");
    let spec = prior.spec().clone();
    let old_step = args.iter().any(|a| a == "--old-step-session").then(|| {
        let graph = manifest
            .graph(GraphKind::PriorStep, level, Precision::Fp32)
            .expect("step graph");
        factory.open(&dir.join(&graph.file)).expect("step session")
    });
    println!("opened: rss {:.0} MB", rss_mb().0);

    prior.allocate(batch).expect("allocate");
    let [min, max] = spec.conditioning.total_length_range;
    let genres = spec.conditioning.max_nb_genres;
    let inputs = ConditioningInputs {
        artist: vec![0; batch],
        genres: (0..batch * genres)
            .map(|i| if i % genres == 0 { 0 } else { -1 })
            .collect(),
        total_length: vec![(min + max) / 2; batch],
        offset: vec![0; batch],
        sample_length: vec![(spec.music_ctx * spec.raw_to_tokens) as i64; batch],
        lyrics: vec![1; batch * spec.lyrics.as_ref().map_or(0, |l| l.n_tokens)],
        upper_codes: vec![0; batch * spec.n_ctx / spec.conditioning.cond_downsample.max(1)],
    };
    prior.condition(&inputs).expect("condition");

    let bc = spec.block_ctx;
    let aligned = args.iter().any(|a| a == "--aligned");
    let started = Instant::now();
    let (mut position, mut runs) = (0, 0);
    while position < prime {
        // --aligned: block-aligned chunks of at most a block (what format-1 graphs required).
        let chunk = if aligned {
            bc - position % bc
        } else {
            prior.max_prefill_chunk()
        }
        .min(prime - position);
        let tokens: Vec<i64> = (0..batch * chunk).map(|i| (i % 7) as i64).collect();
        prior.prefill(&tokens, position).expect("prefill");
        position += chunk;
        runs += 1;
    }
    let prefill = started.elapsed();
    println!(
        "prefill {prime} positions x {batch} takes: {:.1} ms in {runs} runs; rss {:.0} MB",
        prefill.as_secs_f64() * 1e3,
        rss_mb().0
    );
    let mut times = Vec::new();
    for step in 0..steps {
        let started = Instant::now();
        prior.step(&vec![3; batch], prime + step).expect("step");
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    if let Some(median) = times.get(times.len() / 2) {
        println!("step median {median:.1} ms over {steps}");
    }
    // ONNX Runtime prepacks a session's weights as it opens it: holding it is enough.
    let _still_open = &old_step;
    let (rss, peak) = rss_mb();
    println!("end: rss {rss:.0} MB, peak {peak:.0} MB");
}
