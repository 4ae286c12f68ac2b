//! The worker with the real engine on the tiny model: captured blocks and a Continue request
//! become a take on the timeline, written as a WAV, and an interrupted generation resumes in
//! the next instance; activations during a generation only swap the rings; a restored take is
//! ready before the first activation. (The same through real hosts:
//! `tests/hosts/test_daw_workflow.py`, `tests/clap_host.rs`.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nice_plug::params::InternalParamMut;

use super::capture::{CaptureProducer, TransportSnapshot, capture_rings};
use super::params::{EncoreParams, PlaybackMode, TargetLevel};
use super::playback::playback_ring;
use super::session::{SessionState, Take};
use super::settings::{PromptSource, StartAt};
use super::timeline::{self, TimelinePlayer, timeline};
use super::worker::{AudioLinks, WorkerCommand, WorkerHandle, WorkerLinks};
use crate::audio::{WavFormat, read_audio_file, write_wav_new};
use crate::engine::{Checkpoint, Settings as GenerationSettings};
use nice_plug::params::persist::PersistentField;

pub(super) const HOST_RATE: f32 = 48_000.0;
const BLOCK: usize = 480;

pub(super) fn tiny_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-5b")
}

/// Parameters for a short, reproducible continuation into `takes_dir`.
pub(super) fn params(takes_dir: &Path, level: TargetLevel) -> Arc<EncoreParams> {
    let params = Arc::new(EncoreParams::default());
    // SAFETY: no host and no audio thread exist in this test; the setters only store atomics.
    unsafe {
        params.seconds._internal_set_plain_value(1.0);
        params.takes._internal_set_plain_value(1);
        params.level._internal_set_plain_value(level);
    }
    {
        let mut settings = params.settings.write();
        settings.model_dir = Some(tiny_model());
        settings.takes_dir = Some(takes_dir.to_path_buf());
        settings.prompt = PromptSource::LastSeconds(1.5);
        settings.new_seed_each_time = false;
        settings.seed = 11;
        // These tests place takes where Continue arrives; bar lines have tests of their own.
        settings.start_at = StartAt::Now;
    }
    params
}

pub(super) struct Running {
    pub worker: WorkerHandle,
    pub commands: crossbeam_channel::Sender<WorkerCommand>,
    pub capture: CaptureProducer,
    pub player: TimelinePlayer,
}

/// A new instance's worker (as made with the plugin), activated once.
pub(super) fn start(params: &Arc<EncoreParams>) -> Running {
    let (commands_tx, commands) = crossbeam_channel::unbounded();
    let worker = WorkerHandle::spawn(WorkerLinks {
        commands,
        params: params.clone(),
    });
    let (capture, player) = activate(&worker);
    Running {
        worker,
        commands: commands_tx,
        capture,
        player,
    }
}

/// What the plugin's activate does: fresh rings, the worker's ends handed over.
pub(super) fn activate(worker: &WorkerHandle) -> (CaptureProducer, TimelinePlayer) {
    activate_at(worker, HOST_RATE)
}

fn activate_at(worker: &WorkerHandle, rate: f32) -> (CaptureProducer, TimelinePlayer) {
    let (capture, capture_rx) = capture_rings(rate, BLOCK);
    let (playback, _playback_rx) = playback_ring(rate);
    let playing = worker.ready_take(rate);
    let (timeline_tx, player) = timeline(playing.clone());
    worker.attach(AudioLinks {
        sample_rate: rate,
        capture: capture_rx,
        playback,
        timeline: timeline_tx,
        playing,
    });
    (capture, player)
}

pub(super) fn transport(position: i64) -> TransportSnapshot {
    TransportSnapshot {
        playing: true,
        tempo_bpm: Some(120.0),
        position_samples: Some(position),
        sample_rate: HOST_RATE,
        time_signature: None,
        // 120 bpm from position 0.
        pos_beats: Some(position as f64 * 2.0 / f64::from(HOST_RATE)),
        bar_start_beats: None,
    }
}

/// Plays `seconds` of a chord from timeline position 0, then asks for a continuation at the
/// end (as the `continue` parameter does, in the next block's header). Returns the end.
pub(super) fn play_and_continue(running: &mut Running, params: &EncoreParams, seconds: f64) -> i64 {
    let end = play(running, params, 0, seconds);
    let none: [&[f32]; 0] = [];
    assert!(
        running
            .capture
            .push(&none, transport(end), 1, false, &params.diagnostics)
    );
    end
}

