//! The generation pipeline on the tiny random-weight models: determinism, checkpoint and
//! resume, cancel, and typed errors for bad inputs.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{chord, engine, settings};
use crossbeam_channel::{Receiver, unbounded};
use encore::audio::DecodedAudio;
use encore::engine::{Checkpoint, EngineError, Event, GenStep, Generation, Outcome, Settings};

/// Codes of every finished level, by level.
type LevelCodes = Vec<Option<Vec<Vec<i64>>>>;

/// Runs to the end; returns the codes of every finished level (by level) and the events.
fn generate(model: &str, prompt: &DecodedAudio, settings: Settings) -> (LevelCodes, Vec<Event>) {
    let mut generation = Generation::new(engine(model), prompt, settings).unwrap();
    // Several streamed chunks per level, each decoded with context on both sides.
    generation.set_stream_chunk_seconds(0.1);
    let (tx, rx) = unbounded();
    let outcome = generation.run(&tx, &AtomicBool::new(false)).unwrap();
    assert_eq!(outcome, Outcome::Finished);
    drop(tx);
    let codes = (0..3)
        .map(|l| generation.codes(l).map(<[_]>::to_vec))
        .collect();
    (codes, rx.into_iter().collect())
}

fn drain(rx: &Receiver<Event>) -> Vec<Event> {
    rx.try_iter().collect()
}

fn lyrics_settings(seed: u64) -> Settings {
    let mut s = settings(0.5, seed, 2, 1);
    s.artist = Some("Artist 3".into());
    s.genres = vec!["Genre2".into()];
    s.lyrics = "Hello, world\\la la la".into();
    s
}

#[test]
fn the_same_seed_gives_the_same_takes_and_another_seed_others() {
    let prompt = chord(44_100, 1.0);
    let (a, events) = generate("tiny-1b-lyrics", &prompt, lyrics_settings(7));
    let (b, _) = generate("tiny-1b-lyrics", &prompt, lyrics_settings(7));
    let (c, _) = generate("tiny-1b-lyrics", &prompt, lyrics_settings(8));
    assert_eq!(a, b, "same seed and inputs, different codes");
    assert!(a[0].is_none(), "level 0 was sampled though the target is 1");
    for level in [2, 1] {
        let (a, c) = (a[level].as_ref().unwrap(), c[level].as_ref().unwrap());
        let prompt_codes = 44_032 / [8, 32, 128][level];
        for take in 0..2 {
            assert_eq!(
                a[take][..prompt_codes],
                c[take][..prompt_codes],
                "prompt changed"
            );
            assert_ne!(
                a[take][prompt_codes..],
                c[take][prompt_codes..],
                "level {level} take {take}: seeds 7 and 8 agree"
            );
        }
        assert_ne!(
            a[0][prompt_codes..],
            a[1][prompt_codes..],
            "two takes agree"
        );
    }
    // Every finished take is decoded whole; the streamed chunks tile the continuation.
    let finished: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::TakeFinished {
                take,
                level,
                audio,
                codes,
            } => Some((*take, *level, audio, codes)),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 4);
    for (take, level, audio, codes) in finished {
        let hop = [8, 32, 128][level];
        assert_eq!(audio.len(), codes.len() * hop);
        let mut next = 44_032;
        let mut chunks = 0;
        for e in &events {
            if let Event::Audio {
                take: t,
                level: l,
                start_sample,
                samples,
            } = e
                && (*t, *l) == (take, level)
            {
                assert_eq!(
                    *start_sample, next,
                    "level {level} take {take}: gap or overlap"
                );
                for (i, (s, f)) in samples.iter().zip(&audio[next..]).enumerate() {
                    assert!(
                        (s - f).abs() < 1e-3,
                        "level {level} sample {}: {s} vs {f}",
                        next + i
                    );
                }
                next += samples.len();
                chunks += 1;
            }
        }
        assert_eq!(
            next,
            audio.len(),
            "level {level} take {take}: streamed audio ends early"
        );
        assert!(chunks >= 3, "level {level} take {take}: {chunks} chunks");
    }
}

/// Steps `steps` times, then cancels through `run`, which saves the checkpoint.
fn interrupted(model: &str, prompt: &DecodedAudio, settings: Settings, steps: usize, path: &Path) {
    let mut generation = Generation::new(engine(model), prompt, settings).unwrap();
    generation.set_checkpoint_path(Some(path.to_path_buf()));
    let (tx, _rx) = unbounded();
    for _ in 0..steps {
        assert_eq!(generation.step(&tx).unwrap(), GenStep::Working);
    }
    let cancel = AtomicBool::new(true);
    assert_eq!(generation.run(&tx, &cancel).unwrap(), Outcome::Cancelled);
}

