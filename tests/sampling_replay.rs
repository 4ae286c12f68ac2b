//! The engine's sampling against the reference implementation's own primed continuation
//! (`goldens/sampled.npz`: transformers' Jukebox port sampling every level in its windows, with
//! its random draws replaced by recorded uniforms). Fed the same uniforms, the engine must pick
//! the same windows, conditioning labels and upper codes, and sample identical codes.

mod common;

use std::path::{Path, PathBuf};

use common::{TINY_MODELS as KINDS, model_dir};
use encore::engine::{
    EngineError, LevelCheckpoint, LevelRequest, LevelSampler, Prior, RngState, SamplingParams,
    SeededUniforms, SessionFactory, SongLabels, StepOutcome, UniformSource,
};
use encore::jukebox::Precision;
use encore::jukebox::{Manifest, PriorSpec};
use ndarray::{Array1, Array2, Array3, Axis};
use ndarray_npy::NpzReader;

/// One CPU thread, or CUDA under `ENCORE_TEST_DEVICE=cuda` (the GPU check).
fn factory() -> SessionFactory {
    common::test_factory()
}

/// The uniforms the reference drew, handed out in the order it drew them.
struct Recorded {
    uniforms: Array2<f64>,
    next: usize,
}

impl UniformSource for Recorded {
    fn next_uniforms(&mut self, out: &mut [f64]) -> Result<(), EngineError> {
        if self.next >= self.uniforms.nrows() {
            return Err(EngineError::InvalidInput(
                "more sampling steps than recorded uniforms".into(),
            ));
        }
        let row = self.uniforms.row(self.next);
        out.copy_from_slice(row.as_slice().unwrap());
        self.next += 1;
        Ok(())
    }
}

struct Sampled(NpzReader<std::fs::File>);

impl Sampled {
    fn open(path: &Path) -> Self {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self(NpzReader::new(file).unwrap())
    }
    fn scalar_i(&mut self, n: &str) -> i64 {
        let a: ndarray::Array0<i64> = self.0.by_name(n).unwrap();
        a.into_scalar()
    }
    fn scalar_f(&mut self, n: &str) -> f64 {
        let a: ndarray::Array0<f64> = self.0.by_name(n).unwrap();
        a.into_scalar()
    }
    fn vector(&mut self, n: &str) -> Vec<i64> {
        let a: Array1<i64> = self.0.by_name(n).unwrap();
        a.to_vec()
    }
    fn rows(&mut self, n: &str) -> Vec<Vec<i64>> {
        let a: Array2<i64> = self.0.by_name(n).unwrap();
        a.outer_iter().map(|r| r.to_vec()).collect()
    }
    fn windows(&mut self, n: &str) -> Vec<Vec<Vec<i64>>> {
        let a: Array3<i64> = self.0.by_name(n).unwrap();
        a.outer_iter()
            .map(|w| w.outer_iter().map(|r| r.to_vec()).collect())
            .collect()
    }
}

