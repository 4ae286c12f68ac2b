//! Per-take follow-ups through the worker with the real engine on the tiny model: previews of
//! three takes, one upsampled to level 0 (the codes of a one-go run), extended, another
//! re-generated from a point, a third retried; the parent deleted without its children; an
//! upsample stopped with the project resumed by the reopened one.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use nice_plug::params::InternalParamMut;
use nice_plug::params::persist::PersistentField;

use super::params::{EncoreParams, TargetLevel};
use super::pipeline_tests::{
    HOST_RATE, encore_checkpoint, last_error, params, play_and_continue, play_timeline, start,
    take_source, tiny_model, unfinished_checkpoints, wait_until,
};
use super::session::{Derivation, SessionState, Take};
use super::timeline;
use super::worker::WorkerCommand;
use crate::audio::read_audio_file;
use crate::engine::runtime::{RuntimeSearch, ensure_loaded};
use crate::engine::{Checkpoint, Engine, Generation};
use crate::jukebox::manifest::Verify;

const LONG: Duration = Duration::from_secs(300);

fn params_for(takes_dir: &Path) -> Arc<EncoreParams> {
    params(takes_dir, TargetLevel::Preview)
}

fn session(params: &EncoreParams) -> SessionState {
    params.shared.session.read().clone()
}

/// Waits until nothing is generating and `done` holds for the session; no error meanwhile.
fn settle(params: &EncoreParams, what: &str, done: impl Fn(&SessionState) -> bool) {
    wait_until(what, LONG, || {
        assert_eq!(last_error(params), None);
        let session = params.shared.session.read();
        session.unfinished.is_empty() && done(&session)
    });
}

fn take(params: &EncoreParams, id: u64) -> Take {
    session(params)
        .take(id)
        .cloned()
        .expect("the take is in the list")
}

/// The takes derived from `parent`.
fn children(params: &EncoreParams, parent: u64) -> Vec<Take> {
    session(params)
        .takes
        .into_iter()
        .filter(|t| t.parent.as_ref().is_some_and(|p| p.take == parent))
        .collect()
}

fn wav(path: &Path) -> Vec<f32> {
    read_audio_file(path).unwrap().channels.remove(0)
}

/// The level-`level` WAV written for take `id`.
fn level_wav(params: &EncoreParams, id: u64, level: usize) -> Vec<f32> {
    let files = session(params).level_files[&id].clone();
    let file = files
        .iter()
        .find(|f| f.to_string_lossy().ends_with(&format!(" L{level}.wav")))
        .unwrap_or_else(|| panic!("take {id} has no level {level} in {files:?}"));
    wav(file)
}

/// The take's codes at `level`, from its source checkpoint.
fn source_codes(params: &EncoreParams, id: u64, level: usize) -> Vec<i64> {
    let take = take(params, id);
    let source = take.source.unwrap();
    let checkpoint = encore_checkpoint(&source.checkpoint);
    let row = checkpoint
        .state
        .take_numbers
        .iter()
        .position(|&n| n == source.number)
        .unwrap();
    checkpoint.state.finished[level].as_ref().unwrap()[row].clone()
}

/// Whether `a` and `b` agree over their first `frames` samples (decoded from the same codes;
/// the decoder's right context differs only near the cut).
fn agree(a: &[f32], b: &[f32], frames: usize) -> bool {
    a.len() >= frames
        && b.len() >= frames
        && a[..frames]
            .iter()
            .zip(&b[..frames])
            .all(|(x, y)| (x - y).abs() < 1e-4)
}

/// Take `take`'s level-0 codes in one run straight to level 0 with the preview's prompt,
/// settings and seed.
fn one_go_level_0(preview: &Checkpoint, take: usize) -> Vec<i64> {
    let runtime = ensure_loaded(&RuntimeSearch::from_this_binary(None)).unwrap();
    let engine = Engine::load(&tiny_model(), runtime, Verify::Sizes, Some(1)).unwrap();
    let mut settings = preview.state.settings.clone();
    settings.target_level = 0;
    let mut generation = Generation::resume(engine, preview.restart(settings).unwrap()).unwrap();
    let (events, _rx) = crossbeam_channel::unbounded();
    generation.run(&events, &AtomicBool::new(false)).unwrap();
    generation.codes(0).unwrap()[take].clone()
}

