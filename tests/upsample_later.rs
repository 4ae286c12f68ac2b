//! A finished preview upsampled later gives the codes one uninterrupted run gives: every level
//! and take samples from its own stream of the seed (see `engine::streams`).

mod common;

use common::{chord, engine, run_to_end, settings};
use encore::audio::DecodedAudio;
use encore::engine::{
    Checkpoint, EngineError, Event, Generation, Job, JobInput, JobQueue, JobUpdate,
};
use encore::jukebox::manifest::Verify;

/// Codes of every finished level, by level.
type LevelCodes = Vec<Option<Vec<Vec<i64>>>>;

fn codes(generation: &Generation) -> LevelCodes {
    (0..3)
        .map(|l| generation.codes(l).map(<[_]>::to_vec))
        .collect()
}

fn prompt() -> DecodedAudio {
    chord(44_100, 0.5)
}

/// A finished generation of 0.3 s, 2 takes, seed 11, down to `level`.
fn finished(level: usize) -> Generation {
    let mut generation =
        Generation::new(engine("tiny-5b"), &prompt(), settings(0.3, 11, 2, level)).unwrap();
    run_to_end(&mut generation);
    generation
}

fn upsampled(checkpoint: Checkpoint, level: usize, takes: &[usize]) -> (Generation, Vec<Event>) {
    let mut generation = Generation::upsample(engine("tiny-5b"), checkpoint, level, takes).unwrap();
    let events = run_to_end(&mut generation);
    (generation, events)
}