/// Replays one level; returns the number of sampled positions.
fn replay_level(name: &str, manifest: &Manifest, prior: &mut Prior, golden: &mut Sampled) -> usize {
    let spec = prior.spec().clone();
    let level = spec.level;
    let what = format!("{name} level {level}");
    let v = format!("l{level}_");
    let genres_n = spec.conditioning.max_nb_genres;
    let metadata = golden.windows(&format!("{v}window_metadata"));
    let first = &metadata[0];
    let lyrics = match &spec.lyrics {
        // The golden keeps only each window's lyric window, not the song's lyrics. On the tiny
        // fixtures every window's middle clamps to the start of the lyrics, so the first window
        // stands for the song's lyrics (`windows::lyric_window`'s own tests cover the rest).
        Some(_) => first[0][4 + genres_n..].to_vec(),
        None => Vec::new(),
    };
    let labels = SongLabels {
        artist: first.iter().map(|row| row[3]).collect(),
        genres: first
            .iter()
            .map(|row| {
                row[4..4 + genres_n]
                    .iter()
                    .copied()
                    .filter(|&g| g >= 0)
                    .collect()
            })
            .collect(),
        total_length: golden.scalar_i("song_length"),
        offset: 0,
        lyrics,
    };
    let upper =
        (level + 1 < manifest.vqvae.levels).then(|| golden.rows(&format!("l{}_codes", level + 1)));
    let sample_length = golden.scalar_i("sample_length") as usize;
    let request = LevelRequest {
        total: sample_length / spec.raw_to_tokens,
        hop: golden.scalar_i(&format!("{v}hop_length")) as usize,
        params: SamplingParams {
            temperature: golden.scalar_f(&format!("{v}temperature")) as f32,
            top_k: golden.scalar_i("top_k") as usize,
            top_p: golden.scalar_f("top_p") as f32,
        },
    };
    let prompt = golden.rows(&format!("{v}prompt"));
    let mut sampler = LevelSampler::new(&spec, labels, upper, prompt, &request).unwrap();

    // Windows, labels and upper codes as the reference chose them.
    let starts: Vec<i64> = sampler.windows().iter().map(|w| w.start as i64).collect();
    let primes: Vec<i64> = sampler.windows().iter().map(|w| w.prime as i64).collect();
    let news: Vec<i64> = sampler.windows().iter().map(|w| w.new as i64).collect();
    assert_eq!(
        starts,
        golden.vector(&format!("{v}window_start")),
        "{what}: window starts"
    );
    assert_eq!(
        primes,
        golden.vector(&format!("{v}window_prime")),
        "{what}: window primes"
    );
    assert_eq!(
        news,
        golden.vector(&format!("{v}window_new")),
        "{what}: new codes per window"
    );
    for (w, expected) in metadata.iter().enumerate() {
        assert_eq!(
            &sampler.window_labels(w),
            expected,
            "{what}: labels of window {w}"
        );
    }
    if spec.conditioning.cond_downsample > 0 {
        let uppers = golden.windows(&format!("{v}window_upper"));
        for (w, expected) in uppers.iter().enumerate() {
            assert_eq!(
                sampler.window_upper(w).as_ref(),
                Some(expected),
                "{what}: upper codes of window {w}"
            );
        }
    }

    // The sampling itself, position by position.
    let uniforms: Array2<f64> = golden.0.by_name(&format!("{v}uniforms")).unwrap();
    let calls = uniforms.len_of(Axis(0));
    let mut recorded = Recorded { uniforms, next: 0 };
    let expected_ids = golden.rows(&format!("{v}sampled_ids"));
    let expected_windows = golden.vector(&format!("{v}call_window"));
    let expected_positions = golden.vector(&format!("{v}call_position"));
    let mut call = 0;
    loop {
        match sampler.step(prior, &mut recorded).unwrap() {
            StepOutcome::Finished => break,
            StepOutcome::Sampled { window, position } => {
                assert!(
                    call < calls,
                    "{what}: more sampling steps than the reference"
                );
                assert_eq!(
                    (window as i64, position as i64),
                    (expected_windows[call], expected_positions[call]),
                    "{what}: sampling call {call}"
                );
                assert_eq!(
                    sampler.last_ids(),
                    expected_ids[call].as_slice(),
                    "{what}: ids of sampling call {call} (window {window}, position {position})"
                );
                call += 1;
            }
            StepOutcome::Conditioned { .. } | StepOutcome::Prefilled { .. } => {}
        }
    }
    assert_eq!(call, calls, "{what}: sampling steps");
    assert_eq!(
        sampler.codes(),
        golden.rows(&format!("{v}codes")).as_slice(),
        "{what}: codes"
    );
    assert_eq!(sampler.progress(), (call, call), "{what}: progress");
    call
}

/// `goldens/sampled.npz` and any variant beside it (`sampled.*.npz`, e.g. top-k / top-p runs).
fn sampled_goldens(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("goldens"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("sampled") && name.ends_with(".npz")
        })
        .collect();
    paths.sort();
    let main = dir.join("goldens/sampled.npz");
    assert!(paths.contains(&main), "{} is missing", main.display());
    paths
}

fn replay(name: &str) {
    let factory = factory();
    let dir = model_dir(name);
    let manifest = Manifest::load(&dir).unwrap();
    for path in sampled_goldens(&dir) {
        let mut golden = Sampled::open(&path);
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let what = format!("{name} ({file})");
        for level in (0..manifest.vqvae.levels).rev() {
            let mut prior = Prior::open(&dir, &manifest, level, &factory, Precision::Fp32).unwrap();
            let steps = replay_level(&what, &manifest, &mut prior, &mut golden);
            eprintln!("{what} level {level}: {steps} sampling steps replayed");
        }
    }
}