/// Plays `seconds` of a chord from timeline position `from`; returns where it ended.
pub(super) fn play(running: &mut Running, params: &EncoreParams, from: i64, seconds: f64) -> i64 {
    let frames = from + (seconds * f64::from(HOST_RATE)) as i64;
    let chord = |t: i64| {
        let t = t as f32 / HOST_RATE;
        [220.0f32, 277.18, 329.63]
            .iter()
            .map(|hz| (std::f32::consts::TAU * hz * t).sin() * 0.2)
            .sum::<f32>()
    };
    let diag = &params.diagnostics;
    let mut position = from;
    while position < frames {
        let block: Vec<f32> = (position..position + BLOCK as i64).map(chord).collect();
        while !running
            .capture
            .push(&[&block], transport(position), 0, false, diag)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        position += BLOCK as i64;
        if position % 24_000 == 0 {
            // Let the worker keep up, as a real-time host would.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    position
}

pub(super) fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(super) fn takes_at_level(params: &EncoreParams, level: usize) -> Vec<Take> {
    let session = params.shared.session.read();
    let done = session.unfinished.is_empty() && session.takes.iter().all(|t| t.level == level);
    if done {
        session.takes.clone()
    } else {
        Vec::new()
    }
}

/// Waits until the single take's level-2 preview is written (its checkpoint is on disk then).
fn wait_for_the_preview(params: &EncoreParams) {
    wait_until(
        "the preview level is written",
        Duration::from_secs(120),
        || {
            assert_eq!(last_error(params), None);
            params.shared.session.read().takes.len() == 1
        },
    );
}

pub(super) fn encore_checkpoint(path: &Path) -> Checkpoint {
    Checkpoint::load(path).unwrap()
}

pub(super) fn last_error(params: &EncoreParams) -> Option<String> {
    params.shared.last_error.read().clone()
}

#[test]
fn a_continue_request_becomes_a_take_on_the_timeline_and_in_a_wav() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(dir.path(), TargetLevel::Preview);
    let mut running = start(&params);
    let end = play_and_continue(&mut running, &params, 2.0);

    wait_until("the take is finished", Duration::from_secs(120), || {
        assert_eq!(last_error(&params), None);
        takes_at_level(&params, 2).len() == 1
    });
    let take = takes_at_level(&params, 2).remove(0);
    // The job left the unfinished list in the same session write that gave the take its source
    // (a host polling the state once saw the one without the other).
    assert!(take.source.is_some(), "a finished take without its source");
    assert_eq!(take.timeline_start, end);
    assert_eq!(take.sample_rate, HOST_RATE);
    assert_eq!(take.settings.seed, 11);
    assert_eq!(take.file, dir.path().join("Take 1 L2.wav"));
    let wav = read_audio_file(&take.file).unwrap();
    assert_eq!(wav.sample_rate, 48_000);
    let samples = &wav.channels[0];
    assert_eq!(samples.len() as u64, take.frames);
    // 1 s rounded up to whole top-level hops at 44.1 kHz, then at 48 kHz.
    assert!(
        (48_000..48_200).contains(&samples.len()),
        "{}",
        samples.len()
    );
    assert!(samples.iter().any(|s| s.abs() > 1e-3), "the take is silent");

    // The worker handed the take to the audio thread: over the region it plays the WAV, sample
    // for sample (Replace), before and after it the track passes untouched. The region's edges
    // fade (tested in `timeline`).
    let fade = timeline::fade_frames(HOST_RATE);
    let block = 4096;
    let mut position = end - 100;
    while position < end + take.frames as i64 + 100 {
        let input: Vec<f32> = (0..block).map(|i| 0.5 + i as f32 * 1e-6).collect();
        let mut left = input.clone();
        let mut right = input.clone();
        running.player.play_into(
            &mut [&mut left, &mut right],
            position,
            PlaybackMode::Replace,
            fade,
        );
        for i in 0..block {
            let t = position + i as i64 - end;
            if (0..fade as i64).contains(&t)
                || (0..fade as i64).contains(&(samples.len() as i64 - 1 - t))
            {
                continue;
            }
            let expected = match usize::try_from(t).ok().and_then(|t| samples.get(t)) {
                Some(&s) => s,
                None => input[i],
            };
            assert_eq!(
                left[i].to_bits(),
                expected.to_bits(),
                "frame {t} from the start"
            );
            assert_eq!(
                right[i].to_bits(),
                expected.to_bits(),
                "frame {t} from the start"
            );
        }
        position += block as i64;
    }
    running.worker.stop_and_join();
    // A finished generation leaves nothing to resume; its codes stay as the take's source.
    assert_eq!(unfinished_checkpoints(dir.path()), 0);
    let source = take_source(&params, take.id);
    assert_eq!(
        source.parent(),
        Some(&*dir.path().join("checkpoints/sources"))
    );
    assert!(source.is_file());
}

/// Checkpoints of unfinished generations in the takes folder (the sources are kept apart).
pub(super) fn unfinished_checkpoints(takes_dir: &Path) -> usize {
    std::fs::read_dir(takes_dir.join("checkpoints"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_file())
        .count()
}

/// The checkpoint holding take `id`'s codes.
pub(super) fn take_source(params: &EncoreParams, id: u64) -> PathBuf {
    let session = params.shared.session.read();
    let take = session.take(id).expect("the take is in the list");
    take.source
        .as_ref()
        .expect("the take has a source")
        .checkpoint
        .clone()
}

#[test]
fn a_generation_stopped_by_removing_the_instance_resumes_when_it_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(dir.path(), TargetLevel::Level0);
    let mut running = start(&params);
    let end = play_and_continue(&mut running, &params, 1.0);
    // Stop once the preview level is written: its checkpoint is on disk by then.
    wait_for_the_preview(&params);
    let stopping = Instant::now();
    running.worker.stop_and_join().unwrap();
    // Removing the instance stays fast: the engine stops within one step and saves its checkpoint.
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopping.elapsed()
    );
    let unfinished = params.shared.session.read().unfinished.clone();
    assert_eq!(
        unfinished.len(),
        1,
        "stopping keeps the generation to resume"
    );
    assert!(unfinished[0].checkpoint.is_file());
    assert_eq!(params.diagnostics.worker_starts.load(Ordering::Relaxed), 1);

    let running = start(&params);
    wait_until(
        "the resumed generation finished",
        Duration::from_secs(300),
        || {
            assert_eq!(last_error(&params), None);
            takes_at_level(&params, 0).len() == 1
        },
    );
    let take = takes_at_level(&params, 0).remove(0);
    assert_eq!(take.timeline_start, end);
    let files = params.shared.session.read().level_files[&take.id].clone();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.last().map(String::as_str), Some("Take 1 L0.wav"));
    assert!(names.contains(&"Take 1 L2.wav".to_string()), "{names:?}");
    drop(running);
}

