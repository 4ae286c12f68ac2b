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

/// `cargo xtask install --prefix P`'s layout (`P/bin/encore`, `P/lib/encore/` with ONNX
/// Runtime), reached through a symlink in another folder on the `PATH` and run from a third
/// folder, as a user runs an installed program: it finds the library it was installed with.
#[test]
fn an_installed_encore_on_the_path_finds_its_runtime() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let library = ["runtime/onnxruntime-gpu", "runtime/onnxruntime-cpu"]
        .iter()
        .map(|dir| root.join(dir).join(encore::engine::runtime::LIBRARY_FILE))
        .find(|path| path.is_file())
        .expect("ONNX Runtime must be installed for this test: run `cargo xtask setup`");
    let scratch = tempfile::tempdir().unwrap();
    let prefix = scratch.path().join("prefix");
    let lib = prefix.join("lib/encore");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_encore"), prefix.join("bin/encore")).unwrap();
    std::fs::copy(&library, lib.join(library.file_name().unwrap())).unwrap();
    let user_bin = scratch.path().join("user-bin");
    std::fs::create_dir_all(&user_bin).unwrap();
    std::os::unix::fs::symlink(prefix.join("bin/encore"), user_bin.join("encore")).unwrap();
    let elsewhere = scratch.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let path = std::env::join_paths(std::iter::once(user_bin.clone()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let installed = |args: &[&str]| {
        let out = Command::new("encore")
            .args(args)
            .current_dir(&elsewhere)
            .env("PATH", &path)
            .env_remove("ENCORE_ORT_DYLIB")
            .env_remove("ORT_DYLIB_PATH")
            .env("RUST_LOG", "off")
            .output()
            .expect("could not run the installed encore");
        assert!(
            out.status.success(),
            "encore {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    let doctor = installed(&["doctor"]);
    let installed_library = lib
        .canonicalize()
        .unwrap()
        .join(library.file_name().unwrap());
    assert!(
        doctor.contains(&format!("ONNX Runtime: {}", installed_library.display())),
        "{doctor}"
    );

    let prompt = root.join("examples/chord.wav");
    let model = root.join("models/tiny-1b-lyrics");
    let takes = installed(&[
        "continue",
        prompt.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--seconds",
        "0.3",
        "--level",
        "2",
        "--seed",
        "1",
        "--out-dir",
        "takes",
    ]);
    assert_eq!(takes.lines().count(), 1, "{takes}");
    assert!(elsewhere.join(takes.trim()).is_file(), "{takes}");
}

/// `doctor` says where the graphs would run. Without an NVIDIA driver it says so and gives no
/// advice to fetch CUDA libraries (they cannot help); `--device cuda doctor` then fails with
/// the reason.
#[test]
fn doctor_reports_cuda_and_fails_when_cuda_is_asked_for_and_unusable() {
    let out = doctor().output().expect("could not run encore");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let device = stdout
        .lines()
        .find(|l| l.starts_with("device: "))
        .unwrap_or_else(|| panic!("no device line: {stdout}"));
    let has_driver = std::path::Path::new("/proc/driver/nvidia/version").exists();
    if has_driver || device.starts_with("device: CUDA") {
        return; // A GPU machine: the no-driver case cannot be checked here.
    }
    assert!(device.contains("no NVIDIA driver"), "{device}");
    assert!(!device.contains("setup --gpu"), "{device}");

    let out = Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(["--device", "cuda", "doctor"])
        .env_remove("ENCORE_ORT_DYLIB")
        .env_remove("ORT_DYLIB_PATH")
        .env("RUST_LOG", "off")
        .output()
        .expect("could not run encore");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("CUDA is not usable") && stderr.contains("no NVIDIA driver"),
        "{stderr}"
    );
}

fn encore_in_repo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "off")
        .output()
        .expect("could not run encore")
}

fn lines(out: &std::process::Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// `encore models` counts artists and genres as the editor shows them (one name per id, the
/// top prior's spelling), lists and searches them, and says a test model's takes are no music.
#[test]
fn models_lists_and_searches_the_names_the_editor_shows() {
    let about = lines(&encore_in_repo(&["models", "models/tiny-5b"])).join("\n");
    assert!(about.contains("20 artists, e.g. \"artist 0\""), "{about}");
    assert!(about.contains("12 genres"), "{about}");
    assert!(about.contains("--artists [PATTERN]"), "{about}");
    assert!(
        about.contains("random weights") && about.contains("not music"),
        "{about}"
    );

    let artists = lines(&encore_in_repo(&["models", "models/tiny-5b", "--artists"]));
    assert_eq!(artists.len(), 20, "{artists:?}");
    let found = lines(&encore_in_repo(&[
        "models",
        "models/tiny-5b",
        "--artists",
        "T 2",
    ]));
    assert_eq!(found, ["artist 2"]);
    let genres = lines(&encore_in_repo(&[
        "models",
        "models/tiny-5b",
        "--genres",
        "1",
    ]));
    assert_eq!(genres, ["genre1", "genre10", "genre11"]);
    let out = encore_in_repo(&["models", "models/tiny-5b", "--artists", "zzz"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no artist of tiny-5b contains \"zzz\""));
}

/// A folder that is no model: the error says how to make one and lists the model folders
/// beside it.
#[test]
fn a_missing_model_folder_points_to_the_exporter_and_the_models_there() {
    for args in [
        &["models", "models/jukebox-1b-lyrics"][..],
        &[
            "continue",
            "examples/chord.wav",
            "--model",
            "models/jukebox-1b-lyrics",
        ][..],
    ] {
        let out = encore_in_repo(args);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cargo xtask export"), "{stderr}");
        assert!(
            stderr.contains("models/tiny-1b-lyrics, models/tiny-5b"),
            "{stderr}"
        );
    }
}
