//! What can be done with a take after it is made, the Jukebox way of working: preview many
//! takes at level 2, upsample only the one you like, extend it, keep its start and re-generate
//! the rest from a point, or retry it with a new seed. Each is drawn here and reported as a
//! [`TakeAction`]; the takes list sends the worker command.

use egui::{Button, DragValue, Id, Painter, Rect, RichText, Stroke, Ui, pos2};

use super::super::params::MAX_SECONDS;
use super::super::recordings::Meter;
use super::super::session::{Derivation, Take};
use super::super::settings::LengthUnit;
use super::estimates::{Estimator, about};
use super::format::level_name;
use super::length_and_prompt::{MAX_BARS, tempo_note};
use super::style;
use super::take_row::TakeAction;

/// Left indent of a derived take's origin line, past the row's radio button.
const ORIGIN_INDENT: f32 = 24.0;
/// A little under the body text: a note on the row, still readable.
const ORIGIN_TEXT_SIZE: f32 = 12.0;

/// Why a take cannot be followed up, or `None` when it can.
pub fn unavailable(take: &Take) -> Option<&'static str> {
    let cropped = take
        .parent
        .as_ref()
        .is_some_and(|p| matches!(p.derivation, Derivation::Cropped { .. }));
    if cropped && take.source.is_none() {
        return Some(
            "A crop is audio only, without the codes a follow-up samples from: upsample, \
             extend, re-generate or retry the take it was cut from.",
        );
    }
    take.source.is_none().then_some(
        "This take was made before Encore kept each take's codes, so it cannot be upsampled, \
         extended, re-generated or retried. Its seed (right-click its name) with the same \
         settings makes it again.",
    )
}

/// Seconds of continuation a take holds.
pub fn take_seconds(take: &Take) -> f64 {
    if take.sample_rate > 0.0 {
        take.frames as f64 / f64::from(take.sample_rate)
    } else {
        0.0
    }
}

/// "Upsample…" for a take that has a finer level to go to: one entry per level with its time.
pub fn upsample_menu(ui: &mut Ui, take: &Take, estimator: &Estimator) -> Option<TakeAction> {
    let mut action = None;
    let reason = unavailable(take).or((take.level == 0).then_some(
        "This take is at level 0, full quality: there is nothing finer to upsample it to.",
    ));
    ui.add_enabled_ui(reason.is_none(), |ui| {
        ui.menu_button("Upsample…", |ui| {
            for level in (0..take.level).rev() {
                let cost = estimator.levels(take.level - 1, level, take_seconds(take));
                let text = format!("Upsample to L{level} · {}", about(cost));
                let help = format!(
                    "Sample this take's {} from its {}; the new audio replaces the old on the \
                     timeline as each level finishes.\n\n{}",
                    level_name(level),
                    level_name(take.level),
                    estimator.measured()
                );
                if ui.button(text).on_hover_text(help).clicked() {
                    action = Some(TakeAction::Upsample {
                        take: take.id,
                        level,
                    });
                    ui.close();
                }
            }
        })
        .response
        .on_hover_text("Take this preview down to a finer level, sounding better")
        .on_disabled_hover_text(reason.unwrap_or_default());
    });
    action
}

/// The row's "More…" and right-click menu: the less-used follow-ups and the file's ways out.
pub fn more_menu(
    ui: &mut Ui,
    take: &Take,
    estimator: &Estimator,
    new_take_level: usize,
) -> Option<TakeAction> {
    let mut action = None;
    let reason = unavailable(take).unwrap_or_default();
    let usable = take.source.is_some();
    let mut item = |ui: &mut Ui, enabled: bool, text: String, help: &str, chosen: TakeAction| {
        if ui
            .add_enabled(enabled, Button::new(text))
            .on_hover_text(help)
            .on_disabled_hover_text(reason)
            .clicked()
        {
            action = Some(chosen);
            ui.close();
        }
    };
    item(
        ui,
        true,
        "Crop…".into(),
        "Keep a part of this take as a new take (this one stays as it is)",
        TakeAction::OpenCrop(take.id),
    );
    item(
        ui,
        usable,
        "Extend…".into(),
        "Continue this take from its end: a new, longer take",
        TakeAction::OpenExtend(take.id),
    );
    // A retry goes down to the Continue's quality setting, as every new take does.
    let retry_cost = estimator.new_take(new_take_level, take_seconds(take));
    item(
        ui,
        usable,
        format!("Retry · {}", about(retry_cost)),
        "The same request again (prompt and settings) with a new seed: a new take",
        TakeAction::Retry(take.id),
    );
    ui.weak("Re-generate from a point:\nright-click the waveform there");
    ui.separator();
    item(
        ui,
        true,
        "Use this take's seed for the next Continue".into(),
        "The same seed, prompt and settings give the same takes",
        TakeAction::ReuseSeed(take.settings.seed),
    );
    item(
        ui,
        true,
        "Show in folder".into(),
        "Open the file manager on the take's file, to drag it onto the timeline",
        TakeAction::ShowInFolder(take.file.clone()),
    );
    item(
        ui,
        true,
        "Copy path".into(),
        "Copy the file's path, to paste in the DAW's import dialog",
        TakeAction::CopyPath(take.file.clone()),
    );
    action
}

