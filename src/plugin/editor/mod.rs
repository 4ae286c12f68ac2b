//! The egui editor. Status first, so a missing runtime or model is never hidden; then, side by
//! side, what to generate (left) and what came out of it (right): Continue, progress, takes.
//!
//! Each frame copies the shared state with short read locks ([`view::FrameView`]), draws from
//! the copies, and turns clicks into [`WorkerCommand`]s: the worker does the work, the editor
//! never does file I/O or waits on anything.

mod bar_ruler;
mod browse;
mod conditioning;
mod crop;
mod drag;
mod drag_out;
mod estimates;
mod follow_ups;
mod format;
mod length_and_prompt;
mod picker;
mod recording_view;
mod reveal;
mod run_controls;
mod sampling;
#[cfg(test)]
mod screenshots;
mod settings_copy;
#[cfg(test)]
mod software_render;
mod startup;
mod status;
mod style;
mod take_row;
mod take_wave;
mod takes;
#[cfg(test)]
mod tests;
mod timeline_view;
mod view;
mod wave_paint;

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use egui::Ui;
use nice_plug::context::gui::{GuiContext, ParamSetter};
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::ResizeHint;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier, create_egui_editor,
};

use super::params::EncoreParams;
use super::settings::Settings;
use super::worker::WorkerCommand;
pub use startup::{StartupRequest, request_on_startup};
use view::FrameView;

pub type EncoreEditor = EguiEditor<EditorApp>;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 800.0;
/// The smallest size the window may be resized to: the settings column and a usable takes
/// list beside it.
const MIN_WIDTH: f32 = 820.0;
const MIN_HEIGHT: f32 = 560.0;
/// Width of the settings column; the rest goes to progress and takes.
const SETTINGS_COLUMN_WIDTH: f32 = 440.0;
/// Status comes from other threads: poll it this often when nothing is running...
const IDLE_REPAINT: Duration = Duration::from_millis(250);
/// ...and this often while progress bars move.
const GENERATING_REPAINT: Duration = Duration::from_millis(100);

pub fn create(params: Arc<EncoreParams>, commands: Sender<WorkerCommand>) -> Option<EncoreEditor> {
    create_egui_editor(
        EguiEditorState::from_size(LogicalSize::new(WIDTH, HEIGHT), 1.0),
        RepaintNotifier::new(),
        EguiNiceSettings::new()
            .with_tile("Encore")
            .with_resize_hint(resize_hint()),
        EditorApp::new(params, commands),
    )
}

/// The host may resize the editor, down to [`MIN_WIDTH`] x [`MIN_HEIGHT`].
fn resize_hint() -> ResizeHint {
    ResizeHint::resizable().with_min_logical_size(LogicalSize::new(MIN_WIDTH, MIN_HEIGHT))
}

pub struct EditorApp {
    params: Arc<EncoreParams>,
    commands: Sender<WorkerCommand>,
    gui: Option<GuiContext>,
    /// This frame's copy of the shared state.
    view: FrameView,
    /// This frame's copy of the settings; changed fields are written back after drawing.
    settings: Settings,
    status: status::StatusUi,
    conditioning: conditioning::ConditioningUi,
    sampling: sampling::SamplingUi,
    takes: takes::TakesUi,
    /// Failures from background helpers (the file manager), shown until dismissed.
    notices: (Sender<String>, Receiver<String>),
    notice: Option<String>,
    /// The `last_error` the user dismissed; shown again only when a new one arrives.
    dismissed_error: Option<String>,
    startup: Option<StartupRequest>,
    /// The editor's own window (from baseview), where drags start.
    window: drag::NativeWindow,
    drag: Option<drag_out::TakeDrag>,
    recording: recording_view::RecordingUi,
    /// The native file dialogs (a stub in tests), the dialog open now, and their answers.
    dialogs: Box<dyn browse::Dialogs>,
    browsing: Option<browse::Pick>,
    answers: (Sender<browse::Answer>, Receiver<browse::Answer>),
}

impl EditorApp {
    fn new(params: Arc<EncoreParams>, commands: Sender<WorkerCommand>) -> Self {
        let settings = params.settings.read().clone();
        Self {
            status: status::StatusUi::new(&settings),
            settings,
            params,
            commands,
            gui: None,
            view: FrameView::default(),
            conditioning: Default::default(),
            sampling: Default::default(),
            takes: Default::default(),
            notices: crossbeam_channel::unbounded(),
            notice: None,
            dismissed_error: None,
            startup: None,
            window: drag::NativeWindow::Unsupported,
            drag: None,
            recording: Default::default(),
            dialogs: Box::new(browse::NativeDialogs),
            browsing: None,
            answers: crossbeam_channel::unbounded(),
        }
    }

