//! How many threads ONNX Runtime may use inside a DAW: the host needs a core of its own (its
//! audio thread, and its other plugins). Left to itself, ONNX Runtime starts one intra-op
//! thread per core, and a generation then competes with the audio thread for every core.

/// Physical cores of this machine (hyper-threads are not cores: two ONNX Runtime threads on one
/// core gain little and take the host's time). Logical CPUs where the topology is not known.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    os_physical_cores()
        .filter(|&n| n > 0)
        .unwrap_or(logical)
        .min(logical)
        .max(1)
}

/// The default intra-op thread count beside a host: every physical core but one, at least 1.
pub fn threads_beside_the_host() -> usize {
    physical_cores().saturating_sub(1).max(1)
}

#[cfg(target_os = "linux")]
fn os_physical_cores() -> Option<usize> {
    // Distinct (package, core) pairs of the CPUs this process may run on.
    let mut cores = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir("/sys/devices/system/cpu").ok()? {
        let path = entry.ok()?.path();
        let name = path.file_name()?.to_str()?.to_owned();
        if !(name.starts_with("cpu") && name[3..].chars().all(|c| c.is_ascii_digit())) {
            continue;
        }
        let read = |f: &str| std::fs::read_to_string(path.join("topology").join(f)).ok();
        let (Some(package), Some(core)) = (read("physical_package_id"), read("core_id")) else {
            continue;
        };
        cores.insert((package.trim().to_owned(), core.trim().to_owned()));
    }
    Some(cores.len())
}

#[cfg(target_os = "macos")]
fn os_physical_cores() -> Option<usize> {
    let mut cores: libc::c_int = 0;
    let mut size = std::mem::size_of::<libc::c_int>();
    // SAFETY: `hw.physicalcpu` is an int; we pass a buffer of that size and its length.
    let status = unsafe {
        libc::sysctlbyname(
            c"hw.physicalcpu".as_ptr(),
            (&raw mut cores).cast(),
            &mut size,
            std::ptr::null_mut(),
            0,
        )
    };
    (status == 0).then_some(cores as usize)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn os_physical_cores() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_a_core_to_the_host() {
        let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
        let physical = physical_cores();
        assert!((1..=logical).contains(&physical), "{physical} of {logical}");
        let threads = threads_beside_the_host();
        assert!(threads >= 1);
        if physical > 1 {
            assert_eq!(threads, physical - 1);
        }
    }
}
