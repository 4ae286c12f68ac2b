//! The 5b_lyrics model runs at any number of takes: its conditioning graph (with the lyrics
//! encoder) once only ran at the batch it was traced with (2), so `--takes 1` failed.

use std::path::Path;
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn continue_with_takes(out_dir: &Path, lyrics: &Path, takes: usize) -> Output {
    let takes = takes.to_string();
    Command::new(env!("CARGO_BIN_EXE_encore"))
        .args([
            "continue",
            "examples/chord.wav",
            "--model",
            "models/tiny-5b-lyrics",
            "--seconds",
            "1",
            "--takes",
            &takes,
            "--level",
            "2",
            "--seed",
            "7",
            "--lyrics-file",
            lyrics.to_str().unwrap(),
            "--out-dir",
            out_dir.to_str().unwrap(),
        ])
        .current_dir(root())
        .env("RUST_LOG", "off")
        .output()
        .expect("could not run encore")
}

fn wav_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wav"))
        .collect();
    names.sort();
    names
}

#[test]
fn tiny_5b_lyrics_continues_with_one_and_three_takes() {
    let scratch = tempfile::tempdir().unwrap();
    let lyrics = scratch.path().join("lyrics.txt");
    std::fs::write(&lyrics, "la la la, sing it again\nencore, encore\n").unwrap();
    for takes in [1, 3] {
        let out_dir = scratch.path().join(format!("takes{takes}"));
        std::fs::create_dir(&out_dir).unwrap();
        let out = continue_with_takes(&out_dir, &lyrics, takes);
        assert!(
            out.status.success(),
            "--takes {takes}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want: Vec<String> = (0..takes)
            .map(|take| format!("chord.take{take}.level2.wav"))
            .collect();
        assert_eq!(wav_names(&out_dir), want, "--takes {takes}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), takes, "--takes {takes}: {stdout}");
        let sidecar: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out_dir.join(format!("chord.take{}.level2.json", takes - 1))).unwrap(),
        )
        .unwrap();
        assert_eq!(sidecar["take"], takes - 1);
        assert_eq!(sidecar["model_name"], "tiny-5b-lyrics");
    }
}
