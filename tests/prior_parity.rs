//! Every prior of the tiny fixtures through the engine's prefill and step graphs, with its caches
//! bound in place, against the reference implementation's teacher-forced goldens
//! (`goldens/prior_l{L}.teacher_forced.npz`, written from transformers' Jukebox port).

mod common;

use std::path::Path;

use common::{TINY_MODELS as KINDS, model_dir};
use encore::engine::{ConditioningInputs, Device, Prior, SessionFactory};
use encore::jukebox::Manifest;
use encore::jukebox::Precision;
use ndarray::{Array1, Array2, Array3};
use ndarray_npy::NpzReader;

/// fp32 graphs against the port (docs/prior-graphs.md measured 2e-6 .. 9e-6).
const TOLERANCE: f32 = 1e-4;
/// Also relative to the largest |logit|: random-weight fixtures may have logits far below 1,
/// where an absolute 1e-4 would let a wrong computation pass (fp32 rounding is about 1e-7 of it).
const RELATIVE: f32 = 1e-5;

/// fp16 logits against the fp32 reference, relative to the largest |logit|: measured 3.6e-4 ..
/// 4.2e-4 on tiny-5b on the CPU (errors 3.7e-3 .. 4.3e-3 on logits up to 10 .. 12), bound 2.5x
/// that. The GPU check runs this test on CUDA (`ENCORE_TEST_DEVICE=cuda`) under the same bound:
/// the graphs keep LayerNorm, softmax and logits in fp32 on both devices, so a CUDA result
/// outside it is a finding to explain, not a reason to widen it.
const FP16_TOLERANCE: f32 = 1e-3;
/// Conditioning outputs (start embedding, per-position conditioning) of the fp16 graphs.
const FP16_COND_TOLERANCE: f32 = 1e-4;

/// One CPU thread, or CUDA under `ENCORE_TEST_DEVICE=cuda` (the GPU check).
fn factory() -> SessionFactory {
    common::test_factory()
}

fn max_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn flat<D: ndarray::Dimension>(a: ndarray::Array<i64, D>) -> Vec<i64> {
    a.iter().copied().collect()
}

struct Golden {
    sequence: Array2<i64>,
    inputs: ConditioningInputs,
    start_emb: Vec<f32>,
    cond: Vec<f32>,
    logits: Array3<f32>,
}

fn read_golden(path: &Path) -> Golden {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut npz = NpzReader::new(file).unwrap();
    let names = npz.names().unwrap();
    let has = |n: &str| names.iter().any(|m| m == n || m == &format!("{n}.npy"));
    let vector = |npz: &mut NpzReader<_>, n: &str| -> Vec<i64> {
        if has(n) {
            let a: Array1<i64> = npz.by_name(n).unwrap();
            flat(a)
        } else {
            Vec::new()
        }
    };
    let matrix = |npz: &mut NpzReader<_>, n: &str| -> Vec<i64> {
        if has(n) {
            let a: Array2<i64> = npz.by_name(n).unwrap();
            flat(a)
        } else {
            Vec::new()
        }
    };
    let inputs = ConditioningInputs {
        artist: vector(&mut npz, "artist"),
        genres: matrix(&mut npz, "genres"),
        total_length: vector(&mut npz, "total_length"),
        offset: vector(&mut npz, "offset"),
        sample_length: vector(&mut npz, "sample_length"),
        lyrics: matrix(&mut npz, "lyrics"),
        upper_codes: matrix(&mut npz, "upper_codes"),
    };
    let start_emb: Array2<f32> = npz.by_name("start_emb").unwrap();
    let cond: Array3<f32> = npz.by_name("cond").unwrap();
    Golden {
        sequence: npz.by_name("sequence").unwrap(),
        inputs,
        start_emb: start_emb.iter().copied().collect(),
        cond: cond.iter().copied().collect(),
        logits: npz.by_name("logits").unwrap(),
    }
}

/// Conditioning, then prefill of the first part of the window in block-aligned chunks (the
/// first one ending mid-block), then one step per remaining position; returns the worst
/// |logit error| against the golden and checks conditioning on the way.
fn teacher_forced_error(
    prior: &mut Prior,
    golden: &Golden,
    what: &str,
    cond_tolerance: f32,
) -> f32 {
    teacher_forced(prior, golden, what, cond_tolerance, Chunks::InsideBlocks).0
}

/// How [`teacher_forced`] cuts the prefill.
#[derive(Clone, Copy, PartialEq)]
enum Chunks {
    /// Block-aligned chunks of at most a block, the first ending mid-block.
    InsideBlocks,
    /// Chunks crossing one or more attention blocks (rings written apart, then copied back).
    AcrossBlocks,
}

