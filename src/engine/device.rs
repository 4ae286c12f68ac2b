//! Choosing where the graphs run: CUDA when this ONNX Runtime, the CUDA libraries and the
//! NVIDIA driver allow it, the CPU otherwise, and always the reason in words.
//!
//! A user who asked for CUDA gets an error when it cannot work; `Auto` falls back to the CPU and
//! says why, so a missing library slows Encore down but never stops it.

use std::path::{Path, PathBuf};

use ort::ep::ExecutionProvider;

use super::error::EngineError;
use super::runtime::Runtime;
use super::session::Device;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DevicePreference {
    /// CUDA when it works, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

impl std::str::FromStr for DevicePreference {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            other => Err(format!("unknown device {other:?}: use auto, cpu or cuda")),
        }
    }
}

/// Where the graphs will run, and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceChoice {
    pub device: Device,
    pub reason: String,
}

/// The CUDA libraries `cargo xtask setup --gpu` installs (CUDA 13 builds of ONNX Runtime 1.31).
const CUDA_LIBRARIES: [&str; 6] = [
    "libcudart.so.13",
    "libcublasLt.so.13",
    "libcublas.so.13",
    "libnvrtc.so.13",
    "libcurand.so.10",
    "libcufft.so.12",
];
const CUDNN_LIBRARY: &str = "libcudnn.so.9";
const DRIVER_LIBRARY: &str = "libcuda.so.1";

/// Decides the device before any session is opened. Opening the first session on CUDA can
/// still fail (e.g. no GPU visible); [`fall_back`] turns that into a CPU choice under `Auto`.
pub fn choose(
    runtime: &Runtime,
    preference: DevicePreference,
) -> Result<DeviceChoice, EngineError> {
    if preference == DevicePreference::Cpu {
        return Ok(cpu("the CPU was chosen in the settings"));
    }
    match cuda_blocker(runtime) {
        None => Ok(DeviceChoice {
            device: Device::Cuda,
            reason: format!("CUDA execution provider of {}", runtime.info.path.display()),
        }),
        Some(blocker) if preference == DevicePreference::Auto => {
            Ok(cpu(&format!("CUDA is not usable: {blocker}")))
        }
        Some(blocker) => Err(EngineError::DeviceUnavailable { reason: blocker }),
    }
}

/// After CUDA failed to open a graph: the CPU under `Auto`, else the error.
pub fn fall_back(
    preference: DevicePreference,
    error: EngineError,
) -> Result<DeviceChoice, EngineError> {
    match preference {
        DevicePreference::Auto => Ok(cpu(&format!(
            "CUDA is not usable: it failed to open the model: {error}"
        ))),
        _ => Err(error),
    }
}

fn cpu(reason: &str) -> DeviceChoice {
    DeviceChoice {
        device: Device::Cpu,
        reason: reason.to_string(),
    }
}

/// Why CUDA cannot work with this runtime, or `None` when it may. The NVIDIA driver is checked
/// first: without one no library could help, and advice to fetch CUDA libraries (gigabytes)
/// would only mislead.
fn cuda_blocker(runtime: &Runtime) -> Option<String> {
    if !nvidia_driver_present() {
        return Some(format!(
            "no NVIDIA driver on this machine (no {NVIDIA_DRIVER_PROC_FILE}, no \
             {DRIVER_LIBRARY}); Encore runs on the CPU"
        ));
    }
    match ort::ep::CUDA::is_available() {
        Ok(true) => {}
        Ok(false) => {
            return Some(format!(
                "{} is a CPU-only build of ONNX Runtime. For the GPU, use the library of \
                 onnxruntime-gpu 1.31 (CUDA 13) instead: in a source checkout `cargo xtask \
                 setup --gpu` fetches it; otherwise point Encore at its libonnxruntime.so \
                 (the editor's library setting, --ort-library or ENCORE_ORT_DYLIB)",
                runtime.info.path.display()
            ));
        }
        Err(error) => return Some(format!("cannot list ONNX Runtime's providers: {error}")),
    }
    if let Some(dir) = cuda_library_dir(&runtime.info.path)
        && let Err(error) = preload(&dir)
    {
        return Some(error);
    }
    // The driver never ships with Encore; without it the CUDA provider cannot start.
    if !can_load(Path::new(DRIVER_LIBRARY)) {
        return Some(format!(
            "the NVIDIA driver is installed, but its {DRIVER_LIBRARY} is not on the library \
             path"
        ));
    }
    None
}

/// Present while an NVIDIA kernel driver is loaded (Linux).
const NVIDIA_DRIVER_PROC_FILE: &str = "/proc/driver/nvidia/version";

/// Whether this machine has an NVIDIA driver: its kernel module is loaded, or its user-space
/// library can be opened (a container that sees the GPU may lack the /proc file).
pub fn nvidia_driver_present() -> bool {
    Path::new(NVIDIA_DRIVER_PROC_FILE).exists() || can_load(Path::new(DRIVER_LIBRARY))
}

/// The folder with the CUDA libraries that goes with this ONNX Runtime: `cuda/` beside the
/// library (bundles) or `runtime/cuda` beside its `runtime/onnxruntime-gpu` (developer setup).
/// `None`: rely on the system's library path.
fn cuda_library_dir(ort_library: &Path) -> Option<PathBuf> {
    let ort_dir = ort_library.parent()?;
    [ort_dir.join("cuda"), ort_dir.parent()?.join("cuda")]
        .into_iter()
        .find(|dir| dir.join(CUDA_LIBRARIES[0]).exists())
}

/// Loads the CUDA and cuDNN libraries from `dir`, so the CUDA provider finds them without the
/// user setting `LD_LIBRARY_PATH`.
fn preload(dir: &Path) -> Result<(), String> {
    for name in CUDA_LIBRARIES.iter().chain([&CUDNN_LIBRARY]) {
        let path = dir.join(name);
        if !can_load(&path) {
            return Err(format!(
                "cannot load {} (in a source checkout, `cargo xtask setup --gpu` installs it again)",
                path.display()
            ));
        }
    }
    Ok(())
}

/// dlopen()s `path` and keeps it loaded (ONNX Runtime's CUDA provider looks the libraries up
/// by name; one already loaded is reused).
fn can_load(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(name) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `name` is a valid C string; the handle is intentionally leaked (kept loaded
    // for the life of the process, as the provider needs).
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    !handle.is_null()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_parse() {
        assert_eq!("Auto".parse(), Ok(DevicePreference::Auto));
        assert_eq!("gpu".parse(), Ok(DevicePreference::Cuda));
        assert!("tpu".parse::<DevicePreference>().is_err());
    }

    #[test]
    fn a_missing_library_is_not_loadable() {
        assert!(!can_load(Path::new("/nonexistent/libcudart.so.13")));
    }
}
