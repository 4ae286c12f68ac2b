//! The takes: every generated take with its file, the one chosen for the timeline, and the
//! ways to get a take into the DAW's arrangement (it plays on the track by itself once chosen;
//! as a file, through the file manager or its copied path).

use egui::{ScrollArea, Ui};

use super::super::takes::valid_name;
use super::super::worker::WorkerCommand;
use super::take_row::{RowState, TakeAction, take_row};
use super::{EditorApp, reveal, style};

#[derive(Debug, Default)]
pub struct TakesUi {
    /// The take being renamed and the name typed so far.
    renaming: Option<(u64, String)>,
    /// The take whose delete button was pressed, waiting for confirmation.
    confirm_delete: Option<u64>,
}

impl EditorApp {
    pub(super) fn takes_section(&mut self, ui: &mut Ui) {
        let session = &self.view.session;
        ui.horizontal(|ui| {
            style::section_heading(ui, &format!("Takes ({})", session.takes.len()));
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
        });
        if session.takes.is_empty() {
            ui.weak("Takes appear here as they are generated, each as its own WAV file.");
            return;
        }
        ui.weak(
            "The round button picks the take that plays on the timeline. To place a take as a \
             clip: Show in folder and drag the file from there, or Copy path and import it.",
        );
        let mut action = None;
        ScrollArea::vertical()
            .id_salt("takes-scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                // Newest first: the take just made is the one to listen to.
                for take in self.view.session.takes.iter().rev() {
                    let state = RowState {
                        chosen: self.view.session.chosen == Some(take.id),
                        renaming: self
                            .takes
                            .renaming
                            .as_ref()
                            .filter(|(id, _)| *id == take.id)
                            .map(|(_, name)| name.as_str()),
                        confirming_delete: self.takes.confirm_delete == Some(take.id),
                    };
                    if let Some(row_action) = take_row(ui, take, state) {
                        action = Some(row_action);
                    }
                }
            });
        if let Some(action) = action {
            self.apply_take_action(ui, action);
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
        }
    }
}
