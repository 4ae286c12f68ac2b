//! The engine's VQ-VAE against the reference implementation's goldens (transformers' Jukebox
//! port, written by the exporter's fixture builder): identical codes, decoded audio within 1e-4.

mod common;

use common::{TINY_MODELS, model_dir};
use encore::engine::generation::Streamer;
use encore::engine::{Event, Vqvae};
use encore::jukebox::Manifest;
use encore::jukebox::Precision;
use ndarray::{Array2, ArrayD};
use ndarray_npy::NpzReader;

fn open(name: &str) -> (Vqvae, NpzReader<std::fs::File>) {
    let dir = model_dir(name);
    let manifest = Manifest::load(&dir).unwrap();
    let vqvae = Vqvae::open(
        &dir,
        &manifest,
        // The CPU, or CUDA under `ENCORE_TEST_DEVICE=cuda` (the GPU check).
        &common::test_factory(),
        Precision::Fp32,
    )
    .unwrap();
    let goldens = std::fs::File::open(dir.join("goldens/vqvae.npz")).unwrap();
    (vqvae, NpzReader::new(goldens).unwrap())
}

#[test]
fn encoder_codes_and_decoded_audio_match_the_reference() {
    for name in TINY_MODELS {
        let (mut vqvae, mut goldens) = open(name);
        let prompt: Array2<f32> = goldens.by_name("prompt").unwrap();
        let prompt = prompt.row(0).to_vec();
        for level in 0..3 {
            let expected: Array2<i64> = goldens.by_name(&format!("codes_level{level}")).unwrap();
            let codes = vqvae.encode(level, &prompt).unwrap();
            assert_eq!(
                codes,
                expected.row(0).to_vec(),
                "{name}: level {level} codes differ"
            );

            let expected: ArrayD<f32> = goldens.by_name(&format!("decoded_level{level}")).unwrap();
            let audio = vqvae.decode(level, &codes).unwrap();
            assert_eq!(audio.len(), expected.len(), "{name}: level {level} length");
            let worst = audio
                .iter()
                .zip(expected.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "{name}: level {level} decode off by {worst}");
        }
    }
}

#[test]
fn audio_that_is_not_whole_hops_is_refused_not_crashed() {
    let (mut vqvae, _) = open("tiny-5b");
    for samples in [0, 1, 127] {
        let error = vqvae.encode(2, &vec![0.0; samples]).unwrap_err();
        assert!(error.to_string().contains("whole hops"), "{error}");
    }
}

/// Random codes (a fixed xorshift sequence) in `0..codebook`.
fn codes(n: usize, codebook: usize, seed: u64) -> Vec<i64> {
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % codebook as u64) as i64
        })
        .collect()
}

#[test]
fn a_streamed_decode_equals_the_whole_level_decode_at_every_level() {
    // models/tiny-vqvae-deep has Jukebox's decoder depth and dilations: a sample reaches
    // thousands of codes at level 0, so too little context would show here.
    let (mut vqvae, _) = open("tiny-vqvae-deep");
    let manifest = Manifest::load(&common::model_dir("tiny-vqvae-deep")).unwrap();
    let codebook = manifest.vqvae.codebook_size;
    for level in 0..3 {
        let hop = vqvae.hop_length(level);
        let context = vqvae.decode_context(level);
        // Enough codes for a few chunks with full context on both sides.
        let total = 2 * context + 3 * 44_100 / hop;
        let row = codes(total, codebook, 17 + level as u64);
        let whole = vqvae.decode(level, &row).unwrap();

        let (sender, receiver) = crossbeam_channel::unbounded::<Event>();
        let chunk_seconds = 0.25;
        let mut streamer = Streamer::new(level, 0, chunk_seconds, &vqvae, 44_100);
        // Codes arrive as a sampler makes them: a few at a time, then the rest at the end.
        let step = (44_100 / hop / 7).max(1);
        let mut have = 0;
        while have < total {
            have = (have + step).min(total);
            let sampled = [row[..have].to_vec()];
            streamer
                .stream(&sampled, &[0], &mut vqvae, &sender, have == total)
                .unwrap();
        }
        drop(sender);
        let mut streamed = vec![f32::NAN; whole.len()];
        let mut chunks = 0;
        for event in receiver.try_iter() {
            if let Event::Audio {
                start_sample,
                samples,
                ..
            } = event
            {
                streamed[start_sample..start_sample + samples.len()].copy_from_slice(&samples);
                chunks += 1;
            }
        }
        assert!(chunks >= 3, "level {level}: only {chunks} chunks streamed");
        let scale = whole.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let (worst, at) = streamed
            .iter()
            .zip(&whole)
            .enumerate()
            .map(|(i, (s, w))| ((s - w).abs(), i))
            .fold(
                (0.0f32, 0),
                |a, b| if b.0 > a.0 || b.0.is_nan() { b } else { a },
            );
        assert!(
            worst <= 1e-4 * scale.max(1.0),
            "level {level}: streamed audio differs from the whole-level decode by {worst} at \
             sample {at} (code {}; context {context} codes, peak {scale})",
            at / hop
        );
    }
}
