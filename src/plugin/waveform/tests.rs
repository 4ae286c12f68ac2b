use super::*;
use crate::plugin::capture::{BlockHeader, TransportSnapshot};
use crate::plugin::recordings::{KEEP_SECONDS, Recorder};

const RATE: f32 = 1000.0;

fn block(recorder: &mut Recorder, position: i64, frames: usize, value: f32) {
    let header = BlockHeader {
        frames: frames as u32,
        continue_requests: 0,
        dropped_before: 0,
        transport: TransportSnapshot {
            playing: true,
            tempo_bpm: Some(120.0),
            position_samples: Some(position),
            sample_rate: RATE,
            time_signature: None,
            pos_beats: None,
            bar_start_beats: None,
        },
    };
    // Left and right differ: the envelope is their mix.
    let interleaved: Vec<f32> = (0..frames).flat_map(|_| [value, value * 0.5]).collect();
    recorder.append(&header, &interleaved);
}

#[test]
fn the_recording_envelope_follows_the_recorder_and_restarts_with_a_new_recording() {
    let waves = Waveforms::default();
    let mut recorder = Recorder::default();
    block(&mut recorder, 5000, 640, 0.8);
    waves.follow_recording(recorder.latest());
    block(&mut recorder, 5640, 640, -0.4);
    waves.follow_recording(recorder.latest());
    {
        let wave = waves.recording();
        let wave = wave.as_ref().unwrap();
        assert_eq!((wave.origin, wave.envelope.frames()), (5000, 1280));
        let mut out = Vec::new();
        wave.envelope.columns(0.0, 1280.0, 2, &mut out);
        assert!((out[0].max - 0.6).abs() < 1e-6 && (out[1].min + 0.3).abs() < 1e-6);
    }
    // The transport jumped back: a new recording, a new envelope.
    block(&mut recorder, 0, 64, 0.1);
    waves.follow_recording(recorder.latest());
    let wave = waves.recording();
    let wave = wave.as_ref().unwrap();
    assert_eq!((wave.origin, wave.envelope.frames()), (0, 64));
}

#[test]
fn the_recording_envelope_forgets_what_the_recorder_forgets() {
    let waves = Waveforms::default();
    let mut recorder = Recorder::default();
    let block_frames = 10_000;
    // Long enough that the recorder forgets more than one coarsest bin (131 072 frames).
    let blocks = (8.0 * KEEP_SECONDS * f64::from(RATE)) as usize / block_frames;
    for b in 0..blocks {
        block(&mut recorder, (b * block_frames) as i64, block_frames, 0.5);
        waves.follow_recording(recorder.latest());
    }
    let latest = recorder.latest().unwrap();
    let wave = waves.recording();
    let wave = wave.as_ref().unwrap();
    assert_eq!(wave.origin + wave.envelope.frames() as i64, latest.end());
    let held_from = wave.origin + wave.envelope.first_frame() as i64;
    let coarsest = (envelope::FINEST_BIN << (envelope::RESOLUTIONS - 1)) as i64;
    assert!(held_from <= latest.start && latest.start - held_from < coarsest);
}

#[test]
fn a_streaming_level_shows_over_a_worse_finished_one_until_it_finishes() {
    let waves = Waveforms::default();
    waves.stream(7, 2, 0, &[0.5; 128], 44_100.0);
    let finished = || LevelWave {
        envelope: Envelope::from_samples(&[0.2; 256], 48_000.0),
        finished: true,
    };
    waves
        .stores
        .takes
        .write()
        .get_mut(&7)
        .unwrap()
        .levels
        .insert(2, finished());
    waves.stream(7, 1, 0, &[0.5; 64], 44_100.0);
    waves.stream(7, 1, 64, &[0.5; 64], 44_100.0);
    {
        let takes = waves.takes();
        let take = &takes[&7];
        assert_eq!(take.best_finished().map(|(l, _)| l), Some(2));
        let (level, streaming) = take.streaming().unwrap();
        assert_eq!((level, streaming.envelope.frames()), (1, 128));
    }
    waves
        .stores
        .takes
        .write()
        .get_mut(&7)
        .unwrap()
        .levels
        .insert(1, finished());
    // A worse level streaming (a resumed generation redoing it) is not drawn over a better one.
    let mut redone = TakeWaves::default();
    redone.levels.insert(1, finished());
    waves.stores.takes.write().insert(8, redone);
    waves.stream(8, 2, 0, &[0.5; 64], 44_100.0);
    let takes = waves.takes();
    assert_eq!(takes[&7].best_finished().map(|(l, _)| l), Some(1));
    assert!(takes[&7].streaming().is_none());
    assert!(takes[&8].streaming().is_none());
}

#[test]
fn finished_files_are_read_off_the_calling_thread() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Take 1 L0.wav");
    let samples: Vec<f32> = (0..4410).map(|i| (i as f32 * 0.1).sin() * 0.5).collect();
    crate::audio::write_wav_new(&file, &samples, 44_100, crate::audio::WavFormat::Float32).unwrap();
    let waves = Waveforms::default();
    waves.want_take_file(1, 0, &file);
    waves.want_prompt_file(&dir.path().join("missing.wav"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while (waves.takes().is_empty() || waves.prompt_file().is_none())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let takes = waves.takes();
    let (level, wave) = takes[&1].best_finished().unwrap();
    assert_eq!((level, wave.envelope.frames()), (0, 4410));
    let mut out = Vec::new();
    wave.envelope.columns(0.0, 4410.0, 1, &mut out);
    assert!((out[0].max - 0.5).abs() < 1e-3 && (out[0].min + 0.5).abs() < 1e-3);
    let prompt = waves.prompt_file();
    assert!(
        prompt.as_ref().unwrap().envelope.is_err(),
        "a missing file says so"
    );
}
