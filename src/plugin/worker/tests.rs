//! The worker thread without a model: captured frames, prompt playback, Continue's refusal.

use std::time::Instant;

use super::*;
use crate::engine::runtime;
use crate::plugin::capture::{TransportSnapshot, capture_rings};
use crate::plugin::params::PlaybackMode;
use crate::plugin::playback::playback_ring;
use crate::plugin::timeline::timeline;

const RATE: f32 = 1000.0;

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn receives_every_captured_frame_and_plays_the_prompt_back() {
    let params = Arc::new(EncoreParams::default());
    params.settings.write().ort_library = Some("/nonexistent/libonnxruntime.so".into());
    let diagnostics = params.diagnostics.clone();
    let (commands_tx, commands) = crossbeam_channel::unbounded();
    let links = WorkerLinks {
        commands,
        params: params.clone(),
    };
    let (mut capture, capture_rx) = capture_rings(RATE, 64);
    let (playback_tx, mut playback) = playback_ring(RATE);
    let (timeline_tx, _player) = timeline(None);
    let mut worker = WorkerHandle::spawn(links);
    worker.attach(AudioLinks {
        sample_rate: RATE,
        capture: capture_rx,
        playback: playback_tx,
        timeline: timeline_tx,
        playing: None,
    });

    let transport = TransportSnapshot {
        playing: true,
        tempo_bpm: None,
        position_samples: None,
        sample_rate: RATE,
        time_signature: None,
        pos_beats: None,
        bar_start_beats: None,
    };
    let ramp: Vec<f32> = (0..50).map(|i| i as f32).collect();
    for _ in 0..4 {
        assert!(capture.push(&[&ramp], transport, 0, false, &diagnostics));
    }
    wait_until("the worker drained the ring", || {
        diagnostics.received_frames.load(Ordering::Acquire) == 200
    });

    // The last 10 ms at 1 kHz are the ramp's last 10 samples, duplicated to stereo.
    commands_tx
        .send(WorkerCommand::PlayPrompt { seconds: 0.01 })
        .unwrap();
    let mut out = [0.0f32; 10];
    wait_until("the prompt reached the playback ring", || {
        playback.play_into(&mut [&mut out], PlaybackMode::Replace, &diagnostics);
        diagnostics.played_frames.load(Ordering::Acquire) >= 10
    });
    assert_eq!(
        out,
        [40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0]
    );

    // Without ONNX Runtime (or a model), Continue says why instead of doing anything.
    commands_tx.send(WorkerCommand::Continue).unwrap();
    wait_until("the worker reported why it cannot continue", || {
        params.shared.last_error.read().is_some()
    });
    let error = params.shared.last_error.read().clone().unwrap();
    assert!(error.starts_with("cannot continue: "), "{error}");

    let stopping = Instant::now();
    let recorder = worker
        .stop_and_join()
        .expect("the worker returns its recordings");
    assert!(stopping.elapsed() < Duration::from_secs(1));
    assert_eq!(recorder.latest().map(|r| r.frames()), Some(200));
    // ONNX Runtime is loaded once per process: another test may have loaded it first.
    if runtime::loaded().is_none() {
        assert!(error.contains("ONNX Runtime is not available"), "{error}");
        let status = diagnostics.runtime.read().to_string();
        assert!(status.starts_with("unavailable"), "{status}");
    }
}

/// A panic in the worker is shown with its reason and the worker goes on (no plugin reload).
#[test]
fn a_failed_worker_says_why_and_keeps_working() {
    let params = Arc::new(EncoreParams::default());
    params.settings.write().ort_library = Some("/nonexistent/libonnxruntime.so".into());
    let (commands_tx, commands) = crossbeam_channel::unbounded();
    let mut worker = WorkerHandle::spawn(WorkerLinks {
        commands,
        params: params.clone(),
    });
    commands_tx
        .send(WorkerCommand::Fail("the test broke it".into()))
        .unwrap();
    wait_until("the failure is reported", || {
        params.diagnostics.worker_restarts.load(Ordering::Acquire) == 1
    });
    let error = params.shared.last_error.read().clone().unwrap_or_default();
    assert!(error.contains("the test broke it"), "{error}");
    assert!(error.contains("restarted"), "{error}");

    // Still answering: Continue is refused with its own reason.
    *params.shared.last_error.write() = None;
    commands_tx.send(WorkerCommand::Continue).unwrap();
    wait_until("the restarted worker answered", || {
        params.shared.last_error.read().is_some()
    });
    let error = params.shared.last_error.read().clone().unwrap();
    assert!(error.starts_with("cannot continue: "), "{error}");
    assert!(worker.stop_and_join().is_some());
    assert_eq!(params.diagnostics.worker_starts.load(Ordering::Acquire), 1);
}
