//! The editor drawn headless (egui without a window) in each state it can be in, the commands
//! its startup request sends, and a user's clicks on a take's follow-ups (widgets found by
//! their accessible names, as a screen reader sees them).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::Receiver;
use egui::{Event, Modifiers, PointerButton, Pos2, RawInput, Rect, pos2, vec2};
use nice_plug::context::PluginApi;
use nice_plug::context::gui::{GuiContext, GuiContextInner};
use nice_plug::params::internals::ParamPtr;
use nice_plug::plugin::PluginState;

use super::super::capture::TimeSignature;
use super::super::diagnostics::RuntimeStatus;
use super::super::params::EncoreParams;
use super::super::session::{
    Derivation, GenerationPhase, GenerationView, LevelProgress, ModelInfo, ModelStatus, Take,
    TakeParent, TakeSource,
};
use super::super::worker::WorkerCommand;
use super::software_render::{Canvas, Textures};
use super::{EditorApp, HEIGHT, StartupRequest, WIDTH};
use crate::engine::runtime::Origin;
use crate::engine::{RuntimeInfo, Settings as GenerationSettings};
use crate::plugin::settings::LengthUnit;

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

pub(super) fn runtime_ready(params: &EncoreParams) {
    *params.diagnostics.runtime.write() = RuntimeStatus::Ready(RuntimeInfo {
        path: "/opt/onnxruntime/libonnxruntime.so".into(),
        origin: Origin::ProjectLocal,
        build: "test".into(),
    });
}

