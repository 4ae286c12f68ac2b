//! Dragging a take out of the editor: starting the platform drag ([`super::drag`]) when a
//! take's waveform is dragged, and following it each frame (cursor, the outcome).

use std::path::PathBuf;
use std::time::Duration;

use egui::{CursorIcon, Ui};

use super::drag::{self, DragOutcome, DragStatus};
use super::{EditorApp, style};

/// Frames while a drag runs: the cursor follows whether the window below takes the file.
const DRAG_REPAINT: Duration = Duration::from_millis(16);

/// The drag under way and the take it carries.
pub struct TakeDrag {
    pub take: u64,
    pub drag: drag::Drag,
}

impl EditorApp {
    pub(super) fn start_drag(&mut self, take: u64, file: PathBuf) {
        match drag::start(self.window, &file) {
            Ok(drag) => self.drag = Some(TakeDrag { take, drag }),
            Err(e) => {
                self.notice = Some(format!(
                    "{e}: use Show in folder and drag the file from the file manager."
                ));
            }
        }
    }

    pub(super) fn follow_drag(&mut self, ctx: &egui::Context) {
        let Some(current) = &self.drag else {
            return;
        };
        match current.drag.status() {
            DragStatus::Dragging { accepting } => {
                ctx.set_cursor_icon(if accepting {
                    CursorIcon::Grabbing
                } else {
                    CursorIcon::NoDrop
                });
                ctx.request_repaint_after(DRAG_REPAINT);
            }
            DragStatus::Ended(outcome) => {
                // Shown for one frame more, then gone.
                ctx.request_repaint();
                let name = current.drag.file().file_name().map_or_else(
                    || current.drag.file().display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                match outcome {
                    DragOutcome::Dropped | DragOutcome::Cancelled | DragOutcome::NoTarget => {}
                    DragOutcome::Refused => {
                        self.notice = Some(format!(
                            "{name} was not dropped: the window there does not take audio files."
                        ));
                    }
                    DragOutcome::Failed(reason) => {
                        self.notice = Some(format!("Dragging {name} failed: {reason}."));
                    }
                }
                self.drag = None;
            }
        }
    }
}

impl EditorApp {
    /// While a take is dragged: which one, and whether the window under the pointer takes it.
    pub(super) fn drag_note(&self, ui: &mut Ui) {
        let Some(current) = &self.drag else {
            return;
        };
        let name = self
            .view
            .session
            .take(current.take)
            .map_or_else(|| format!("Take {}", current.take), |t| t.name.clone());
        match current.drag.status() {
            DragStatus::Dragging { accepting: true } => {
                ui.colored_label(
                    style::OK,
                    format!("Dragging {name}: release to drop it there"),
                );
            }
            DragStatus::Dragging { accepting: false } => {
                ui.weak(format!(
                    "Dragging {name}: move it over the DAW's timeline (Escape cancels)"
                ));
            }
            DragStatus::Ended(_) => {}
        }
    }
}

/// The editor's native window from baseview, for the drag source.
pub fn native_window(frame: &nice_plug_egui::Frame) -> drag::NativeWindow {
    use raw_window_handle::HasWindowHandle;
    frame
        .baseview_window()
        .window_handle()
        .map_or(drag::NativeWindow::Unsupported, |handle| {
            drag::NativeWindow::from_raw(handle.as_raw())
        })
}
