//! Which audio becomes the prompt, and how long the continuation is, in seconds or in bars at
//! the host's tempo.

use std::path::PathBuf;

use egui::{DragValue, TextEdit, Ui};
use nice_plug::context::gui::ParamSetter;
use nice_plug::prelude::Param;
use nice_plug_egui::widgets::ParamSlider;

use super::super::recordings::Meter;
use super::super::session::ModelStatus;
use super::super::settings::{LengthUnit, PromptSource, StartAt};
use super::super::worker::WorkerCommand;
use super::format::duration;
use super::{EditorApp, style};

/// Heard with "Hear prompt" when the prompt's length is not known in seconds.
const HEAR_SECONDS_FALLBACK: f32 = 5.0;
const MAX_PROMPT_SECONDS: f32 = 60.0;
pub const MAX_BARS: f32 = 256.0;
/// Room left beside the prompt file's field for its Browse button.
const BROWSE_WIDTH: f32 = 80.0;

/// The prompt sources in the order the picker lists them, with a new value of each.
fn source_choices(current: PromptSource) -> [(PromptSource, &'static str); 4] {
    let keep = |candidate: PromptSource| {
        if std::mem::discriminant(&candidate) == std::mem::discriminant(&current) {
            current
        } else {
            candidate
        }
    };
    [
        (
            keep(PromptSource::LastSeconds(12.0)),
            "Last seconds before the playhead",
        ),
        (
            keep(PromptSource::LastBars(4.0)),
            "Last bars before the playhead",
        ),
        (
            keep(PromptSource::Range {
                start_seconds: 0.0,
                end_seconds: 12.0,
            }),
            "A range of the timeline",
        ),
        (PromptSource::File, "An audio file"),
    ]
}

fn start_at_name(at: StartAt) -> &'static str {
    match at {
        StartAt::Now => "at the press",
        StartAt::NextBeat => "on the next beat",
        StartAt::NextBar => "on the next bar",
    }
}

fn source_name(source: PromptSource) -> &'static str {
    match source {
        PromptSource::LastSeconds(_) => "Last seconds before the playhead",
        PromptSource::LastBars(_) => "Last bars before the playhead",
        PromptSource::Range { .. } => "A range of the timeline",
        PromptSource::File => "An audio file",
    }
}

/// The prompt's length in seconds where it is known before reading any audio.
pub fn prompt_seconds(source: PromptSource, meter: &Meter) -> Option<f64> {
    match source {
        PromptSource::LastSeconds(seconds) => Some(f64::from(seconds)),
        PromptSource::LastBars(bars) => meter.bars_to_seconds(f64::from(bars)).ok(),
        PromptSource::Range {
            start_seconds,
            end_seconds,
        } => Some(end_seconds - start_seconds),
        PromptSource::File => None,
    }
}

impl EditorApp {
    pub(super) fn prompt_section(&mut self, ui: &mut Ui) {
        let meter = self.view.host.meter();
        let current = self.settings.prompt;
        egui::ComboBox::from_id_salt("prompt-source")
            .width(300.0)
            .selected_text(source_name(current))
            .show_ui(ui, |ui| {
                for (choice, name) in source_choices(current) {
                    ui.selectable_value(&mut self.settings.prompt, choice, name);
                }
            });
        ui.horizontal(|ui| match &mut self.settings.prompt {
            PromptSource::LastSeconds(seconds) => {
                ui.add(seconds_value(seconds));
                ui.weak("before the playhead when you press Continue");
            }
            PromptSource::LastBars(bars) => {
                ui.add(
                    DragValue::new(bars)
                        .range(1.0..=MAX_BARS)
                        .speed(0.1)
                        .suffix(" bars"),
                );
                ui.weak(tempo_note(f64::from(*bars), &meter));
            }
            PromptSource::Range {
                start_seconds,
                end_seconds,
            } => {
                ui.label("from");
                ui.add(
                    DragValue::new(start_seconds)
                        .range(0.0..=86_400.0)
                        .speed(0.1)
                        .suffix(" s"),
                );
                ui.label("to");
                ui.add(
                    DragValue::new(end_seconds)
                        .range(0.0..=86_400.0)
                        .speed(0.1)
                        .suffix(" s"),
                );
            }
            PromptSource::File => {
                let mut text = self
                    .settings
                    .prompt_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let field = ui.add(
                    TextEdit::singleline(&mut text)
                        .hint_text("WAV, FLAC, MP3 or OGG file, or drop one here")
                        .desired_width(ui.available_width() - BROWSE_WIDTH),
                );
                if field.changed() {
                    let trimmed = text.trim();
                    self.settings.prompt_file =
                        (!trimmed.is_empty()).then(|| PathBuf::from(trimmed));
                }
                let browse = ui
                    .add_enabled(self.browsing.is_none(), egui::Button::new("Browse…"))
                    .on_hover_text("Choose the prompt's audio file (or drop it onto the editor)");
                if browse.clicked() {
                    self.browse(super::browse::Pick::PromptFile);
                }
            }
        });
        if self.settings.prompt != PromptSource::File {
            self.capture_line(ui);
        }
        self.start_at_line(ui);
    }

