//! The takes: every generated take with its file, the one chosen for the timeline, and the
//! ways to get a take into the DAW's arrangement (it plays on the track by itself once chosen;
//! as a file, through the file manager or its copied path).

use std::collections::HashMap;
use std::path::PathBuf;

use egui::{Popup, PopupCloseBehavior, ScrollArea, Ui};

use super::super::params::MAX_TAKES;
use super::super::settings::LengthUnit;
use super::super::takes::{default_name, valid_name};
use super::super::worker::WorkerCommand;
use super::crop::{CropForm, CropOutcome, crop_dialog};
use super::estimates::{Estimator, target_level};
use super::follow_ups::take_seconds;
use super::follow_ups::{
    ExtendForm, ExtendOutcome, RegeneratePick, extend_dialog, paint_pick, regenerate_menu,
};
use super::format::level_badge;
use super::take_row::{RowState, TakeAction, take_row};
use super::take_wave::{TakeWaveUi, WaveAction, take_wave};
use super::wave_paint::WaveCache;
use super::{EditorApp, reveal, style};

#[derive(Debug, Default)]
pub struct TakesUi {
    /// The take being renamed and the name typed so far.
    renaming: Option<(u64, String)>,
    /// The take whose delete button was pressed, waiting for confirmation.
    confirm_delete: Option<u64>,
    /// Each take's waveform caches, by take id.
    waves: HashMap<u64, TakeWaveUi>,
    /// The level and file each take's finished waveform was asked for.
    asked: HashMap<u64, (usize, PathBuf)>,
    /// The take being extended, while its dialog is open.
    pub(super) extend: Option<ExtendForm>,
    /// The point right-clicked on a take's waveform, while its menu is open.
    pub(super) regenerate: Option<RegeneratePick>,
    /// The take being cropped, while its dialog is open, and its waveform's columns there.
    pub(super) crop: Option<CropForm>,
    crop_wave: WaveCache,
}

