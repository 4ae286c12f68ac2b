//! Continue and Cancel, what the generation is doing, and a progress bar per level with its
//! speed and time left.

use egui::{ProgressBar, RichText, Ui};

use super::super::diagnostics::RuntimeStatus;
use super::super::session::{GenerationPhase, GenerationView, LevelProgress, ModelStatus};
use super::super::settings::{LengthUnit, PromptSource, Settings};
use super::super::worker::WorkerCommand;
use super::format::{codes_per_second, duration, level_name};
use super::view::FrameView;
use super::{EditorApp, style};

/// Jukebox's top level; generations go from here down to their target level.
const TOP_LEVEL: usize = 2;
const CONTINUE_BUTTON_SIZE: [f32; 2] = [140.0, 32.0];

/// Why Continue cannot be pressed now, in words for the user; `None` when it can.
pub fn continue_blocker(view: &FrameView, settings: &Settings) -> Option<String> {
    match &view.runtime {
        RuntimeStatus::NotChecked => {
            return Some(
                "Waiting for the host to start Encore (ONNX Runtime not checked yet).".into(),
            );
        }
        RuntimeStatus::Unavailable(_) => {
            return Some("ONNX Runtime is unavailable: see the status above.".into());
        }
        RuntimeStatus::Ready(_) => {}
    }
    match &view.model {
        ModelStatus::NotSet => return Some("Load a model folder first.".into()),
        ModelStatus::Loading(_) => return Some("The model is still being checked.".into()),
        ModelStatus::Unusable { .. } => {
            return Some("The model folder cannot be used: see the status above.".into());
        }
        ModelStatus::Ready(_) => {}
    }
    let needs_tempo = settings.length_unit == LengthUnit::Bars
        || matches!(settings.prompt, PromptSource::LastBars(_));
    if needs_tempo && view.host.tempo_bpm <= 0.0 {
        return Some("Bars need the host's tempo, and the host gives none: use seconds.".into());
    }
    match settings.prompt {
        PromptSource::File if settings.prompt_file.is_none() => {
            Some("Type the path of the prompt's audio file.".into())
        }
        PromptSource::Range {
            start_seconds,
            end_seconds,
        } if end_seconds <= start_seconds => Some("The prompt range ends before it starts.".into()),
        _ => None,
    }
}

impl EditorApp {
    pub(super) fn run_section(&mut self, ui: &mut Ui) {
        let blocker = continue_blocker(&self.view, &self.settings);
        let generating = self.view.is_generating();
        ui.horizontal(|ui| {
            let label = if generating {
                "Continue again"
            } else {
                "Continue"
            };
            let button = egui::Button::new(RichText::new(label).strong().size(16.0))
                .min_size(CONTINUE_BUTTON_SIZE.into());
            let response = ui
                .add_enabled(blocker.is_none(), button)
                .on_hover_text("Continue the prompt with the settings on the left")
                .on_disabled_hover_text(blocker.clone().unwrap_or_default());
            if response.clicked() {
                self.send(WorkerCommand::Continue);
            }
            if generating
                && ui
                    .add(egui::Button::new("Cancel").min_size([80.0, 32.0].into()))
                    .on_hover_text("Stop within one step; the checkpoint is kept")
                    .clicked()
            {
                self.send(WorkerCommand::Cancel);
            }
        });
        if let Some(reason) = &blocker {
            ui.colored_label(style::WARNING, reason);
        }
        match &self.view.generation {
            Some(generation) => generation_progress(ui, generation),
            None => {
                ui.weak("Nothing generated yet in this session.");
            }
        }
    }
}

fn generation_progress(ui: &mut Ui, generation: &GenerationView) {
    let takes = match generation.takes {
        1 => "1 take".to_string(),
        n => format!("{n} takes"),
    };
    let goal = format!("{takes}, down to {}", level_name(generation.target_level));
    match &generation.phase {
        GenerationPhase::Queued { ahead } => {
            ui.label(format!("Queued behind {ahead} generation(s): {goal}."));
        }
        GenerationPhase::Preparing => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!(
                    "Preparing: loading the model and encoding the prompt ({goal})."
                ));
            });
        }
        GenerationPhase::Running => {
            ui.label(format!("Generating {goal}."));
        }
        GenerationPhase::Finished => {
            ui.colored_label(style::OK, format!("Finished: {takes}."));
        }
        GenerationPhase::Cancelled => {
            ui.colored_label(
                style::WARNING,
                "Cancelled. The takes written so far are kept, and so is the checkpoint.",
            );
        }
        GenerationPhase::Failed(reason) => {
            ui.colored_label(style::ERROR, format!("Failed: {reason}"));
        }
    }
    egui::Grid::new("levels")
        .num_columns(2)
        .spacing([10.0, 4.0])
        .show(ui, |ui| {
            for level in (generation.target_level..=TOP_LEVEL).rev() {
                ui.label(level_name(level));
                match generation.levels.iter().find(|p| p.level == level) {
                    Some(progress) => level_bar(ui, progress),
                    None => {
                        ui.weak("waiting for the level above");
                    }
                }
                ui.end_row();
            }
        });
}

fn level_bar(ui: &mut Ui, progress: &LevelProgress) {
    let fraction = if progress.total > 0 {
        progress.done as f32 / progress.total as f32
    } else {
        0.0
    };
    let mut text = format!("{} / {} codes", progress.done, progress.total);
    if progress.done < progress.total {
        if progress.codes_per_second > 0.0 {
            text += &format!(" · {}", codes_per_second(progress.codes_per_second));
        }
        if let Some(eta) = progress.eta_seconds {
            text += &format!(" · {} left", duration(eta));
        }
    } else {
        text += " · done";
    }
    ui.add(
        ProgressBar::new(fraction)
            .text(text)
            .fill(style::PROGRESS)
            .desired_width(ui.available_width()),
    );
}
