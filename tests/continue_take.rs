//! A take continued from a chosen time: the part before the cut is kept exactly at every level
//! it has, the part after is sampled anew (another seed, other codes; the same seed, the same).

mod common;

use common::{chord, engine, run_to_end, settings};
use encore::engine::{
    Checkpoint, EngineError, Event, Generation, Job, JobInput, JobQueue, JobUpdate, Settings,
    TakeCut,
};
use encore::jukebox::manifest::Verify;

const HOPS: [usize; 3] = [8, 32, 128];
const RATE: f64 = 44_100.0;

/// A finished generation of a 0.5 s prompt: 0.4 s, 2 takes, seed 3, down to `level`.
fn source(level: usize) -> Checkpoint {
    let mut generation = Generation::new(
        engine("tiny-5b"),
        &chord(44_100, 0.5),
        settings(0.4, 3, 2, level),
    )
    .unwrap();
    run_to_end(&mut generation);
    generation.checkpoint()
}

/// Runs the continuation of `cut` with `settings`; its codes by level.
fn continued(source: &Checkpoint, cut: TakeCut, settings: Settings) -> Vec<Option<Vec<Vec<i64>>>> {
    let mut generation =
        Generation::continue_take(engine("tiny-5b"), source, cut, settings).unwrap();
    run_to_end(&mut generation);
    generation.checkpoint().state.finished
}

fn take_codes(checkpoint: &Checkpoint, level: usize, take: usize) -> &[i64] {
    &checkpoint.state.finished[level].as_ref().unwrap()[take]
}

#[test]
fn a_take_regenerated_from_a_time_keeps_what_came_before() {
    let source = source(1);
    let cut = TakeCut {
        take: 1,
        at_seconds: Some(0.7),
    };
    // 0.7 s rounded down to whole top-level codes.
    let at = (0.7 * RATE) as usize / 128 * 128;
    let new = settings(0.3, 9, 2, 1);
    let a = continued(&source, cut, new.clone());
    let b = continued(&source, cut, new.clone());
    let c = continued(&source, cut, Settings { seed: 10, ..new });
    assert_eq!(a, b, "the same seed gave other codes");
    for level in [2, 1] {
        let kept = at / HOPS[level];
        let take = take_codes(&source, level, 1);
        for (row, (a, c)) in a[level]
            .as_ref()
            .unwrap()
            .iter()
            .zip(c[level].as_ref().unwrap())
            .enumerate()
        {
            assert_eq!(
                a[..kept],
                take[..kept],
                "level {level} row {row}: the kept part changed"
            );
            assert_eq!(
                a.len(),
                (at + (0.3 * RATE / 128.0).ceil() as usize * 128) / HOPS[level]
            );
            assert_ne!(
                a[kept..],
                c[kept..],
                "level {level} row {row}: seeds 9 and 10 agree"
            );
            // The new part differs from what the take had there.
            let overlap = take.len().min(a.len());
            assert_ne!(
                a[kept..overlap],
                take[kept..overlap],
                "level {level} row {row}"
            );
        }
    }
    assert_eq!(a[0], None);
}

#[test]
fn a_take_extended_from_its_end_is_kept_whole() {
    // A level-2 preview extended down to level 1: level 2 keeps the whole take; level 1,
    // which the take never reached, starts from the original prompt.
    let source = source(2);
    let cut = TakeCut {
        take: 0,
        at_seconds: None,
    };
    let mut generation =
        Generation::continue_take(engine("tiny-5b"), &source, cut, settings(0.2, 4, 1, 1)).unwrap();
    let take = take_codes(&source, 2, 0);
    assert_eq!(generation.prompt_samples(), take.len() * 128);
    let prompt_at_1 = source.state.prompt_codes[1].clone();
    let start = generation.checkpoint();
    assert_eq!(start.state.prompt_codes[1], prompt_at_1);
    run_to_end(&mut generation);
    let top = &generation.codes(2).unwrap()[0];
    assert_eq!(top[..take.len()], take[..]);
    assert_eq!(top.len(), take.len() + (0.2 * RATE / 128.0).ceil() as usize);
    let level_1 = &generation.codes(1).unwrap()[0];
    assert_eq!(level_1[..prompt_at_1.len()], prompt_at_1[..]);
    assert_eq!(level_1.len(), top.len() * 4);
}

#[test]
fn bad_cuts_are_refused() {
    let source = source(2);
    let refused = |take: usize, at_seconds: Option<f64>| {
        let cut = TakeCut { take, at_seconds };
        match Generation::continue_take(engine("tiny-5b"), &source, cut, settings(0.2, 1, 1, 2)) {
            Ok(_) => panic!("take {take} cut at {at_seconds:?} was accepted"),
            Err(EngineError::InvalidInput(message)) => message,
            Err(other) => panic!("{other}"),
        }
    };
    assert!(refused(7, None).contains("no take 7"));
    assert!(refused(0, Some(0.001)).contains("keeps nothing"));
    assert!(refused(0, Some(5.0)).contains("ends at 0.90 s"));
    assert!(refused(0, Some(-1.0)).contains("seconds from the song's start"));
    assert!(refused(0, Some(f64::NAN)).contains("seconds from the song's start"));
    let mut unfinished = source.clone();
    unfinished.state.finished[2] = None;
    let cut = TakeCut {
        take: 0,
        at_seconds: None,
    };
    let error =
        Generation::continue_take(engine("tiny-5b"), &unfinished, cut, settings(0.2, 1, 1, 2));
    assert!(error.is_err_and(|e| e.to_string().contains("no finished top level")));
}

#[test]
fn the_queue_continues_a_take() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("source.json");
    source(2).save(&path).unwrap();
    let queue = JobQueue::start(common::runtime(), Some(1));
    let job = queue.submit(Job {
        model_dir: "ignored".into(),
        input: JobInput::ContinueTake {
            checkpoint: path,
            cut: TakeCut {
                take: 1,
                at_seconds: Some(0.6),
            },
            settings: settings(0.2, 5, 2, 2),
        },
        checkpoint_path: None,
        client: serde_json::json!("new"),
        verify: Verify::Sizes,
    });
    let updates = common::updates_until_end(&queue, job);
    assert_eq!(updates.last(), Some(&JobUpdate::Engine(Event::Finished)));
    let at = (0.6 * RATE) as usize / 128 * 128;
    assert!(updates.iter().any(|u| matches!(u,
        JobUpdate::Prepared { prompt_samples, client, .. } if *prompt_samples == at && client == "new")));
    let finished = updates
        .iter()
        .filter(|u| matches!(u, JobUpdate::Engine(Event::TakeFinished { level: 2, .. })))
        .count();
    assert_eq!(finished, 2);
}
