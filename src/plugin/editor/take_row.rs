//! One row of the takes list, with a derived take's origin under it. Drawing a row only
//! reports what the user asked for (a [`TakeAction`]); the list applies it after drawing, when
//! nothing is borrowed.

use std::path::PathBuf;

use egui::{Key, RichText, Sense, TextEdit, Ui};

use super::super::session::Take;
use super::super::takes::valid_name;
use super::estimates::Estimator;
use super::follow_ups::{more_menu, origin_line, upsample_menu};
use super::format::{duration, level_badge, level_name, position};
use super::style;

const NAME_WIDTH: f32 = 130.0;
const BADGE_WIDTH: f32 = 24.0;
const LENGTH_WIDTH: f32 = 44.0;

#[derive(Debug, Clone, PartialEq)]
pub enum TakeAction {
    Choose(Option<u64>),
    Audition(u64),
    StartRename {
        take: u64,
        name: String,
    },
    EditRename(String),
    CommitRename {
        take: u64,
        name: String,
    },
    CancelRename,
    AskDelete(u64),
    Delete(u64),
    KeepTake,
    ShowInFolder(PathBuf),
    CopyPath(PathBuf),
    ReuseSeed(u64),
    AuditionFrom {
        take: u64,
        seconds: f64,
    },
    Upsample {
        take: u64,
        level: usize,
    },
    /// Opens the Extend dialog for this take.
    OpenExtend(u64),
    /// Opens the Crop dialog for this take.
    OpenCrop(u64),
    RegenerateFrom {
        take: u64,
        at_seconds: f64,
        takes: usize,
    },
    Retry(u64),
}

/// What the row shows besides the take itself.
pub struct RowState<'a> {
    pub chosen: bool,
    /// The name being typed, when this take is being renamed.
    pub renaming: Option<&'a str>,
    pub confirming_delete: bool,
    /// What follow-ups cost on this machine.
    pub estimator: Estimator<'a>,
    /// The level new takes go down to (the Continue's quality setting, as the worker uses).
    pub new_take_level: usize,
    /// The take this one was derived from, as it is now (`None`: none, or deleted).
    pub parent_now: Option<&'a Take>,
}

pub fn take_row(ui: &mut Ui, take: &Take, state: RowState) -> Option<TakeAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        if ui
            .radio(state.chosen, "")
            .on_hover_text("Play this take on the timeline, where its prompt ended")
            .clicked()
        {
            action = Some(TakeAction::Choose((!state.chosen).then_some(take.id)));
        }
        if let Some(typed) = state.renaming {
            if let Some(rename) = rename_field(ui, take.id, typed) {
                action = Some(rename);
            }
        } else {
            let mut name = RichText::new(&take.name);
            if state.chosen {
                name = name.color(style::CHOSEN).strong();
            }
            let label = style::fixed_width(ui, NAME_WIDTH, |ui| {
                ui.add(egui::Label::new(name).truncate().sense(Sense::click()))
            })
            .on_hover_text(details(take));
            if label.clicked() {
                action = Some(TakeAction::StartRename {
                    take: take.id,
                    name: take.name.clone(),
                });
            }
            label.context_menu(|ui| {
                if let Some(chosen) = more_menu(ui, take, &state.estimator, state.new_take_level) {
                    action = Some(chosen);
                }
            });
        }
        // Fixed widths: the buttons after them stay put whatever the level or length reads.
        style::fixed_width(ui, BADGE_WIDTH, |ui| {
            ui.label(level_badge(take.level))
                .on_hover_text(level_name(take.level))
        });
        style::fixed_width(ui, LENGTH_WIDTH, |ui| {
            ui.label(duration(seconds(take.frames, take.sample_rate)))
        });
        if ui
            .small_button("Play")
            .on_hover_text("Hear this take now, on this track")
            .clicked()
        {
            action = Some(TakeAction::Audition(take.id));
        }
        // Always there, disabled once there is nothing finer: buttons never move under the
        // pointer.
        if let Some(chosen) = upsample_menu(ui, take, &state.estimator) {
            action = Some(chosen);
        }
        let more = ui.menu_button("More…", |ui| {
            more_menu(ui, take, &state.estimator, state.new_take_level)
        });
        more.response
            .on_hover_text("More: crop, extend, retry, its seed, its file");
        if let Some(chosen) = more.inner.flatten() {
            action = Some(chosen);
        }
        // The destructive action on its own, at the row's far end; its confirmation takes its
        // place there and nothing else moves.
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if state.confirming_delete {
                if ui.button("Keep").clicked() {
                    action = Some(TakeAction::KeepTake);
                }
                if ui
                    .button(RichText::new("Delete").color(style::ERROR))
                    .clicked()
                {
                    action = Some(TakeAction::Delete(take.id));
                }
                ui.colored_label(style::ERROR, "Delete its files?");
            } else if ui
                .small_button("Delete")
                .on_hover_text("Delete this take and its files (asks first)")
                .clicked()
            {
                action = Some(TakeAction::AskDelete(take.id));
            }
        });
    });
    origin_line(ui, take, state.parent_now);
    action
}

fn rename_field(ui: &mut Ui, take: u64, typed: &str) -> Option<TakeAction> {
    let mut text = typed.to_string();
    let field = ui.add(TextEdit::singleline(&mut text).desired_width(NAME_WIDTH));
    if !field.has_focus() && !field.lost_focus() {
        field.request_focus();
    }
    if ui.input(|i| i.key_pressed(Key::Escape)) {
        return Some(TakeAction::CancelRename);
    }
    if field.lost_focus() {
        return Some(TakeAction::CommitRename { take, name: text });
    }
    if let Err(problem) = valid_name(&text) {
        field.on_hover_text(problem.to_string());
    }
    (text != typed).then_some(TakeAction::EditRename(text))
}

fn seconds(frames: u64, sample_rate: f32) -> f64 {
    if sample_rate > 0.0 {
        frames as f64 / f64::from(sample_rate)
    } else {
        0.0
    }
}

/// Everything about a take, on hover: where it plays, how it was made, where its file is.
fn details(take: &Take) -> String {
    let s = &take.settings;
    let starts = seconds(take.timeline_start.max(0) as u64, take.sample_rate);
    let artist = s.artist.as_deref().unwrap_or("unknown artist");
    let genres = if s.genres.is_empty() {
        "no genre".to_string()
    } else {
        s.genres.join(", ")
    };
    format!(
        "Click to rename, right-click for more.\n\
         Starts at {} on the timeline\n\
         {artist} · {genres}\n\
         seed {} · temperature {}\n\
         {}",
        position(starts),
        s.seed,
        s.temperature
            .map_or("default".into(), |t| format!("{t:.2}")),
        take.file.display()
    )
}