/// Take numbers and levels of the `TakeFinished` events.
fn finished_takes(events: &[Event]) -> Vec<(usize, usize)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::TakeFinished { take, level, .. } => Some((*take, *level)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_preview_upsampled_later_gets_the_codes_of_one_run() {
    let one_go = codes(&finished(0));
    assert!(one_go.iter().all(Option::is_some));

    // The preview's checkpoint goes through the disk, as it would between sessions.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("preview.json");
    finished(2).checkpoint().save(&path).unwrap();
    let preview = Checkpoint::load(&path).unwrap();
    assert!(preview.state.done);
    assert!(
        preview.state.prompt_codes.iter().all(|c| !c.is_empty()),
        "the prompt is not kept at every level"
    );

    // Straight to level 0.
    let (later, events) = upsampled(preview.clone(), 0, &[]);
    assert_eq!(codes(&later), one_go);
    assert_eq!(finished_takes(&events), [(0, 1), (1, 1), (0, 0), (1, 0)]);
    assert!(later.checkpoint().state.done);

    // Level by level: to 1, and that to 0 later again.
    let (to_1, _) = upsampled(preview.clone(), 1, &[]);
    assert_eq!(codes(&to_1)[1], one_go[1]);
    assert_eq!(codes(&to_1)[0], None);
    let (to_0, _) = upsampled(to_1.checkpoint(), 0, &[]);
    assert_eq!(codes(&to_0), one_go);

    // One chosen take alone keeps its number and its codes in the batch.
    let (chosen, events) = upsampled(preview, 1, &[1]);
    assert_eq!(chosen.take_numbers(), [1]);
    assert_eq!(chosen.settings().takes, 1);
    assert_eq!(finished_takes(&events), [(1, 1)]);
    let in_batch = &one_go[1].as_ref().unwrap()[1];
    assert_eq!(&chosen.codes(1).unwrap()[0], in_batch);
}

#[test]
fn upsampling_refuses_what_it_cannot_do() {
    let preview = finished(2).checkpoint();
    let refused = |checkpoint: Checkpoint, level: usize, takes: &[usize]| match Generation::upsample(
        engine("tiny-5b"),
        checkpoint,
        level,
        takes,
    ) {
        Ok(_) => panic!("upsampled to {level} with takes {takes:?}"),
        Err(EngineError::InvalidInput(message)) => message,
        Err(other) => panic!("{other}"),
    };
    assert!(refused(preview.clone(), 2, &[]).contains("at level 2 already"));
    assert!(refused(preview.clone(), 3, &[]).contains("at level 2 already"));
    assert!(refused(preview.clone(), 0, &[5]).contains("no take 5"));
    assert!(refused(preview.clone(), 0, &[1, 1]).contains("twice"));
    let mut unfinished = preview;
    unfinished.state.done = false;
    assert!(refused(unfinished, 0, &[]).contains("not finished"));
}

#[test]
fn the_queue_upsamples_a_saved_preview() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("preview.json");
    let mut preview = finished(2);
    preview.set_client_data(serde_json::json!("the preview's"));
    preview.checkpoint().save(&path).unwrap();
    let queue = JobQueue::start(common::runtime(), Some(1));
    let job = queue.submit(Job {
        model_dir: "ignored".into(),
        input: JobInput::Upsample {
            checkpoint: path,
            target_level: 1,
            takes: vec![1],
        },
        checkpoint_path: None,
        client: serde_json::Value::Null,
        verify: Verify::Sizes,
    });
    let updates = common::updates_until_end(&queue, job);
    assert_eq!(updates.last(), Some(&JobUpdate::Engine(Event::Finished)));
    assert!(updates.iter().any(|u| matches!(u,
        JobUpdate::Prepared { settings, client, take_numbers, .. }
            if settings.target_level == 1 && settings.takes == 1 && client == "the preview's"
                && take_numbers == &[1])));
    let events: Vec<Event> = updates
        .into_iter()
        .filter_map(|u| match u {
            JobUpdate::Engine(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(finished_takes(&events), [(1, 1)]);
}

/// A full-quality run cancelled after its preview: its level-2 takes upsample later to the
/// codes one uninterrupted run gives.
#[test]
fn a_run_stopped_after_its_preview_upsamples_like_one_run() {
    let one_go = codes(&finished(0));
    let mut generation =
        Generation::new(engine("tiny-5b"), &prompt(), settings(0.3, 11, 2, 0)).unwrap();
    let (tx, _rx) = crossbeam_channel::unbounded();
    while generation.codes(2).is_none() {
        generation.step(&tx).unwrap();
    }
    // Into level 1, then stopped (as a cancel saves it).
    generation.step(&tx).unwrap();
    generation.step(&tx).unwrap();
    let stopped = generation.checkpoint();
    assert_eq!(stopped.finest_finished_level(), Some(2));
    assert!(!stopped.state.done);
    let refused = stopped.clone().stopped_after(1).unwrap_err().to_string();
    assert!(refused.contains("not finished"), "{refused}");
    let preview = stopped.stopped_after(2).unwrap();
    assert!(preview.state.done);
    assert_eq!(preview.state.current, None);
    let (later, _) = upsampled(preview, 0, &[1]);
    assert_eq!(later.take_numbers(), [1]);
    assert_eq!(
        later.codes(0).unwrap()[0],
        one_go[0].as_ref().unwrap()[1],
        "the take's level-0 codes are not those of one run"
    );
}

/// A restart asks for the same prompt again: the same seed gives the same takes, another seed
/// other ones (a retry), whatever takes the checkpoint held.
#[test]
fn a_restart_is_the_same_request_and_a_new_seed_retries_it() {
    let preview = finished(2);
    // Restarted from an upsample of take 1 alone: the prompt is the same at every level.
    let (upsample, _) = upsampled(preview.checkpoint(), 1, &[1]);
    let again = upsample
        .checkpoint()
        .restart(settings(0.3, 11, 2, 2))
        .unwrap();
    assert_eq!(again.state.take_numbers, [0, 1]);
    assert!(again.state.finished.iter().all(Option::is_none));
    let mut same = Generation::resume(engine("tiny-5b"), again).unwrap();
    run_to_end(&mut same);
    assert_eq!(codes(&same), codes(&preview));

    let retry = preview
        .checkpoint()
        .restart(settings(0.3, 12, 1, 2))
        .unwrap();
    let mut retried = Generation::resume(engine("tiny-5b"), retry).unwrap();
    run_to_end(&mut retried);
    let new = &retried.codes(2).unwrap()[0];
    let old = &preview.codes(2).unwrap()[0];
    assert_eq!(new.len(), old.len());
    assert_ne!(new, old, "a new seed sampled the same codes");
    // The prompt's codes are kept: the new codes start with them.
    let prompt = &preview.checkpoint().state.prompt_codes[2];
    assert_eq!(&new[..prompt.len()], &prompt[..]);
}
