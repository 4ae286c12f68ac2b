//! The editor drawn headless (egui without a window) in each state it can be in, and the
//! commands its startup request sends.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Receiver;
use egui::{Pos2, RawInput, Rect, vec2};
use nice_plug::context::PluginApi;
use nice_plug::context::gui::{GuiContext, GuiContextInner};
use nice_plug::params::internals::ParamPtr;
use nice_plug::plugin::PluginState;

use super::super::diagnostics::RuntimeStatus;
use super::super::params::EncoreParams;
use super::super::session::{
    GenerationPhase, GenerationView, LevelProgress, ModelInfo, ModelStatus, Take,
};
use super::super::worker::WorkerCommand;
use super::{EditorApp, HEIGHT, StartupRequest, WIDTH};
use crate::engine::runtime::Origin;
use crate::engine::{RuntimeInfo, Settings as GenerationSettings};

/// A host that accepts parameter changes and nothing else.
struct NoHost;

impl GuiContextInner for NoHost {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Standalone
    }
    unsafe fn raw_begin_set_parameter(&self, _param: ParamPtr) {}
    unsafe fn raw_set_parameter_normalized(&self, _param: ParamPtr, _normalized: f32) {}
    unsafe fn raw_end_set_parameter(&self, _param: ParamPtr) {}
    fn get_state(&self) -> PluginState {
        unreachable!("the editor never saves the state")
    }
    fn set_state(&self, _state: PluginState) {}
    fn request_restart(&self) {}
}

fn editor() -> (EditorApp, Arc<EncoreParams>, Receiver<WorkerCommand>) {
    let params = Arc::new(EncoreParams::default());
    let (commands, received) = crossbeam_channel::unbounded();
    (EditorApp::new(params.clone(), commands), params, received)
}

/// Draws a few frames, as the window would.
fn draw(app: &mut EditorApp) {
    let gui = GuiContext::new(Arc::new(NoHost));
    let ctx = egui::Context::default();
    let input = || RawInput {
        screen_rect: Some(Rect::from_min_size(
            Pos2::ZERO,
            vec2(WIDTH as f32, HEIGHT as f32),
        )),
        ..Default::default()
    };
    for _ in 0..3 {
        let mut output = ctx.run_ui(input(), |ui| app.draw(ui, &gui.param_setter()));
        // No renderer here to upload the font atlas.
        output.textures_delta.clear();
    }
}

fn runtime_ready(params: &EncoreParams) {
    *params.diagnostics.runtime.write() = RuntimeStatus::Ready(RuntimeInfo {
        path: "/opt/onnxruntime/libonnxruntime.so".into(),
        origin: Origin::ProjectLocal,
        build: "test".into(),
    });
}

fn model_ready(params: &EncoreParams) {
    *params.shared.model.write() = ModelStatus::Ready(ModelInfo {
        dir: "/models/tiny".into(),
        name: "tiny-1b-lyrics".into(),
        artists: (0..5000).map(|i| format!("artist {i}")).collect(),
        genres: vec!["rock".into(), "jazz".into()],
        max_genres: 5,
        has_lyrics: false,
        max_song_seconds: 600.0,
        device: "CPU: no CUDA library found".into(),
        sample_rate: 44100,
        hop_lengths: vec![8, 32, 128],
    });
}

fn take(id: u64) -> Take {
    Take {
        id,
        name: format!("take {id}"),
        level: 2,
        file: PathBuf::from(format!("/music/Encore/take {id}.wav")),
        timeline_start: 44_100 * 12,
        sample_rate: 44_100.0,
        frames: 44_100 * 20,
        batch_row: 0,
        settings: GenerationSettings::new(20.0, 7),
        source: None,
        parent: None,
    }
}

#[test]
fn every_state_draws() {
    let (mut app, params, _commands) = editor();
    draw(&mut app);

    *params.diagnostics.runtime.write() = RuntimeStatus::Unavailable("library not found".into());
    *params.shared.model.write() = ModelStatus::Unusable {
        dir: "/nowhere".into(),
        reason: "no manifest.json".into(),
    };
    *params.shared.last_error.write() = Some("could not write a take".into());
    draw(&mut app);

    runtime_ready(&params);
    model_ready(&params);
    *params.shared.generation.write() = Some(GenerationView {
        job: 1,
        phase: GenerationPhase::Running,
        levels: vec![LevelProgress {
            level: 2,
            done: 100,
            total: 600,
            codes_per_second: 410.0,
            eta_seconds: Some(1.2),
        }],
        target_level: 0,
        takes: 3,
        timeline_start: 0,
    });
    {
        let mut session = params.shared.session.write();
        session.takes = (1..=40).map(take).collect();
        session.chosen = Some(3);
    }
    draw(&mut app);
    assert!(app.view.is_generating());
}

#[test]
fn the_startup_request_loads_the_model_then_presses_continue_once() {
    let (mut app, params, commands) = editor();
    app.startup = Some(StartupRequest {
        model_dir: Some("/models/tiny".into()),
        prompt_file: Some("/clips/chord.wav".into()),
        continue_when_ready: true,
    });
    draw(&mut app);
    assert!(matches!(
        commands.try_recv(),
        Ok(WorkerCommand::LoadModel { dir }) if dir == Path::new("/models/tiny")
    ));
    assert!(
        commands.try_recv().is_err(),
        "Continue before the model is ready"
    );
    assert_eq!(
        params.settings.read().prompt_file,
        Some(PathBuf::from("/clips/chord.wav"))
    );

    runtime_ready(&params);
    model_ready(&params);
    draw(&mut app);
    assert!(matches!(commands.try_recv(), Ok(WorkerCommand::Continue)));
    draw(&mut app);
    assert!(commands.try_recv().is_err(), "Continue pressed twice");
    assert!(app.startup.is_none());
}
