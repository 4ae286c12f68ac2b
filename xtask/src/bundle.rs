//! `cargo xtask bundle`: nice-plug's bundler, then ONNX Runtime next to the plugin binary in
//! each bundle, so that an installed plugin finds it without any setup.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};

use crate::setup::{CPU_DIR, GPU_DIR, library_file};

pub const BUNDLE_DIR: &str = "target/bundled";

pub fn run(args: &[String]) -> Result<()> {
    let mut bundler_args = vec!["bundle".to_string(), "encore".to_string()];
    bundler_args.extend(args.iter().cloned());
    nice_plug_xtask::main_with_args("cargo xtask", bundler_args)?;
    add_runtime()
}

/// Copies the runtime into the VST3 bundle and beside the CLAP file (on Linux a `.clap` is a
/// single shared object; hosts only scan `*.clap`, so a library beside it is left alone).
fn add_runtime() -> Result<()> {
    let Some(source_dir) = [GPU_DIR, CPU_DIR]
        .into_iter()
        .map(Path::new)
        .find(|d| d.join(library_file()).is_file())
    else {
        println!(
            "warning: no ONNX Runtime in runtime/ (run `cargo xtask setup`): the bundles will \
             ask the user for the library"
        );
        return Ok(());
    };
    for dest in bundle_binary_dirs() {
        for entry in fs::read_dir(source_dir)? {
            let path = entry?.path();
            let name = path.file_name().context("runtime file without a name")?;
            fs::copy(&path, dest.join(name))
                .with_context(|| format!("copying {} into {}", path.display(), dest.display()))?;
        }
        println!(
            "ONNX Runtime from {} -> {}",
            source_dir.display(),
            dest.display()
        );
    }
    Ok(())
}

fn bundle_binary_dirs() -> Vec<PathBuf> {
    let vst3 = Path::new(BUNDLE_DIR).join("Encore.vst3/Contents/x86_64-linux");
    let clap = PathBuf::from(BUNDLE_DIR);
    [vst3, clap].into_iter().filter(|d| d.is_dir()).collect()
}

pub fn assert_bundles_exist() -> Result<()> {
    for bundle in ["Encore.vst3", "Encore.clap"] {
        let path = Path::new(BUNDLE_DIR).join(bundle);
        ensure!(path.exists(), "{} was not built", path.display());
    }
    Ok(())
}