pub(super) fn model_ready(params: &EncoreParams) {
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

pub(super) fn take(id: u64) -> Take {
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

/// The editor in a headless egui, driven as a user would: widgets are found by their accessible
/// name and clicked where they are drawn.
pub(super) struct Harness {
    pub app: EditorApp,
    pub params: Arc<EncoreParams>,
    commands: Receiver<WorkerCommand>,
    ctx: egui::Context,
    gui: GuiContext,
    events: Vec<Event>,
    /// Files dropped onto the window in the next frame, and files dragged over it.
    dropped: Vec<egui::DroppedFileHandle>,
    hovered: Vec<egui::HoveredFile>,
    /// The last frame's widgets: accessible name (label or value), bounds, enabled.
    pub widgets: Vec<(String, Rect, bool)>,
    /// The names of the last frame's toggled-on widgets (the chosen take on the timeline).
    pub selected: Vec<String>,
    /// The widgets before the last click (what a dialog it opened is drawn over).
    before_click: Vec<(String, Rect, bool)>,
    /// The window's size (the default unless a test resizes it).
    pub size: egui::Vec2,
    /// What the last frame drew, and the textures drawn with, for screenshots.
    shapes: Vec<egui::epaint::ClippedShape>,
    textures: Textures,
}

impl Harness {
    pub fn new() -> Self {
        let (app, params, commands) = editor();
        Self::around(app, params, commands)
    }

    /// The editor of a running instance: its commands go to that instance's worker.
    pub fn for_instance(
        params: Arc<EncoreParams>,
        commands: crossbeam_channel::Sender<WorkerCommand>,
    ) -> Self {
        let app = EditorApp::new(params.clone(), commands);
        // Nothing is sent here: the worker reads the commands.
        let (_, unused) = crossbeam_channel::unbounded();
        Self::around(app, params, unused)
    }

    fn around(
        app: EditorApp,
        params: Arc<EncoreParams>,
        commands: Receiver<WorkerCommand>,
    ) -> Self {
        let ctx = egui::Context::default();
        ctx.enable_accesskit();
        // As the window's build does.
        super::style::apply(&ctx);
        Self {
            app,
            params,
            commands,
            ctx,
            gui: GuiContext::new(Arc::new(NoHost)),
            events: Vec::new(),
            dropped: Vec::new(),
            hovered: Vec::new(),
            widgets: Vec::new(),
            before_click: Vec::new(),
            selected: Vec::new(),
            size: vec2(WIDTH as f32, HEIGHT as f32),
            shapes: Vec::new(),
            textures: Textures::default(),
        }
    }

    /// The last frame as the window would show it.
    pub fn screenshot(&self, path: &Path) -> std::io::Result<()> {
        let primitives = self.ctx.tessellate(self.shapes.clone(), 1.0);
        let mut canvas = Canvas::new(self.size.x as usize, self.size.y as usize);
        canvas.paint(&primitives, &self.textures);
        canvas.save_png(path)
    }

    pub fn frame(&mut self) {
        let input = RawInput {
            screen_rect: Some(Rect::from_min_size(Pos2::ZERO, self.size)),
            events: std::mem::take(&mut self.events),
            dropped_files: std::mem::take(&mut self.dropped),
            hovered_files: self.hovered.clone(),
            ..Default::default()
        };
        let (app, setter) = (&mut self.app, self.gui.param_setter());
        let mut output = self.ctx.run_ui(input, |ui| app.draw(ui, &setter));
        self.textures.apply(&output.textures_delta);
        output.textures_delta.clear();
        self.shapes = output.shapes;
        let update = output
            .platform_output
            .accesskit_update
            .expect("accesskit is on");
        self.selected = update
            .nodes
            .iter()
            .filter(|(_, node)| node.toggled() == Some(egui::accesskit::Toggled::True))
            .filter_map(|(_, node)| node.label().map(str::to_string))
            .collect();
        self.widgets = update
            .nodes
            .iter()
            .filter_map(|(_, node)| {
                let name = node.label().or(node.value())?.to_string();
                let b = node.bounds()?;
                let rect = Rect::from_min_max(
                    pos2(b.x0 as f32, b.y0 as f32),
                    pos2(b.x1 as f32, b.y1 as f32),
                );
                Some((name, rect, !node.is_disabled()))
            })
            .collect();
        // Top to bottom, left to right: the order a user reads them in.
        self.widgets.sort_by(|a, b| {
            (a.1.top(), a.1.left())
                .partial_cmp(&(b.1.top(), b.1.left()))
                .unwrap()
        });
        // A label's text run repeats its name.
        self.widgets.dedup();
    }

    pub fn frames(&mut self, count: usize) {
        for _ in 0..count {
            self.frame();
        }
    }

    /// The one widget named `name` exactly, or else the one whose name holds it.
    pub fn widget(&self, name: &str) -> (Rect, bool) {
        let exact: Vec<_> = self.widgets.iter().filter(|w| w.0 == name).collect();
        let found = if exact.is_empty() {
            self.widgets.iter().filter(|w| w.0.contains(name)).collect()
        } else {
            exact
        };
        match found.as_slice() {
            [(_, rect, enabled)] => (*rect, *enabled),
            [] => panic!("no widget named {name:?} among {:?}", self.names()),
            many => panic!("several widgets named {name:?}: {many:?}"),
        }
    }

    /// The widget named `name` exactly in the dialog headed `heading` (below it and right of
    /// its left edge, and not there before the click that opened it): the same words can be in
    /// the settings, under the dialog.
    pub fn widget_in_dialog(&self, name: &str, heading: &str) -> (Rect, bool) {
        let (heading, _) = self.widget(heading);
        let (_, rect, enabled) = self
            .widgets
            .iter()
            .filter(|w| !self.before_click.contains(w))
            .find(|w| w.0 == name && w.1.left() >= heading.left() && w.1.top() >= heading.top())
            .unwrap_or_else(|| panic!("no widget named {name:?} in the dialog"));
        (*rect, *enabled)
    }

    pub fn shows(&self, name: &str) -> bool {
        self.widgets.iter().any(|w| w.0.contains(name))
    }

    pub fn names(&self) -> Vec<&str> {
        self.widgets.iter().map(|w| w.0.as_str()).collect()
    }

    pub fn click(&mut self, name: &str) {
        let (rect, _) = self.widget(name);
        self.click_at(rect.center(), PointerButton::Primary);
    }

    pub fn click_at(&mut self, pos: Pos2, button: PointerButton) {
        self.before_click = self.widgets.clone();
        let press = |pressed| Event::PointerButton {
            pos,
            button,
            pressed,
            modifiers: Modifiers::NONE,
        };
        self.events.push(Event::PointerMoved(pos));
        self.events.push(press(true));
        self.frame();
        self.events.push(press(false));
        // The click acts after its frame is drawn, and a new window is sized before it shows.
        self.frames(3);
    }

    /// A press at `from`, the pointer moved to `to` in a few steps, and a release there.
    pub fn drag(&mut self, from: Pos2, to: Pos2) {
        let press = |pos, pressed| Event::PointerButton {
            pos,
            button: PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        };
        self.events.push(Event::PointerMoved(from));
        self.events.push(press(from, true));
        self.frame();
        for step in 1..=4 {
            self.events
                .push(Event::PointerMoved(from.lerp(to, step as f32 / 4.0)));
            self.frame();
        }
        self.events.push(press(to, false));
        self.frames(3);
    }

    /// Files dropped onto the editor's window, as the window system hands them to egui.
    pub fn drop_files(&mut self, paths: &[&str]) {
        self.dropped = paths
            .iter()
            .map(|p| Arc::new(Dropped(PathBuf::from(p))) as egui::DroppedFileHandle)
            .collect();
        self.frames(2);
    }

    /// Files dragged over the editor's window (not dropped yet).
    pub fn hover_files(&mut self, paths: &[&str]) {
        self.hovered = paths
            .iter()
            .map(|p| egui::HoveredFile {
                path: Some(PathBuf::from(p)),
                ..Default::default()
            })
            .collect();
        self.frames(2);
        self.hovered.clear();
    }

    /// Every command sent so far.
    pub fn sent(&self) -> Vec<WorkerCommand> {
        self.commands.try_iter().collect()
    }

    pub fn with_takes(self, takes: Vec<Take>) -> Self {
        self.params.shared.session.write().takes = takes;
        self
    }

    /// The host's tempo and time signature, as `process()` leaves them in the diagnostics.
    pub fn with_host_meter(self, bpm: f64, numerator: u32, denominator: u32) -> Self {
        let diagnostics = &self.params.diagnostics;
        diagnostics
            .host_tempo_bits
            .store(bpm.to_bits(), Ordering::Relaxed);
        let signature = TimeSignature {
            numerator,
            denominator,
        };
        diagnostics
            .host_time_signature
            .store(signature.packed(), Ordering::Relaxed);
        self
    }

    /// The host's sample rate and playhead (`seconds` in), as `process()` leaves them.
    pub fn with_host_playhead(self, sample_rate: u32, seconds: u32) -> Self {
        let diagnostics = &self.params.diagnostics;
        diagnostics
            .sample_rate_bits
            .store((sample_rate as f32).to_bits(), Ordering::Relaxed);
        diagnostics
            .host_position_samples
            .store(i64::from(sample_rate * seconds), Ordering::Relaxed);
        self
    }
}

/// A file dropped onto the window, known by its path only.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        Err("the editor never reads a dropped file".into())
    }
}

