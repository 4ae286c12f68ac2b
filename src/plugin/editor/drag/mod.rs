//! Dragging a take's file out of the editor into another program (the DAW's arrangement, a
//! file manager): the source side of the platform's drag-and-drop protocol.
//!
//! The interface is small so that each platform can bring its own: [`start`] takes the
//! editor's native window and the file, and returns a [`Drag`] that runs on a thread of its
//! own (the GUI thread never waits on it) and reports its [`DragStatus`]. X11 speaks XDND
//! version 5 itself ([`xdnd`]); Windows and macOS can be added with the `drag` crate, which
//! starts a drag from a window handle.

mod uri;
#[cfg(target_os = "linux")]
mod xdnd;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use raw_window_handle::RawWindowHandle;

/// The editor's window, as much of it as a drag needs. Unlike `RawWindowHandle` it can go to
/// another thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeWindow {
    /// An X11 window id.
    X11(u32),
    /// A platform without a drag source yet.
    Unsupported,
}

impl NativeWindow {
    pub fn from_raw(handle: RawWindowHandle) -> Self {
        match handle {
            RawWindowHandle::Xlib(h) => {
                u32::try_from(h.window).map_or(Self::Unsupported, Self::X11)
            }
            RawWindowHandle::Xcb(h) => Self::X11(h.window.get()),
            _ => Self::Unsupported,
        }
    }
}

/// How a drag ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DragOutcome {
    /// The target took the file.
    Dropped,
    /// Released over a window that does not take files (or took the drop and then said no).
    Refused,
    /// Escape, or the editor cancelled it.
    Cancelled,
    /// Released where no program takes drops (or over the editor itself).
    NoTarget,
    /// The drag could not run; the reason in one line.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DragStatus {
    /// Following the pointer; `accepting`: whether the window under it would take the file.
    Dragging {
        accepting: bool,
    },
    Ended(DragOutcome),
}

#[derive(Debug, thiserror::Error)]
pub enum DragError {
    #[error("dragging files out of the editor is not supported on this platform yet")]
    Unsupported,
    #[error("cannot start the drag: {0}")]
    Start(String),
}

/// What the drag thread and the editor share.
#[derive(Debug)]
struct DragShared {
    status: Mutex<DragStatus>,
    cancel: AtomicBool,
}

impl DragShared {
    fn set(&self, status: DragStatus) {
        *self.status.lock() = status;
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }
}

/// A drag under way (or just ended). Dropping it cancels a drag still running.
#[derive(Debug)]
pub struct Drag {
    file: PathBuf,
    shared: Arc<DragShared>,
}

impl Drag {
    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn status(&self) -> DragStatus {
        self.shared.status.lock().clone()
    }

    pub fn cancel(&self) {
        self.shared.cancel.store(true, Ordering::Release);
    }
}

impl Drop for Drag {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Starts dragging `file` (made absolute) out of `window`, with the primary button held down.
pub fn start(window: NativeWindow, file: &Path) -> Result<Drag, DragError> {
    let file = std::path::absolute(file).map_err(|e| DragError::Start(e.to_string()))?;
    let shared = Arc::new(DragShared {
        status: Mutex::new(DragStatus::Dragging { accepting: false }),
        cancel: AtomicBool::new(false),
    });
    match window {
        #[cfg(target_os = "linux")]
        NativeWindow::X11(id) => xdnd::spawn(id, &file, shared.clone())?,
        _ => return Err(DragError::Unsupported),
    }
    Ok(Drag { file, shared })
}