#[test]
fn previews_are_upsampled_extended_regenerated_and_retried_as_queued_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(dir.path(), TargetLevel::Preview);
    // SAFETY: no host and no audio thread exist in this test; the setter only stores atomics.
    unsafe { params.takes._internal_set_plain_value(3) };
    let mut running = start(&params);
    let end = play_and_continue(&mut running, &params, 2.0);
    settle(&params, "three previews", |s| {
        s.takes.len() == 3 && s.takes.iter().all(|t| t.level == 2 && t.source.is_some())
    });
    let preview_source = take_source(&params, 2);
    let preview_codes = source_codes(&params, 2, 2);

    // Upsample take 2 to level 0: it keeps its id and name, ends at level 0, and plays.
    running
        .commands
        .send(WorkerCommand::Choose { take: Some(2) })
        .unwrap();
    running
        .commands
        .send(WorkerCommand::Upsample { take: 2, level: 0 })
        .unwrap();
    wait_until("the upsample is queued", LONG, || {
        params
            .shared
            .generation
            .read()
            .as_ref()
            .is_some_and(|g| g.target_level == 0 && g.takes == 1)
    });
    let view = params.shared.generation.read().clone().unwrap();
    assert_eq!(
        view.levels.iter().map(|l| l.level).collect::<Vec<_>>(),
        [2],
        "the upsample shows its preview level done"
    );
    assert!(view.levels[0].done == view.levels[0].total && view.levels[0].total > 0);
    settle(&params, "the upsample finished", |s| {
        s.take(2).is_some_and(|t| t.level == 0)
    });
    let upsampled = take(&params, 2);
    assert_eq!(upsampled.name, "Take 2");
    assert_eq!(upsampled.timeline_start, end);
    assert_eq!(source_codes(&params, 2, 2), preview_codes);
    assert_eq!(
        source_codes(&params, 2, 0),
        one_go_level_0(&encore_checkpoint(&preview_source), 1)
    );
    let level_0 = wav(&upsampled.file);
    wait_until("the upsampled take plays", Duration::from_secs(10), || {
        let fade = timeline::fade_frames(HOST_RATE);
        play_timeline(&mut running.player, end, fade + 64)[fade..] == level_0[fade..fade + 64]
    });
    // The other previews still use the preview's codes; the upsampled take its own.
    assert!(preview_source.is_file());
    assert_ne!(take_source(&params, 2), preview_source);

    // Extend take 2 by a second: a new take at the preview level, its parent linked, placed
    // where the parent is, the parent's audio first.
    running
        .commands
        .send(WorkerCommand::Extend {
            take: 2,
            seconds: 1.0,
        })
        .unwrap();
    settle(&params, "the extension finished", |s| {
        s.takes.iter().any(|t| t.parent.is_some())
    });
    let extended = children(&params, 2).remove(0);
    assert_eq!(extended.name, "Take 2 · +1.0 s");
    assert_eq!(
        extended.parent.as_ref().unwrap().derivation,
        Derivation::Extended
    );
    assert_eq!(extended.level, 2);
    assert_eq!(extended.timeline_start, end);
    assert_eq!(
        session(&params).chosen,
        Some(extended.id),
        "the new take plays"
    );
    let parent_l2 = level_wav(&params, 2, 2);
    let extension = wav(&extended.file);
    let longer = extension.len() as f64 - parent_l2.len() as f64;
    assert!(
        (longer - f64::from(HOST_RATE)).abs() < 0.01 * f64::from(HOST_RATE),
        "{} frames longer",
        longer
    );
    assert!(
        agree(&extension, &parent_l2, parent_l2.len() / 2),
        "the extension does not start with its parent"
    );

    // Re-generate take 1 from 0.5 s into two takes: each keeps its parent up to the cut.
    running
        .commands
        .send(WorkerCommand::RegenerateFrom {
            take: 1,
            at_seconds: 0.5,
            takes: 2,
        })
        .unwrap();
    settle(&params, "the re-generation finished", |s| {
        s.takes
            .iter()
            .filter(|t| t.parent.as_ref().is_some_and(|p| p.take == 1))
            .count()
            == 2
    });
    let regenerated = children(&params, 1);
    let parent = wav(&take(&params, 1).file);
    let names: Vec<&str> = regenerated.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["Take 1 · from 0.5 s (1)", "Take 1 · from 0.5 s (2)"]
    );
    let cut = (0.5 * HOST_RATE) as usize;
    for take in &regenerated {
        let Some(Derivation::RegeneratedFrom { seconds }) =
            take.parent.as_ref().map(|p| p.derivation)
        else {
            panic!("{take:?}")
        };
        assert!((seconds - 0.5).abs() < 0.01, "{seconds}");
        let audio = wav(&take.file);
        assert!(
            audio.len().abs_diff(parent.len()) < 500,
            "{} vs {}",
            audio.len(),
            parent.len()
        );
        assert!(
            agree(&audio, &parent, cut / 2),
            "{} does not keep its parent",
            take.name
        );
        assert!(
            !agree(&audio[cut..], &parent[cut..], cut / 2),
            "{} is its parent",
            take.name
        );
    }

    // Retry take 3: the same request with another seed.
    running
        .commands
        .send(WorkerCommand::Retry { take: 3 })
        .unwrap();
    settle(&params, "the retry finished", |s| {
        s.takes
            .iter()
            .any(|t| t.parent.as_ref().is_some_and(|p| p.take == 3))
    });
    let retried = children(&params, 3).remove(0);
    assert_eq!(retried.name, "Take 3 · retry");
    assert_ne!(retried.settings.seed, take(&params, 3).settings.seed);
    let (old, new) = (
        source_codes(&params, 3, 2),
        source_codes(&params, retried.id, 2),
    );
    assert_eq!(old.len(), new.len());
    assert_ne!(old, new);

    // Deleting the parent keeps its children and their files; its own codes go with it.
    let upsample_source = take_source(&params, 2);
    running
        .commands
        .send(WorkerCommand::Delete { take: 2 })
        .unwrap();
    // The take leaves the session first, its files and codes go right after (outside the
    // session lock): the codes too, since nobody uses them any more.
    wait_until("take 2, its files and its codes are deleted", LONG, || {
        session(&params).take(2).is_none() && !upsampled.file.exists() && !upsample_source.exists()
    });
    let child = take(&params, extended.id);
    assert!(child.file.is_file());
    assert!(take_source(&params, child.id).is_file());
    assert_eq!(last_error(&params), None);
    running.worker.stop_and_join();
    assert_eq!(unfinished_checkpoints(dir.path()), 0);
}

