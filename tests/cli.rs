//! The `encore` command line, run as a user runs it.

use std::process::Command;

const MISSING: &str = "/nonexistent/libonnxruntime.so";

fn doctor() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_encore"));
    command
        .arg("doctor")
        .env_remove("ENCORE_ORT_DYLIB")
        .env_remove("ORT_DYLIB_PATH")
        .env("RUST_LOG", "off");
    command
}

#[test]
fn doctor_with_a_missing_library_fails_with_one_clear_line() {
    let out = doctor()
        .env("ENCORE_ORT_DYLIB", MISSING)
        .output()
        .expect("could not run encore");
    assert!(!out.status.success(), "doctor succeeded without a runtime");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("error: "), "{line}");
    assert!(line.contains(MISSING), "{line}");
    assert!(line.contains("ENCORE_ORT_DYLIB"), "{line}");
}

#[test]
fn doctor_with_an_explicit_missing_path_does_not_fall_back() {
    // A path given on the command line is authoritative: no fallback to runtime/ or elsewhere.
    let out = doctor()
        .args(["--ort-library", MISSING])
        .output()
        .expect("could not run encore");
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(MISSING), "{stderr}");
}
