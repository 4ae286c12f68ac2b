//! Pictures of the editor for the docs (docs/screenshots/), drawn headless and rasterised on
//! the CPU: states only a user's clicks reach (open menus, a dialog), and a real session on the
//! bundled model (`models/tiny-1b-lyrics`, the README's): a recorded prompt continued into takes
//! on the timeline, a crop, a dropped prompt file. Run by hand:
//! `cargo test --lib plugin::editor::screenshots -- --ignored`, then look at them (the docs' were
//! made with `ENCORE_SCREENSHOT_ROOT=/home/you/encore`, a link to the checkout: a user's paths).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{PointerButton, pos2};

use super::super::diagnostics::RuntimeStatus;
use super::super::model::check_model;
use super::super::session::ModelStatus;
use super::super::session::{
    Derivation, GenerationPhase, GenerationView, LevelProgress, Take, TakeParent,
};
use std::sync::atomic::Ordering;

use nice_plug::params::InternalParamMut;

use super::super::capture::TimeSignature;
use super::super::params::{EncoreParams, TargetLevel};
use super::super::pipeline_tests;
use super::super::settings::{LengthUnit, PromptSource};
use super::tests::{Harness, kept};
use crate::engine::RuntimeInfo;
use crate::engine::runtime::Origin;

const SAMPLE_RATE: u32 = 44_100;

/// A few plucked notes, different for each seed: something that looks like music.
fn write_audio(path: &Path, seconds: f64, seed: u64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("a temporary file");
    let frames = (seconds * f64::from(SAMPLE_RATE)) as usize;
    let beat = 0.5 + (seed % 3) as f64 * 0.125;
    for i in 0..frames {
        let t = i as f64 / f64::from(SAMPLE_RATE);
        let note = (t / beat).floor();
        let since = t - note * beat;
        let pitch = 110.0 * 2f64.powf(((note as u64 * 7 + seed * 5) % 12) as f64 / 12.0);
        let swell = 0.6 + 0.4 * (t * 0.3 + seed as f64).sin();
        let value = (since * -6.0).exp() * swell * (t * pitch * std::f64::consts::TAU).sin();
        writer
            .write_sample((value * 0.8 * f64::from(i16::MAX)) as i16)
            .expect("written");
    }
    writer.finalize().expect("finished");
}

fn named(id: u64, name: &str, dir: &Path, seconds: f64) -> Take {
    let file = dir.join(format!("{name}.wav"));
    write_audio(&file, seconds, id);
    Take {
        name: name.into(),
        file,
        frames: (seconds * f64::from(SAMPLE_RATE)) as u64,
        ..kept(id)
    }
}

fn parent(take: u64, name: &str, derivation: Derivation) -> Option<TakeParent> {
    Some(TakeParent {
        take,
        name: name.into(),
        derivation,
    })
}

/// The runtime and model as a user who installed the bundle and followed the README has them:
/// ONNX Runtime inside the bundle, the tiny model of a checkout in their home folder, with its
/// real names and counts (not this checkout's paths, nor a test's made-up model).
fn as_a_user_has_them(h: &Harness) {
    *h.params.diagnostics.runtime.write() = RuntimeStatus::Ready(RuntimeInfo {
        path: "/home/you/.vst3/Encore.vst3/Contents/x86_64-linux/libonnxruntime.so.1.31.1".into(),
        origin: Origin::BesideBinary,
        build: "1.31.1".into(),
    });
    let repo_model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-1b-lyrics");
    let ModelStatus::Ready(mut info) = check_model(&repo_model, Ok(())) else {
        panic!("models/tiny-1b-lyrics is not usable");
    };
    info.dir = "/home/you/encore/models/tiny-1b-lyrics".into();
    info.device = "CPU: CUDA is not usable: no NVIDIA driver on this machine".into();
    *h.params.shared.model.write() = ModelStatus::Ready(info);
}

/// A session after some previews: one upsampled, one re-generated from a point, one extended,
/// one retried (its parent deleted since), one from before follow-ups; an upsample running.
fn session(dir: &Path) -> Harness {
    let h = Harness::new();
    as_a_user_has_them(&h);
    let takes = vec![
        Take {
            level: 0,
            ..named(2, "Take 2", dir, 20.0)
        },
        Take {
            settings: crate::engine::Settings::new(20.0, 99),
            source: None,
            ..named(3, "Old take", dir, 20.0)
        },
        named(7, "Take 7", dir, 20.0),
        Take {
            parent: parent(7, "Take 7", Derivation::RegeneratedFrom { seconds: 12.0 }),
            ..named(8, "Take 7 from 12.0 s", dir, 20.0)
        },
        Take {
            parent: parent(2, "Take 2", Derivation::Extended),
            ..named(9, "Take 2 extended", dir, 30.0)
        },
        Take {
            parent: parent(5, "Take 5", Derivation::Retried),
            ..named(10, "Retry of Take 5", dir, 20.0)
        },
    ];
    {
        let mut session = h.params.shared.session.write();
        session.takes = takes;
        session.chosen = Some(2);
        // Speeds of the order a GPU gives (codes/s per take): illustrative, not measured.
        session.speeds.record(2, 350.0, 3);
        session.speeds.record(1, 520.0, 3);
        session.speeds.record(0, 900.0, 3);
    }
    // An upsample of one take to level 0: it starts at level 1.
    *h.params.shared.generation.write() = Some(GenerationView {
        job: 4,
        phase: GenerationPhase::Running,
        levels: vec![LevelProgress {
            level: 1,
            done: 11_000,
            total: 27_563,
            codes_per_second: 520.0,
            eta_seconds: Some(31.8),
        }],
        target_level: 0,
        takes: 1,
        timeline_start: 0,
    });
    h.with_host_meter(120.0, 4, 4)
}

