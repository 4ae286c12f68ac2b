//! Finding and loading the ONNX Runtime shared library.
//!
//! Encore links ONNX Runtime dynamically (`ort`'s `load-dynamic`) so that a missing or broken
//! library is an error we can report, never a crash of the host. `ort::init()` panics when the
//! library is missing, so it is never called: everything goes through [`ensure_loaded`].
//!
//! The library is looked for in this order:
//! 1. a path the user set (plugin editor setting or CLI flag),
//! 2. `ENCORE_ORT_DYLIB`, then `ORT_DYLIB_PATH`,
//! 3. the folder of the binary Encore runs from (inside the `.vst3` bundle, beside the `.clap`,
//!    beside the CLI),
//! 4. for a CLI in a `bin/` folder, `../lib/encore/` (what `cargo xtask install --prefix P` lays
//!    out: `P/bin/encore`, `P/lib/encore/`),
//! 5. `runtime/`, the folder `cargo xtask setup` fills, of the source checkout the binary runs
//!    from: found from the binary's own location when it lies under a `target/` folder (so
//!    `cargo run --release` works), and, in debug builds only, also from the checkout the
//!    binary was compiled in. A release build never looks into the build machine's checkout.
//!
//! "The binary" is the file this code was linked into, found with the symlinks resolved: the
//! plugin's shared object when a host loaded the plugin (the host is the process's executable
//! then, and says nothing about where Encore lies), the executable when the CLI runs (found with
//! `std::env::current_exe`, since the loader knows the main program only by its `argv[0]`,
//! e.g. a bare `encore` found on the `PATH`).
//!
//! A path set by the user (1 or 2) is authoritative: when it does not work we say so instead of
//! quietly loading some other library they did not choose.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use parking_lot::Mutex;

/// File name of the ONNX Runtime library that `cargo xtask setup` installs and bundles.
#[cfg(target_os = "linux")]
pub const LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";
#[cfg(target_os = "macos")]
pub const LIBRARY_FILE: &str = "libonnxruntime.1.31.1.dylib";
#[cfg(target_os = "windows")]
pub const LIBRARY_FILE: &str = "onnxruntime.dll";

/// Where `cargo xtask setup` puts the library, relative to the repository root.
pub const PROJECT_LOCAL_DIRS: [&str; 2] = ["runtime/onnxruntime-gpu", "runtime/onnxruntime-cpu"];

/// Where a candidate path came from; shown to the user so they know what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Origin {
    UserSetting,
    EncoreEnv,
    OrtEnv,
    BesideBinary,
    Installed,
    ProjectLocal,
}

impl Origin {
    /// Paths the user chose, as opposed to places Encore searches by itself.
    pub fn is_user_choice(self) -> bool {
        matches!(
            self,
            Origin::UserSetting | Origin::EncoreEnv | Origin::OrtEnv
        )
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::UserSetting => "path set in Encore's settings or with --ort-library",
            Origin::EncoreEnv => "ENCORE_ORT_DYLIB",
            Origin::OrtEnv => "ORT_DYLIB_PATH",
            Origin::BesideBinary => "next to the Encore binary",
            Origin::Installed => "installed with Encore (PREFIX/lib/encore)",
            Origin::ProjectLocal => "project folder (cargo xtask setup)",
        })
    }
}

/// One place the library was looked for.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub origin: Origin,
    pub path: PathBuf,
}

/// What the caller knows about where to look.
#[derive(Debug, Clone, Default)]
pub struct RuntimeSearch {
    /// The path from the user's settings, if any.
    pub user_path: Option<PathBuf>,
    /// The folder of the running plugin or executable.
    pub binary_dir: Option<PathBuf>,
}

impl RuntimeSearch {
    /// A search from the folder of the binary this code was linked into.
    pub fn from_this_binary(user_path: Option<PathBuf>) -> Self {
        Self {
            user_path,
            binary_dir: this_binary_path().and_then(|p| p.parent().map(Path::to_path_buf)),
        }
    }

