//! Encore.clap in a real (small) CLAP host: layout, activation at the usual rates and block
//! sizes, bit-exact pass-through, the transport reaching the plugin, many activate/deactivate
//! cycles (one worker for the instance's whole life), the latency the host sees, and a saved
//! take that plays on the timeline from the first block after the state is restored. Needs the
//! bundle: `cargo xtask bundle`.

#[path = "clap_host/host.rs"]
// Shared with tests/clap_validator.rs: each binary uses part of it.
#[allow(dead_code)]
mod host;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use encore::audio::{WavFormat, write_wav_new};
use encore::engine::Settings as GenerationSettings;
use encore::plugin::{PromptSource, SessionState, Settings, StartAt, Take};
use host::{Host, ParamChange, PortConfig, PortInfo, Timeline, sample};

const SAMPLE_RATES: [f64; 3] = [44_100.0, 48_000.0, 96_000.0];
const BLOCK_SIZES: [u32; 4] = [1, 64, 512, 4096];
/// Block sizes that change from one call to the next within one activation, as hosts do
/// around loop points and automation.
const VARYING_BLOCKS: [u32; 12] = [1, 4096, 17, 512, 3, 1000, 64, 2, 4095, 333, 1, 128];

/// Enough frames per run to cross several ring and block boundaries, without slowing the suite.
fn blocks_for(total_frames: u32, block: u32) -> Vec<u32> {
    vec![block; total_frames.div_ceil(block) as usize]
}

fn diagnostics(host: &mut Host) -> serde_json::Value {
    let state = host.save_state();
    let raw = state["fields"]["diagnostics"]
        .as_str()
        .unwrap_or_else(|| panic!("no diagnostics field in the state: {state}"));
    serde_json::from_str(raw).expect("diagnostics is not JSON")
}

/// Polls the diagnostics until `done` holds (the worker works on its own thread).
fn wait_for_diagnostics(
    host: &mut Host,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let diag = diagnostics(host);
        if done(&diag) {
            return diag;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {diag}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn assert_clean(host: &Host) {
    host.shared(|s| {
        let violations = s.thread_violations.lock().unwrap();
        assert!(
            violations.is_empty(),
            "threading violations: {violations:?}"
        );
        let errors = s.errors_logged.lock().unwrap();
        assert!(errors.is_empty(), "the plugin logged errors: {errors:?}");
        let restarts = s.restarts_requested.load(Ordering::SeqCst);
        assert_eq!(restarts, 0, "the plugin asked for restarts");
    });
}

/// Inside a host the process's executable is the host (this test program): the plugin finds
/// ONNX Runtime beside its own file, the `.clap` (where `cargo xtask bundle` put a copy), and
/// says so, rather than looking beside the host program.
#[test]
fn finds_the_runtime_beside_the_clap_file_not_the_host() {
    if std::env::var_os("ENCORE_ORT_DYLIB").is_some()
        || std::env::var_os("ORT_DYLIB_PATH").is_some()
    {
        return; // A path the user set wins; nothing to check.
    }
    let mut host = Host::load();
    host.run(2, 48_000.0, 512, &blocks_for(4096, 512), None);
    let diag = wait_for_diagnostics(&mut host, "the runtime is loaded or refused", |d| {
        d["runtime"]
            .as_str()
            .is_some_and(|r| !r.starts_with("not checked"))
    });
    let runtime = diag["runtime"].as_str().unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bundled");
    assert!(runtime.starts_with("ready: "), "{runtime}");
    assert!(runtime.contains("next to the Encore binary"), "{runtime}");
    assert!(
        runtime.contains(&bundled.canonicalize().unwrap().display().to_string()),
        "{runtime}"
    );
}

#[test]
fn declares_stereo_and_mono_layouts_with_in_place_main_ports() {
    let mut host = Host::load();
    let main_port = |name: &str, in_place_pair| PortInfo {
        name: name.into(),
        channel_count: 2,
        is_main: true,
        port_type: Some("stereo".into()),
        in_place_pair,
    };
    let inputs = host.audio_ports(true);
    let outputs = host.audio_ports(false);
    // One main stereo port each way, paired for in-place processing.
    assert_eq!(inputs, [main_port("Input", Some(1))]);
    assert_eq!(outputs, [main_port("Output", Some(0))]);

    let configs = host.port_configs();
    let config = |id, name: &str, channels| PortConfig {
        id,
        name: name.into(),
        input_channels: Some(channels),
        output_channels: Some(channels),
    };
    assert_eq!(configs, [config(0, "Stereo", 2), config(1, "Mono", 1)]);

    let params = host.params();
    let names: Vec<&str> = params.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Continue",
            "Length",
            "Takes",
            "Temperature",
            "Top-k",
            "Top-p",
            "Target level",
            "Playback",
            "Upsample chosen take",
            "Upsample to",
            "Extend chosen take",
            "Extend by",
            "Re-generate chosen take",
            "Re-generate from",
            "Retry chosen take",
            "Bypass"
        ]
    );
    assert_clean(&host);
}