/// Frames until every take's waveform is read (off this thread).
fn wait_for_waveforms(h: &mut Harness) {
    let takes = h.params.shared.session.read().takes.len();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        h.frame();
        let read = h
            .params
            .shared
            .waveforms
            .takes()
            .values()
            .filter(|w| w.best_finished().is_some())
            .count();
        if read == takes {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{read} of {takes} waveforms read"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    h.frames(2);
}

/// Frames until menus and dialogs have faded in.
fn settle(h: &mut Harness) {
    h.frames(30);
}

fn out(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).expect("docs/screenshots");
    dir.join(name)
}

fn enabled(h: &Harness, name: &str) -> egui::Rect {
    h.widgets
        .iter()
        .find(|w| w.0 == name && w.2)
        .unwrap_or_else(|| panic!("no enabled {name:?}"))
        .1
}

#[test]
#[ignore = "writes docs/screenshots/; run by hand and look at the pictures"]
fn follow_ups() {
    let dir = std::env::temp_dir().join(format!("encore-screenshots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // The list, with the newest preview's Upsample menu open.
    let mut h = session(&dir);
    wait_for_waveforms(&mut h);
    let upsample = enabled(&h, "Upsample…");
    h.click_at(upsample.center(), PointerButton::Primary);
    settle(&mut h);
    h.screenshot(&out("editor-takes-upsample.png")).unwrap();

    // A right-click on a waveform, 60 % in: the point, and what can start from it.
    let mut h = session(&dir);
    wait_for_waveforms(&mut h);
    let (wave, _) = h.widget("Waveform of Take 2 extended");
    let at = pos2(wave.left() + wave.width() * 0.6, wave.center().y);
    h.click_at(at, PointerButton::Secondary);
    settle(&mut h);
    h.screenshot(&out("editor-regenerate-from-here.png"))
        .unwrap();

    // The row's More… menu.
    let mut h = session(&dir);
    wait_for_waveforms(&mut h);
    let more = enabled(&h, "More…");
    h.click_at(more.center(), PointerButton::Primary);
    settle(&mut h);
    h.screenshot(&out("editor-take-menu.png")).unwrap();

    // Extend, in bars at the host's 120 BPM.
    let mut h = session(&dir);
    h.params.settings.write().length_unit = LengthUnit::Bars;
    wait_for_waveforms(&mut h);
    let more = enabled(&h, "More…");
    h.click_at(more.center(), PointerButton::Primary);
    h.click("Extend…");
    settle(&mut h);
    h.screenshot(&out("editor-extend.png")).unwrap();

    std::fs::remove_dir_all(&dir).unwrap();
}

/// What `process()` leaves in the diagnostics for its last block: playing at 120 BPM in 4/4,
/// the playhead at `seconds`.
fn host_at(params: &EncoreParams, seconds: f64) {
    let diag = &params.diagnostics;
    let rate = pipeline_tests::HOST_RATE;
    diag.sample_rate_bits
        .store(rate.to_bits(), Ordering::Release);
    diag.host_playing.store(true, Ordering::Release);
    diag.host_tempo_bits
        .store(120f64.to_bits(), Ordering::Release);
    diag.host_time_signature.store(
        TimeSignature {
            numerator: 4,
            denominator: 4,
        }
        .packed(),
        Ordering::Release,
    );
    diag.host_position_samples
        .store((seconds * f64::from(rate)) as i64, Ordering::Release);
}

/// Frames until `done` holds, as the window would draw them meanwhile.
fn frames_until(h: &mut Harness, what: &str, timeout: Duration, done: impl Fn(&Harness) -> bool) {
    let deadline = Instant::now() + timeout;
    while !done(h) {
        assert_eq!(*h.params.shared.last_error.read(), None);
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        h.frame();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.frames(3);
}

#[test]
#[ignore = "writes docs/screenshots/; run by hand and look at the pictures"]
fn a_real_session() {
    let dir = tempfile::tempdir().unwrap();
    // The checkout as a user would have it (e.g. a link at ~/encore to this one), so the pictures
    // show their paths, not this machine's; the checkout itself when not given.
    let root = std::env::var_os("ENCORE_SCREENSHOT_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let model = root.join("models/tiny-1b-lyrics");
    let params = pipeline_tests::params(dir.path(), TargetLevel::Preview);
    // SAFETY: no host and no audio thread exist in this test; the setters only store atomics.
    unsafe {
        params.seconds._internal_set_plain_value(6.0);
        params.takes._internal_set_plain_value(3);
    }
    {
        let mut settings = params.settings.write();
        settings.model_dir = Some(model.clone());
        settings.prompt = PromptSource::LastSeconds(4.0);
    }
    let mut running = pipeline_tests::start(&params);
    let mut h = Harness::for_instance(params.clone(), running.commands.clone());
    frames_until(&mut h, "the model", Duration::from_secs(60), |h| {
        matches!(*h.params.shared.model.read(), ModelStatus::Ready(_))
    });
    // The runtime as that checkout has it (shown only: it is loaded once for the process).
    if let RuntimeStatus::Ready(info) = &mut *h.params.diagnostics.runtime.write()
        && let Ok(inside) = info.path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
    {
        info.path = root.join(inside);
    }

    // The track plays 8 s (four bars at 120 BPM) and Continue comes at the end of bar 4.
    let end = pipeline_tests::play(&mut running, &params, 0, 8.0);
    host_at(&params, 8.0);
    h.frames(3);
    let none: [&[f32]; 0] = [];
    assert!(running.capture.push(
        &none,
        pipeline_tests::transport(end),
        1,
        false,
        &params.diagnostics
    ));
    frames_until(&mut h, "three previews", Duration::from_secs(300), |h| {
        let session = h.params.shared.session.read();
        session.takes.len() == 3 && session.unfinished.is_empty()
    });
    // Another Continue of one longer take from 10 s in, chosen; the playhead half way in.
    unsafe {
        params.seconds._internal_set_plain_value(8.0);
        params.takes._internal_set_plain_value(1);
    }
    let end = pipeline_tests::play(&mut running, &params, end, 2.0);
    assert!(running.capture.push(
        &none,
        pipeline_tests::transport(end),
        1,
        false,
        &params.diagnostics
    ));
    frames_until(&mut h, "the fourth take", Duration::from_secs(300), |h| {
        let session = h.params.shared.session.read();
        session.takes.len() == 4 && session.unfinished.is_empty()
    });
    host_at(&params, 13.0);
    wait_for_waveforms(&mut h);
    h.screenshot(&out("editor-timeline.png")).unwrap();

    // Crop the take before the newest (Take 3, 6 s: its row is in view at the default size)
    // from 1.5 s to 4.5 s.
    let first = {
        let session = h.params.shared.session.read();
        session.takes[session.takes.len() - 2].name.clone()
    };
    let more: Vec<egui::Rect> = h
        .widgets
        .iter()
        .filter(|w| w.0 == "More…")
        .map(|w| w.1)
        .collect();
    // Newest first: that take's menu is the second.
    h.click_at(more[1].center(), PointerButton::Primary);
    h.click("Crop…");
    let (wave, _) = h.widget("Crop waveform");
    let at = |seconds: f32| pos2(wave.left() + wave.width() * seconds / 6.0, wave.center().y);
    h.drag(h.widget("Crop start").0.center(), at(1.5));
    h.drag(h.widget("Crop end").0.center(), at(4.5));
    settle(&mut h);
    h.screenshot(&out("editor-crop.png")).unwrap();
    h.click("Crop to a new take");
    frames_until(&mut h, "the crop", Duration::from_secs(30), |h| {
        h.params.shared.session.read().takes.len() == 5
    });
    let cropped = h.params.shared.session.read().takes[4].clone();
    assert!(cropped.name.starts_with(&first), "{}", cropped.name);
    wait_for_waveforms(&mut h);
    h.screenshot(&out("editor-cropped-take.png")).unwrap();

    // The example chord dropped onto the editor: the prompt is that file now.
    let chord = root.join("examples/chord.wav");
    h.hover_files(&[chord.to_str().unwrap()]);
    h.screenshot(&out("editor-drop-hint.png")).unwrap();
    h.drop_files(&[chord.to_str().unwrap()]);
    frames_until(
        &mut h,
        "the prompt file's waveform",
        Duration::from_secs(30),
        |h| {
            h.params
                .shared
                .waveforms
                .prompt_file()
                .as_ref()
                .is_some_and(|f| f.envelope.is_ok())
        },
    );
    assert_eq!(
        params.settings.read().prompt_file.as_deref(),
        Some(chord.as_path())
    );
    h.screenshot(&out("editor-dropped-file.png")).unwrap();
    drop(h);
    running.worker.stop_and_join();
}