/// A derived take's origin, under its row: "re-generated from Take 2 at 12.0 s". `parent_now` is the
/// parent as it is today (renamed, or `None` once deleted).
pub fn origin_line(ui: &mut Ui, take: &Take, parent_now: Option<&Take>) {
    let Some(parent) = &take.parent else {
        return;
    };
    let name = parent_now.map_or(parent.name.as_str(), |p| p.name.as_str());
    let (mut text, mut help) = match parent.derivation {
        Derivation::Extended => (
            format!("extends {name}"),
            format!("Continues “{name}” from its end."),
        ),
        Derivation::RegeneratedFrom { seconds } => (
            format!("re-generated from {name} at {seconds:.1} s"),
            format!("Keeps the first {seconds:.1} s of “{name}” and samples the rest anew."),
        ),
        Derivation::Retried => (
            format!("retry of {name}"),
            format!("“{name}”'s request again, with a new seed."),
        ),
        Derivation::Cropped {
            start_seconds,
            end_seconds,
        } => (
            format!("cropped from {name}, {start_seconds:.1}–{end_seconds:.1} s"),
            format!(
                "“{name}” from {start_seconds:.1} s to {end_seconds:.1} s, in a file of its own."
            ),
        ),
    };
    match parent_now {
        None => {
            text += " (deleted)";
            help += "\nThat take has been deleted since; this one has all its own audio.";
        }
        Some(now) if now.name != parent.name => {
            help += &format!("\nIt was called “{}” then.", parent.name);
        }
        Some(_) => {}
    }
    ui.horizontal(|ui| {
        ui.add_space(ORIGIN_INDENT);
        ui.label(RichText::new(text).size(ORIGIN_TEXT_SIZE).weak())
            .on_hover_text(help);
    });
}

/// The Extend dialog's state: which take and by how much.
#[derive(Debug, Clone)]
pub struct ExtendForm {
    pub take: u64,
    pub name: String,
    pub seconds: f64,
    pub bars: f64,
    pub unit: LengthUnit,
}

/// What the Extend dialog asks for this frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExtendOutcome {
    Open,
    Cancel,
    Extend(f64),
}

/// The Extend dialog: a length in seconds, or in bars at the host's tempo when it gives one,
/// and what it costs down to the Continue's level.
pub fn extend_dialog(
    ctx: &egui::Context,
    form: &mut ExtendForm,
    meter: &Meter,
    estimator: &Estimator,
    target: usize,
) -> ExtendOutcome {
    let mut outcome = ExtendOutcome::Open;
    let shown = egui::Modal::new(Id::unique("extend-take")).show(ctx, |ui| {
        ui.set_width(300.0);
        style::section_heading(ui, &format!("Extend “{}”", form.name));
        ui.label("Continue it from its end by");
        let has_tempo = meter.tempo_bpm.is_some();
        if !has_tempo {
            form.unit = LengthUnit::Seconds;
        }
        ui.horizontal(|ui| {
            match form.unit {
                LengthUnit::Seconds => ui.add(
                    DragValue::new(&mut form.seconds)
                        .range(1.0..=f64::from(MAX_SECONDS))
                        .speed(0.1)
                        .suffix(" s"),
                ),
                LengthUnit::Bars => ui.add(
                    DragValue::new(&mut form.bars)
                        .range(1.0..=f64::from(MAX_BARS))
                        .speed(0.1)
                        .suffix(" bars"),
                ),
            };
            ui.selectable_value(&mut form.unit, LengthUnit::Seconds, "seconds");
            ui.add_enabled_ui(has_tempo, |ui| {
                ui.selectable_value(&mut form.unit, LengthUnit::Bars, "bars")
                    .on_disabled_hover_text("The host gives no tempo yet: press play");
            });
        });
        let seconds = match form.unit {
            LengthUnit::Seconds => Some(form.seconds),
            LengthUnit::Bars => meter.bars_to_seconds(form.bars).ok(),
        };
        if form.unit == LengthUnit::Bars {
            ui.weak(tempo_note(form.bars, meter));
        }
        let cost = seconds.and_then(|s| estimator.new_take(target, s));
        ui.label(format!("A new take, {}, down to L{target}", about(cost)))
            .on_hover_text(format!(
                "Sampled down to {} (the Quality setting).\n{}",
                level_name(target),
                estimator.measured()
            ));
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            let extend = ui.add_enabled(seconds.is_some(), Button::new("Extend"));
            if extend.clicked()
                && let Some(seconds) = seconds
            {
                outcome = ExtendOutcome::Extend(seconds);
            }
            if ui.button("Cancel").clicked() {
                outcome = ExtendOutcome::Cancel;
            }
        });
    });
    if outcome == ExtendOutcome::Open && shown.should_close() {
        outcome = ExtendOutcome::Cancel;
    }
    outcome
}