#[test]
fn stereo_pass_through_is_bit_exact_at_every_rate_and_block_size() {
    let mut host = Host::load();
    for rate in SAMPLE_RATES {
        for block in BLOCK_SIZES {
            // Block size 1 means a process call per frame: keep that run short.
            let frames = if block == 1 { 2_000 } else { 3 * 4096 };
            let result = host.run(2, rate, block, &blocks_for(frames, block), None);
            assert_eq!(
                result.first_mismatch, None,
                "{rate} Hz, {block}-frame blocks: (channel, frame, in, out)"
            );
        }
        let result = host.run(2, rate, 4096, &VARYING_BLOCKS, None);
        assert_eq!(
            result.first_mismatch, None,
            "{rate} Hz, varying blocks: (channel, frame, in, out)"
        );
    }
    let diag = diagnostics(&mut host);
    // One worker for the instance's life: activations only hand it new rings.
    assert_eq!(diag["worker_starts"], 1, "{diag}");
    // No transport: nothing is captured.
    assert_eq!(diag["captured_frames"], 0, "{diag}");
    assert_clean(&host);
}

#[test]
fn mono_config_passes_through_bit_exact() {
    let mut host = Host::load();
    let mono = host
        .port_configs()
        .into_iter()
        .find(|c| c.input_channels == Some(1))
        .expect("no mono config");
    host.select_port_config(mono.id);
    assert_eq!(host.audio_ports(true)[0].channel_count, 1);
    assert_eq!(host.audio_ports(false)[0].channel_count, 1);
    for rate in SAMPLE_RATES {
        let result = host.run(1, rate, 4096, &VARYING_BLOCKS, None);
        assert_eq!(result.first_mismatch, None, "mono at {rate} Hz");
    }
    assert_clean(&host);
}

#[test]
fn a_playing_transport_is_captured_frame_for_frame() {
    let mut host = Host::load();
    let timeline = Timeline {
        playing: true,
        tempo_bpm: 97.5,
    };
    let mut frames = 0;
    let mut last_block = 0;
    for (rate, blocks) in [
        (48_000.0, blocks_for(48_000, 512)),
        (96_000.0, VARYING_BLOCKS.to_vec()),
    ] {
        let result = host.run(2, rate, 4096, &blocks, Some(timeline));
        assert_eq!(
            result.first_mismatch, None,
            "capturing must not change the track"
        );
        frames += result.frames;
        last_block = *blocks.last().unwrap() as u64;
        assert_eq!(result.blocks, blocks.len() as u64);
    }
    // The worker drains the ring on its own (and the last one when the next rings come).
    let diag = wait_for_diagnostics(&mut host, "the worker received every frame", |d| {
        d["received_frames"] == frames
    });
    assert_eq!(diag["captured_frames"], frames, "{diag}");
    assert_eq!(diag["received_frames"], frames, "{diag}");
    assert_eq!(diag["dropped_frames"], 0, "{diag}");
    assert_eq!(diag["host_playing"], true, "{diag}");
    assert_eq!(diag["host_tempo_bpm"], 97.5, "{diag}");
    // Each run's timeline starts at 0; the last block of the 96 kHz run starts here.
    let last_run: u64 = VARYING_BLOCKS.iter().map(|&b| b as u64).sum();
    assert_eq!(
        diag["host_position_samples"],
        last_run - last_block,
        "{diag}"
    );
    assert_clean(&host);
}

