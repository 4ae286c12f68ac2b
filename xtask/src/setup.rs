//! `cargo xtask setup`: ONNX Runtime from PyPI wheels, never from ort's own download (which
//! needs hosts this project cannot reach).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

pub const ORT_VERSION: &str = "1.31.1";
pub const CPU_DIR: &str = "runtime/onnxruntime-cpu";
pub const GPU_DIR: &str = "runtime/onnxruntime-gpu";
pub const CUDA_DIR: &str = "runtime/cuda";
const WHEEL_DIR: &str = "runtime/wheels";

/// The CUDA 13 libraries onnxruntime-gpu's CUDA provider links against (its `cuda` and `cudnn`
/// extras, plus cuBLAS which it needs but does not declare).
const CUDA_WHEELS: &[&str] = &[
    "nvidia-cuda-runtime~=13.0",
    "nvidia-cublas~=13.0",
    "nvidia-curand~=10.0",
    "nvidia-cufft~=12.0",
    "nvidia-cuda-nvrtc~=13.0",
    "nvidia-cudnn-cu13~=9.0",
];

pub fn run(args: &[String]) -> Result<()> {
    let gpu = match args {
        [] => false,
        [flag] if flag == "--gpu" => true,
        _ => bail!("usage: cargo xtask setup [--gpu]"),
    };
    let cpu_lib = Path::new(CPU_DIR).join(library_file());
    if cpu_lib.is_file() {
        println!("ONNX Runtime (CPU) already in {CPU_DIR}");
    } else {
        let wheel = download_wheel(&format!("onnxruntime=={ORT_VERSION}"), "onnxruntime-")?;
        extract_matching(&wheel, Path::new(CPU_DIR), |name| {
            name.ends_with(&format!("capi/{}", library_file()))
        })?;
        ensure!(
            cpu_lib.is_file(),
            "{} is not in the onnxruntime wheel",
            library_file()
        );
        println!("ONNX Runtime (CPU) installed in {CPU_DIR}");
    }
    if gpu {
        setup_gpu()?;
    }
    // The libraries are extracted; the wheels (1.5 GB with --gpu) are not needed any more.
    if Path::new(WHEEL_DIR).exists() {
        fs::remove_dir_all(WHEEL_DIR)?;
    }
    Ok(())
}

fn setup_gpu() -> Result<()> {
    let wheel = download_wheel(
        &format!("onnxruntime-gpu=={ORT_VERSION}"),
        "onnxruntime_gpu-",
    )?;
    extract_matching(&wheel, Path::new(GPU_DIR), |name| {
        name.contains("capi/libonnxruntime") && !name.contains("tensorrt")
    })?;
    for requirement in CUDA_WHEELS {
        let prefix = requirement
            .split('~')
            .next()
            .unwrap_or(requirement)
            .replace('-', "_");
        let wheel = download_wheel(requirement, &format!("{prefix}-"))?;
        extract_matching(&wheel, Path::new(CUDA_DIR), |name| {
            name.starts_with("nvidia/") && name.contains("/lib/") && name.contains(".so")
        })?;
    }
    println!("ONNX Runtime (GPU) installed in {GPU_DIR}, CUDA 13 libraries in {CUDA_DIR}");
    println!("The NVIDIA driver (libcuda.so.1) must come from the system.");
    Ok(())
}

pub fn library_file() -> &'static str {
    if cfg!(target_os = "macos") {
        "libonnxruntime.1.31.1.dylib"
    } else if cfg!(target_os = "windows") {
        "onnxruntime.dll"
    } else {
        "libonnxruntime.so.1.31.1"
    }
}

/// Downloads one wheel for this machine's Python and platform; returns its path.
fn download_wheel(requirement: &str, file_prefix: &str) -> Result<PathBuf> {
    fs::create_dir_all(WHEEL_DIR)?;
    let status = Command::new(crate::python::system_python())
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
        ])
        .args(["--dest", WHEEL_DIR, requirement])
        .status()
        .context("could not run pip to download wheels")?;
    ensure!(status.success(), "pip could not download {requirement}");
    let mut wheels: Vec<PathBuf> = fs::read_dir(WHEEL_DIR)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.to_lowercase().starts_with(file_prefix) && n.ends_with(".whl"))
        })
        .collect();
    wheels.sort();
    wheels.pop().with_context(|| {
        format!("pip reported success but no {file_prefix}*.whl is in {WHEEL_DIR}")
    })
}

/// Copies the wheel's files whose archive name passes `keep` into `dest`, flattened.
fn extract_matching(wheel: &Path, dest: &Path, keep: impl Fn(&str) -> bool) -> Result<()> {
    fs::create_dir_all(dest)?;
    let file = fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(file)?;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        let name = entry.name().to_string();
        if entry.is_dir() || !keep(&name) {
            continue;
        }
        let file_name = Path::new(&name)
            .file_name()
            .context("entry without a name")?;
        // Write then rename, so an interrupted setup never leaves a truncated library behind.
        let target = dest.join(file_name);
        let partial = target.with_extension("partial");
        let mut out = fs::File::create(&partial)?;
        io::copy(&mut entry, &mut out)?;
        fs::rename(&partial, &target)?;
    }
    Ok(())
}
