//! What the editor's waveforms cost: turning an envelope into pixel columns (every frame a
//! waveform's size or audio changes, on the GUI thread) and adding audio to one (per capture
//! drain or streamed chunk, on the worker thread).
//!
//! `cargo bench --bench waveform`. A frame at 60 fps has 16.7 ms for everything.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use encore::plugin::waveform::Envelope;

const RATE: f32 = 48_000.0;

fn audio(seconds: f32) -> Vec<f32> {
    (0..(seconds * RATE) as usize)
        .map(|i| (i as f32 * 0.0123).sin() * (i as f32 * 0.00031).cos())
        .collect()
}

fn columns(c: &mut Criterion) {
    // The recording strip (40 s) and a long take (3 min), each 1000 pixels wide.
    for seconds in [40.0, 180.0] {
        let envelope = Envelope::from_samples(&audio(seconds), RATE);
        let mut out = Vec::new();
        let frames = envelope.frames() as f64;
        c.bench_function(&format!("columns/{seconds:.0}s_to_1000px"), |b| {
            b.iter(|| envelope.columns(0.0, black_box(frames), 1000, &mut out));
        });
    }
}

fn push(c: &mut Criterion) {
    // One second of audio, in 512-frame blocks as a capture drain brings it.
    let second = audio(1.0);
    let mut group = c.benchmark_group("push");
    group.throughput(Throughput::Elements(second.len() as u64));
    group.bench_function("1s_in_512_frame_blocks", |b| {
        b.iter(|| {
            let mut envelope = Envelope::new(RATE);
            for block in second.chunks(512) {
                envelope.push(black_box(block));
            }
            envelope
        });
    });
    group.finish();
}

criterion_group!(benches, columns, push);
criterion_main!(benches);