#[test]
fn a_stopped_transport_is_not_captured() {
    let mut host = Host::load();
    let timeline = Timeline {
        playing: false,
        tempo_bpm: 120.0,
    };
    let result = host.run(2, 44_100.0, 512, &blocks_for(10_000, 512), Some(timeline));
    assert_eq!(result.first_mismatch, None);
    let diag = diagnostics(&mut host);
    assert_eq!(diag["captured_frames"], 0, "{diag}");
    assert_eq!(diag["host_playing"], false, "{diag}");
    assert_eq!(diag["process_calls"], result.blocks, "{diag}");
}

#[test]
fn survives_many_activate_deactivate_cycles() {
    let mut host = Host::load();
    const CYCLES: u64 = 60;
    for cycle in 0..CYCLES {
        let rate = SAMPLE_RATES[cycle as usize % 3];
        let block = BLOCK_SIZES[cycle as usize % 4].max(16);
        let result = host.run(2, rate, block, &[block, 1, block], None);
        assert_eq!(result.first_mismatch, None, "cycle {cycle}");
    }
    let diag = diagnostics(&mut host);
    assert_eq!(diag["worker_starts"], 1, "{diag}");
    assert_eq!(diag["process_calls"], 3 * CYCLES, "{diag}");
    assert_clean(&host);
}

#[test]
fn instances_load_and_unload_repeatedly() {
    for _ in 0..10 {
        let mut host = Host::load();
        let result = host.run(2, 48_000.0, 256, &[256, 100], None);
        assert_eq!(result.first_mismatch, None);
        assert_clean(&host);
    }
}

#[test]
fn reports_no_latency_to_the_host() {
    let mut host = Host::load();
    for rate in SAMPLE_RATES {
        let result = host.run(2, rate, 512, &[512, 100], None);
        assert_eq!(result.latency, Some(0), "{rate} Hz");
    }
    assert_clean(&host);
}

/// Replace mode fades the take in and out against the track over 5 ms at its region's
/// edges, equal power: (take gain, track gain) at frame `t` of a region of `frames`, `None`
/// between the fades.
fn edge_gains(t: usize, frames: usize) -> Option<(f32, f32)> {
    let edge = (0.005f64 * 48_000.0).round() as usize;
    let edge = edge.min(frames / 2);
    let step = if t < edge {
        t
    } else if frames - 1 - t < edge {
        frames - 1 - t
    } else {
        return None;
    };
    let angle = std::f32::consts::FRAC_PI_2 * (step as f32 + 0.5) / edge as f32;
    Some((angle.sin(), angle.cos()))
}

/// A state holding one take at `timeline_start` (written to `dir`), chosen, in Replace mode.
fn state_with_a_take(
    host: &mut Host,
    dir: &Path,
    timeline_start: i64,
    audio: &[f32],
) -> SessionState {
    let file = dir.join("Take 5 L0.wav");
    write_wav_new(&file, audio, 48_000, WavFormat::Float32).unwrap();
    let session = SessionState {
        instance_id: "clap-test".into(),
        takes: vec![Take {
            id: 5,
            name: "Take 5".into(),
            level: 0,
            file,
            timeline_start,
            sample_rate: 48_000.0,
            frames: audio.len() as u64,
            batch_row: 0,
            settings: GenerationSettings::new(1.0, 3),
            source: None,
            parent: None,
        }],
        chosen: Some(5),
        next_take_id: 6,
        ..SessionState::default()
    };
    let mut state = host.save_state();
    state["fields"]["session"] = serde_json::to_string(&session).unwrap().into();
    state["params"]["playback"] = serde_json::json!({ "i32": 1 });
    let loading = Instant::now();
    host.load_state(&state);
    // Generous: this tests that the state load does not wait for the disk or the engine.
    assert!(
        loading.elapsed() < Duration::from_millis(200),
        "{:?}",
        loading.elapsed()
    );
    session
}

/// What a host that processes after the state is restored can count on: the worker reads the
/// chosen take from disk right after the state load (within milliseconds), and an activation
/// after that starts the timeline with it, so the first block already plays it.
fn wait_until_the_take_is_ready(host: &mut Host, take: u64) {
    let restored = Instant::now();
    wait_for_diagnostics(host, "the chosen take is loaded", |d| {
        d["timeline_take"] == take
    });
    assert!(
        restored.elapsed() < Duration::from_secs(2),
        "{:?}",
        restored.elapsed()
    );
}

