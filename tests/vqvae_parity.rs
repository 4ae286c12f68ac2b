//! The engine's VQ-VAE against the reference implementation's goldens (transformers' Jukebox
//! port, written by the exporter's fixture builder): identical codes, decoded audio within 1e-4.

mod common;

use common::{TINY_MODELS, model_dir};
use encore::engine::{SessionFactory, Vqvae};
use encore::jukebox::Manifest;
use ndarray::{Array2, ArrayD};
use ndarray_npy::NpzReader;

fn open(name: &str) -> (Vqvae, NpzReader<std::fs::File>) {
    let dir = model_dir(name);
    let manifest = Manifest::load(&dir).unwrap();
    let vqvae = Vqvae::open(
        &dir,
        &manifest,
        &SessionFactory::cpu(common::runtime()),
        "fp32",
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
