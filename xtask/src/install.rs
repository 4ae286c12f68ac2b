//! `cargo xtask install [--prefix DIR]`: the release `encore` and the ONNX Runtime it needs, laid
//! out as the CLI looks for them (`src/engine/runtime.rs`):
//!
//! - `PREFIX/bin/encore`
//! - `PREFIX/lib/encore/libonnxruntime.so.*` (and `cuda/` with the CUDA libraries after
//!   `cargo xtask setup --gpu`)
//!
//! With `PREFIX/bin` on the `PATH`, `encore` then runs from anywhere. The default prefix is
//! `~/.local`, whose `bin/` most desktop Linux distributions already put on the `PATH`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::python::run as run_command;
use crate::setup::{CPU_DIR, CUDA_DIR, GPU_DIR, library_file};

/// `invoked_in`: the folder cargo was run in, which a relative `--prefix` is taken from.
pub fn run(args: &[String], invoked_in: &Path) -> Result<()> {
    let prefix = match args {
        [] => dirs_home()?.join(".local"),
        [flag, dir] if flag == "--prefix" => invoked_in.join(dir),
        _ => bail!("usage: cargo xtask install [--prefix DIR]"),
    };
    let Some(runtime_dir) = [GPU_DIR, CPU_DIR]
        .into_iter()
        .map(Path::new)
        .find(|dir| dir.join(library_file()).is_file())
    else {
        bail!("no ONNX Runtime in runtime/: run `cargo xtask setup` (or `setup --gpu`) first");
    };
    run_command(Command::new("cargo").args(["build", "--release", "--bin", "encore"]))?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
    let binary = target.join("release/encore");

    let bin = prefix.join("bin");
    let lib = prefix.join("lib/encore");
    copy_into(&binary, &bin)?;
    copy_dir_files(runtime_dir, &lib)?;
    if runtime_dir == Path::new(GPU_DIR) && Path::new(CUDA_DIR).is_dir() {
        copy_dir_files(Path::new(CUDA_DIR), &lib.join("cuda"))?;
    }
    println!("encore -> {}", bin.join("encore").display());
    println!(
        "ONNX Runtime from {} -> {}",
        runtime_dir.display(),
        lib.display()
    );
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir == bin));
    if !on_path {
        println!(
            "{} is not on your PATH: add it (e.g. `export PATH=\"{}:$PATH\"` in ~/.profile)",
            bin.display(),
            bin.display()
        );
    }
    Ok(())
}

fn dirs_home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .context("HOME is not set: give the folder with --prefix DIR")
}

/// Copies `file` into `dir` (made if needed), replacing a file of that name atomically: a
/// running `encore` keeps its old binary.
fn copy_into(file: &Path, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = file.file_name().context("a file without a name")?;
    let target = dir.join(name);
    let partial = dir.join(format!(".{}.partial", name.to_string_lossy()));
    fs::copy(file, &partial)
        .with_context(|| format!("copying {} into {}", file.display(), dir.display()))?;
    fs::rename(&partial, &target).with_context(|| format!("replacing {}", target.display()))?;
    Ok(())
}

/// Copies every file of `source` (not its subfolders) into `dest`.
fn copy_dir_files(source: &Path, dest: &Path) -> Result<()> {
    for entry in fs::read_dir(source).with_context(|| format!("reading {}", source.display()))? {
        let path = entry?.path();
        if path.is_file() {
            copy_into(&path, dest)?;
        }
    }
    Ok(())
}