#[test]
fn a_restored_take_plays_over_its_region_and_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host::load();
    let (start, frames) = (1_000usize, 700usize);
    let take: Vec<f32> = (0..frames).map(|i| (i as f32 * 0.01).sin() * 0.3).collect();
    let session = state_with_a_take(&mut host, dir.path(), start as i64, &take);
    wait_until_the_take_is_ready(&mut host, 5);

    let saved = host.save_state();
    let restored: SessionState =
        serde_json::from_str(saved["fields"]["session"].as_str().unwrap()).unwrap();
    assert_eq!(restored, session, "the state keeps the takes");

    // Blocks that start before, inside and after the region, at the take's rate.
    let timeline = Timeline {
        playing: true,
        tempo_bpm: 120.0,
    };
    let result = host.run(2, 48_000.0, 512, &[512, 300, 17, 512, 512], Some(timeline));
    for (channel, output) in result.output.iter().enumerate() {
        for (i, out) in output.iter().enumerate() {
            let track = sample(channel, i as u64);
            let Some(&s) = i.checked_sub(start).and_then(|t| take.get(t)) else {
                assert_eq!(
                    out.to_bits(),
                    track.to_bits(),
                    "channel {channel}, frame {i}"
                );
                continue;
            };
            match edge_gains(i - start, frames) {
                // The take alone, bit for bit.
                None => assert_eq!(out.to_bits(), s.to_bits(), "channel {channel}, frame {i}"),
                Some((take_gain, track_gain)) => {
                    let expected = s * take_gain + track * track_gain;
                    let tolerance = 1e-5 * expected.abs().max(1.0);
                    assert!(
                        (out - expected).abs() <= tolerance,
                        "channel {channel}, frame {i}: {out} for {expected}"
                    );
                }
            }
        }
    }
    // A stopped transport plays nothing: the track passes untouched.
    let stopped = Timeline {
        playing: false,
        ..timeline
    };
    let result = host.run(2, 48_000.0, 512, &[512, 512, 512], Some(stopped));
    assert_eq!(result.first_mismatch, None);
    assert_clean(&host);
}

#[test]
fn a_restored_take_plays_from_the_first_block_of_the_first_activation() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host::load();
    let take: Vec<f32> = (0..4_096).map(|i| (i as f32 * 0.02).cos() * 0.25).collect();
    // The take starts at the timeline's start: the very first block is inside it.
    state_with_a_take(&mut host, dir.path(), 0, &take);
    wait_until_the_take_is_ready(&mut host, 5);
    let timeline = Timeline {
        playing: true,
        tempo_bpm: 120.0,
    };
    let result = host.run(2, 48_000.0, 256, &[256, 256], Some(timeline));
    // Past the region's fade-in (5 ms at 48 kHz), the first blocks play the take itself.
    let fade = 240;
    for output in &result.output {
        assert_eq!(
            output[fade..512],
            take[fade..512],
            "the first blocks play the take"
        );
    }
    assert_clean(&host);
}

#[test]
fn the_bypass_parameter_is_the_hosts_and_passes_the_input_through_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host::load();
    let bypass = host
        .param_descriptions()
        .into_iter()
        .find(|p| p.bypass)
        .expect("no parameter has CLAP's bypass flag");
    assert_eq!(bypass.name, "Bypass");
    assert!(bypass.stepped && bypass.min == 0.0 && bypass.max == 1.0);

    // A take over the first 4096 frames in Replace mode: processing does change the track.
    let take: Vec<f32> = (0..4_096).map(|i| (i as f32 * 0.02).cos() * 0.25).collect();
    state_with_a_take(&mut host, dir.path(), 0, &take);
    wait_until_the_take_is_ready(&mut host, 5);
    let timeline = Timeline {
        playing: true,
        tempo_bpm: 120.0,
    };
    let on = |at, value| ParamChange {
        at,
        param_id: bypass.id,
        value,
    };
    host.run_with_changes(2, 48_000.0, 512, &[512], Some(timeline), &[on(0, 1.0)]);
    assert_eq!(host.param_value(bypass.id), 1.0);

    // Bypassed from the activation on: the input, bit for bit, over the take's region too.
    let blocks = blocks_for(4_096, 512);
    let result = host.run(2, 48_000.0, 512, &blocks, Some(timeline));
    assert_eq!(result.first_mismatch, None, "(channel, frame, in, out)");

    // Switched off at frame 1000: the input up to there, a 5 ms (240-frame) crossfade, then
    // the take alone (Replace, away from its region's edges).
    let result =
        host.run_with_changes(2, 48_000.0, 512, &blocks, Some(timeline), &[on(1_000, 0.0)]);
    for (channel, output) in result.output.iter().enumerate() {
        for (i, out) in output.iter().enumerate().take(1_000) {
            assert_eq!(
                out.to_bits(),
                sample(channel, i as u64).to_bits(),
                "frame {i}"
            );
        }
        assert_eq!(
            output[1_240..3_800],
            take[1_240..3_800],
            "channel {channel}"
        );
    }
    assert_clean(&host);
}

