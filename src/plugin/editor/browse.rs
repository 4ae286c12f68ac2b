//! Files chosen without typing: Browse buttons open the desktop's own dialog (rfd, through the
//! XDG desktop portal, with zenity as its fallback) on a thread of their own, so the host's GUI
//! thread never waits on it; a later frame picks the answer up. Audio files and folders dropped
//! onto the editor go the same way: an audio file becomes the prompt, a folder the model.
//! Tests put a stub in place of the dialogs.

use std::path::{Path, PathBuf};

use crossbeam_channel::Sender;
use egui::{Align2, Color32, FontId, Id, LayerId, Order};

use super::super::settings::PromptSource;
use super::super::worker::WorkerCommand;
use super::{EditorApp, style};

/// What the prompt's file can be (the formats the decoder reads).
pub const AUDIO_EXTENSIONS: [&str; 5] = ["wav", "flac", "mp3", "ogg", "oga"];

/// What a dialog or a drop is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    PromptFile,
    ModelFolder,
}

/// A dialog's answer: what it was for and the path chosen (`None`: closed without one).
pub type Answer = (Pick, Option<PathBuf>);

/// Opens a dialog for `pick`, starting in `start`; answers on `answer` when it closes.
pub trait Dialogs: Send {
    fn open(&self, pick: Pick, start: Option<PathBuf>, answer: Sender<Answer>);
}

/// The desktop's dialogs, each on a short-lived thread (the portal call blocks until the user
/// answers).
pub struct NativeDialogs;

impl Dialogs for NativeDialogs {
    fn open(&self, pick: Pick, start: Option<PathBuf>, answer: Sender<Answer>) {
        let on_failure = answer.clone();
        let spawned = std::thread::Builder::new()
            .name("encore-file-dialog".into())
            .spawn(move || {
                let mut dialog = rfd::FileDialog::new();
                if let Some(dir) = start.filter(|d| d.is_dir()) {
                    dialog = dialog.set_directory(dir);
                }
                let chosen = match pick {
                    Pick::PromptFile => dialog
                        .set_title("The prompt's audio file")
                        .add_filter("Audio", &AUDIO_EXTENSIONS)
                        .pick_file(),
                    Pick::ModelFolder => dialog
                        .set_title("An exported Jukebox model folder (holds manifest.json)")
                        .pick_folder(),
                };
                let _ = answer.send((pick, chosen));
            });
        if spawned.is_err() {
            let _ = on_failure.send((pick, None));
        }
    }
}

/// Whether `path` names an audio file the prompt can be (by its extension: the editor reads
/// no files).
pub fn is_audio_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// What a dropped path is for: an audio file is a prompt, anything else a model folder (the
/// worker checks it and says why when it is not one).
pub fn dropped_pick(path: &Path) -> Pick {
    if is_audio_file(path) {
        Pick::PromptFile
    } else {
        Pick::ModelFolder
    }
}

impl EditorApp {
    /// A Browse button: opens the dialog unless one is open already.
    pub(super) fn browse(&mut self, pick: Pick) {
        if self.browsing.is_some() {
            return;
        }
        let start = match pick {
            Pick::PromptFile => self.settings.prompt_file.as_deref().and_then(Path::parent),
            Pick::ModelFolder => self.settings.model_dir.as_deref().and_then(Path::parent),
        }
        .map(Path::to_path_buf);
        self.browsing = Some(pick);
        self.dialogs.open(pick, start, self.answers.0.clone());
    }

    /// The dialogs' answers and the files dropped this frame, applied.
    pub(super) fn take_files(&mut self, ctx: &egui::Context) {
        while let Ok((pick, path)) = self.answers.1.try_recv() {
            if self.browsing == Some(pick) {
                self.browsing = None;
            }
            if let Some(path) = path {
                self.use_path(pick, path);
            }
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        for path in dropped {
            self.use_path(dropped_pick(&path), path);
        }
        self.paint_drop_hint(ctx);
    }

    fn use_path(&mut self, pick: Pick, path: PathBuf) {
        match pick {
            Pick::PromptFile => {
                self.settings.prompt = PromptSource::File;
                self.settings.prompt_file = Some(path);
            }
            Pick::ModelFolder => {
                self.status.model_path_text = path.display().to_string();
                self.status.model_path_edited = false;
                self.settings.model_dir = Some(path.clone());
                self.send(WorkerCommand::LoadModel { dir: path });
            }
        }
    }

    /// While files are dragged over the editor: what dropping them does.
    fn paint_drop_hint(&self, ctx: &egui::Context) {
        let hovered: Vec<Option<PathBuf>> =
            ctx.input(|i| i.raw.hovered_files.iter().map(|f| f.path.clone()).collect());
        if hovered.is_empty() {
            return;
        }
        let text = match hovered.first().cloned().flatten() {
            Some(path) if dropped_pick(&path) == Pick::PromptFile => {
                "Drop to use this audio file as the prompt"
            }
            Some(_) => "Drop to load this model folder",
            None => "Drop an audio file for the prompt, or a model folder to load it",
        };
        let screen = ctx.content_rect();
        let painter = ctx.layer_painter(LayerId::new(Order::Foreground, Id::unique("drop-hint")));
        painter.rect_filled(screen, 0.0, Color32::from_black_alpha(190));
        painter.text(
            screen.center(),
            Align2::CENTER_CENTER,
            text,
            FontId::proportional(20.0),
            style::TEXT,
        );
    }
}

#[cfg(test)]
pub mod stub {
    use super::*;

    /// Answers every dialog at once with the path it was given for that pick.
    pub struct StubDialogs {
        pub prompt_file: Option<PathBuf>,
        pub model_folder: Option<PathBuf>,
    }

    impl Dialogs for StubDialogs {
        fn open(&self, pick: Pick, _start: Option<PathBuf>, answer: Sender<Answer>) {
            let path = match pick {
                Pick::PromptFile => self.prompt_file.clone(),
                Pick::ModelFolder => self.model_folder.clone(),
            };
            let _ = answer.send((pick, path));
        }
    }
}