    /// Every place to look, in order, with environment variables read now. When the user set a
    /// path, it is the only candidate.
    pub fn candidates(&self) -> Vec<Candidate> {
        let env_path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let chosen = [
            (Origin::UserSetting, self.user_path.clone()),
            (Origin::EncoreEnv, env_path("ENCORE_ORT_DYLIB")),
            (Origin::OrtEnv, env_path("ORT_DYLIB_PATH")),
        ]
        .into_iter()
        .find_map(|(origin, path)| path.map(|path| Candidate { origin, path }));
        if let Some(chosen) = chosen {
            return vec![chosen];
        }
        let beside_binary = self.binary_dir.iter().map(|dir| Candidate {
            origin: Origin::BesideBinary,
            path: dir.join(LIBRARY_FILE),
        });
        let installed = self.binary_dir.iter().filter_map(|dir| {
            Some(Candidate {
                origin: Origin::Installed,
                path: installed_library_dir(dir)?.join(LIBRARY_FILE),
            })
        });
        let project_local = project_roots(self.binary_dir.as_deref())
            .into_iter()
            .flat_map(|root| {
                PROJECT_LOCAL_DIRS.iter().map(move |dir| Candidate {
                    origin: Origin::ProjectLocal,
                    path: root.join(dir).join(LIBRARY_FILE),
                })
            });
        beside_binary
            .chain(installed)
            .chain(project_local)
            .collect()
    }
}

/// `PREFIX/lib/encore` for a binary in `PREFIX/bin` (the layout of `cargo xtask install`).
pub fn installed_library_dir(binary_dir: &Path) -> Option<PathBuf> {
    let prefix = binary_dir
        .parent()
        .filter(|_| binary_dir.file_name().is_some_and(|name| name == "bin"))?;
    Some(prefix.join("lib").join("encore"))
}

/// Source checkouts whose `runtime/` may hold the library: the one above the `target/` folder
/// the binary lies in (`target/release/encore`, `target/bundled/Encore.clap`, ...) and, in debug
/// builds (tests, development), the one this crate was compiled from.
fn project_roots(binary_dir: Option<&Path>) -> Vec<PathBuf> {
    let checkout = binary_dir
        .into_iter()
        .flat_map(Path::ancestors)
        .find(|dir| dir.file_name().is_some_and(|name| name == "target"))
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    #[cfg(debug_assertions)]
    let compiled_in = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    #[cfg(not(debug_assertions))]
    let compiled_in: Option<PathBuf> = None;
    let compiled_in = compiled_in.filter(|dir| Some(dir) != checkout.as_ref());
    checkout.into_iter().chain(compiled_in).collect()
}

/// The library that is loaded into this process.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeInfo {
    pub path: PathBuf,
    pub origin: Origin,
    /// ONNX Runtime's own build description (version and commit).
    pub build: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found at {} ({origin}): the path you set does not exist. \
         Fix or clear the setting (or ENCORE_ORT_DYLIB / ORT_DYLIB_PATH).",
        path.display()
    )]
    SetPathMissing { path: PathBuf, origin: Origin },
    #[error(
        "ONNX Runtime library {LIBRARY_FILE} not found; looked in: {}. \
         Point Encore at it with `--ort-library PATH` (CLI), the library setting in the editor \
         (plugin) or ENCORE_ORT_DYLIB; or install Encore with its library (`cargo xtask \
         install`, or the plugin bundle, which ships it); in a source checkout `cargo xtask \
         setup` puts it in runtime/.",
        list_folders(.searched)
    )]
    NotFound { searched: Vec<PathBuf> },
    #[error(
        "ONNX Runtime library at {path} ({origin}) could not be loaded: {reason}. \
         Encore needs ONNX Runtime 1.31 or newer; point the setting or ENCORE_ORT_DYLIB at a \
         working {LIBRARY_FILE}."
    )]
    LoadFailed {
        path: PathBuf,
        origin: Origin,
        reason: String,
    },
}

/// The folders of `paths`, in order, each once.
fn list_folders(paths: &[PathBuf]) -> String {
    let mut folders: Vec<String> = Vec::new();
    for path in paths {
        let folder = path.parent().unwrap_or(path).display().to_string();
        if !folders.contains(&folder) {
            folders.push(folder);
        }
    }
    folders.join(", ")
}

/// ONNX Runtime, loaded: what it is and the process-wide environment sessions are made in.
/// ONNX Runtime allows one environment per process, and the library stays loaded until exit.
pub struct Runtime {
    pub info: RuntimeInfo,
    environment: ort::environment::Environment,
}

impl Runtime {
    pub fn environment(&self) -> &ort::environment::Environment {
        &self.environment
    }
}

static LOADED: OnceLock<Runtime> = OnceLock::new();
/// Serialises load attempts: two plugin instances may start their workers at once.
static LOAD_LOCK: Mutex<()> = Mutex::new(());

/// The runtime already loaded into this process, if any.
pub fn loaded() -> Option<&'static Runtime> {
    LOADED.get()
}