/// [`teacher_forced_error`], with every logit it saw (prefill then steps) and the step's bound
/// addresses before the first and after the last step.
fn teacher_forced(
    prior: &mut Prior,
    golden: &Golden,
    what: &str,
    cond_tolerance: f32,
    chunks: Chunks,
) -> (f32, Vec<f32>, [Vec<usize>; 2]) {
    let mut seen = Vec::new();
    let (batch, n_ctx) = golden.sequence.dim();
    let spec = prior.spec().clone();
    assert_eq!(n_ctx, spec.n_ctx, "{what}: golden window length");
    prior.allocate(batch).unwrap();
    let addresses = prior.cache_addresses().unwrap();
    prior.condition(&golden.inputs).unwrap();
    let cond_error = max_error(&prior.start_emb().unwrap(), &golden.start_emb)
        .max(max_error(&prior.cond().unwrap(), &golden.cond));
    assert!(
        cond_error < cond_tolerance,
        "{what}: conditioning off by {cond_error}"
    );

    // Input at position t is the id at t - 1; the start embedding (id ignored) at 0.
    let input = |row: usize, t: usize| {
        if t == 0 {
            0
        } else {
            golden.sequence[[row, t - 1]]
        }
    };
    let bc = spec.block_ctx;
    let split = n_ctx / 2 + bc / 2 + 1;
    let mut worst = 0.0f32;
    let mut position = 0;
    while position < split {
        let chunk = match chunks {
            Chunks::InsideBlocks => {
                let limit = if position == 0 { 3 } else { bc };
                (bc - position % bc).min(split - position).min(limit)
            }
            // bc + 3 crosses one boundary, 2 * bc + 1 two (tiny blocks are 10 .. 16 long).
            Chunks::AcrossBlocks if position == 0 => (bc + 3).min(split),
            Chunks::AcrossBlocks => (2 * bc + 1).min(split - position),
        };
        let tokens: Vec<i64> = (0..batch)
            .flat_map(|row| (position..position + chunk).map(move |t| input(row, t)))
            .collect();
        let logits = prior.prefill_logits(&tokens, position).unwrap();
        seen.extend_from_slice(&logits);
        let vocab = spec.vocab_size;
        for row in 0..batch {
            for (i, t) in (position..position + chunk).enumerate() {
                let got = &logits[(row * chunk + i) * vocab..(row * chunk + i + 1) * vocab];
                let want = golden.logits.slice(ndarray::s![row, t, ..]);
                worst = worst.max(max_error(got, want.as_slice().unwrap()));
            }
        }
        position += chunk;
    }
    let step_addresses = prior.step_addresses().unwrap();
    for t in split..n_ctx {
        let tokens: Vec<i64> = (0..batch).map(|row| input(row, t)).collect();
        let logits = prior.step(&tokens, t).unwrap();
        seen.extend_from_slice(logits);
        let vocab = spec.vocab_size;
        for row in 0..batch {
            let want = golden.logits.slice(ndarray::s![row, t, ..]);
            worst = worst.max(max_error(
                &logits[row * vocab..(row + 1) * vocab],
                want.as_slice().unwrap(),
            ));
        }
    }
    assert_eq!(
        prior.cache_addresses().unwrap(),
        addresses,
        "{what}: caches moved"
    );
    (
        worst,
        seen,
        [step_addresses, prior.step_addresses().unwrap()],
    )
}

#[test]
fn teacher_forced_logits_match_the_reference_for_every_prior() {
    let factory = factory();
    for name in KINDS {
        let dir = model_dir(name);
        let manifest = Manifest::load(&dir).unwrap();
        assert_eq!(manifest.priors.len(), 3, "{name}: a prior per level");
        for spec in &manifest.priors {
            let level = spec.level;
            let what = format!("{name} level {level}");
            let mut prior = Prior::open(&dir, &manifest, level, &factory, Precision::Fp32).unwrap();
            let golden =
                read_golden(&dir.join(format!("goldens/prior_l{level}.teacher_forced.npz")));
            let worst = teacher_forced_error(&mut prior, &golden, &what, TOLERANCE);
            let scale = golden.logits.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            eprintln!("{what}: max |logit error| {worst:.2e} (largest |logit| {scale:.2e})");
            assert!(worst < TOLERANCE, "{what}: logits off by {worst}");
            assert!(
                worst <= RELATIVE * scale + 1e-7,
                "{what}: logits off by {worst}, too much for logits up to {scale}"
            );

            // A second window in the same caches (no clearing) gives the same logits.
            let again = teacher_forced_error(&mut prior, &golden, &what, TOLERANCE);
            assert!(again < TOLERANCE, "{what}: reused caches off by {again}");
        }
    }
}

