//! Running the `encore` binary as a user does, and reading what it left.

use std::path::Path;
use std::process::{Command, Output};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn encore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(args)
        .current_dir(root())
        .env("RUST_LOG", "off")
        .output()
        .expect("could not run encore")
}

/// Runs `encore` with its own default log filter (no `RUST_LOG`), as a user runs it.
pub fn encore_as_installed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(args)
        .current_dir(root())
        .env_remove("RUST_LOG")
        .output()
        .expect("could not run encore")
}

/// Runs `encore` and insists it succeeds.
pub fn encore_ok(args: &[&str]) -> Output {
    let out = encore(args);
    assert!(
        out.status.success(),
        "encore {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn path_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `continue examples/chord.wav` on tiny-5b: 0.3 s, 2 takes, seed 42, to `level`.
pub fn continue_args<'a>(out: &'a Path, level: &'a str) -> Vec<&'a str> {
    vec![
        "continue",
        "examples/chord.wav",
        "--model",
        "models/tiny-5b",
        "--seconds",
        "0.3",
        "--takes",
        "2",
        "--level",
        level,
        "--seed",
        "42",
        "--artist",
        "Artist 2",
        "--genre",
        "genre1",
        "--out-dir",
        path_arg(out),
    ]
}

/// File names in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The one `error: ` line a failed run printed last.
pub fn one_error_line(out: &Output) -> String {
    assert!(!out.status.success(), "succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert_eq!(stderr.lines().last(), errors.first().copied(), "{stderr}");
    errors[0].to_string()
}

/// Copies the folder `from` (a model folder, say) with everything in it to `to`.
pub fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_folder(&path, &dest);
        } else {
            std::fs::copy(&path, dest).unwrap();
        }
    }
}

/// Runs `encore` in the folder `cwd` and insists it succeeds.
pub fn encore_ok_in(cwd: &Path, args: &[&str]) -> Output {
    let out = encore_in(cwd, args);
    assert!(
        out.status.success(),
        "encore {args:?} in {}: {}",
        cwd.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `encore` in the folder `cwd`.
pub fn encore_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "off")
        .output()
        .expect("could not run encore")
}