/// The point picked on a take's waveform with a right-click, while its menu is open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegeneratePick {
    pub take: u64,
    pub at_seconds: f64,
    pub takes: usize,
}

/// The waveform's right-click menu: re-generate the take from the picked point (how many new
/// takes, and what they cost), or hear it from there.
pub fn regenerate_menu(
    ui: &mut Ui,
    take: &Take,
    pick: &mut RegeneratePick,
    estimator: &Estimator,
    target: usize,
    max_takes: usize,
) -> Option<TakeAction> {
    let mut action = None;
    let at = pick.at_seconds;
    let rest = take_seconds(take) - at;
    let reason = match unavailable(take) {
        Some(reason) => Some(reason),
        None if rest < 0.5 => Some("Pick a point before the take's end"),
        None => None,
    };
    ui.label(RichText::new(format!("Re-generate from {at:.1} s…")).strong());
    ui.add_enabled_ui(reason.is_none(), |ui| {
        ui.horizontal(|ui| {
            if ui
                .small_button("–")
                .on_hover_text("One take fewer")
                .clicked()
            {
                pick.takes = pick.takes.saturating_sub(1).max(1);
            }
            let unit = if pick.takes == 1 { " take" } else { " takes" };
            ui.add(
                DragValue::new(&mut pick.takes)
                    .range(1..=max_takes)
                    .suffix(unit),
            );
            if ui
                .small_button("+")
                .on_hover_text("One take more")
                .clicked()
            {
                pick.takes = (pick.takes + 1).min(max_takes);
            }
        });
        let cost = estimator.new_take(target, rest.max(0.0));
        ui.weak(format!(
            "{} for {:.1} s each, down to L{target}",
            about(cost),
            rest.max(0.0)
        ))
        .on_hover_text(estimator.measured());
        let go = ui
            .add(Button::new(format!(
                "Re-generate {}",
                takes_text(pick.takes)
            )))
            .on_hover_text(
                "Keep the take up to this point (moved to a beat or bar line per the Start \
                 setting) and sample the rest anew: new takes, each as long as this one",
            )
            .on_disabled_hover_text(reason.unwrap_or_default());
        if go.clicked() {
            action = Some(TakeAction::RegenerateFrom {
                take: take.id,
                at_seconds: at,
                takes: pick.takes,
            });
            ui.close();
        }
    });
    if let Some(reason) = reason {
        ui.weak(reason);
    }
    ui.separator();
    if ui.button(format!("Hear from {at:.1} s")).clicked() {
        action = Some(TakeAction::AuditionFrom {
            take: take.id,
            seconds: at,
        });
        ui.close();
    }
    action
}

/// The picked point on the waveform, drawn while its menu is open.
pub fn paint_pick(painter: &Painter, rect: Rect, fraction: f64) {
    let x = rect.left() + rect.width() * fraction.clamp(0.0, 1.0) as f32;
    painter.line_segment(
        [pos2(x, rect.top()), pos2(x, rect.bottom())],
        Stroke::new(2.0, style::PICK),
    );
    painter.rect_filled(
        Rect::from_min_max(pos2(x, rect.top()), rect.right_bottom()),
        0.0,
        style::PICK_AFTER,
    );
}

fn takes_text(count: usize) -> String {
    match count {
        1 => "1 take".into(),
        n => format!("{n} takes"),
    }
}
