//! `encore continue` and `encore resume` as a user runs them, on the tiny models.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use common::cli::{
    continue_args, encore, encore_as_installed, encore_in, names, one_error_line, path_arg, root,
};
use crossbeam_channel::unbounded;
use encore::engine::{
    Engine, GenStep, Generation, Outcome, RuntimeSearch, Settings, ensure_loaded,
};
use encore::jukebox::manifest::Verify;

#[test]
fn writes_takes_with_sidecars_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = encore(&continue_args(dir.path(), "2"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = names(dir.path());
    assert_eq!(
        first,
        [
            "chord.checkpoint.json",
            "chord.take0.level2.json",
            "chord.take0.level2.wav",
            "chord.take1.level2.json",
            "chord.take1.level2.wav"
        ]
    );
    let take0 = std::fs::read(dir.path().join("chord.take0.level2.wav")).unwrap();
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("chord.take1.level2.json")).unwrap())
            .unwrap();
    assert_eq!(sidecar["settings"]["seed"], 42);
    assert_eq!(sidecar["take"], 1);
    assert_eq!(sidecar["model_name"], "tiny-5b");
    // stdout lists the takes.
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");

    // Again into the same folder: every file of the second run under a stem of its own (never
    // mixed in with the first run's), old files untouched, same seed same audio.
    let out = encore(&continue_args(dir.path(), "2"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = names(dir.path());
    let new: Vec<&String> = second.iter().filter(|n| !first.contains(n)).collect();
    assert_eq!(
        new,
        [
            "chord-2.checkpoint.json",
            "chord-2.take0.level2.json",
            "chord-2.take0.level2.wav",
            "chord-2.take1.level2.json",
            "chord-2.take1.level2.wav"
        ]
    );
    assert_eq!(
        std::fs::read(dir.path().join("chord.take0.level2.wav")).unwrap(),
        take0
    );
    assert_eq!(
        std::fs::read(dir.path().join("chord-2.take0.level2.wav")).unwrap(),
        take0
    );
}

#[test]
fn failures_are_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = continue_args(dir.path(), "2");
    args[13] = "Nobody";
    let line = one_error_line(&encore(&args));
    assert!(line.contains("unknown artist \"Nobody\""), "{line}");

    let mut args = continue_args(dir.path(), "2");
    args[5] = "900";
    let line = one_error_line(&encore(&args));
    assert!(line.contains("at most 600.0 s"), "{line}");

    // Lengths that are no lengths, in words (a negative one is a value, not an option).
    let mut args = continue_args(dir.path(), "2");
    args[5] = "inf";
    let line = one_error_line(&encore(&args));
    assert!(line.contains("not inf") && line.contains("600 s"), "{line}");
    let mut args = continue_args(dir.path(), "2");
    args[5] = "-3";
    let line = one_error_line(&encore(&args));
    assert!(line.contains("more than 0 seconds, not -3"), "{line}");

    let mut args = continue_args(dir.path(), "2");
    args[1] = "examples/missing.wav";
    let line = one_error_line(&encore(&args));
    assert!(line.contains("missing.wav"), "{line}");

    // 1b_lyrics' top prior was trained with one genre.
    let mut args = continue_args(dir.path(), "2");
    args[3] = "models/tiny-1b-lyrics";
    args.extend(["--genre", "genre2"]);
    let line = one_error_line(&encore(&args));
    assert!(line.contains("takes one genre"), "{line}");

    // A file that is no audio: said once, without the decoding library's own log line.
    let not_audio = dir.path().join("notes.wav");
    std::fs::write(&not_audio, "hello").unwrap();
    let mut args = continue_args(dir.path(), "2");
    args[1] = not_audio.to_str().unwrap();
    let out = encore_as_installed(&args);
    let line = one_error_line(&out);
    assert!(line.contains("not a supported audio file"), "{line}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    std::fs::remove_file(&not_audio).unwrap();

    let line = one_error_line(&encore(&["resume", "examples/chord.wav"]));
    assert!(line.contains("checkpoint"), "{line}");
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

/// A generation interrupted in level 1 by the library, finished by `encore resume` run in
/// another folder, writes the same level-1 takes as an uninterrupted `encore continue`.
#[test]
fn resume_finishes_an_interrupted_generation() {
    let whole = tempfile::tempdir().unwrap();
    let out = encore(&continue_args(whole.path(), "1"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("job.json");
    let runtime = ensure_loaded(&RuntimeSearch::from_this_binary(None)).unwrap();
    let engine = Engine::load(
        &PathBuf::from("models/tiny-5b"),
        runtime,
        Verify::Sizes,
        Some(1),
    )
    .unwrap();
    let prompt = encore::audio::read_audio_file(&root().join("examples/chord.wav")).unwrap();
    let mut settings = Settings::new(0.3, 42);
    settings.takes = 2;
    settings.target_level = 1;
    settings.artist = Some("Artist 2".into());
    settings.genres = vec!["genre1".into()];
    let mut generation = Generation::new(engine, &prompt, settings).unwrap();
    generation.set_checkpoint_path(Some(checkpoint.clone()));
    generation.set_client_data(serde_json::json!({
        "prompt": "examples/chord.wav",
        "out_dir": dir.path(),
        "stem": "chord",
    }));
    let (tx, _rx) = unbounded();
    while generation.codes(2).is_none() {
        assert_eq!(generation.step(&tx).unwrap(), GenStep::Working);
    }
    for _ in 0..100 {
        generation.step(&tx).unwrap();
    }
    assert_eq!(
        generation.run(&tx, &AtomicBool::new(true)).unwrap(),
        Outcome::Cancelled
    );
    drop(generation);

    // The model was given relative to the folder the generation ran in; resumed from another.
    let out = encore_in(Path::new("/"), &["resume", path_arg(&checkpoint)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for take in ["chord.take0.level1.wav", "chord.take1.level1.wav"] {
        assert_eq!(
            std::fs::read(dir.path().join(take)).unwrap(),
            std::fs::read(whole.path().join(take)).unwrap(),
            "{take}"
        );
    }
    // Resuming a finished generation is refused, pointing to what can be done with it.
    let line = one_error_line(&encore(&["resume", path_arg(&checkpoint)]));
    assert!(line.contains("nothing to resume"), "{line}");
    assert!(
        line.contains("encore upsample") && line.contains("--level 0"),
        "{line}"
    );
    assert!(line.contains("encore continue-take"), "{line}");
}

/// `--precision` picks the model's 8- or 4-bit graphs (tiny-5b has them) and says so; a
/// precision the folder lacks is one clear error naming the exporter option, not a fallback.
#[test]
fn precision_picks_the_quantised_graphs_or_names_the_missing_export() {
    for precision in ["int8", "int4"] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--precision", precision];
        args.extend(continue_args(dir.path(), "2"));
        let out = encore(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("priors in {precision} on CPU")),
            "{stderr}"
        );
        assert!(names(dir.path()).contains(&"chord.take1.level2.wav".to_string()));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--precision", "int4"];
    args.extend(continue_args(dir.path(), "2"));
    args[5] = "models/tiny-1b-lyrics";
    let line = one_error_line(&encore(&args));
    assert!(
        line.contains("no int4 prior graphs") && line.contains("--precision int4"),
        "{line}"
    );
    assert!(names(dir.path()).is_empty());
}

/// A whole song as the prompt (10 minutes, longer than the model's longest song): its last
/// `--prompt-seconds` (default 40, the plugin's) prime the model instead of an error.
#[test]
fn a_whole_song_is_a_prompt_and_its_end_primes_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let song = dir.path().join("song.wav");
    // 8 kHz mono 16-bit keeps the file small (9.6 MB) and cheap to read in a debug build.
    let rate = 8000;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&song, spec).unwrap();
    for i in 0..rate * 600 {
        let t = f64::from(i) / f64::from(rate);
        let sample = (2.0 * std::f64::consts::PI * 220.0 * t).sin() * 8000.0;
        writer.write_sample(sample as i16).unwrap();
    }
    writer.finalize().unwrap();
    let takes = dir.path().join("takes");
    let args = |prompt_seconds: Option<&'static str>| {
        let mut args = vec![
            "continue",
            path_arg(&song),
            "--model",
            "models/tiny-1b-lyrics",
            "--seconds",
            "0.3",
            "--level",
            "2",
            "--seed",
            "3",
            "--out-dir",
            path_arg(&takes),
        ];
        if let Some(seconds) = prompt_seconds {
            args.extend(["--prompt-seconds", seconds]);
        }
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        encore(&args)
    };
    let out = run(args(None));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("the last 40.0 s of"), "{stderr}");
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(takes.join("song.take0.level2.json")).unwrap())
            .unwrap();
    let primed = sidecar["prompt_seconds"].as_f64().unwrap();
    assert!((39.0..=40.0).contains(&primed), "{primed}");

    let out = run(args(Some("5")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = one_error_line(&run(args(Some("0"))));
    assert!(line.contains("--prompt-seconds"), "{line}");
}

/// `--continuation-only` drops the prompt's re-synthesis from the takes, `--sample-rate` sets
/// their rate, and a take's float header is one SoX reads without a warning.
#[test]
fn takes_can_be_the_continuation_alone_at_another_rate_and_read_cleanly() {
    let whole = tempfile::tempdir().unwrap();
    let out = encore(&continue_args(whole.path(), "2"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_only = tempfile::tempdir().unwrap();
    let mut args = continue_args(new_only.path(), "2");
    args.extend(["--continuation-only", "--sample-rate", "48000"]);
    let out = encore(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let take = "chord.take0.level2";
    let wav =
        |dir: &std::path::Path| hound::WavReader::open(dir.join(format!("{take}.wav"))).unwrap();
    let sidecar: serde_json::Value = serde_json::from_slice(
        &std::fs::read(new_only.path().join(format!("{take}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["sample_rate"], 48000);
    assert_eq!(sidecar["continuation_only"], true);
    let prompt = sidecar["prompt_seconds"].as_f64().unwrap();
    let (whole_wav, new_wav) = (wav(whole.path()), wav(new_only.path()));
    assert_eq!(whole_wav.spec().sample_rate, 44100);
    assert_eq!(new_wav.spec().sample_rate, 48000);
    let whole_seconds = f64::from(whole_wav.duration()) / 44100.0;
    let new_seconds = f64::from(new_wav.duration()) / 48000.0;
    assert!(
        (whole_seconds - prompt - new_seconds).abs() < 0.01,
        "whole {whole_seconds} s, prompt {prompt} s, continuation {new_seconds} s"
    );

    let sox = std::process::Command::new("sox")
        .arg("--i")
        .arg(whole.path().join(format!("{take}.wav")))
        .output()
        .expect("this test needs SoX (`apt-get install sox`; CI installs it)");
    let said = String::from_utf8_lossy(&sox.stderr);
    assert!(
        sox.status.success() && said.trim().is_empty(),
        "sox --i: {said}"
    );
}

/// Ctrl-C stops a run within a step, saves its checkpoint, says how to resume and exits with
/// 130, as an interrupted program does.
#[test]
fn ctrl_c_saves_the_checkpoint_and_exits_130() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut args = continue_args(dir.path(), "0");
    args[5] = "60";
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(&args)
        .current_dir(root())
        .env("RUST_LOG", "off")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    // The run names its checkpoint once it is saved and Ctrl-C is caught.
    while !said.contains("encore resume") {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{said}");
        said.push_str(&line);
    }
    // SAFETY: kill only sends a signal to the child this test started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{said}{rest}");
    assert!(
        rest.contains("interrupted; continue with `encore resume"),
        "{rest}"
    );
    let checkpoint = dir.path().join("chord.checkpoint.json");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(saved["state"]["done"], false);
}