/// Loads ONNX Runtime from the first candidate that exists, once per process.
///
/// When a candidate exists but fails to load, the error names it rather than silently trying
/// the next one: a path the user chose that does not work is something they need to hear about.
pub fn ensure_loaded(search: &RuntimeSearch) -> Result<&'static Runtime, RuntimeError> {
    let _guard = LOAD_LOCK.lock();
    if let Some(runtime) = loaded() {
        return Ok(runtime);
    }
    let candidates = search.candidates();
    let Some(found) = candidates.iter().find(|c| c.path.is_file()) else {
        return Err(match candidates.as_slice() {
            [only] if only.origin.is_user_choice() => RuntimeError::SetPathMissing {
                path: only.path.clone(),
                origin: only.origin,
            },
            _ => RuntimeError::NotFound {
                searched: candidates.into_iter().map(|c| c.path).collect(),
            },
        });
    };
    let load_failed = |reason: String| RuntimeError::LoadFailed {
        path: found.path.clone(),
        origin: found.origin,
        reason,
    };
    let environment = ort::init_from(&found.path)
        .map_err(|e| load_failed(e.to_string()))?
        .with_name("encore")
        .build()
        .map_err(|e| load_failed(e.to_string()))?;
    let info = RuntimeInfo {
        path: found.path.clone(),
        origin: found.origin,
        build: ort::info().to_string(),
    };
    tracing::info!(path = %info.path.display(), origin = %info.origin, "ONNX Runtime loaded");
    Ok(LOADED.get_or_init(|| Runtime { info, environment }))
}

/// Path of the shared object or executable this function was linked into, symlinks resolved.
fn this_binary_path() -> Option<PathBuf> {
    let path = if linked_into_main_program() {
        std::env::current_exe().ok()?
    } else {
        linked_object_path()?
    };
    Some(path.canonicalize().unwrap_or(path))
}

/// Whether this code is part of the process's executable (the CLI, tests) rather than of a
/// shared object loaded into it (the plugin in a host).
#[cfg(target_os = "linux")]
fn linked_into_main_program() -> bool {
    // AT_PHDR points at the executable's program headers, which lie inside its first mapping:
    // the object dladdr finds for it is the executable.
    // SAFETY: getauxval only reads the process's auxiliary vector.
    let program_headers = unsafe { libc::getauxval(libc::AT_PHDR) } as *const libc::c_void;
    let this_code = this_binary_path as *const libc::c_void;
    match (object_base(program_headers), object_base(this_code)) {
        (Some(program), Some(this)) => program == this,
        // Without dladdr's answer, the executable is the better guess: a plugin always has one.
        _ => object_base(this_code).is_none(),
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
fn linked_into_main_program() -> bool {
    // macOS's dladdr names the main program by its full path too; only a bare name (argv[0]
    // elsewhere) needs current_exe.
    linked_object_path().is_none_or(|path| path.parent() == Some(Path::new("")))
}

#[cfg(not(unix))]
fn linked_into_main_program() -> bool {
    true
}

/// dladdr's description of the object holding `address`.
#[cfg(unix)]
fn object_info(address: *const libc::c_void) -> Option<libc::Dl_info> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr only reads the address and fills `info`; it returns 0 on failure, in
    // which case `info` is not read.
    let found = unsafe { libc::dladdr(address, info.as_mut_ptr()) };
    // SAFETY: dladdr succeeded, so `info` is initialised.
    (found != 0).then(|| unsafe { info.assume_init() })
}

/// Where the object holding `address` is mapped.
#[cfg(target_os = "linux")]
fn object_base(address: *const libc::c_void) -> Option<usize> {
    if address.is_null() {
        return None;
    }
    object_info(address).map(|info| info.dli_fbase as usize)
}

/// The file name the loader has for the object this function was linked into: the path a
/// host opened the plugin by (for the executable, only its argv[0]).
#[cfg(unix)]
fn linked_object_path() -> Option<PathBuf> {
    let info = object_info(linked_object_path as *const libc::c_void)?;
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a C string owned by the loader that lives as long as the object is
    // loaded.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name.to_bytes()),
    ))
}