    /// Where the continuation starts on the timeline (the prompt ends there).
    fn start_at_line(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.label("Start");
            egui::ComboBox::from_id_salt("start-at")
                .selected_text(start_at_name(self.settings.start_at))
                .show_ui(ui, |ui| {
                    for choice in [StartAt::Now, StartAt::NextBeat, StartAt::NextBar] {
                        ui.selectable_value(
                            &mut self.settings.start_at,
                            choice,
                            start_at_name(choice),
                        );
                    }
                });
        })
        .response
        .on_hover_text(
            "Where the take starts: where you press Continue (or the automation changes), or \
             on the host's next beat or bar line; the prompt is what plays before it",
        );
    }

    /// How much the plugin has heard, and a way to hear the prompt back.
    fn capture_line(&mut self, ui: &mut Ui) {
        let host = self.view.host;
        ui.horizontal(|ui| {
            let state = if host.playing {
                "recording"
            } else {
                "waiting for the host to play"
            };
            ui.weak(format!(
                "{} captured, {state}",
                duration(host.captured_seconds())
            ));
            let seconds = prompt_seconds(self.settings.prompt, &host.meter())
                .map_or(HEAR_SECONDS_FALLBACK, |s| s as f32);
            if ui
                .small_button("Hear prompt")
                .on_hover_text("Plays what Encore captured last, on this track")
                .clicked()
            {
                self.send(WorkerCommand::PlayPrompt { seconds });
            }
        });
        if host.dropped_frames > 0 {
            ui.colored_label(
                style::WARNING,
                format!(
                    "{} frames of the track were lost: Encore fell behind the host (the \
                     computer is overloaded); prompts over them have gaps",
                    host.dropped_frames
                ),
            );
        }
    }

    pub(super) fn length_section(&mut self, ui: &mut Ui, setter: &ParamSetter) {
        let meter = self.view.host.meter();
        let p = &self.params;
        egui::Grid::new("length")
            .num_columns(2)
            .spacing([10.0, 6.0])
            .show(ui, |ui| {
                style::field_label(ui, "Length", "How much new audio to continue with");
                ui.horizontal(|ui| {
                    match self.settings.length_unit {
                        LengthUnit::Seconds => {
                            ui.add(ParamSlider::for_param(&p.seconds, setter));
                        }
                        LengthUnit::Bars => {
                            ui.add(
                                DragValue::new(&mut self.settings.length_bars)
                                    .range(1.0..=MAX_BARS)
                                    .speed(0.1)
                                    .suffix(" bars"),
                            );
                        }
                    }
                    let unit = &mut self.settings.length_unit;
                    ui.selectable_value(unit, LengthUnit::Seconds, "seconds");
                    ui.selectable_value(unit, LengthUnit::Bars, "bars");
                });
                ui.end_row();
                if self.settings.length_unit == LengthUnit::Bars {
                    ui.label("");
                    ui.weak(tempo_note(f64::from(self.settings.length_bars), &meter));
                    ui.end_row();
                }
            });
        self.song_length_warning(ui);
    }

    /// The length of the next Continue in seconds; `None` in bars without the host's tempo.
    pub(super) fn continuation_seconds(&self) -> Option<f64> {
        match self.settings.length_unit {
            LengthUnit::Seconds => Some(f64::from(self.params.seconds.modulated_plain_value())),
            LengthUnit::Bars => self
                .view
                .host
                .meter()
                .bars_to_seconds(f64::from(self.settings.length_bars))
                .ok(),
        }
    }

    /// Jukebox's top prior only knows songs up to a length; past it the result degrades.
    fn song_length_warning(&self, ui: &mut Ui) {
        let ModelStatus::Ready(info) = &self.view.model else {
            return;
        };
        let meter = self.view.host.meter();
        let continuation = self.continuation_seconds();
        let prompt = prompt_seconds(self.settings.prompt, &meter).unwrap_or(0.0);
        if let Some(continuation) = continuation
            && prompt + continuation > info.max_song_seconds
        {
            ui.colored_label(
                style::WARNING,
                format!(
                    "Prompt and continuation ({}) are longer than this model's songs ({}).",
                    duration(prompt + continuation),
                    duration(info.max_song_seconds)
                ),
            );
        }
    }
}

fn seconds_value(seconds: &mut f32) -> DragValue<'_> {
    DragValue::new(seconds)
        .range(1.0..=MAX_PROMPT_SECONDS)
        .speed(0.1)
        .suffix(" s")
}

/// "= 16 s at 120 BPM in 4/4" or why bars cannot be used.
pub fn tempo_note(bars: f64, meter: &Meter) -> String {
    match (meter.bars_to_seconds(bars), meter.tempo_bpm) {
        (Ok(seconds), Some(tempo)) => {
            let signature = match meter.time_signature {
                Some(s) => format!("{}/{}", s.numerator, s.denominator),
                None => "4/4 (the host gives no time signature)".into(),
            };
            format!("= {seconds:.1} s at {tempo:.0} BPM in {signature}")
        }
        _ => "the host gives no tempo yet: press play, or use seconds".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::capture::TimeSignature;
    use super::*;

    #[test]
    fn bars_use_the_hosts_tempo_and_time_signature() {
        let waltz = Meter {
            tempo_bpm: Some(120.0),
            time_signature: Some(TimeSignature {
                numerator: 3,
                denominator: 4,
            }),
        };
        assert_eq!(tempo_note(4.0, &waltz), "= 6.0 s at 120 BPM in 3/4");
        assert_eq!(
            prompt_seconds(PromptSource::LastBars(4.0), &waltz),
            Some(6.0)
        );
        let no_signature = Meter {
            time_signature: None,
            ..waltz
        };
        assert!(tempo_note(4.0, &no_signature).starts_with("= 8.0 s at 120 BPM in 4/4"));
        let no_tempo = Meter::default();
        assert!(tempo_note(4.0, &no_tempo).contains("no tempo"));
        assert_eq!(prompt_seconds(PromptSource::LastBars(4.0), &no_tempo), None);
    }
}
