//! Continue and Cancel with what a Continue will cost here, what the generation is doing, and
//! a progress bar per level it runs with its speed and time left.

use egui::{ProgressBar, RichText, Ui};

use super::super::diagnostics::RuntimeStatus;
use super::super::session::{
    GenerationPhase, GenerationView, LevelProgress, ModelInfo, ModelStatus,
};
use super::super::settings::{LengthUnit, PromptSource, Settings};
use super::super::worker::WorkerCommand;
use super::estimates::{Estimator, TOP_LEVEL, continue_cost, target_level};
use super::format::{codes_per_second, duration, level_name};
use super::view::FrameView;
use super::{EditorApp, style};
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
            Some("Choose the prompt's audio file: Browse…, drop it here or type its path.".into())
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
            // Always "Continue": a press while one runs queues another after it (its hover
            // says so), and the button never reads as if it had been pressed twice.
            let button = egui::Button::new(RichText::new("Continue").strong().size(16.0))
                .min_size(CONTINUE_BUTTON_SIZE.into());
            let hover = if generating {
                "Queue another Continue of the prompt after the one running"
            } else {
                "Continue the prompt with the settings on the left"
            };
            let response = ui
                .add_enabled(blocker.is_none(), button)
                .on_hover_text(hover)
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
        self.cost_line(ui);
        let model = match &self.view.model {
            ModelStatus::Ready(info) => Some(info),
            _ => None,
        };
        match &self.view.generation {
            Some(generation) => generation_progress(ui, generation, model),
            None => {
                ui.weak("Nothing generated yet in this session.");
            }
        }
    }
}

impl EditorApp {
    /// What the next Continue costs on this machine, once a model says how many codes it is.
    fn cost_line(&self, ui: &mut Ui) {
        if !matches!(self.view.model, ModelStatus::Ready(_)) {
            return;
        }
        let Some(seconds) = self.continuation_seconds() else {
            return;
        };
        let estimator = Estimator::new(&self.view);
        let target = target_level(self.params.level.value());
        ui.weak(continue_cost(&estimator, seconds, target))
            .on_hover_text(format!(
                "For {seconds:.1} s of new audio per take, down to {}.\n{}",
                level_name(target),
                estimator.measured()
            ));
    }
}

/// The levels a job runs, coarsest first: those it started and the finer ones still to come,
/// down to its target. An upsample starts below the top level, so the top is not shown.
fn shown_levels(generation: &GenerationView) -> Vec<usize> {
    let target = generation.target_level.min(TOP_LEVEL);
    let finest_started = generation
        .levels
        .iter()
        .map(|p| p.level)
        .min()
        .unwrap_or(TOP_LEVEL + 1);
    (target..=TOP_LEVEL)
        .rev()
        .filter(|level| {
            *level < finest_started || generation.levels.iter().any(|p| p.level == *level)
        })
        .collect()
}

fn generation_progress(ui: &mut Ui, generation: &GenerationView, model: Option<&ModelInfo>) {
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
            for level in shown_levels(generation) {
                ui.label(level_name(level));
                match generation.levels.iter().find(|p| p.level == level) {
                    Some(progress) => {
                        let running = generation.phase == GenerationPhase::Running;
                        level_bar(ui, progress, model, running);
                    }
                    None => {
                        ui.weak("waiting for the level above");
                    }
                }
                ui.end_row();
            }
        });
}

/// A level's progress as a producer counts it: seconds of each take's audio done and to do,
/// and the time left while it runs (a stopped level has no time left to show).
pub fn level_text(progress: &LevelProgress, model: Option<&ModelInfo>, running: bool) -> String {
    let finished = progress.done >= progress.total && progress.total > 0;
    let seconds = |codes: usize| {
        model.and_then(|m| {
            let hop = *m.hop_lengths.get(progress.level)?;
            (m.sample_rate > 0).then(|| codes as f64 * hop as f64 / f64::from(m.sample_rate))
        })
    };
    let mut text = match (seconds(progress.done), seconds(progress.total)) {
        (Some(done), Some(total)) => format!("{done:.1} s of {total:.1} s of audio"),
        _ if progress.total > 0 => format!("{:.0} %", 100.0 * fraction(progress)),
        _ => "starting".into(),
    };
    if finished {
        text += " · done";
    } else if !running {
        text += " · stopped";
    } else if let Some(eta) = progress.eta_seconds {
        text += &format!(" · {} left", duration(eta));
    }
    text
}

fn fraction(progress: &LevelProgress) -> f32 {
    if progress.total > 0 {
        progress.done as f32 / progress.total as f32
    } else {
        0.0
    }
}

fn level_bar(ui: &mut Ui, progress: &LevelProgress, model: Option<&ModelInfo>, running: bool) {
    let text = level_text(progress, model, running);
    let bar = ui.add(
        ProgressBar::new(fraction(progress))
            .text(text)
            .fill(style::PROGRESS)
            .desired_width(ui.available_width()),
    );
    if progress.codes_per_second > 0.0 {
        bar.on_hover_text(format!(
            "{} of {} codes, sampled at {}",
            progress.done,
            progress.total,
            codes_per_second(progress.codes_per_second)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(target_level: usize, started: &[usize]) -> GenerationView {
        GenerationView {
            job: 1,
            phase: GenerationPhase::Running,
            levels: started
                .iter()
                .map(|&level| LevelProgress {
                    level,
                    done: 1,
                    total: 2,
                    codes_per_second: 1.0,
                    eta_seconds: None,
                })
                .collect(),
            target_level,
            takes: 1,
            timeline_start: 0,
        }
    }

    #[test]
    fn the_grid_shows_the_levels_the_job_runs() {
        // A Continue: every level from the top, the finer ones waiting.
        assert_eq!(shown_levels(&view(0, &[])), [2, 1, 0]);
        assert_eq!(shown_levels(&view(0, &[2])), [2, 1, 0]);
        assert_eq!(shown_levels(&view(2, &[2])), [2]);
        // An upsample starts at level 1: level 2 is not waiting for anything.
        assert_eq!(shown_levels(&view(0, &[1])), [1, 0]);
        assert_eq!(shown_levels(&view(1, &[1])), [1]);
        assert_eq!(shown_levels(&view(0, &[1, 0])), [1, 0]);
        // A view that lists the finished top level too shows it.
        assert_eq!(shown_levels(&view(0, &[2, 1])), [2, 1, 0]);
    }
}
