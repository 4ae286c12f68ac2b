//! Takes, sampling parameters and seed; then how far down the levels to go and how the result
//! meets the track. Parameters go through the host (begin/set/end), so they can be automated.

use egui::{TextEdit, Ui};
use nice_plug::context::gui::ParamSetter;
use nice_plug::prelude::{Enum, EnumParam};
use nice_plug_egui::widgets::ParamSlider;

use super::super::params::{PlaybackMode, TargetLevel};
use super::estimates::{Estimator, about};
use super::{EditorApp, style};

#[derive(Debug, Default)]
pub struct SamplingUi {
    /// The seed being typed: a `u64` does not fit a drag value without losing digits.
    seed_text: String,
    /// The seed `seed_text` was last synced with.
    seed_shown: Option<u64>,
}

impl EditorApp {
    pub(super) fn sampling_section(&mut self, ui: &mut Ui, setter: &ParamSetter) {
        let p = self.params.clone();
        egui::Grid::new("sampling")
            .num_columns(2)
            .spacing([10.0, 6.0])
            .show(ui, |ui| {
                style::field_label(
                    ui,
                    "Takes",
                    "Variations generated together, each its own file",
                );
                ui.add(ParamSlider::for_param(&p.takes, setter));
                ui.end_row();
                style::field_label(
                    ui,
                    "Temperature",
                    "Higher: more surprising; lower: safer and more repetitive",
                );
                ui.add(ParamSlider::for_param(&p.temperature, setter));
                ui.end_row();
                style::field_label(
                    ui,
                    "Top-k",
                    "Sample among the k likeliest codes only; 0: off",
                );
                ui.add(ParamSlider::for_param(&p.top_k, setter));
                ui.end_row();
                style::field_label(
                    ui,
                    "Top-p",
                    "Sample among the likeliest codes that make up p of the probability; 0: off",
                );
                ui.add(ParamSlider::for_param(&p.top_p, setter));
                ui.end_row();
                style::field_label(
                    ui,
                    "Seed",
                    "The same seed, prompt and settings give the same takes",
                );
                ui.horizontal(|ui| self.seed_field(ui));
                ui.end_row();
            });
    }

    fn seed_field(&mut self, ui: &mut Ui) {
        let seed = self.settings.seed;
        if self.sampling.seed_shown != Some(seed) {
            self.sampling.seed_text = seed.to_string();
            self.sampling.seed_shown = Some(seed);
        }
        let new_each_time = self.settings.new_seed_each_time;
        let field = ui.add_enabled(
            !new_each_time,
            TextEdit::singleline(&mut self.sampling.seed_text).desired_width(170.0),
        );
        let parsed = self.sampling.seed_text.trim().parse::<u64>();
        if field.changed()
            && let Ok(seed) = parsed
        {
            self.settings.seed = seed;
            self.sampling.seed_shown = Some(seed);
        }
        ui.checkbox(&mut self.settings.new_seed_each_time, "new each time")
            .on_hover_text("Draw a fresh seed for every Continue; each take keeps its own");
        if parsed.is_err() {
            ui.colored_label(style::ERROR, "not a whole number");
        }
    }

    pub(super) fn output_section(&mut self, ui: &mut Ui, setter: &ParamSetter) {
        let p = &self.params;
        egui::Grid::new("output").num_columns(2).spacing([10.0, 6.0]).show(ui, |ui| {
            style::field_label(
                ui,
                "Quality",
                "How far down Jukebox's levels each Continue goes. Preview (L2), the default, \
                 comes many times sooner: listen to the takes, then upsample only the ones you \
                 like (each take's Upsample…). Level 0 sounds best. Each level's audio replaces \
                 the last as it finishes.",
            );
            let estimator = Estimator::new(&self.view);
            let seconds = self.continuation_seconds();
            let cost = |level: usize| {
                about(seconds.and_then(|s| estimator.new_take(level, s)))
            };
            let choices = [
                (
                    TargetLevel::Preview,
                    "Preview (L2)",
                    format!(
                        "The default: every take at level 2 only, {} here. Upsample the takes \
                         you like afterwards, one by one.",
                        cost(2)
                    ),
                ),
                (
                    TargetLevel::Level1,
                    "Level 1",
                    format!("Every take down to level 1: {} here.", cost(1)),
                ),
                (
                    TargetLevel::Level0,
                    "Full (L0)",
                    format!(
                        "Every take all the way to level 0, full quality: {} here.",
                        cost(0)
                    ),
                ),
            ];
            ui.horizontal(|ui| {
                for (value, text, help) in choices {
                    enum_choice(ui, setter, &p.level, value, text).on_hover_text(help);
                }
            });
            ui.end_row();
            style::field_label(
                ui,
                "Playback",
                "Mix: the chosen take is added to the track; Replace: it replaces the track while it plays",
            );
            ui.horizontal(|ui| {
                enum_choice(ui, setter, &p.playback, PlaybackMode::Mix, "Mix");
                enum_choice(ui, setter, &p.playback, PlaybackMode::Replace, "Replace");
            });
            ui.end_row();
        });
    }
}

/// One segment of a segmented control for an enum parameter, set as one host gesture.
fn enum_choice<T: Enum + PartialEq + Copy + 'static>(
    ui: &mut Ui,
    setter: &ParamSetter,
    param: &EnumParam<T>,
    value: T,
    text: &str,
) -> egui::Response {
    let selected = param.value() == value;
    let response = ui.selectable_label(selected, text);
    if response.clicked() && !selected {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, value);
        setter.end_set_parameter(param);
    }
    response
}