/// A take whose codes are on disk: every follow-up can start from it.
pub(super) fn kept(id: u64) -> Take {
    Take {
        source: Some(TakeSource {
            checkpoint: PathBuf::from(format!("/music/Encore/.generation-{id}")),
            number: 0,
            origin_samples: None,
        }),
        ..take(id)
    }
}

fn follow_up_commands(sent: Vec<WorkerCommand>) -> Vec<WorkerCommand> {
    sent.into_iter()
        .filter(|c| {
            matches!(
                c,
                WorkerCommand::Upsample { .. }
                    | WorkerCommand::Extend { .. }
                    | WorkerCommand::RegenerateFrom { .. }
                    | WorkerCommand::Retry { .. }
            )
        })
        .collect()
}

#[test]
fn a_preview_take_is_upsampled_to_the_level_picked() {
    let mut h = Harness::new().with_takes(vec![kept(1)]);
    h.frames(2);
    h.click("Upsample…");
    assert!(
        h.shows("Upsample to L1 · time not measured yet"),
        "{:?}",
        h.names()
    );
    h.click("Upsample to L0");
    assert!(matches!(
        follow_up_commands(h.sent()).as_slice(),
        [WorkerCommand::Upsample { take: 1, level: 0 }]
    ));
}

#[test]
fn a_take_without_its_codes_offers_no_follow_up() {
    let mut h = Harness::new().with_takes(vec![take(1)]);
    h.frames(2);
    let (_, enabled) = h.widget("Upsample…");
    assert!(!enabled, "Upsample offered for a take without codes");
    h.click("Upsample…");
    assert!(!h.shows("Upsample to L0"));
    h.click("More…");
    assert!(
        !h.widget("Retry").1,
        "Retry offered for a take without codes"
    );
    h.click("Retry");
    h.click("More…");
    assert!(
        !h.widget("Extend…").1,
        "Extend offered for a take without codes"
    );
    h.click("Extend…");
    assert!(follow_up_commands(h.sent()).is_empty());
    assert!(h.app.takes.extend.is_none());
}

