//! What a checkpoint costs the sampling thread, on the tiny-5b model's top-level step (batch 1,
//! one intra-op thread) and a large generation state: 16 takes of 180 s at level 0 (about 16
//! million codes, what the issue measured as 80 MB of JSON).
//!
//! - `step/idle` and `step/while_a_checkpoint_is_written`: the step alone, and while another
//!   thread writes that checkpoint again and again (what the writer thread now does beside the
//!   sampler: the two should be within noise on a machine with a core to spare).
//! - `handover/copy_into_the_spare`: what a step pays per checkpoint (the state copied into the
//!   checkpoint the writer finished last, its memory reused), against `handover/clone_state` (a
//!   fresh copy) and `old/save_on_the_sampling_thread`, what it paid before on top of that copy
//!   (serialise, write, fsync, rename).
//!
//! `cargo bench --bench checkpoint` (also run by `cargo xtask bench`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::model_dir;
use criterion::{Criterion, criterion_group, criterion_main};
use encore::engine::generation::CHECKPOINT_VERSION;
use encore::engine::{Checkpoint, GenerationState, Prior, Settings};
use encore::jukebox::{Manifest, Precision};

/// 16 takes of 180 s at level 0 (hop 8 at 44.1 kHz), two upper levels done, nothing current.
fn large_checkpoint() -> Checkpoint {
    let takes = 16;
    let codes = |hop: usize| -> Vec<Vec<i64>> {
        (0..takes)
            .map(|t| {
                (0..180 * 44_100 / hop)
                    .map(|i| ((i * 31 + t) % 2048) as i64)
                    .collect()
            })
            .collect()
    };
    let mut settings = Settings::new(180.0, 1);
    settings.takes = takes;
    Checkpoint {
        format_version: CHECKPOINT_VERSION,
        model_dir: model_dir("tiny-5b"),
        model_name: "tiny-5b".into(),
        state: GenerationState {
            settings,
            prompt_samples: 44_100 * 10,
            prompt_codes: vec![vec![1; 55_125], vec![1; 13_781], vec![1; 3_445]],
            take_numbers: (0..takes).collect(),
            finished: vec![Some(codes(8)), Some(codes(32)), Some(codes(128))],
            level: 0,
            current: None,
            done: true,
            client: serde_json::Value::Null,
        },
    }
}

fn checkpoint_costs(c: &mut Criterion) {
    let dir = model_dir("tiny-5b");
    let manifest = Manifest::load(&dir).expect("tiny model manifest");
    let level = manifest.vqvae.levels - 1;
    let factory = common::single_threaded_cpu();
    let mut prior = Prior::open(&dir, &manifest, level, &factory, Precision::Fp32).unwrap();
    let n_ctx = prior.spec().n_ctx;
    prior.allocate(1).unwrap();
    let checkpoint = Arc::new(large_checkpoint());
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("large.checkpoint.json");
    checkpoint.save(&path).unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    eprintln!("large checkpoint: {:.1} MB on disk", bytes as f64 / 1e6);

    let mut group = c.benchmark_group("checkpoint/step");
    let tokens = [1i64];
    let mut position = 0;
    let mut step = |prior: &mut Prior| {
        let logits = prior.step(black_box(&tokens), position).unwrap();
        black_box(logits[0]);
        position = (position + 1) % n_ctx;
    };
    group.bench_function("idle", |b| b.iter(|| step(&mut prior)));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, checkpoint, path) = (stop.clone(), checkpoint.clone(), path.clone());
        std::thread::spawn(move || {
            let mut writes = 0u32;
            while !stop.load(Ordering::Acquire) {
                checkpoint.save(&path).unwrap();
                writes += 1;
            }
            writes
        })
    };
    group.bench_function("while_a_checkpoint_is_written", |b| {
        b.iter(|| step(&mut prior))
    });
    stop.store(true, Ordering::Release);
    let writes = writer.join().unwrap();
    eprintln!("{writes} checkpoints written during the measurement");
    group.finish();

    let mut group = c.benchmark_group("checkpoint/per_checkpoint");
    group.sample_size(10);
    group.bench_function("handover/clone_state", |b| {
        b.iter(|| black_box(Checkpoint::clone(&checkpoint)))
    });
    // What a step pays now: the copy into the checkpoint written last time (its memory reused).
    let mut spare = Checkpoint::clone(&checkpoint);
    group.bench_function("handover/copy_into_the_spare", |b| {
        b.iter(|| {
            spare.state.finished.clone_from(&checkpoint.state.finished);
            spare
                .state
                .prompt_codes
                .clone_from(&checkpoint.state.prompt_codes);
            black_box(&spare);
        })
    });
    group.bench_function("old/save_on_the_sampling_thread", |b| {
        b.iter(|| checkpoint.save(black_box(&path)).unwrap())
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = checkpoint_costs
}
criterion_main!(benches);
