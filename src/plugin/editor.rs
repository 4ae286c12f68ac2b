//! The egui editor: engine status first (so a missing runtime is never hidden), then the
//! generation settings.

use std::sync::Arc;

use crossbeam_channel::Sender;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier, create_egui_editor,
};

use super::diagnostics::RuntimeStatus;
use super::params::EncoreParams;
use super::worker::WorkerCommand;

pub type EncoreEditor = EguiEditor<EditorApp>;

const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 440.0;

pub fn create(params: Arc<EncoreParams>, commands: Sender<WorkerCommand>) -> Option<EncoreEditor> {
    let ort_path_text = params
        .settings
        .read()
        .ort_library
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let app = EditorApp {
        params,
        commands,
        gui: None,
        ort_path_text,
    };
    create_egui_editor(
        EguiEditorState::from_size(LogicalSize::new(WIDTH, HEIGHT), 1.0),
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile("Encore"),
        app,
    )
}

pub struct EditorApp {
    params: Arc<EncoreParams>,
    commands: Sender<WorkerCommand>,
    gui: Option<GuiContext>,
    /// The ONNX Runtime path being typed, applied with the Load button.
    ort_path_text: String,
}

impl NiceEguiApp for EditorApp {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(gui);
        // Status changes come from another thread; poll a few times a second rather than
        // waiting for input.
        egui_ctx.request_repaint_after(std::time::Duration::from_millis(250));
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(250));
        // A filled, padded panel: the bare window would be black to its edges.
        egui::Frame::central_panel(ui.style()).show(ui, |ui| {
            ui.set_min_size(ui.available_size());
            ui.heading("Encore");
            ui.label("Continue your music with Jukebox.");
            ui.separator();
            self.runtime_section(ui);
            ui.separator();
            self.capture_section(ui);
            ui.separator();
            self.settings_section(ui);
        });
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

impl EditorApp {
    fn runtime_section(&mut self, ui: &mut egui::Ui) {
        ui.strong("Inference runtime");
        match &*self.params.diagnostics.runtime.read() {
            RuntimeStatus::NotChecked => {
                ui.label("Looking for ONNX Runtime… (starts when the host activates Encore)");
            }
            RuntimeStatus::Ready(info) => {
                ui.colored_label(
                    egui::Color32::from_rgb(120, 200, 120),
                    format!("ONNX Runtime ready ({})", info.origin),
                );
                ui.small(info.path.display().to_string());
            }
            RuntimeStatus::Unavailable(reason) => {
                ui.colored_label(
                    egui::Color32::from_rgb(230, 110, 90),
                    "ONNX Runtime unavailable",
                );
                ui.label(reason);
                ui.label("Encore passes audio through unchanged until this is fixed.");
            }
        }
        ui.horizontal(|ui| {
            ui.label("Library path:");
            ui.text_edit_singleline(&mut self.ort_path_text);
            if ui.button("Load").clicked() {
                let trimmed = self.ort_path_text.trim();
                let user_path = (!trimmed.is_empty()).then(|| trimmed.into());
                self.params.settings.write().ort_library = user_path.clone();
                // The worker may be stopped (plugin inactive); it reads the setting when it starts.
                let _ = self.commands.send(WorkerCommand::LoadRuntime { user_path });
            }
        });
    }

    fn capture_section(&self, ui: &mut egui::Ui) {
        let diag = self.params.diagnostics.snapshot();
        let seconds = if diag.sample_rate > 0.0 {
            diag.received_frames as f64 / f64::from(diag.sample_rate)
        } else {
            0.0
        };
        ui.strong("Capture");
        ui.horizontal(|ui| {
            let state = if diag.host_playing {
                "recording"
            } else {
                "waiting for playback"
            };
            ui.label(format!("{seconds:.1} s captured, {state}"));
            if ui.button("Hear last 5 s").clicked() {
                let _ = self
                    .commands
                    .send(WorkerCommand::PlayPrompt { seconds: 5.0 });
            }
        });
        if diag.dropped_frames > 0 {
            ui.colored_label(
                egui::Color32::from_rgb(230, 180, 90),
                format!(
                    "{} frames dropped: the computer is overloaded",
                    diag.dropped_frames
                ),
            );
        }
    }

    fn settings_section(&self, ui: &mut egui::Ui) {
        let Some(gui) = &self.gui else {
            return;
        };
        let setter = gui.param_setter();
        let p = &self.params;
        egui::Grid::new("settings").num_columns(2).show(ui, |ui| {
            ui.label("Length");
            ui.add(ParamSlider::for_param(&p.seconds, &setter));
            ui.end_row();
            ui.label("Takes");
            ui.add(ParamSlider::for_param(&p.takes, &setter));
            ui.end_row();
            ui.label("Temperature");
            ui.add(ParamSlider::for_param(&p.temperature, &setter));
            ui.end_row();
            ui.label("Top-k");
            ui.add(ParamSlider::for_param(&p.top_k, &setter));
            ui.end_row();
            ui.label("Top-p");
            ui.add(ParamSlider::for_param(&p.top_p, &setter));
            ui.end_row();
            ui.label("Target level");
            ui.add(ParamSlider::for_param(&p.level, &setter));
            ui.end_row();
            ui.label("Playback");
            ui.add(ParamSlider::for_param(&p.playback, &setter));
            ui.end_row();
        });
    }
}