#[test]
fn a_finished_take_offers_no_upsample() {
    let mut h = Harness::new().with_takes(vec![Take {
        level: 0,
        ..kept(1)
    }]);
    h.frames(2);
    let (_, enabled) = h.widget("Upsample…");
    assert!(!enabled, "Upsample offered for a take at level 0");
}

/// The row's buttons where they were before the take reached level 0: a click aimed at one
/// never lands on another (on "Delete" where "More…" was).
#[test]
fn a_rows_buttons_stay_put_when_its_take_reaches_level_0() {
    const BUTTONS: [&str; 4] = ["Play", "Upsample…", "More…", "Delete"];
    let mut h = Harness::new().with_takes(vec![kept(1)]);
    h.frames(2);
    let before: Vec<Rect> = BUTTONS.iter().map(|b| h.widget(b).0).collect();
    h.params.shared.session.write().takes[0].level = 0;
    h.frames(2);
    let after: Vec<Rect> = BUTTONS.iter().map(|b| h.widget(b).0).collect();
    assert_eq!(before, after, "{BUTTONS:?} moved");
    // Delete stands apart from the rest, at the row's end.
    let (more, delete) = (h.widget("More…").0, h.widget("Delete").0);
    assert!(delete.left() - more.right() > 24.0, "{more:?} {delete:?}");
    // Its confirmation takes its place; the other buttons do not move.
    h.click("Delete");
    assert!(h.shows("Delete its files?"), "{:?}", h.names());
    let confirming: Vec<Rect> = BUTTONS[..3].iter().map(|b| h.widget(b).0).collect();
    assert_eq!(&after[..3], confirming.as_slice());
}

#[test]
fn retry_asks_for_the_take_again() {
    let mut h = Harness::new().with_takes(vec![kept(1), kept(2)]);
    h.frames(2);
    // Newest first: the second row's menu is take 1's.
    let menus: Vec<Rect> = h
        .widgets
        .iter()
        .filter(|w| w.0 == "More…")
        .map(|w| w.1)
        .collect();
    assert_eq!(menus.len(), 2);
    h.click_at(menus[1].center(), PointerButton::Primary);
    h.click("Retry");
    assert!(matches!(
        follow_up_commands(h.sent()).as_slice(),
        [WorkerCommand::Retry { take: 1 }]
    ));
}

#[test]
fn a_right_click_on_the_waveform_regenerates_from_that_point() {
    let mut h = Harness::new().with_takes(vec![kept(1)]);
    h.frames(2);
    let (wave, _) = h.widget("Waveform of take 1");
    // A quarter of the way into the 20 s take.
    let at = pos2(wave.left() + wave.width() / 4.0, wave.center().y);
    h.click_at(at, PointerButton::Secondary);
    assert!(h.shows("Re-generate from 5.0 s…"), "{:?}", h.names());
    let pick = h
        .app
        .takes
        .regenerate
        .expect("the point is kept while the menu is open");
    assert_eq!(
        (pick.take, pick.takes),
        (1, 3),
        "3: the takes parameter's default"
    );
    h.click("+");
    h.click("Re-generate 4 takes");
    match follow_up_commands(h.sent()).as_slice() {
        [
            WorkerCommand::RegenerateFrom {
                take: 1,
                at_seconds,
                takes: 4,
            },
        ] => assert!((at_seconds - 5.0).abs() < 0.05, "{at_seconds}"),
        other => panic!("{other:?}"),
    }
    assert!(h.app.takes.regenerate.is_none(), "the menu closes");
}