#[test]
fn an_upsample_saved_with_the_project_resumes_when_it_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(dir.path(), TargetLevel::Preview);
    // Long enough that the stop below comes before the upsample's end.
    // SAFETY: no host and no audio thread exist in this test; the setter only stores atomics.
    unsafe { params.seconds._internal_set_plain_value(4.0) };
    let mut running = start(&params);
    play_and_continue(&mut running, &params, 1.0);
    settle(&params, "the preview", |s| {
        s.takes.len() == 1 && s.takes[0].source.is_some()
    });
    let preview = encore_checkpoint(&take_source(&params, 1));
    running
        .commands
        .send(WorkerCommand::Upsample { take: 1, level: 0 })
        .unwrap();
    // Stopped once level 1 is under way (the upsample's checkpoint is on disk from the start).
    wait_until("level 1 runs", LONG, || {
        assert_eq!(last_error(&params), None);
        params
            .shared
            .generation
            .read()
            .as_ref()
            .is_some_and(|g| g.levels.iter().any(|l| l.level == 1))
    });
    running.worker.stop_and_join();
    let saved = serde_json::to_string(&session(&params)).unwrap();
    let unfinished = session(&params).unfinished;
    assert_eq!(unfinished.len(), 1, "the upsample is saved to resume");
    assert_eq!(unfinished[0].take_ids, [1]);
    assert!(take(&params, 1).level > 0, "it finished before the stop");
    let stopped = encore_checkpoint(&unfinished[0].checkpoint);
    assert!(!stopped.state.done);

    // The project reopened in a new instance.
    let reopened: Arc<EncoreParams> = params_for(dir.path());
    reopened.shared.set(serde_json::from_str(&saved).unwrap());
    let running = start(&reopened);
    settle(&reopened, "the resumed upsample finished", |s| {
        s.take(1).is_some_and(|t| t.level == 0)
    });
    let take = take(&reopened, 1);
    assert_eq!(take.name, "Take 1");
    assert!(
        take.file.ends_with("Take 1 L0.wav"),
        "{}",
        take.file.display()
    );
    assert_eq!(source_codes(&reopened, 1, 0), one_go_level_0(&preview, 0));
    drop(running);
    assert_eq!(unfinished_checkpoints(dir.path()), 0);
}