    fn send(&self, command: WorkerCommand) {
        // The receiver lives as long as the plugin; a stopped worker reads it when it restarts.
        let _ = self.commands.send(command);
    }

    /// The whole editor for one frame.
    fn draw(&mut self, ui: &mut Ui, setter: &ParamSetter) {
        self.view.refresh(&self.params);
        settings_copy::read_into(&mut self.settings, &self.params.settings);
        let before = self.settings.clone();
        if let Ok(notice) = self.notices.1.try_recv() {
            self.notice = Some(notice);
        }
        self.carry_out_startup();
        self.follow_drag(ui.ctx());
        self.take_files(ui.ctx());

        // A corner to drag where the host offers no resizing of its own.
        ResizableWindow::new("encore-size")
            .min_size(egui::vec2(MIN_WIDTH, MIN_HEIGHT))
            .show(ui, |ui| self.panels(ui, setter));

        settings_copy::write_changes(&before, &self.settings, &self.params.settings);
        let repaint = if self.view.is_generating() {
            GENERATING_REPAINT
        } else {
            IDLE_REPAINT
        };
        ui.ctx().request_repaint_after(repaint);
    }

    /// Status on top, errors at the bottom, the settings on the left, the rest beside them.
    fn panels(&mut self, ui: &mut Ui, setter: &ParamSetter) {
        egui::Panel::top("status")
            .frame(style::panel_frame(ui.style()))
            .show(ui, |ui| self.status_section(ui));
        egui::Panel::bottom("errors")
            .frame(style::panel_frame(ui.style()))
            .show(ui, |ui| self.errors_section(ui));
        egui::Panel::left("settings")
            .exact_size(SETTINGS_COLUMN_WIDTH)
            .resizable(false)
            .frame(style::panel_frame(ui.style()))
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("settings-scroll")
                    .auto_shrink([false, false])
                    .show(ui, |ui| self.settings_column(ui, setter));
            });
        egui::CentralPanel::default_margins().show(ui, |ui| {
            self.run_section(ui);
            ui.separator();
            self.recording_section(ui);
            ui.add_space(4.0);
            self.timeline_section(ui);
            ui.separator();
            self.takes_section(ui);
        });
    }

    fn settings_column(&mut self, ui: &mut Ui, setter: &ParamSetter) {
        style::section_heading(ui, "Prompt");
        self.prompt_section(ui);
        ui.add_space(6.0);
        style::section_heading(ui, "Conditioning");
        self.conditioning_section(ui);
        ui.add_space(6.0);
        style::section_heading(ui, "Length and sampling");
        self.length_section(ui, setter);
        self.sampling_section(ui, setter);
        ui.add_space(6.0);
        style::section_heading(ui, "Output");
        self.output_section(ui, setter);
    }

    /// Carries out the standalone app's startup request, step by step as things get ready.
    fn carry_out_startup(&mut self) {
        let Some(request) = self.startup.as_mut() else {
            return;
        };
        if let Some(file) = request.prompt_file.take() {
            self.settings.prompt = super::settings::PromptSource::File;
            self.settings.prompt_file = Some(file);
        }
        if let Some(dir) = request.model_dir.take() {
            self.status.model_path_text = dir.display().to_string();
            self.settings.model_dir = Some(dir.clone());
            let _ = self.commands.send(WorkerCommand::LoadModel { dir });
        }
        let press_continue = request.continue_when_ready
            && run_controls::continue_blocker(&self.view, &self.settings).is_none();
        if press_continue {
            request.continue_when_ready = false;
        }
        if *request == StartupRequest::default() {
            self.startup = None;
        }
        if press_continue {
            self.send(WorkerCommand::Continue);
        }
    }
}

impl NiceEguiApp for EditorApp {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        gui: GuiContext,
        frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(gui);
        self.window = drag_out::native_window(frame);
        style::apply(&egui_ctx);
        if self.startup.is_none() {
            self.startup = startup::take_pending();
        }
        egui_ctx.request_repaint_after(IDLE_REPAINT);
        Ok(())
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut nice_plug_egui::Frame) {
        let Some(gui) = self.gui.clone() else {
            return;
        };
        self.draw(ui, &gui.param_setter());
    }

    /// The host's name for Encore's track names the folder of the takes made from now on.
    fn track_info_changed(&mut self, info: nice_plug::plugin::TrackInfo) {
        let name = info.name().trim();
        *self.params.shared.track_name.write() = (!name.is_empty()).then(|| name.to_string());
    }

    fn editor_closed(&mut self) {
        self.gui = None;
        // The window is gone: a drag from it ends (the drag thread leaves the target).
        self.drag = None;
    }
}