#[test]
fn the_users_cancel_keeps_finished_takes_and_is_not_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(dir.path(), TargetLevel::Level0);
    let mut running = start(&params);
    play_and_continue(&mut running, &params, 1.0);
    wait_for_the_preview(&params);
    running.commands.send(WorkerCommand::Cancel).unwrap();
    wait_until("the cancel is handled", Duration::from_secs(30), || {
        params.shared.session.read().unfinished.is_empty()
    });
    running.worker.stop_and_join().unwrap();
    let session = params.shared.session.read().clone();
    assert_eq!(session.takes.len(), 1, "the finished preview stays");
    assert!(
        session.takes[0].level > 0,
        "the generation ran to level 0: the cancel did not stop it"
    );
    assert!(session.takes[0].file.is_file());
    assert_eq!(
        unfinished_checkpoints(dir.path()),
        0,
        "nothing left to resume"
    );
    // The finished preview keeps its codes, as a finished preview's, to upsample later.
    let source = encore_checkpoint(&session.takes[0].source.as_ref().unwrap().checkpoint);
    assert!(source.state.done);
    assert_eq!(source.state.settings.target_level, session.takes[0].level);

    // The instance made again has nothing to resume.
    let running = start(&params);
    std::thread::sleep(Duration::from_secs(1));
    assert!(params.shared.session.read().unfinished.is_empty());
    assert_eq!(params.shared.session.read().takes.len(), 1);
    drop(running);
}

/// Continue, then Cancel before the new take has any audio: the take chosen before it plays on.
#[test]
fn a_cancelled_continue_gives_the_timeline_back_to_the_take_chosen_before() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(dir.path(), TargetLevel::Preview);
    let mut running = start(&params);
    let end = play_and_continue(&mut running, &params, 1.0);
    wait_for_the_preview(&params);
    let first = params.shared.session.read().takes[0].id;
    assert_eq!(params.shared.session.read().chosen, Some(first));
    // A long second continuation: the Cancel comes long before its preview is written.
    // SAFETY: no host and no audio thread exist in this test; the setter only stores atomics.
    unsafe { params.seconds._internal_set_plain_value(8.0) };
    let none: [&[f32]; 0] = [];
    assert!(
        running
            .capture
            .push(&none, transport(end), 1, false, &params.diagnostics)
    );
    wait_until("the second take is chosen", Duration::from_secs(30), || {
        assert_eq!(last_error(&params), None);
        params.shared.session.read().chosen != Some(first)
    });
    running.commands.send(WorkerCommand::Cancel).unwrap();
    wait_until("the cancel is handled", Duration::from_secs(30), || {
        params.shared.session.read().unfinished.is_empty()
    });
    running.worker.stop_and_join().unwrap();
    let session = params.shared.session.read().clone();
    assert_eq!(session.takes.len(), 1, "the cancel came after a level");
    assert_eq!(session.chosen, Some(first), "the Cancel changed what plays");
}