impl EditorApp {
    pub(super) fn takes_section(&mut self, ui: &mut Ui) {
        let session = &self.view.session;
        let generating = self.view.is_generating();
        // Takes being generated count too: three on their way read "Takes (3)".
        let on_their_way = if generating {
            session.generating_take_ids().len()
        } else {
            0
        };
        ui.horizontal(|ui| {
            style::section_heading(
                ui,
                &format!("Takes ({})", session.takes.len() + on_their_way),
            );
            if on_their_way > 0 {
                ui.weak(format!("{on_their_way} generating"));
            }
            if ui
                .small_button("Stop")
                .on_hover_text("Stop hearing a take")
                .clicked()
            {
                self.send(WorkerCommand::Audition { take: None });
            }
            if session.chosen.is_some()
                && ui
                    .small_button("Play none on the timeline")
                    .on_hover_text("Play no take on the timeline")
                    .clicked()
            {
                self.send(WorkerCommand::Choose { take: None });
            }
            self.drag_note(ui);
        });
        self.ask_for_waveforms(generating);
        let empty = self.view.session.takes.is_empty();
        if empty {
            ui.weak("Takes appear here as they are generated, each as its own WAV file.");
        } else {
            ui.weak(
                "The round button picks the take that plays on the timeline. Drag a waveform \
                 onto the DAW's timeline; click it to hear from there, right-click it to \
                 re-generate from there.",
            );
        }
        let mut action = None;
        let mut wave_action = None;
        let target = target_level(self.params.level.value());
        let default_takes = self.params.takes.value().clamp(1, MAX_TAKES) as usize;
        ScrollArea::vertical()
            .id_salt("takes-scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                let estimator = Estimator::new(&self.view);
                let session = &self.view.session;
                // Newest first: the take just made is the one to listen to.
                for take in session.takes.iter().rev() {
                    let state = RowState {
                        chosen: session.chosen == Some(take.id),
                        renaming: self
                            .takes
                            .renaming
                            .as_ref()
                            .filter(|(id, _)| *id == take.id)
                            .map(|(_, name)| name.as_str()),
                        confirming_delete: self.takes.confirm_delete == Some(take.id),
                        estimator,
                        new_take_level: target,
                        parent_now: take.parent.as_ref().and_then(|p| session.take(p.take)),
                    };
                    if let Some(row_action) = take_row(ui, take, state) {
                        action = Some(row_action);
                    }
                    let seconds = take.frames as f64 / f64::from(take.sample_rate.max(1.0));
                    let dragging = self.drag.as_ref().is_some_and(|d| d.take == take.id);
                    let caches = self.takes.waves.entry(take.id).or_default();
                    let waves = self.params.shared.waveforms.takes();
                    let waves = waves.get(&take.id);
                    let wave = take_wave(ui, caches, waves, seconds, (&take.name, true, dragging));
                    if let Some(done) = wave.action {
                        wave_action = Some((take.id, take.file.clone(), done));
                    }
                    // A right-click picks the point its menu acts on.
                    if wave.response.secondary_clicked()
                        && let Some(at_seconds) = wave.pointer_seconds()
                    {
                        self.takes.regenerate = Some(RegeneratePick {
                            take: take.id,
                            at_seconds,
                            takes: default_takes,
                        });
                    }
                    let pick = &mut self.takes.regenerate;
                    // Stays open while the number of takes is set; its buttons close it.
                    let menu = Popup::context_menu(&wave.response)
                        .close_behavior(PopupCloseBehavior::CloseOnClickOutside)
                        .show(|ui| {
                            if let Some(pick) = pick.as_mut().filter(|p| p.take == take.id)
                                && let Some(chosen) = regenerate_menu(
                                    ui,
                                    take,
                                    pick,
                                    &estimator,
                                    target,
                                    MAX_TAKES as usize,
                                )
                            {
                                action = Some(chosen);
                            }
                        });
                    match pick {
                        Some(p) if p.take == take.id && menu.is_some() => {
                            paint_pick(
                                &ui.painter_at(wave.rect),
                                wave.rect,
                                p.at_seconds / wave.length,
                            );
                        }
                        Some(p) if p.take == take.id => *pick = None,
                        _ => {}
                    }
                    ui.add_space(4.0);
                }
                if generating {
                    self.generating_waves(ui);
                }
            });
        self.extend_dialog(ui);
        self.crop_dialog(ui);
        if let Some((take, file, done)) = wave_action {
            match done {
                WaveAction::DragOut => self.start_drag(take, file),
                WaveAction::AuditionFrom(seconds) => {
                    self.send(WorkerCommand::AuditionFrom { take, seconds });
                }
            }
        }
        if let Some(action) = action {
            self.apply_take_action(ui, action);
        }
    }

    /// Asks for each take's finished waveform once per level and file (read off this thread),
    /// and forgets the waveforms of deleted takes.
    fn ask_for_waveforms(&mut self, generating: bool) {
        let waveforms = &self.params.shared.waveforms;
        for take in &self.view.session.takes {
            let asked = self.takes.asked.get(&take.id);
            if asked.is_none_or(|(level, file)| *level != take.level || *file != take.file) {
                waveforms.want_take_file(take.id, take.level, &take.file);
                self.takes
                    .asked
                    .insert(take.id, (take.level, take.file.clone()));
            }
        }
        // While generating, takes not listed yet are streaming their first level.
        if !generating && self.takes.asked.len() != self.view.session.takes.len() {
            let session = &self.view.session;
            waveforms.retain_takes(|id| session.take(id).is_some());
            self.takes.asked.retain(|id, _| session.take(*id).is_some());
            self.takes.waves.retain(|id, _| session.take(*id).is_some());
        }
    }

    /// Takes still generating their first level: a row each, with a growing waveform once
    /// audio streams; not draggable yet.
    fn generating_waves(&mut self, ui: &mut Ui) {
        let mut pending = self.view.session.generating_take_ids();
        let streaming: Vec<u64> = self
            .params
            .shared
            .waveforms
            .takes()
            .keys()
            .copied()
            .filter(|id| self.view.session.take(*id).is_none() && !pending.contains(id))
            .collect();
        pending.extend(streaming);
        pending.sort_unstable();
        let seconds = f64::from(self.params.seconds.value());
        for id in pending {
            let name = default_name(id);
            let waves = self.params.shared.waveforms.takes();
            let waves = waves.get(&id);
            match waves.and_then(|w| w.levels.keys().next().copied()) {
                Some(level) => ui.weak(format!("{name} · {} · generating", level_badge(level))),
                None => ui.weak(format!("{name} · generating")),
            };
            let caches = self.takes.waves.entry(id).or_default();
            take_wave(ui, caches, waves, seconds, (&name, false, false));
            ui.add_space(4.0);
        }
    }

    fn apply_take_action(&mut self, ui: &Ui, action: TakeAction) {
        match action {
            TakeAction::Choose(take) => self.send(WorkerCommand::Choose { take }),
            TakeAction::Audition(take) => self.send(WorkerCommand::Audition { take: Some(take) }),
            TakeAction::StartRename { take, name } => self.takes.renaming = Some((take, name)),
            TakeAction::EditRename(name) => {
                if let Some((_, typed)) = &mut self.takes.renaming {
                    *typed = name;
                }
            }
            TakeAction::CommitRename { take, name } => {
                self.takes.renaming = None;
                let unchanged = self
                    .view
                    .session
                    .takes
                    .iter()
                    .any(|t| t.id == take && t.name == name.trim());
                match valid_name(&name) {
                    _ if unchanged => {}
                    Err(problem) => self.notice = Some(format!("Not renamed: {problem}.")),
                    Ok(name) => self.send(WorkerCommand::Rename { take, name }),
                }
            }
            TakeAction::CancelRename => self.takes.renaming = None,
            TakeAction::AskDelete(take) => self.takes.confirm_delete = Some(take),
            TakeAction::Delete(take) => {
                self.takes.confirm_delete = None;
                self.send(WorkerCommand::Delete { take });
            }
            TakeAction::KeepTake => self.takes.confirm_delete = None,
            TakeAction::ShowInFolder(file) => reveal::show_in_folder(&file, self.notices.0.clone()),
            TakeAction::CopyPath(file) => ui.ctx().copy_text(file.display().to_string()),
            TakeAction::ReuseSeed(seed) => {
                self.settings.seed = seed;
                self.settings.new_seed_each_time = false;
            }
            TakeAction::AuditionFrom { take, seconds } => {
                self.send(WorkerCommand::AuditionFrom { take, seconds });
            }
            TakeAction::Upsample { take, level } => {
                self.send(WorkerCommand::Upsample { take, level });
            }
            TakeAction::OpenExtend(take) => self.open_extend(take),
            TakeAction::OpenCrop(take) => {
                if let Some(t) = self.view.session.take(take) {
                    self.takes.crop = Some(CropForm::new(take, t.name.clone(), take_seconds(t)));
                }
            }
            TakeAction::RegenerateFrom {
                take,
                at_seconds,
                takes,
            } => {
                self.takes.regenerate = None;
                self.send(WorkerCommand::RegenerateFrom {
                    take,
                    at_seconds,
                    takes,
                });
            }
            TakeAction::Retry(take) => self.send(WorkerCommand::Retry { take }),
        }
    }

    /// Opens the Extend dialog on the Continue's length, in its unit where the host allows.
    fn open_extend(&mut self, take: u64) {
        let Some(name) = self.view.session.take(take).map(|t| t.name.clone()) else {
            return;
        };
        let has_tempo = self.view.host.meter().tempo_bpm.is_some();
        self.takes.extend = Some(ExtendForm {
            take,
            name,
            seconds: f64::from(self.params.seconds.value()),
            bars: f64::from(self.settings.length_bars),
            unit: if has_tempo {
                self.settings.length_unit
            } else {
                LengthUnit::Seconds
            },
        });
    }

    fn crop_dialog(&mut self, ui: &Ui) {
        let Some(form) = self.takes.crop.as_mut() else {
            return;
        };
        let waves = self.params.shared.waveforms.takes();
        let outcome = crop_dialog(
            ui.ctx(),
            form,
            waves.get(&form.take),
            &mut self.takes.crop_wave,
        );
        drop(waves);
        match outcome {
            CropOutcome::Open => {}
            CropOutcome::Cancel => self.takes.crop = None,
            CropOutcome::Crop { start, end } => {
                let take = form.take;
                self.takes.crop = None;
                self.send(WorkerCommand::Crop {
                    take,
                    start_seconds: start,
                    end_seconds: end,
                });
            }
        }
    }

    fn extend_dialog(&mut self, ui: &Ui) {
        let Some(form) = self.takes.extend.as_mut() else {
            return;
        };
        let meter = self.view.host.meter();
        let estimator = Estimator::new(&self.view);
        let target = target_level(self.params.level.value());
        match extend_dialog(ui.ctx(), form, &meter, &estimator, target) {
            ExtendOutcome::Open => {}
            ExtendOutcome::Cancel => self.takes.extend = None,
            ExtendOutcome::Extend(seconds) => {
                let take = form.take;
                self.takes.extend = None;
                self.send(WorkerCommand::Extend { take, seconds });
            }
        }
    }
}
