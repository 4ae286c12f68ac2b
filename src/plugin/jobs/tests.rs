//! Playback memory: however many takes a generation makes, only the one that plays holds a
//! buffer at the host's rate. And the hand-over of a finished job's codes to its takes.

use super::*;
use crate::engine::runtime::{self, RuntimeSearch};
use crate::plugin::session::Shared;

const HOST_RATE: f32 = 48_000.0;
const MODEL_RATE: u32 = 44_100;
const TAKES: u64 = 16;
const SECONDS: f64 = 180.0;
/// The bound the plugin promises for 16 takes of 3 minutes.
const HALF_A_GIGABYTE: usize = 512 << 20;

/// A job prepared as the engine would prepare one (the job itself never runs: nothing reads
/// the queue's events here).
fn prepared_job(generations: &mut Generations, ctx: &JobContext) -> JobId {
    let job = 7;
    generations.live.insert(
        job,
        LiveJob {
            checkpoint: ctx.takes_dir.join("generation.json"),
            prepared: None,
            skipped: HashSet::new(),
            discard: false,
            wrote_level: false,
        },
    );
    let mut settings = GenerationSettings::new(SECONDS, 1);
    settings.takes = TAKES as usize;
    settings.target_level = 2;
    let client = JobClient {
        timeline_start: 96_000,
        sample_rate: HOST_RATE,
        take_ids: (0..TAKES).collect(),
        model_rate: MODEL_RATE,
        origin_samples: None,
        names: Vec::new(),
        parent: None,
    };
    let client = serde_json::to_value(&client).unwrap();
    generations.handle(
        JobEvent {
            job,
            update: crate::engine::JobUpdate::Prepared {
                settings,
                prompt_samples: 0,
                take_numbers: (0..TAKES as usize).collect(),
                client,
            },
        },
        ctx,
    );
    job
}

fn held_bytes(generations: &Generations) -> usize {
    generations.held_frames() * std::mem::size_of::<f32>()
}

#[test]
fn sixteen_takes_of_three_minutes_hold_one_take_in_memory() {
    let runtime = runtime::ensure_loaded(&RuntimeSearch::from_this_binary(None))
        .expect("ONNX Runtime (runtime/) for the job queue");
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::default();
    shared.session.write().chosen = Some(0);
    let ctx = JobContext {
        shared: &shared,
        takes_dir: dir.path(),
    };
    let mut generations = Generations::start(runtime, HOST_RATE, 1);
    let job = prepared_job(&mut generations, &ctx);
    let one_take = ((SECONDS + 1.0) * f64::from(HOST_RATE)) as usize * 4;
    assert!(
        TAKES as usize * one_take > HALF_A_GIGABYTE,
        "every take in memory would pass the bound"
    );
    assert!(
        held_bytes(&generations) <= one_take,
        "{}",
        held_bytes(&generations)
    );

    // Every take streams a second of audio; only the chosen one keeps it.
    let second = vec![0.25f32; MODEL_RATE as usize];
    for row in 0..TAKES as usize {
        generations.stream_audio(job, row, 2, 0, &second);
    }
    assert!(held_bytes(&generations) <= one_take);
    let playing = generations.playing_buffer(Some(0), &shared).unwrap();
    assert!(playing.ready() > 40_000, "the chosen take got its audio");

    // Choosing another take makes its buffer and drops the old one; choosing a take that is
    // not generating drops them all.
    let other = generations.playing_buffer(Some(9), &shared).unwrap();
    assert_eq!(other.take, 9);
    assert!(held_bytes(&generations) <= one_take);
    drop((playing, other));
    assert!(generations.playing_buffer(Some(99), &shared).is_none());
    assert_eq!(held_bytes(&generations), 0);
    generations.cancel_all();
}