/// Plays `player` over `frames` frames from `position` on a constant input; the output.
pub(super) fn play_timeline(player: &mut TimelinePlayer, position: i64, frames: usize) -> Vec<f32> {
    let mut left = vec![0.25f32; frames];
    let fade = timeline::fade_frames(HOST_RATE);
    player.play_into(&mut [&mut left[..]], position, PlaybackMode::Replace, fade);
    left
}

/// Hosts activate again (new rate, new block size, a bypass) while a generation runs: each
/// activation returns at once, the generation goes on to its end, and the take plays through
/// the latest activation's rings.
#[test]
fn activations_during_a_generation_only_swap_the_rings() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(dir.path(), TargetLevel::Level0);
    let mut running = start(&params);
    let end = play_and_continue(&mut running, &params, 1.0);
    wait_until("the generation runs", Duration::from_secs(120), || {
        assert_eq!(last_error(&params), None);
        params
            .shared
            .generation
            .read()
            .as_ref()
            .is_some_and(|g| g.phase == super::session::GenerationPhase::Running)
    });
    let mut player = None;
    for _ in 0..5 {
        let activating = Instant::now();
        let (_capture, new_player) = activate(&running.worker);
        // Generous: this tests that nothing waits, not speed.
        assert!(activating.elapsed() < Duration::from_millis(200));
        player = Some(new_player);
    }
    let mut player = player.unwrap();
    wait_until("the generation finished", Duration::from_secs(300), || {
        assert_eq!(last_error(&params), None);
        takes_at_level(&params, 0).len() == 1
    });
    let take = takes_at_level(&params, 0).remove(0);
    assert_eq!(take.timeline_start, end);
    let wav = read_audio_file(&take.file).unwrap();
    // The buffer swap reaches the latest player at its next block.
    wait_until("the take plays", Duration::from_secs(10), || {
        // Past the region's fade-in, the take itself.
        let fade = timeline::fade_frames(HOST_RATE);
        play_timeline(&mut player, end, fade + 64)[fade..] == wav.channels[0][fade..fade + 64]
    });
    assert_eq!(params.diagnostics.worker_starts.load(Ordering::Relaxed), 1);
    let names: Vec<_> = params.shared.session.read().level_files[&take.id]
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["Take 1 L2.wav", "Take 1 L1.wav", "Take 1 L0.wav"]);
}

/// A restored project's chosen take is read from disk by the worker as soon as the state is
/// restored, so an activation after that starts its timeline with it: the first block plays.
#[test]
fn a_restored_take_is_ready_for_the_first_block_of_the_next_activation() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(dir.path(), TargetLevel::Preview);
    let running = start(&params);
    let take_audio: Vec<f32> = (0..4_800).map(|i| (i as f32 * 0.01).sin() * 0.3).collect();
    let file = dir.path().join("Take 3 L0.wav");
    write_wav_new(&file, &take_audio, 48_000, WavFormat::Float32).unwrap();
    let restored = SessionState {
        instance_id: "restored".into(),
        takes: vec![Take {
            id: 3,
            name: "Take 3".into(),
            level: 0,
            file,
            timeline_start: 1_000,
            sample_rate: HOST_RATE,
            frames: take_audio.len() as u64,
            batch_row: 0,
            settings: GenerationSettings::new(0.1, 1),
            source: None,
            parent: None,
        }],
        chosen: Some(3),
        next_take_id: 4,
        ..SessionState::default()
    };
    // What the host's state load does.
    params.shared.set(restored);
    wait_until("the take is loaded", Duration::from_secs(10), || {
        params.diagnostics.timeline_take.load(Ordering::Acquire) == 4
    });
    let (_capture, mut player) = activate(&running.worker);
    // The very first block, before the worker could send anything through the new rings.
    // Past the region's fade-in (which the first block plays too), the take itself.
    let fade = timeline::fade_frames(HOST_RATE);
    let first = play_timeline(&mut player, 1_000, fade + 256);
    assert_eq!(first[fade..], take_audio[fade..fade + 256]);
    assert_ne!(first[0], 0.25, "the first block already fades the take in");
}

