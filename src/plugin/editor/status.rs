//! The top strip: is ONNX Runtime usable, which model is loaded and where it runs. The model
//! folder is chosen with Browse… (the desktop's dialog), dropped onto the editor, or typed and
//! applied with Load.

use std::path::PathBuf;

use egui::{RichText, TextEdit, Ui};

use super::super::diagnostics::RuntimeStatus;
use super::super::session::ModelStatus;
use super::super::settings::Settings;
use super::super::worker::WorkerCommand;
use super::{EditorApp, style};

const PATH_FIELD_WIDTH: f32 = 560.0;
const STATUS_LABEL_WIDTH: f32 = 100.0;
/// A day: longer is "never" for practical purposes.
const MAX_IDLE_MINUTES: f32 = 24.0 * 60.0;
/// The most engine threads the editor offers (more than any machine Encore runs on has cores).
const MAX_ENGINE_THREADS: u32 = 256;

#[derive(Debug, Default)]
pub struct StatusUi {
    /// The ONNX Runtime path being typed, applied with its Load button.
    ort_path_text: String,
    /// The model folder being typed, applied with its Load button.
    pub model_path_text: String,
    /// True once the user typed in the model field: it then no longer follows the status.
    pub model_path_edited: bool,
}

impl StatusUi {
    pub fn new(settings: &Settings) -> Self {
        let shown = |path: &Option<PathBuf>| {
            path.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        Self {
            ort_path_text: shown(&settings.ort_library),
            model_path_text: shown(&settings.model_dir),
            model_path_edited: false,
        }
    }
}

fn typed_path(text: &str) -> Option<PathBuf> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.into())
}