/// A derived take (re-generated from 0.5 s into its parent) plays its parent's first 0.5 s
/// until its own audio comes, which lands after them: its buffer starts where the parent's
/// continuation starts, not at the cut.
#[test]
fn a_derived_take_starts_with_its_parent_and_streams_after_the_cut() {
    let runtime = runtime::ensure_loaded(&RuntimeSearch::from_this_binary(None))
        .expect("ONNX Runtime (runtime/) for the job queue");
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::default();
    let parent_audio: Vec<f32> = (0..HOST_RATE as usize)
        .map(|i| (i as f32 * 0.01).sin() * 0.3)
        .collect();
    let file = dir.path().join("Take 4 L2.wav");
    crate::audio::write_wav_new(
        &file,
        &parent_audio,
        48_000,
        crate::audio::WavFormat::Float32,
    )
    .unwrap();
    {
        let mut session = shared.session.write();
        session.takes.push(crate::plugin::session::Take {
            id: 4,
            name: "Take 4".into(),
            level: 2,
            file,
            timeline_start: 96_000,
            sample_rate: HOST_RATE,
            frames: parent_audio.len() as u64,
            batch_row: 0,
            settings: GenerationSettings::new(1.0, 1),
            source: None,
            parent: None,
        });
        session.chosen = Some(5);
    }
    let ctx = JobContext {
        shared: &shared,
        takes_dir: dir.path(),
    };
    let mut generations = Generations::start(runtime, HOST_RATE, 1);
    let job = 8;
    generations.live.insert(
        job,
        LiveJob {
            checkpoint: dir.path().join("generation 5.json"),
            prepared: None,
            skipped: HashSet::new(),
            discard: false,
            wrote_level: false,
        },
    );
    // The original prompt ends at 1 s; the re-generation's prompt at 1.5 s (0.5 s kept).
    let origin = MODEL_RATE as usize;
    let cut = origin + MODEL_RATE as usize / 2;
    let mut settings = GenerationSettings::new(0.5, 1);
    settings.target_level = 2;
    let client = JobClient {
        timeline_start: 96_000,
        sample_rate: HOST_RATE,
        take_ids: vec![5],
        model_rate: MODEL_RATE,
        origin_samples: Some(origin),
        names: vec!["Take 4 · from 0.5 s".into()],
        parent: Some(crate::plugin::session::TakeParent {
            take: 4,
            name: "Take 4".into(),
            derivation: crate::plugin::session::Derivation::RegeneratedFrom { seconds: 0.5 },
        }),
    };
    generations.handle(
        JobEvent {
            job,
            update: crate::engine::JobUpdate::Prepared {
                settings,
                prompt_samples: cut,
                take_numbers: vec![0],
                client: serde_json::to_value(&client).unwrap(),
            },
        },
        &ctx,
    );
    let buffer = generations.playing_buffer(Some(5), &shared).unwrap();
    let kept = HOST_RATE as usize / 2;
    assert_eq!(buffer.timeline_start, 96_000);
    assert_eq!(buffer.ready(), kept);
    assert_eq!(
        buffer.region(),
        HOST_RATE as usize,
        "the parent's part and its own"
    );
    assert!((0..kept).all(|i| buffer.sample(i) == parent_audio[i]));
    // Its own audio, from the cut (take number 0 of its generation).
    generations.stream_audio(job, 0, 2, cut, &vec![0.5; MODEL_RATE as usize / 4]);
    assert!(buffer.ready() > kept + 10_000, "{}", buffer.ready());
    let own = buffer.sample(kept + 6_000);
    assert!((own - 0.5).abs() < 1e-3, "{own}");
    generations.cancel_all();
}

/// A finished job leaves the unfinished list in the same session write that gives its takes
/// their source: the one call does both, so a host reading the state (or a project saved)
/// between them cannot see a finished take without the codes its follow-ups start from.
#[test]
fn a_finished_job_hands_its_takes_their_source_as_it_leaves_the_unfinished_list() {
    let runtime = runtime::ensure_loaded(&RuntimeSearch::from_this_binary(None))
        .expect("ONNX Runtime (runtime/) for the job queue");
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::default();
    let ctx = JobContext {
        shared: &shared,
        takes_dir: dir.path(),
    };
    let mut generations = Generations::start(runtime, HOST_RATE, 1);
    let job = prepared_job(&mut generations, &ctx);
    let live = generations.live.remove(&job).unwrap();
    std::fs::write(&live.checkpoint, "{}").unwrap();
    {
        let mut session = shared.session.write();
        session.unfinished.push(crate::plugin::session::Unfinished {
            checkpoint: live.checkpoint.clone(),
            timeline_start: 96_000,
            sample_rate: HOST_RATE,
            take_ids: (0..TAKES).collect(),
        });
        session.takes.push(crate::plugin::session::Take {
            id: 3,
            name: "Take 3".into(),
            level: 2,
            file: dir.path().join("Take 3 L2.wav"),
            timeline_start: 96_000,
            sample_rate: HOST_RATE,
            frames: 1,
            batch_row: 3,
            settings: GenerationSettings::new(SECONDS, 1),
            source: None,
            parent: None,
        });
    }
    sources::keep_source(&ctx, &live, false).unwrap();
    let session = shared.session.read();
    assert!(session.unfinished.is_empty(), "{:?}", session.unfinished);
    let source = session.takes[0]
        .source
        .as_ref()
        .expect("the take has its source");
    assert_eq!(source.number, 3);
    assert_eq!(
        source.checkpoint,
        crate::plugin::takes::sources_folder(dir.path()).join("generation.json")
    );
    assert!(source.checkpoint.is_file() && !live.checkpoint.exists());
    drop(session);
    generations.cancel_all();
}