/// Encore set up for the tiny model and `start_at`, takes in `dir`.
fn configure_for_continue(host: &mut Host, dir: &Path, start_at: StartAt) {
    let mut state = host.save_state();
    let mut settings: Settings =
        serde_json::from_str(state["fields"]["settings"].as_str().unwrap()).unwrap();
    settings.model_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-5b"));
    settings.takes_dir = Some(dir.to_path_buf());
    settings.prompt = PromptSource::LastSeconds(1.0);
    settings.start_at = start_at;
    state["fields"]["settings"] = serde_json::to_string(&settings).unwrap().into();
    state["params"]["seconds"] = serde_json::json!({ "f32": 1.0 });
    state["params"]["takes"] = serde_json::json!({ "i32": 1 });
    state["params"]["level"] = serde_json::json!({ "i32": 0 });
    host.load_state(&state);
}

/// Where the generation a Continue started puts its take, read from the saved session (the
/// worker starts it off the host's threads and it goes on after the run, so this waits for it).
fn requested_start(host: &mut Host) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let state = host.save_state();
        let text = state["fields"]["session"].as_str().unwrap().to_string();
        let session: SessionState = serde_json::from_str(&text).unwrap();
        let unfinished = session.unfinished.first().map(|u| u.timeline_start);
        let started = session.takes.first().map(|t| t.timeline_start);
        if let Some(start) = unfinished.or(started) {
            return start;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no generation was started: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn an_automated_continue_inside_a_block_starts_the_take_on_its_sample() {
    let timeline = Timeline {
        playing: true,
        tempo_bpm: 120.0,
    };
    // Not on a block boundary for any of these sizes.
    let at = 100_003;
    for block in [1u32, 7, 333, 4095] {
        let dir = tempfile::tempdir().unwrap();
        let mut host = Host::load();
        configure_for_continue(&mut host, dir.path(), StartAt::Now);
        let id = host.param_id("Continue");
        let changes = [
            ParamChange {
                at,
                param_id: id,
                value: 1.0,
            },
            ParamChange {
                at: at + 1_000,
                param_id: id,
                value: 0.0,
            },
        ];
        let blocks = blocks_for(120_000, block);
        host.run_with_changes(2, 48_000.0, block, &blocks, Some(timeline), &changes);
        assert_eq!(requested_start(&mut host), at as i64, "blocks of {block}");
    }
}

#[test]
fn a_continue_on_the_next_bar_starts_on_the_bar_line() {
    // 4/4 at 120 bpm and 48 kHz: a bar is 96 000 samples; Continue in bar 2.
    let timeline = Timeline {
        playing: true,
        tempo_bpm: 120.0,
    };
    for block in [333u32, 4095] {
        let dir = tempfile::tempdir().unwrap();
        let mut host = Host::load();
        configure_for_continue(&mut host, dir.path(), StartAt::NextBar);
        let id = host.param_id("Continue");
        let changes = [ParamChange {
            at: 100_003,
            param_id: id,
            value: 1.0,
        }];
        host.run_with_changes(
            2,
            48_000.0,
            block,
            &blocks_for(200_000, block),
            Some(timeline),
            &changes,
        );
        assert_eq!(requested_start(&mut host), 192_000, "blocks of {block}");
    }
}

/// Bound on each host-thread call while a generation runs (the goal is 5 ms; the test fails only
/// far above it, so that a loaded CI machine does not make it flaky; the figures are printed).
const HOST_CALL_LIMIT: Duration = Duration::from_millis(25);

#[test]
fn host_thread_calls_never_wait_for_a_running_generation_or_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host::load();
    configure_for_continue(&mut host, dir.path(), StartAt::Now);
    // A long generation: 30 s, two takes, to full quality.
    let mut state = host.save_state();
    state["params"]["seconds"] = serde_json::json!({ "f32": 30.0 });
    state["params"]["takes"] = serde_json::json!({ "i32": 2 });
    state["params"]["level"] = serde_json::json!({ "i32": 2 });
    host.load_state(&state);
    let timeline = Timeline {
        playing: true,
        tempo_bpm: 120.0,
    };
    let id = host.param_id("Continue");
    let press = [ParamChange {
        at: 60_000,
        param_id: id,
        value: 1.0,
    }];
    host.run_with_changes(
        2,
        48_000.0,
        512,
        &blocks_for(72_000, 512),
        Some(timeline),
        &press,
    );
    let unfinished = |host: &mut Host| {
        let state = host.save_state();
        let session: SessionState =
            serde_json::from_str(state["fields"]["session"].as_str().unwrap()).unwrap();
        (state, !session.unfinished.is_empty())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !unfinished(&mut host).1 {
        assert!(Instant::now() < deadline, "the generation did not start");
        std::thread::sleep(Duration::from_millis(10));
    }

    // A project with a long take chosen (a minute: its WAV takes a while to read) restored
    // while the generation runs: nothing on the host's thread waits for that read.
    let frames = 48_000 * 60;
    let take: Vec<f32> = (0..frames).map(|i| (i as f32 * 0.01).sin() * 0.2).collect();
    let file = dir.path().join("Take 90 L0.wav");
    write_wav_new(&file, &take, 48_000, WavFormat::Float32).unwrap();
    let (mut state, _) = unfinished(&mut host);
    let mut session: SessionState =
        serde_json::from_str(state["fields"]["session"].as_str().unwrap()).unwrap();
    session.takes.push(Take {
        id: 90,
        name: "Take 90".into(),
        level: 0,
        file,
        timeline_start: 0,
        sample_rate: 48_000.0,
        frames: frames as u64,
        batch_row: 0,
        settings: GenerationSettings::new(1.0, 3),
        source: None,
        parent: None,
    });
    session.chosen = Some(90);
    state["fields"]["session"] = serde_json::to_string(&session).unwrap().into();

    let calls = [
        "set state",
        "activate",
        "reset",
        "deactivate",
        "get state",
        "activate (44.1 kHz, 4096)",
        "reset (44.1 kHz)",
        "deactivate (44.1 kHz)",
    ];
    let mut worst = [Duration::ZERO; 8];
    let mut running = true;
    for round in 0..30 {
        let started = Instant::now();
        host.load_state(&state);
        let set = started.elapsed();
        let [activate, reset, deactivate] = host.timed_activation(48_000.0, 512);
        let started = Instant::now();
        state = host.save_state();
        let get = started.elapsed();
        // A sample-rate and block-size change: the host activates again.
        let [activate_2, reset_2, deactivate_2] = host.timed_activation(44_100.0, 4_096);
        let times = [
            set,
            activate,
            reset,
            deactivate,
            get,
            activate_2,
            reset_2,
            deactivate_2,
        ];
        for (worst, time) in worst.iter_mut().zip(times) {
            *worst = (*worst).max(time);
        }
        if round % 10 == 9 {
            running &= unfinished(&mut host).1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The engine runs on an explicit thread count that leaves the host a core.
    let diag = diagnostics(&mut host);
    assert_eq!(
        diag["engine_threads"],
        encore::engine::threads::threads_beside_the_host(),
        "{diag}"
    );
    println!("host-thread calls while a generation runs (max of 30 rounds):");
    for (call, time) in calls.iter().zip(worst) {
        println!("  {call:28} {:7.3} ms", time.as_secs_f64() * 1e3);
    }
    assert!(running, "the generation ended before the measurements did");
    for (call, time) in calls.iter().zip(worst) {
        assert!(
            time < HOST_CALL_LIMIT,
            "{call} took {time:?} while a generation ran (bound {HOST_CALL_LIMIT:?})"
        );
    }
    assert_clean(&host);
}
