//! "Show in folder": the system's file manager opened on a take, so it can be dragged from
//! there onto the DAW's timeline (a plugin window cannot start that drag itself, see
//! docs/daw-workflow.md).
//!
//! The file manager is started on its own thread: spawning can stall (a slow D-Bus activation
//! behind `xdg-open`), and the GUI thread must never wait for it. Failures come back as text
//! for the editor to show.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

use crossbeam_channel::Sender;

/// The program and arguments that show `file` in the file manager on this system.
pub fn show_in_folder_command(file: &Path) -> (OsString, Vec<OsString>) {
    if cfg!(target_os = "macos") {
        // Opens a Finder window with the file selected.
        ("open".into(), vec!["-R".into(), file.into()])
    } else if cfg!(target_os = "windows") {
        // Explorer wants `/select,` and the path as one argument.
        let mut select = OsString::from("/select,");
        select.push(file);
        ("explorer".into(), vec![select])
    } else {
        // xdg-open cannot select a file: it opens the folder holding it.
        let folder = file.parent().unwrap_or(file);
        ("xdg-open".into(), vec![folder.into()])
    }
}

/// Starts the file manager on a background thread; a failure is sent to `failures`.
pub fn show_in_folder(file: &Path, failures: Sender<String>) {
    let (program, args) = show_in_folder_command(file);
    let what = format!("Show in folder ({})", file.display());
    run_detached(program, args, what, failures);
}

/// Runs `program` on its own thread and reports a failure as "`what`: reason".
fn run_detached(program: OsString, args: Vec<OsString>, what: String, failures: Sender<String>) {
    let spawned = std::thread::Builder::new()
        .name("encore-show-in-folder".into())
        .spawn(move || {
            let status = Command::new(&program)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let name = program.to_string_lossy();
            let failure = match status {
                // Explorer exits with 1 even when it worked.
                Ok(status) if status.success() || cfg!(target_os = "windows") => return,
                Ok(status) => format!("{name} exited with {status}"),
                Err(error) => format!("could not start {name}: {error}"),
            };
            let _ = failures.send(format!("{what}: {failure}"));
        });
    if let Err(error) = spawned {
        tracing::warn!("could not start the show-in-folder thread: {error}");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_opens_the_folder_holding_the_take() {
        let (program, args) = show_in_folder_command(Path::new("/music/Encore/take 1.wav"));
        assert_eq!(program, "xdg-open");
        assert_eq!(args, vec![OsString::from("/music/Encore")]);
    }

    #[test]
    fn a_program_that_cannot_start_is_reported_without_blocking() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let started = std::time::Instant::now();
        run_detached(
            "encore-no-such-file-manager".into(),
            vec![],
            "Show in folder (x)".into(),
            tx,
        );
        assert!(started.elapsed() < Duration::from_millis(500));
        let message = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            message.starts_with("Show in folder (x): could not start encore-no-such-file-manager"),
            "{message}"
        );
    }
}