/// Runs `checkpoint` (taken after `steps` steps) to the end and compares every level's codes
/// with the uninterrupted run's.
fn assert_resumes_to(model: &str, checkpoint: Checkpoint, whole: &LevelCodes, steps: usize) {
    let mut resumed = Generation::resume(engine(model), checkpoint).unwrap();
    let (tx, _rx) = unbounded();
    resumed.run(&tx, &AtomicBool::new(false)).unwrap();
    for (level, whole) in whole.iter().enumerate() {
        assert_eq!(
            resumed.codes(level),
            whole.as_deref(),
            "interrupted after {steps} steps: level {level} differs"
        );
    }
}

#[test]
fn a_resumed_generation_gives_the_codes_of_an_uninterrupted_one() {
    let prompt = chord(44_100, 0.6);
    let settings = settings(0.4, 11, 2, 0);
    let (whole, _) = generate("tiny-5b", &prompt, settings.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.checkpoint.json");
    // Mid level 2 (inside its first window), mid level 1, mid level 0.
    for (steps, level) in [(40, 2), (400, 1), (1500, 0)] {
        interrupted("tiny-5b", &prompt, settings.clone(), steps, &path);
        let checkpoint = Checkpoint::load(&path).unwrap();
        assert!(
            !checkpoint.state.done && checkpoint.state.current.is_some(),
            "{steps}"
        );
        assert_eq!(checkpoint.state.level, level, "{steps} steps");
        assert_resumes_to("tiny-5b", checkpoint, &whole, steps);
    }
    // The checkpoint file is the only file left (written atomically: no temporaries).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// A checkpoint holds its codes in binary (`"u16:<base64>"` rows), not as JSON numbers.
#[test]
fn a_checkpoint_stores_its_codes_compactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.checkpoint.json");
    // Mid level 1: level 2 finished, level 1 under way.
    interrupted(
        "tiny-5b",
        &chord(44_100, 0.6),
        settings(0.4, 11, 2, 0),
        400,
        &path,
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let state = &json["state"];
    let is_compact = |row: &serde_json::Value| row.as_str().is_some_and(|r| r.starts_with("u16:"));
    let finished = state["finished"][2].as_array().expect("level 2 finished");
    assert!(finished.iter().all(is_compact), "{}", state["finished"]);
    let current = state["current"]["codes"]
        .as_array()
        .expect("level 1 under way");
    assert!(
        current.iter().all(is_compact),
        "{}",
        state["current"]["codes"]
    );
    assert!(
        state["prompt_codes"]
            .as_array()
            .unwrap()
            .iter()
            .all(is_compact)
    );
    assert_eq!(json["format_version"], 3);
}

/// 1b_lyrics' top level samples lyric ids too (stored as code 0; about a quarter of the ids on
/// the random tiny model): a checkpoint taken inside a window must still resume to the same
/// codes.
#[test]
fn a_resumed_lyrics_top_level_gives_the_same_codes() {
    let prompt = chord(44_100, 0.6);
    let mut settings = lyrics_settings(5);
    settings.target_level = 2;
    let (whole, _) = generate("tiny-1b-lyrics", &prompt, settings.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.checkpoint.json");
    for steps in [45, 70] {
        interrupted("tiny-1b-lyrics", &prompt, settings.clone(), steps, &path);
        let checkpoint = Checkpoint::load(&path).unwrap();
        assert_eq!(checkpoint.state.level, 2, "{steps} steps");
        assert!(checkpoint.state.current.is_some(), "{steps} steps");
        assert_resumes_to("tiny-1b-lyrics", checkpoint, &whole, steps);
    }
}

#[test]
fn cancel_stops_within_one_step() {
    let mut generation = Generation::new(
        engine("tiny-5b"),
        &chord(44_100, 0.6),
        settings(2.0, 3, 1, 0),
    )
    .unwrap();
    let steps = generation.step_counter();
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = unbounded();
    let worker = {
        let cancel = Arc::clone(&cancel);
        std::thread::spawn(move || generation.run(&tx, &cancel).unwrap())
    };
    let mut at_cancel = 0;
    for event in rx.iter() {
        if let Event::Progress { level: 1, done, .. } = event
            && done > 0
        {
            at_cancel = steps.load(Ordering::Acquire);
            cancel.store(true, Ordering::Release);
            break;
        }
    }
    assert_eq!(worker.join().unwrap(), Outcome::Cancelled);
    let after = steps.load(Ordering::Acquire) - at_cancel;
    assert!(after <= 1, "{after} steps after the cancel");
    assert!(drain(&rx).contains(&Event::Cancelled));
}

fn error(model: &str, prompt: &DecodedAudio, settings: Settings) -> EngineError {
    match Generation::new(engine(model), prompt, settings) {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    use encore::audio::PromptError;
    let prompt = chord(44_100, 0.5);
    let mut s = settings(1.0, 1, 1, 2);
    s.artist = Some("Nobody At All".into());
    assert!(matches!(
        error("tiny-5b", &prompt, s),
        EngineError::UnknownArtist { .. }
    ));
    let mut s = settings(1.0, 1, 1, 2);
    s.genres = vec!["polka".into()];
    assert!(matches!(
        error("tiny-5b", &prompt, s),
        EngineError::UnknownGenre { .. }
    ));
    let e = error("tiny-5b", &prompt, settings(700.0, 1, 1, 2));
    assert!(matches!(e, EngineError::TooLong { .. }), "{e}");
    let mut s = settings(1.0, 1, 1, 2);
    s.lyrics = "la la".into();
    assert!(matches!(
        error("tiny-5b", &prompt, s),
        EngineError::InvalidInput(_)
    ));
    assert!(matches!(
        error("tiny-5b", &prompt, settings(1.0, 1, 0, 2)),
        EngineError::InvalidInput(_)
    ));
    assert!(matches!(
        error("tiny-5b", &prompt, settings(1.0, 1, 1, 3)),
        EngineError::InvalidInput(_)
    ));

    let silent = DecodedAudio {
        sample_rate: 44_100,
        channels: vec![vec![0.0; 44_100]],
    };
    let empty = DecodedAudio {
        sample_rate: 44_100,
        channels: vec![vec![]],
    };
    let mut nan = chord(44_100, 0.5);
    nan.channels[1][10] = f32::NAN;
    let s = || settings(0.5, 1, 1, 2);
    assert!(matches!(
        error("tiny-5b", &silent, s()),
        EngineError::Prompt(PromptError::Silent)
    ));
    assert!(matches!(
        error("tiny-5b", &empty, s()),
        EngineError::Prompt(PromptError::Empty)
    ));
    assert!(matches!(
        error("tiny-5b", &nan, s()),
        EngineError::Prompt(PromptError::NotFinite { .. })
    ));
}

#[test]
fn prompts_at_8_and_192_khz_work() {
    for rate in [8_000, 192_000] {
        let (codes, _) = generate("tiny-5b", &chord(rate, 0.5), settings(0.3, 1, 1, 2));
        let top = codes[2].as_ref().unwrap();
        // 0.5 s of prompt and 0.3 s of continuation, in whole top-level hops.
        assert!(
            top[0].len().abs_diff(35_280 / 128) <= 2,
            "{rate} Hz: {}",
            top[0].len()
        );
    }
}

#[test]
fn progress_and_checkpoints_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let mut generation = Generation::new(
        engine("tiny-5b"),
        &chord(44_100, 0.5),
        settings(0.3, 1, 1, 1),
    )
    .unwrap();
    generation.set_checkpoint_path(Some(path.clone()));
    let (tx, rx) = unbounded();
    generation.run(&tx, &AtomicBool::new(false)).unwrap();
    let events = drain(&rx);
    assert!(matches!(events[0], Event::Device { .. }));
    for level in [2, 1] {
        assert!(events.iter().any(|e| matches!(e,
            Event::Progress { level: l, done, total, .. } if *l == level && done == total && *total > 0)));
    }
    let saved = events
        .iter()
        .filter(|e| matches!(e, Event::Checkpointed { .. }))
        .count();
    assert!(saved >= 2, "one checkpoint per level at least, got {saved}");
    assert_eq!(events.last(), Some(&Event::Finished));
    let checkpoint = Checkpoint::load(&path).unwrap();
    assert!(checkpoint.state.done);
    assert_eq!(checkpoint.state.finished[1].as_deref(), generation.codes(1));
}
