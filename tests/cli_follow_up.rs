//! `encore upsample` and `encore continue-take` as a user runs them, on tiny-5b.

mod common;

use std::path::Path;

use common::cli::{
    continue_args, copy_folder, encore, encore_in, encore_ok, encore_ok_in, names, one_error_line,
    path_arg, root,
};

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn sidecar(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_slice(&read(dir, name)).unwrap()
}

/// A level-2 preview upsampled later writes the level-1 and level-0 takes a one-go run writes,
/// byte for byte.
#[test]
fn upsample_later_writes_the_takes_of_a_one_go_run() {
    let one_go = tempfile::tempdir().unwrap();
    encore_ok(&continue_args(one_go.path(), "0"));
    let later = tempfile::tempdir().unwrap();
    encore_ok(&continue_args(later.path(), "2"));
    let preview = later.path().join("chord.checkpoint.json");

    let out = encore_ok(&["upsample", path_arg(&preview), "--level", "0"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    for take in 0..2 {
        for level in [1, 0] {
            let wav = format!("chord.take{take}.level{level}.wav");
            assert_eq!(read(later.path(), &wav), read(one_go.path(), &wav), "{wav}");
        }
    }
    // Its own checkpoint, beside the preview's, which is left as it was.
    assert!(names(later.path()).contains(&"chord.checkpoint-2.json".to_string()));

    // One chosen take into another folder.
    let chosen = tempfile::tempdir().unwrap();
    let out_dir = path_arg(chosen.path());
    encore_ok(&[
        "upsample",
        path_arg(&preview),
        "--level",
        "1",
        "--take",
        "1",
        "--out-dir",
        out_dir,
    ]);
    assert_eq!(
        names(chosen.path()),
        [
            "chord.checkpoint.json",
            "chord.take1.level1.json",
            "chord.take1.level1.wav"
        ]
    );
    assert_eq!(
        read(chosen.path(), "chord.take1.level1.wav"),
        read(one_go.path(), "chord.take1.level1.wav")
    );
    let meta = sidecar(chosen.path(), "chord.take1.level1.json");
    assert_eq!(meta["take"], 1);
    assert_eq!(meta["settings"]["target_level"], 1);

    let line = one_error_line(&encore(&["upsample", path_arg(&preview), "--level", "2"]));
    assert!(line.contains("at level 2 already"), "{line}");
    let line = one_error_line(&encore(&["upsample", path_arg(&preview), "--take", "4"]));
    assert!(line.contains("no take 4"), "{line}");
}

#[test]
fn continue_take_writes_new_takes_after_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    encore_ok(&continue_args(dir.path(), "2"));
    let source = dir.path().join("chord.checkpoint.json");
    let args = [
        "continue-take",
        path_arg(&source),
        "--take",
        "1",
        "--at",
        "1.5",
        "--seconds",
        "0.5",
        "--seed",
        "7",
    ];
    encore_ok(&args);
    let stem = "chord.take1.from1.50s";
    let wav = format!("{stem}.take0.level2.wav");
    let meta = sidecar(dir.path(), &format!("{stem}.take0.level2.json"));
    assert_eq!(meta["settings"]["seed"], 7);
    assert_eq!(meta["settings"]["seconds"], 0.5);
    assert_eq!(
        meta["settings"]["artist"], "Artist 2",
        "the source's settings are kept"
    );
    assert_eq!(meta["from_take"]["take"], 1);
    assert!((meta["prompt_seconds"].as_f64().unwrap() - 1.5).abs() < 128.0 / 44_100.0);
    // 1.5 s kept and 0.5 s new, in whole top-level codes of 128 samples.
    let samples = hound::WavReader::open(dir.path().join(&wav)).unwrap().len() as usize;
    assert_eq!(samples, (66_150 / 128 + 22_050_usize.div_ceil(128)) * 128);

    // The same again: a stem of its own, the same audio.
    encore_ok(&args);
    assert_eq!(
        read(dir.path(), &format!("{stem}-2.take0.level2.wav")),
        read(dir.path(), &wav)
    );

    // Without --at the take is extended from its end.
    encore_ok(&[
        "continue-take",
        path_arg(&source),
        "--take",
        "0",
        "--seed",
        "1",
    ]);
    assert!(
        names(dir.path())
            .iter()
            .any(|n| n.starts_with("chord.take0.from2.30s.take0.level2")),
        "{:?}",
        names(dir.path())
    );

    let line = one_error_line(&encore(&[
        "continue-take",
        path_arg(&source),
        "--take",
        "9",
    ]));
    assert!(line.contains("no take 9"), "{line}");
    let line = one_error_line(&encore(&[
        "continue-take",
        path_arg(&source),
        "--take",
        "0",
        "--at",
        "30",
    ]));
    assert!(line.contains("ends at 2.30 s"), "{line}");
}

/// A generation started with relative paths (`--model models/tiny-5b --out-dir takes`) is
/// upsampled and continued from another folder (`/`); a project folder moved as a whole finds
/// its model by the path relative to the checkpoint; a model moved on its own is re-pointed
/// with `--model`, and without it the error says so.
#[test]
fn checkpoints_travel_and_a_moved_model_is_re_pointed_with_model() {
    let scratch = tempfile::tempdir().unwrap();
    let project = scratch.path().join("project");
    copy_folder(
        &root().join("models/tiny-5b"),
        &project.join("models/tiny-5b"),
    );
    std::fs::copy(root().join("examples/chord.wav"), project.join("chord.wav")).unwrap();
    encore_ok_in(
        &project,
        &[
            "continue",
            "chord.wav",
            "--model",
            "models/tiny-5b",
            "--seconds",
            "0.3",
            "--level",
            "2",
            "--seed",
            "42",
            "--out-dir",
            "takes",
        ],
    );
    let anywhere = Path::new("/");
    let checkpoint = project.join("takes/chord.checkpoint.json");
    encore_ok_in(
        anywhere,
        &["upsample", path_arg(&checkpoint), "--level", "1"],
    );
    assert!(project.join("takes/chord.take0.level1.wav").is_file());

    // The whole project moved: found relative to the checkpoint.
    let moved = scratch.path().join("moved-project");
    std::fs::rename(&project, &moved).unwrap();
    let checkpoint = moved.join("takes/chord.checkpoint.json");
    encore_ok_in(
        anywhere,
        &[
            "continue-take",
            path_arg(&checkpoint),
            "--take",
            "0",
            "--seconds",
            "0.2",
        ],
    );
    let takes = names(&moved.join("takes"));
    assert!(
        takes
            .iter()
            .any(|n| n.starts_with("chord.take0.from") && n.ends_with(".take0.level2.wav")),
        "{takes:?}"
    );

    // The model moved on its own.
    let model = scratch.path().join("elsewhere/tiny-5b");
    std::fs::create_dir_all(model.parent().unwrap()).unwrap();
    std::fs::rename(moved.join("models/tiny-5b"), &model).unwrap();
    let line = one_error_line(&encore_in(
        anywhere,
        &["upsample", path_arg(&checkpoint), "--level", "0"],
    ));
    assert!(line.contains("--model DIR"), "{line}");
    encore_ok_in(
        anywhere,
        &[
            "upsample",
            path_arg(&checkpoint),
            "--level",
            "0",
            "--model",
            path_arg(&model),
        ],
    );
    assert!(moved.join("takes/chord.take0.level0.wav").is_file());
}