#[cfg(not(unix))]
fn linked_object_path() -> Option<PathBuf> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(user: Option<&str>) -> RuntimeSearch {
        RuntimeSearch {
            user_path: user.map(PathBuf::from),
            binary_dir: Some(PathBuf::from(
                "/opt/plugins/Encore.vst3/Contents/x86_64-linux",
            )),
        }
    }

    fn without_env_overrides() -> bool {
        // Environment variables are process-wide; these tests only run meaningfully without them.
        std::env::var_os("ENCORE_ORT_DYLIB").is_none()
            && std::env::var_os("ORT_DYLIB_PATH").is_none()
    }

    #[test]
    fn searches_beside_the_binary_before_the_project_folder() {
        if !without_env_overrides() {
            return;
        }
        let candidates = search(None).candidates();
        assert_eq!(candidates[0].origin, Origin::BesideBinary);
        assert_eq!(
            candidates[0].path,
            Path::new("/opt/plugins/Encore.vst3/Contents/x86_64-linux").join(LIBRARY_FILE)
        );
        assert!(
            candidates[1..]
                .iter()
                .all(|c| c.origin == Origin::ProjectLocal)
        );
    }

    #[test]
    fn a_binary_under_target_looks_in_its_checkouts_runtime_folder() {
        if !without_env_overrides() {
            return;
        }
        let search = RuntimeSearch {
            user_path: None,
            binary_dir: Some(PathBuf::from("/home/me/encore/target/release")),
        };
        let paths: Vec<PathBuf> = search.candidates().into_iter().map(|c| c.path).collect();
        assert_eq!(
            paths[1..3],
            [
                Path::new("/home/me/encore/runtime/onnxruntime-gpu").join(LIBRARY_FILE),
                Path::new("/home/me/encore/runtime/onnxruntime-cpu").join(LIBRARY_FILE),
            ]
        );
    }

    #[test]
    fn an_installed_binary_never_looks_into_the_build_checkout_in_release() {
        if !without_env_overrides() {
            return;
        }
        let roots = project_roots(Some(Path::new(
            "/opt/plugins/Encore.vst3/Contents/x86_64-linux",
        )));
        let compiled_in = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        // Debug builds (tests, development) may use the checkout they were compiled from;
        // release builds never do.
        assert_eq!(roots.contains(&compiled_in), cfg!(debug_assertions));
        assert!(roots.iter().all(|r| r == &compiled_in), "{roots:?}");
    }

    #[test]
    fn an_installed_binary_looks_in_its_prefixs_lib_folder_next() {
        if !without_env_overrides() {
            return;
        }
        let search = RuntimeSearch {
            user_path: None,
            binary_dir: Some(PathBuf::from("/opt/encore/bin")),
        };
        let candidates = search.candidates();
        assert_eq!(candidates[1].origin, Origin::Installed);
        assert_eq!(
            candidates[1].path,
            Path::new("/opt/encore/lib/encore").join(LIBRARY_FILE)
        );
        // A binary anywhere else has no installed layout to look into.
        assert!(
            self::search(None)
                .candidates()
                .iter()
                .all(|c| c.origin != Origin::Installed)
        );
    }

    #[test]
    fn not_found_lists_the_folders_and_the_ways_to_point_at_a_library() {
        let error = RuntimeError::NotFound {
            searched: vec![
                Path::new("/opt/encore/bin").join(LIBRARY_FILE),
                Path::new("/opt/encore/lib/encore").join(LIBRARY_FILE),
            ],
        };
        let message = error.to_string();
        assert!(
            message.contains("looked in: /opt/encore/bin, /opt/encore/lib/encore."),
            "{message}"
        );
        assert!(message.contains("--ort-library"), "{message}");
        assert!(message.contains("ENCORE_ORT_DYLIB"), "{message}");
    }

    #[test]
    fn the_test_program_is_its_own_binary() {
        let path = this_binary_path().expect("the test binary has a path");
        assert_eq!(
            path,
            std::env::current_exe().unwrap().canonicalize().unwrap()
        );
        assert!(linked_into_main_program());
    }

    #[test]
    fn a_path_the_user_set_is_the_only_candidate() {
        let candidates = search(Some("/my/libonnxruntime.so")).candidates();
        assert_eq!(candidates.len(), 1);
        assert_eq!(candidates[0].origin, Origin::UserSetting);
    }

    #[test]
    fn a_missing_user_path_is_reported_as_such() {
        let error = ensure_loaded(&search(Some("/nonexistent/libonnxruntime.so"))).err();
        // Another test in this process may already have loaded a runtime; then there is nothing
        // to check.
        if loaded().is_none() {
            let message = error.expect("a missing library must not load").to_string();
            assert!(
                message.contains("/nonexistent/libonnxruntime.so"),
                "{message}"
            );
            assert!(message.contains("does not exist"), "{message}");
        }
    }
}