#[test]
fn extend_sends_the_length_in_seconds() {
    let mut h = Harness::new().with_takes(vec![kept(1)]);
    h.frames(2);
    h.click("More…");
    h.click("Extend…");
    assert!(h.shows("Extend “take 1”"), "{:?}", h.names());
    let (_, bars) = h.widget_in_dialog("bars", "Extend “take 1”");
    assert!(!bars, "bars without the host's tempo");
    h.click("Extend");
    match follow_up_commands(h.sent()).as_slice() {
        // The Length parameter's 20 s.
        [WorkerCommand::Extend { take: 1, seconds }] => assert_eq!(*seconds, 20.0),
        other => panic!("{other:?}"),
    }
    assert!(!h.shows("Extend “take 1”"), "the dialog closes");
}

#[test]
fn extend_turns_bars_into_seconds_at_the_hosts_tempo() {
    let mut h = Harness::new()
        .with_takes(vec![kept(1)])
        .with_host_meter(90.0, 3, 4);
    h.params.settings.write().length_unit = LengthUnit::Seconds;
    h.frames(2);
    h.click("More…");
    h.click("Extend…");
    let (bars, _) = h.widget_in_dialog("bars", "Extend “take 1”");
    h.click_at(bars.center(), PointerButton::Primary);
    assert!(h.shows("at 90 BPM in 3/4"), "{:?}", h.names());
    h.click("Extend");
    match follow_up_commands(h.sent()).as_slice() {
        // The settings' 8 bars of 3/4 at 90 BPM: 24 beats of 2/3 s.
        [WorkerCommand::Extend { take: 1, seconds }] => {
            assert!((seconds - 16.0).abs() < 1e-9, "{seconds}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_continue_says_what_it_costs_once_measured() {
    let mut h = Harness::new();
    runtime_ready(&h.params);
    model_ready(&h.params);
    h.frames(2);
    assert!(h.shows("Time: not measured yet"), "{:?}", h.names());
    {
        let mut session = h.params.shared.session.write();
        // The Length parameter's 20 s at level 2: 6890.6 codes, 10 s at this speed.
        session.speeds.record(2, 689.0625, 3);
        session.speeds.record(1, 689.0625, 3);
        session.speeds.record(0, 689.0625, 3);
    }
    h.frames(2);
    assert!(h.shows("Time: about 10 s at level 2"), "{:?}", h.names());
    assert!(!h.shows("not measured"));
}

#[test]
fn a_derived_take_shows_where_it_came_from() {
    let parent = |take, name: &str, derivation| {
        Some(TakeParent {
            take,
            name: name.into(),
            derivation,
        })
    };
    let mut h = Harness::new().with_takes(vec![
        kept(1),
        Take {
            parent: parent(1, "take 1", Derivation::RegeneratedFrom { seconds: 12.0 }),
            ..kept(2)
        },
        Take {
            parent: parent(9, "gone", Derivation::Retried),
            ..kept(3)
        },
        Take {
            parent: parent(1, "old name", Derivation::Extended),
            ..kept(4)
        },
    ]);
    h.frames(2);
    assert!(
        h.shows("re-generated from take 1 at 12.0 s"),
        "{:?}",
        h.names()
    );
    assert!(h.shows("retry of gone (deleted)"));
    assert!(h.shows("extends take 1"), "the parent's name now");
}

/// A Continue of three takes at level 2, a quarter done, as the worker shows it.
fn three_takes_generating(h: &Harness, phase: GenerationPhase) {
    runtime_ready(&h.params);
    model_ready(&h.params);
    *h.params.shared.generation.write() = Some(GenerationView {
        job: 1,
        phase,
        levels: vec![LevelProgress {
            level: 2,
            // 20 s at the model's 44.1 kHz and level 2's hop of 128: 6890.6 codes.
            done: 1722,
            total: 6890,
            codes_per_second: 410.0,
            eta_seconds: Some(42.0),
        }],
        target_level: 2,
        takes: 3,
        timeline_start: 0,
    });
    h.params
        .shared
        .session
        .write()
        .unfinished
        .push(crate::plugin::session::Unfinished {
            checkpoint: "/music/Encore/.checkpoints/generation 1.json".into(),
            timeline_start: 0,
            sample_rate: 44_100.0,
            take_ids: vec![1, 2, 3],
        });
}

#[test]
fn takes_being_generated_are_counted_and_listed() {
    let mut h = Harness::new();
    three_takes_generating(&h, GenerationPhase::Running);
    h.frames(2);
    assert!(h.shows("Takes (3)"), "{:?}", h.names());
    for name in [
        "Take 1 · generating",
        "Take 2 · generating",
        "Take 3 · generating",
    ] {
        assert!(h.shows(name), "{name}: {:?}", h.names());
    }
}

#[test]
fn progress_reads_in_seconds_of_audio_and_time_left() {
    let mut h = Harness::new();
    three_takes_generating(&h, GenerationPhase::Running);
    h.frames(2);
    assert!(
        h.shows("5.0 s of 20.0 s of audio · 42 s left"),
        "{:?}",
        h.names()
    );
    assert!(
        !h.names().iter().any(|n| n.contains("codes")),
        "{:?}",
        h.names()
    );
}

#[test]
fn a_cancelled_generation_shows_no_time_left() {
    let mut h = Harness::new();
    three_takes_generating(&h, GenerationPhase::Cancelled);
    h.frames(2);
    assert!(h.shows("Cancelled"), "{:?}", h.names());
    assert!(!h.shows("42 s left"), "{:?}", h.names());
    assert!(
        h.shows("5.0 s of 20.0 s of audio · stopped"),
        "{:?}",
        h.names()
    );
    assert!(!h.shows("Takes (3)"), "nothing is on its way any more");
}

#[test]
fn continue_reads_continue_while_one_runs() {
    let mut h = Harness::new();
    three_takes_generating(&h, GenerationPhase::Running);
    h.frames(2);
    let (_, enabled) = h.widget("Continue");
    assert!(enabled, "a second Continue queues after the first");
    assert!(!h.shows("Continue again"), "{:?}", h.names());
}

/// The timeline lays the prompt, each take and the playhead out where the host plays them.
#[test]
fn the_timeline_places_the_prompt_and_takes_where_they_play() {
    let second_take = Take {
        // 40 s in, 10 s long.
        timeline_start: 44_100 * 40,
        frames: 44_100 * 10,
        ..kept(2)
    };
    let mut h = Harness::new()
        .with_takes(vec![kept(1), second_take])
        .with_host_playhead(44_100, 30);
    h.params.shared.session.write().chosen = Some(1);
    h.params.settings.write().prompt = crate::plugin::settings::PromptSource::Range {
        start_seconds: 0.0,
        end_seconds: 12.0,
    };
    h.frames(2);
    let (prompt, _) = h.widget("Timeline: prompt");
    let (first, _) = h.widget("Timeline: take 1");
    let (second, _) = h.widget("Timeline: take 2");
    let (playhead, _) = h.widget("Timeline: playhead");
    // Take 1 plays from 12 s for 20 s: the scale.
    let per_second = first.width() / 20.0;
    let near = |a: f32, b: f32| (a - b).abs() < 1.0;
    assert!(
        near(prompt.right(), first.left()),
        "the take starts where its prompt ends"
    );
    assert!(
        near(prompt.width(), 12.0 * per_second),
        "{prompt:?} {first:?}"
    );
    assert!(
        near(second.left() - first.left(), 28.0 * per_second),
        "{second:?}"
    );
    assert!(near(second.width(), 10.0 * per_second), "{second:?}");
    assert!(
        near(playhead.center().x - first.left(), 18.0 * per_second),
        "{playhead:?}"
    );
    let highlighted: Vec<&String> = h
        .selected
        .iter()
        .filter(|s| s.starts_with("Timeline:"))
        .collect();
    assert_eq!(
        highlighted,
        ["Timeline: take 1"],
        "the chosen take is the highlighted one"
    );
    // A click on a take plays it.
    h.click("Timeline: take 2");
    assert!(
        h.sent().contains(&WorkerCommand::Choose { take: Some(2) }),
        "the click did not choose take 2"
    );
}

fn loads(sent: &[WorkerCommand]) -> Vec<PathBuf> {
    sent.iter()
        .filter_map(|c| match c {
            WorkerCommand::LoadModel { dir } => Some(dir.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn browse_picks_the_model_folder_and_the_prompt_file() {
    use super::browse::stub::StubDialogs;
    use crate::plugin::settings::PromptSource;
    let mut h = Harness::new();
    h.app.dialogs = Box::new(StubDialogs {
        prompt_file: Some("/clips/riff.flac".into()),
        model_folder: Some("/models/jukebox-1b-lyrics".into()),
    });
    h.frames(2);
    h.click("Browse…");
    assert_eq!(
        loads(&h.sent()),
        [PathBuf::from("/models/jukebox-1b-lyrics")]
    );
    assert_eq!(
        h.params.settings.read().model_dir,
        Some(PathBuf::from("/models/jukebox-1b-lyrics"))
    );
    assert!(h.shows("/models/jukebox-1b-lyrics"), "{:?}", h.names());

    h.params.settings.write().prompt = PromptSource::File;
    h.frames(2);
    // The prompt's Browse… is the lower one (the model's is in the status strip).
    let prompt_browse = h
        .widgets
        .iter()
        .filter(|w| w.0 == "Browse…")
        .map(|w| w.1)
        .max_by(|a, b| a.top().total_cmp(&b.top()))
        .unwrap();
    h.click_at(prompt_browse.center(), PointerButton::Primary);
    let settings = h.params.settings.read().clone();
    assert_eq!(settings.prompt, PromptSource::File);
    assert_eq!(
        settings.prompt_file,
        Some(PathBuf::from("/clips/riff.flac"))
    );
}

#[test]
fn a_dropped_audio_file_is_the_prompt_and_a_dropped_folder_the_model() {
    use crate::plugin::settings::PromptSource;
    let mut h = Harness::new();
    h.frames(2);
    h.drop_files(&["/clips/Take 3 bounce.WAV"]);
    let settings = h.params.settings.read().clone();
    assert_eq!(settings.prompt, PromptSource::File);
    assert_eq!(
        settings.prompt_file,
        Some(PathBuf::from("/clips/Take 3 bounce.WAV"))
    );
    h.drop_files(&["/models/tiny-1b-lyrics"]);
    assert_eq!(loads(&h.sent()), [PathBuf::from("/models/tiny-1b-lyrics")]);
}

#[test]
fn dragging_across_the_recording_makes_that_range_the_prompt() {
    use crate::plugin::recordings::Recording;
    use crate::plugin::settings::PromptSource;
    let mut h = Harness::new();
    // 20 s recorded from 10 s into the timeline.
    let rate = 44_100.0;
    let frames = 20 * 44_100;
    let samples: Vec<f32> = (0..frames * 2)
        .map(|i| ((i / 2) as f32 * 0.01).sin() * 0.5)
        .collect();
    let recording = Recording::from_interleaved(rate, 44_100 * 10, samples);
    h.params.shared.waveforms.follow_recording(Some(&recording));
    h.frames(2);
    let (wave, _) = h.widget("Waveform of the recording");
    let at = |t: f32| pos2(wave.left() + wave.width() * t, wave.top() + 10.0);
    // From 3/4 back to 1/4 of the strip: 25 s to 15 s on the timeline.
    h.drag(at(0.75), at(0.25));
    match h.params.settings.read().prompt {
        PromptSource::Range {
            start_seconds,
            end_seconds,
        } => {
            assert!((start_seconds - 15.0).abs() < 0.1, "{start_seconds}");
            assert!((end_seconds - 25.0).abs() < 0.1, "{end_seconds}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_crop_asks_for_a_new_take_from_between_its_handles() {
    let mut h = Harness::new().with_takes(vec![kept(1)]);
    h.frames(2);
    h.click("More…");
    h.click("Crop…");
    assert!(h.shows("Crop “take 1”"), "{:?}", h.names());
    let (wave, _) = h.widget("Crop waveform");
    let at = |t: f32| pos2(wave.left() + wave.width() * t, wave.center().y);
    // The 20 s take from 5 s to 15 s.
    h.drag(h.widget("Crop start").0.center(), at(0.25));
    h.drag(h.widget("Crop end").0.center(), at(0.75));
    h.click("Crop to a new take");
    let crops: Vec<_> = h
        .sent()
        .into_iter()
        .filter(|c| matches!(c, WorkerCommand::Crop { .. }))
        .collect();
    match crops.as_slice() {
        [
            WorkerCommand::Crop {
                take: 1,
                start_seconds,
                end_seconds,
            },
        ] => {
            assert!((start_seconds - 5.0).abs() < 0.1, "{start_seconds}");
            assert!((end_seconds - 15.0).abs() < 0.1, "{end_seconds}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!h.shows("Crop “take 1”"), "the dialog closes");
}

/// The editor with everything on show: a lyrics model, an error, a generation, takes.
fn busy_editor() -> Harness {
    let h = Harness::new().with_takes((1..=4).map(kept).collect());
    three_takes_generating(&h, GenerationPhase::Running);
    if let ModelStatus::Ready(info) = &mut *h.params.shared.model.write() {
        info.has_lyrics = true;
    }
    *h.params.shared.last_error.write() = Some("could not write a take".into());
    let recording = crate::plugin::recordings::Recording::from_interleaved(
        44_100.0,
        0,
        (0..44_100 * 8)
            .map(|i| (i as f32 * 0.01).sin() * 0.3)
            .collect(),
    );
    h.params.shared.waveforms.follow_recording(Some(&recording));
    let mut h = h.with_host_meter(120.0, 4, 4).with_host_playhead(44_100, 4);
    h.frames(3);
    h
}

/// Every text shape of the last frame, with its font size.
fn text_sizes(h: &Harness) -> Vec<(String, f32)> {
    fn walk(shape: &egui::Shape, out: &mut Vec<(String, f32)>) {
        match shape {
            egui::Shape::Text(text) => {
                for section in &text.galley.job.sections {
                    let range = section.byte_range.start.0..section.byte_range.end.0;
                    let words = &text.galley.job.text[range];
                    out.push((words.to_string(), section.format.font_id.size));
                }
            }
            egui::Shape::Vec(shapes) => shapes.iter().for_each(|s| walk(s, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for clipped in &h.shapes {
        walk(&clipped.shape, &mut out);
    }
    out
}

#[test]
fn no_text_is_smaller_than_12_points() {
    let h = busy_editor();
    let sizes = text_sizes(&h);
    assert!(sizes.len() > 50, "{} texts drawn", sizes.len());
    let small: Vec<_> = sizes
        .iter()
        .filter(|(_, size)| *size < super::style::SMALLEST_TEXT - 0.01)
        .collect();
    assert!(small.is_empty(), "{small:?}");
}

/// At the default size every row of the settings shows without scrolling, down to Playback.
#[test]
fn no_row_is_off_screen_at_the_default_size() {
    let h = busy_editor();
    let (playback, _) = h.widget("Playback");
    let (error, _) = h.widget("Error: could not write a take");
    // The errors strip's top, less the margins of its frame and of the settings panel.
    let visible_bottom = error.top() - 16.0;
    assert!(
        playback.bottom() <= visible_bottom,
        "Playback at {playback:?} is under the errors strip at {error:?}"
    );
}

#[test]
fn the_editor_is_resizable_and_fills_a_larger_window() {
    use nice_plug::prelude::Editor;
    let params = Arc::new(EncoreParams::default());
    let (commands, _received) = crossbeam_channel::unbounded();
    let editor = super::create(params, commands).expect("an editor");
    let hint = editor.resize_hint();
    assert!(hint.can_resize && hint.can_resize_horizontally && hint.can_resize_vertically);

    let mut h = Harness::new().with_takes(vec![kept(1)]);
    h.size = vec2(1400.0, 1000.0);
    h.frames(3);
    let (delete, _) = h.widget("Delete");
    assert!(
        delete.right() > 1300.0,
        "the takes list stays narrow: {delete:?}"
    );
    let (errors, _) = h.widget("No errors.");
    assert!(
        errors.bottom() > 950.0,
        "the errors strip is not at the bottom: {errors:?}"
    );
}

#[test]
fn the_hosts_track_name_names_the_next_takes_folder() {
    use nice_plug::plugin::TrackInfo;
    use nice_plug_egui::NiceEguiApp;
    let (mut app, params, _commands) = editor();
    app.track_info_changed(TrackInfo::new("Lead Vox", None));
    assert_eq!(params.shared.track_name.read().as_deref(), Some("Lead Vox"));
    app.track_info_changed(TrackInfo::new("  ", None));
    assert_eq!(params.shared.track_name.read().as_deref(), None);
}
