//! Per-call costs of the engine on the committed tiny random-weight models: one prior step per
//! level at batch 1 and 3, and one VQ-VAE decode of one second of codes per level.
//!
//! `cargo bench --bench sampling` (or `cargo xtask bench`, which adds an end-to-end run). The
//! tiny models only measure per-call overhead (graph launch, binding, host copies); see
//! docs/performance.md for what that does and does not say about full-size models.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{TINY_MODELS, model_dir};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use encore::engine::{ConditioningInputs, Prior, SessionFactory, Vqvae};
use encore::jukebox::Precision;
use encore::jukebox::{Manifest, PriorSpec};

const BATCHES: [usize; 2] = [1, 3];

/// One intra-op thread: steadier figures on a shared 2-core machine, and the tiny graphs are
/// too small to split anyway.
fn factory() -> SessionFactory {
    common::single_threaded_cpu()
}

/// Valid labels for every input the conditioning graph of `spec` takes: artist 0, one genre,
/// a one-minute song at offset 0, letters as lyrics, upper-level ids 0.
fn conditioning_inputs(spec: &PriorSpec, batch: usize) -> ConditioningInputs {
    let genres_per_row = spec.conditioning.max_nb_genres;
    let mut genres = vec![-1; batch * genres_per_row];
    for row in 0..batch {
        if genres_per_row > 0 {
            genres[row * genres_per_row] = 0;
        }
    }
    let [min, max] = spec.conditioning.total_length_range;
    // Upsamplers take no timing input and have an empty range.
    let total = if max > min {
        (60 * 44_100).clamp(min, max - 1)
    } else {
        60 * 44_100
    };
    let n_tokens = spec.lyrics.as_ref().map_or(0, |l| l.n_tokens);
    let upper = spec.n_ctx / spec.conditioning.cond_downsample.max(1);
    ConditioningInputs {
        artist: vec![0; batch],
        genres,
        total_length: vec![total; batch],
        offset: vec![0; batch],
        sample_length: vec![(spec.n_ctx * spec.raw_to_tokens) as i64; batch],
        lyrics: (0..batch * n_tokens).map(|i| 1 + (i % 26) as i64).collect(),
        upper_codes: vec![0; batch * upper],
    }
}

fn prior_steps(c: &mut Criterion) {
    let factory = factory();
    for name in TINY_MODELS {
        let dir = model_dir(name);
        let manifest = Manifest::load(&dir).expect("tiny model manifest");
        for level in (0..manifest.vqvae.levels).rev() {
            let mut prior = Prior::open(&dir, &manifest, level, &factory, Precision::Fp32).unwrap();
            let n_ctx = prior.spec().n_ctx;
            let mut group = c.benchmark_group(format!("prior_step/{name}/l{level}"));
            for batch in BATCHES {
                prior.allocate(batch).unwrap();
                let inputs = conditioning_inputs(prior.spec(), batch);
                if let Err(e) = prior.condition(&inputs) {
                    eprintln!("skipping {name} level {level} batch {batch}: conditioning: {e}");
                    continue;
                }
                // Throughput in codes: one per take per step.
                group.throughput(Throughput::Elements(batch as u64));
                let tokens = vec![1i64; batch];
                let mut position = 0;
                group.bench_function(format!("batch{batch}"), |b| {
                    b.iter(|| {
                        // Walk the window so every attention block's cache path is exercised.
                        let logits = prior.step(black_box(&tokens), position).unwrap();
                        black_box(logits[0]);
                        position = (position + 1) % n_ctx;
                    })
                });
            }
            group.finish();
        }
    }
}

fn vqvae_decode(c: &mut Criterion) {
    let factory = factory();
    for name in TINY_MODELS {
        let dir = model_dir(name);
        let manifest = Manifest::load(&dir).expect("tiny model manifest");
        let rate = manifest.audio.sample_rate as usize;
        let mut vqvae = Vqvae::open(&dir, &manifest, &factory, Precision::Fp32).unwrap();
        let mut group = c.benchmark_group(format!("vqvae_decode_1s/{name}"));
        for level in (0..manifest.vqvae.levels).rev() {
            let codes_per_second = rate.div_ceil(vqvae.hop_length(level));
            let codebook = manifest.vqvae.codebook_size as i64;
            let codes: Vec<i64> = (0..codes_per_second as i64)
                .map(|i| (i * 7) % codebook)
                .collect();
            group.throughput(Throughput::Elements(codes.len() as u64));
            group.bench_function(format!("l{level}"), |b| {
                b.iter(|| black_box(vqvae.decode(level, black_box(&codes)).unwrap().len()))
            });
        }
        group.finish();
    }
}

fn config() -> Criterion {
    // Short runs: the whole bench stays well under two minutes on two cores.
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .sample_size(10)
}

criterion_group! {
    name = benches;
    config = config();
    targets = prior_steps, vqvae_decode
}
criterion_main!(benches);