#[test]
fn replays_the_reference_continuation_tiny_5b() {
    replay(KINDS[0]);
}

#[test]
fn replays_the_reference_continuation_tiny_5b_lyrics() {
    replay(KINDS[1]);
}

#[test]
fn replays_the_reference_continuation_tiny_1b_lyrics() {
    replay(KINDS[2]);
}

/// The top level of tiny-5b from the golden's prompt, sampled with seeded uniforms.
struct SeededTop {
    prior: Prior,
    spec: PriorSpec,
    labels: SongLabels,
    request: LevelRequest,
    prompt: Vec<Vec<i64>>,
}

impl SeededTop {
    fn new(factory: &SessionFactory) -> Self {
        let dir = model_dir("tiny-5b");
        let manifest = Manifest::load(&dir).unwrap();
        let mut golden = Sampled::open(&dir.join("goldens/sampled.npz"));
        let prior = Prior::open(&dir, &manifest, 2, factory, Precision::Fp32).unwrap();
        let spec = prior.spec().clone();
        let labels = SongLabels {
            artist: vec![3, 1],
            genres: vec![vec![2, 4], vec![1]],
            total_length: golden.scalar_i("song_length"),
            offset: 0,
            lyrics: Vec::new(),
        };
        let request = LevelRequest {
            total: spec.music_ctx + spec.music_ctx / 4,
            hop: spec.music_ctx / 8,
            params: SamplingParams::new(0.98),
        };
        let prompt = golden.rows("l2_prompt");
        Self {
            prior,
            spec,
            labels,
            request,
            prompt,
        }
    }

    fn sampler(&self) -> LevelSampler {
        LevelSampler::new(
            &self.spec,
            self.labels.clone(),
            None,
            self.prompt.clone(),
            &self.request,
        )
        .unwrap()
    }

    fn codes(&mut self, seed: u64) -> Vec<Vec<i64>> {
        let mut sampler = self.sampler();
        sampler
            .run_to_end(&mut self.prior, &mut SeededUniforms::new(seed))
            .unwrap();
        sampler.into_codes()
    }
}

#[test]
fn the_same_seed_gives_the_same_takes_and_another_seed_others() {
    let mut top = SeededTop::new(&factory());
    let prompt = top.prompt[0].len();
    let a = top.codes(1);
    let b = top.codes(1);
    let c = top.codes(2);
    assert_eq!(a, b, "same seed, different codes");
    assert!(a[0].len() > prompt, "nothing was sampled");
    for row in 0..a.len() {
        assert_ne!(
            a[row][prompt..],
            c[row][prompt..],
            "take {row}: seeds 1 and 2 agree"
        );
    }
    assert_ne!(
        a[0][prompt..],
        a[1][prompt..],
        "two takes of one seed agree"
    );
}

#[test]
fn a_checkpointed_level_resumes_to_the_same_codes() {
    let mut top = SeededTop::new(&factory());
    let uninterrupted = top.codes(5);

    // Stop in the middle of the second window, keep only what serialises, resume.
    let mut sampler = top.sampler();
    let mut uniforms = SeededUniforms::new(5);
    loop {
        if let StepOutcome::Sampled { window: 1, .. } =
            sampler.step(&mut top.prior, &mut uniforms).unwrap()
        {
            break;
        }
    }
    let saved = serde_json::to_string(&(sampler.checkpoint(), uniforms.state())).unwrap();
    drop(sampler);
    let (checkpoint, state): (LevelCheckpoint, RngState) = serde_json::from_str(&saved).unwrap();
    let mut resumed = LevelSampler::resume(
        &top.spec,
        top.labels.clone(),
        None,
        &top.request,
        checkpoint,
    )
    .unwrap();
    let mut uniforms = SeededUniforms::from_state(state);
    resumed.run_to_end(&mut top.prior, &mut uniforms).unwrap();
    assert_eq!(resumed.codes(), uninterrupted.as_slice());
}