/// The device path run on the CPU: the state reached only through ONNX Runtime copies (zeroed
/// caches copied in, ids and position uploaded, logits downloaded), exactly as on a GPU. Same
/// logits as the direct path bit for bit, and every tensor the step binds (caches, `cond`,
/// `start_emb`, ids, position, logits) stays at its address from the first step to the last,
/// as a CUDA graph replay needs.
#[test]
fn the_device_state_path_gives_the_cpu_logits_and_keeps_every_address() {
    let factory = factory();
    for name in KINDS {
        let dir = model_dir(name);
        let manifest = Manifest::load(&dir).unwrap();
        let level = 2;
        let golden = read_golden(&dir.join(format!("goldens/prior_l{level}.teacher_forced.npz")));
        let mut direct = Prior::open(&dir, &manifest, level, &factory, Precision::Fp32).unwrap();
        let (_, want, _) =
            teacher_forced(&mut direct, &golden, name, TOLERANCE, Chunks::AcrossBlocks);
        // On CUDA the "direct" path is the device path itself: its state is reached through
        // copies (the first device run failed here on an assertion written for the CPU).
        let on_device = common::test_device() == Device::Cuda;
        assert_eq!(direct.state_is_copied().unwrap(), on_device);

        let mut staged = Prior::open(&dir, &manifest, level, &factory, Precision::Fp32).unwrap();
        staged.copy_state_as_on_a_device();
        let (worst, got, [before, after]) =
            teacher_forced(&mut staged, &golden, name, TOLERANCE, Chunks::AcrossBlocks);
        assert!(staged.state_is_copied().unwrap());
        assert!(worst < TOLERANCE, "{name}: staged logits off by {worst}");
        assert!(got == want, "{name}: the copied state changed the logits");
        assert_eq!(before, after, "{name}: a bound step tensor moved");
    }
}

/// Prefill chunks that cross attention blocks (ring caches wrap inside one chunk), then steps:
/// the reference's logits at every position, for every prior.
#[test]
fn prefill_chunks_across_blocks_match_the_reference() {
    let factory = factory();
    for name in KINDS {
        let dir = model_dir(name);
        let manifest = Manifest::load(&dir).unwrap();
        for spec in &manifest.priors {
            let level = spec.level;
            let what = format!("{name} level {level} across blocks");
            let mut prior = Prior::open(&dir, &manifest, level, &factory, Precision::Fp32).unwrap();
            let golden =
                read_golden(&dir.join(format!("goldens/prior_l{level}.teacher_forced.npz")));
            let (worst, ..) =
                teacher_forced(&mut prior, &golden, &what, TOLERANCE, Chunks::AcrossBlocks);
            assert!(worst < TOLERANCE, "{what}: logits off by {worst}");
        }
    }
}

#[test]
fn a_prefill_chunk_past_the_window_is_refused() {
    let factory = factory();
    let dir = model_dir("tiny-5b");
    let manifest = Manifest::load(&dir).unwrap();
    let mut prior = Prior::open(&dir, &manifest, 2, &factory, Precision::Fp32).unwrap();
    let n_ctx = prior.spec().n_ctx;
    assert!(prior.step(&[0], 0).is_err(), "stepping before allocate");
    prior.allocate(1).unwrap();
    let error = prior.prefill(&[0; 2], n_ctx - 1).unwrap_err();
    assert!(error.to_string().contains("past the window"), "{error}");
}

/// fp16 graphs (fp16 weights, activations into matmuls and caches; LayerNorm, softmax and
/// logits in fp32), run through the same in-place fp16 cache binding the CUDA path uses,
/// against the fp32 reference. Bound: see FP16_TOLERANCE.
#[test]
fn fp16_teacher_forced_logits_stay_near_the_fp32_reference() {
    assert_tiny_5b_near_the_reference(Precision::Fp16, FP16_TOLERANCE);
}

/// Every prior of tiny-5b in `precision`, teacher-forced: the worst |logit error| against the
/// fp32 reference stays within `tolerance` of the largest |logit|.
fn assert_tiny_5b_near_the_reference(precision: Precision, tolerance: f32) {
    let factory = factory();
    let dir = model_dir("tiny-5b");
    let manifest = Manifest::load(&dir).unwrap();
    for spec in &manifest.priors {
        let level = spec.level;
        let what = format!("tiny-5b level {level} {precision}");
        let mut prior = Prior::open(&dir, &manifest, level, &factory, precision).unwrap();
        let golden = read_golden(&dir.join(format!("goldens/prior_l{level}.teacher_forced.npz")));
        let worst = teacher_forced_error(&mut prior, &golden, &what, FP16_COND_TOLERANCE);
        let scale = golden.logits.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        eprintln!("{what}: max |logit error| {worst:.2e} (largest |logit| {scale:.2e})");
        assert!(
            worst <= tolerance * scale,
            "{what}: logits off by {worst}, over {tolerance} of the largest |logit| {scale}"
        );
    }
}

/// 8- and 4-bit graphs (the layers' matrices through MatMulNBits, fp16 around them, activations
/// quantised to int8 inside MatMulNBits on the CPU) against the fp32 reference, relative to the
/// largest |logit|: measured on tiny-5b on the CPU, worst level int8 1.1e-2, int4 1.1e-1; bounds
/// 1.5x that. Below ORT_ENABLE_ALL the CPU kernel is wrong (int8 0.52): this fails then.
/// docs/performance.md publishes these and the KL divergence / top-1 agreement (bounded by the
/// exporter's test_quantisation.py).
const QUANTISED_TOLERANCE: [(Precision, f32); 2] =
    [(Precision::Int8, 1.7e-2), (Precision::Int4, 1.7e-1)];

#[test]
fn quantised_teacher_forced_logits_stay_within_their_published_bound() {
    for (precision, tolerance) in QUANTISED_TOLERANCE {
        assert_tiny_5b_near_the_reference(precision, tolerance);
    }
}