#[test]
fn a_continue_on_the_next_bar_waits_for_the_line_and_the_prompt_ends_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(dir.path(), TargetLevel::Preview);
    params.settings.write().start_at = StartAt::NextBar;
    let mut running = start(&params);
    // Continue arrives 2.1 s in (bar 2, beat 1.2 at 120 bpm in 4/4): the take starts at bar 3,
    // 4 s in, and the prompt is the 1.5 s before it.
    let requested = play_and_continue(&mut running, &params, 2.1);
    assert_eq!(requested, 100_800);
    let bar_three = 4 * HOST_RATE as i64;
    play(&mut running, &params, requested, 1.5);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        params.shared.session.read().unfinished.is_empty(),
        "started before the bar line"
    );
    play(&mut running, &params, requested + 72_000, 1.0);
    wait_until("the generation starts", Duration::from_secs(30), || {
        assert_eq!(last_error(&params), None);
        !params.shared.session.read().unfinished.is_empty()
    });
    let start = params.shared.session.read().unfinished[0].timeline_start;
    assert_eq!(start, bar_three);
    running.commands.send(WorkerCommand::Cancel).unwrap();
    running.worker.stop_and_join();
}

#[test]
fn the_editors_continue_waits_for_the_next_bar_after_the_playhead() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(dir.path(), TargetLevel::Preview);
    params.settings.write().start_at = StartAt::NextBar;
    let mut running = start(&params);
    let played = play(&mut running, &params, 0, 2.1);
    // What `process()` leaves in the diagnostics for its last block, at 120 bpm in 4/4.
    let diag = &params.diagnostics;
    let last_block = played - BLOCK as i64;
    diag.sample_rate_bits
        .store(HOST_RATE.to_bits(), Ordering::Release);
    diag.host_playing.store(true, Ordering::Release);
    diag.host_tempo_bits
        .store(120.0f64.to_bits(), Ordering::Release);
    diag.host_position_samples
        .store(last_block, Ordering::Release);
    diag.host_beats_bits.store(
        (last_block as f64 * 2.0 / f64::from(HOST_RATE)).to_bits(),
        Ordering::Release,
    );
    running.commands.send(WorkerCommand::Continue).unwrap();
    play(&mut running, &params, played, 2.1);
    wait_until("the generation starts", Duration::from_secs(30), || {
        assert_eq!(last_error(&params), None);
        !params.shared.session.read().unfinished.is_empty()
    });
    let start = params.shared.session.read().unfinished[0].timeline_start;
    assert_eq!(start, 4 * HOST_RATE as i64, "on bar 3, 4 s in");
    running.commands.send(WorkerCommand::Cancel).unwrap();
    running.worker.stop_and_join();
}

/// The host's rate changes while a generation runs: it goes on, and its take is written and
/// played at the new rate, where the prompt ended on the new rate's timeline.
#[test]
fn a_new_sample_rate_during_a_generation_moves_the_take_to_that_rate() {
    let dir = tempfile::tempdir().unwrap();
    let params = params(dir.path(), TargetLevel::Level0);
    let mut running = start(&params);
    let end = play_and_continue(&mut running, &params, 1.0);
    wait_for_the_preview(&params);
    // Not 44.1 kHz: that is the rate a worker assumes before its first activation.
    const NEW_RATE: f32 = 96_000.0;
    let (_capture, mut player) = activate_at(&running.worker, NEW_RATE);
    wait_until("the generation finished", Duration::from_secs(300), || {
        assert_eq!(last_error(&params), None);
        takes_at_level(&params, 0).len() == 1
    });
    let take = takes_at_level(&params, 0).remove(0);
    assert_eq!(take.sample_rate, NEW_RATE);
    let moved = end * 2;
    assert_eq!(take.timeline_start, moved);
    let wav = read_audio_file(&take.file).unwrap();
    assert_eq!(wav.sample_rate, 96_000);
    wait_until(
        "the take plays at the new rate",
        Duration::from_secs(10),
        || {
            // Past the region's fade-in at the new rate, the take itself.
            let fade = timeline::fade_frames(NEW_RATE);
            let mut left = vec![0.25f32; fade + 64];
            player.play_into(&mut [&mut left[..]], moved, PlaybackMode::Replace, fade);
            left[fade..] == wav.channels[0][fade..fade + 64]
        },
    );
}