impl EditorApp {
    pub(super) fn status_section(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.heading("Encore");
            ui.weak("continues your music with Jukebox");
        });
        ui.horizontal_top(|ui| {
            style::fixed_width(ui, STATUS_LABEL_WIDTH, |ui| ui.strong("ONNX Runtime"));
            ui.vertical(|ui| self.runtime_status(ui));
        });
        ui.horizontal_top(|ui| {
            style::fixed_width(ui, STATUS_LABEL_WIDTH, |ui| ui.strong("Model"));
            ui.vertical(|ui| self.model_status(ui));
        });
    }

    fn runtime_status(&mut self, ui: &mut Ui) {
        match &self.view.runtime {
            RuntimeStatus::NotChecked => {
                ui.label("Looking for ONNX Runtime… (starts when the host activates Encore)");
            }
            RuntimeStatus::Ready(info) => {
                ui.horizontal(|ui| {
                    ui.colored_label(style::OK, format!("ready ({})", info.origin));
                    ui.small(info.path.display().to_string());
                });
            }
            RuntimeStatus::Unavailable(reason) => {
                ui.colored_label(
                    style::ERROR,
                    "unavailable: Encore passes audio through unchanged",
                );
                ui.label(RichText::new(reason).color(style::ERROR));
            }
        }
        // Only offered when needed: a working runtime is rarely changed.
        if !matches!(self.view.runtime, RuntimeStatus::Ready(_)) {
            ui.horizontal(|ui| {
                ui.add(
                    TextEdit::singleline(&mut self.status.ort_path_text)
                        .hint_text("path to libonnxruntime (empty: search the usual places)")
                        .desired_width(PATH_FIELD_WIDTH),
                );
                if ui.button("Load").clicked() {
                    let user_path = typed_path(&self.status.ort_path_text);
                    self.settings.ort_library = user_path.clone();
                    self.send(WorkerCommand::LoadRuntime { user_path });
                }
            });
        }
    }

    fn model_status(&mut self, ui: &mut Ui) {
        if !self.status.model_path_edited
            && let Some(dir) = model_dir(&self.view.model)
        {
            // Follow the folder the worker loads (the saved one, or ENCORE_MODEL_DIR).
            self.status.model_path_text = dir.display().to_string();
        }
        ui.horizontal(|ui| {
            let field = ui.add(
                TextEdit::singleline(&mut self.status.model_path_text)
                    .hint_text("exported Jukebox folder (holds manifest.json)")
                    .desired_width(PATH_FIELD_WIDTH),
            );
            if field.changed() {
                self.status.model_path_edited = true;
            }
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let load = ui
                .button("Load")
                .on_hover_text("Read and check this model folder");
            let browse = ui
                .add_enabled(self.browsing.is_none(), egui::Button::new("Browse…"))
                .on_hover_text("Choose the model folder (or drop it onto the editor)");
            if browse.clicked() {
                self.browse(super::browse::Pick::ModelFolder);
            }
            if (load.clicked() || enter)
                && let Some(dir) = typed_path(&self.status.model_path_text)
            {
                self.status.model_path_edited = false;
                self.settings.model_dir = Some(dir.clone());
                self.send(WorkerCommand::LoadModel { dir });
            }
        });
        match &self.view.model {
            ModelStatus::NotSet => {
                ui.colored_label(
                    style::WARNING,
                    "No model loaded: Browse… for the folder exported with `cargo xtask export`, or drop it here.",
                );
            }
            ModelStatus::Loading(dir) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Checking {}…", dir.display()));
                });
            }
            ModelStatus::Ready(info) => {
                ui.horizontal_wrapped(|ui| {
                    ui.colored_label(style::OK, RichText::new(&info.name).strong());
                    ui.label(format!(
                        "· {} artists · {} genres · {} · songs up to {}",
                        info.artists.len(),
                        info.genres.len(),
                        if info.has_lyrics {
                            "lyrics"
                        } else {
                            "no lyrics"
                        },
                        super::format::duration(info.max_song_seconds),
                    ));
                    ui.label(format!("· runs on {}", info.device));
                });
            }
            ModelStatus::Unusable { dir, reason } => {
                ui.colored_label(style::ERROR, format!("{} cannot be used:", dir.display()));
                ui.label(RichText::new(reason).color(style::ERROR));
            }
        }
        self.idle_release(ui);
    }

    /// How long a loaded model stays in memory unused (every Encore in the process shares it).
    fn idle_release(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.label("Free the model's memory after");
            ui.add(
                egui::DragValue::new(&mut self.settings.model_idle_minutes)
                    .range(0.0..=MAX_IDLE_MINUTES)
                    .speed(0.5)
                    .suffix(" min"),
            )
            .on_hover_text(
                "A model stays loaded between generations (loading a full-size one takes \
                 seconds); after this long unused, its GPU memory is given back. Shared by every \
                 Encore in this DAW.",
            );
            ui.label("unused");
        });
        ui.horizontal(|ui| {
            ui.label("Engine threads");
            ui.add(
                egui::DragValue::new(&mut self.settings.engine_threads)
                    .range(0..=MAX_ENGINE_THREADS)
                    .custom_formatter(|n, _| match n as u32 {
                        0 => "automatic".into(),
                        n => n.to_string(),
                    }),
            )
            .on_hover_text(
                "Threads ONNX Runtime uses for a generation. Automatic: every physical core but \
                 one, so the DAW keeps a core for its audio. Shared by every Encore in this DAW; \
                 takes effect when the engine next starts.",
            );
        });
    }

    /// The last error from the worker and failures of the editor's own helpers, each
    /// dismissable.
    pub(super) fn errors_section(&mut self, ui: &mut Ui) {
        let error = self
            .view
            .last_error
            .as_ref()
            .filter(|e| self.dismissed_error.as_ref() != Some(*e))
            .cloned();
        match (error, self.notice.clone()) {
            (None, None) => {
                ui.weak("No errors.");
            }
            (error, notice) => {
                if let Some(error) = error {
                    let dismissed = dismissable(ui, format!("Error: {error}"), style::ERROR);
                    if dismissed {
                        self.dismissed_error = Some(error);
                    }
                }
                if let Some(notice) = notice
                    && dismissable(ui, notice, style::WARNING)
                {
                    self.notice = None;
                }
            }
        }
    }
}

fn model_dir(status: &ModelStatus) -> Option<&PathBuf> {
    match status {
        ModelStatus::NotSet => None,
        ModelStatus::Loading(dir) | ModelStatus::Unusable { dir, .. } => Some(dir),
        ModelStatus::Ready(info) => Some(&info.dir),
    }
}

/// A wrapped line of coloured text with a Dismiss button before it; true when dismissed.
fn dismissable(ui: &mut Ui, text: String, colour: egui::Color32) -> bool {
    ui.horizontal_top(|ui| {
        let dismissed = ui.small_button("Dismiss").clicked();
        ui.add(egui::Label::new(RichText::new(text).color(colour)).wrap());
        dismissed
    })
    .inner
}
