//! A take's waveform under its row: the best finished level, and a better level growing over
//! it while it streams. It is the take's handle: click to hear the take from that point, drag
//! it out of the editor onto the DAW's timeline (or anywhere that takes files), right-click it
//! for what can be done from that point.

use egui::{Align2, CursorIcon, FontId, Rect, Response, Sense, Ui, WidgetInfo, vec2};

use super::super::waveform::TakeWaves;
use super::format::level_badge;
use super::style;
use super::wave_paint::{WaveCache, display_gain, paint_columns};

pub const WAVE_HEIGHT: f32 = 34.0;

/// What the user did with a take's waveform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaveAction {
    /// Clicked: play from this many seconds into the take.
    AuditionFrom(f64),
    /// The pointer moved with the button down: start dragging the take's file.
    DragOut,
}

/// Caches for one take's waveform (its finished and its streaming level).
#[derive(Debug, Default)]
pub struct TakeWaveUi {
    finished: WaveCache,
    streaming: WaveCache,
}

/// A drawn waveform: what was done with it, and where it is (for its right-click menu).
pub struct WaveResponse {
    pub action: Option<WaveAction>,
    pub response: Response,
    pub rect: Rect,
    /// Seconds the waveform's width stands for.
    pub length: f64,
}

impl WaveResponse {
    /// Seconds into the take at the pointer's last press (a click or a right-click).
    pub fn pointer_seconds(&self) -> Option<f64> {
        let pointer = self.response.interact_pointer_pos()?;
        let t = f64::from((pointer.x - self.rect.left()) / self.rect.width().max(1.0));
        Some(t.clamp(0.0, 1.0) * self.length)
    }
}

/// Draws the waveform of a take `seconds` long (at least as long as its audio so far), named
/// `name` for screen readers. `draggable`: whether it has a file to drag yet.
pub fn take_wave(
    ui: &mut Ui,
    caches: &mut TakeWaveUi,
    waves: Option<&TakeWaves>,
    seconds: f64,
    (name, draggable, dragging): (&str, bool, bool),
) -> WaveResponse {
    let sense = if draggable {
        Sense::click_and_drag()
    } else {
        Sense::click()
    };
    let (rect, response) = ui.allocate_exact_size(vec2(ui.available_width(), WAVE_HEIGHT), sense);
    response.widget_info(|| {
        WidgetInfo::labeled(egui::Role::Image, true, format!("Waveform of {name}"))
    });
    let painter = ui.painter_at(rect);
    let background = if (draggable && response.hovered()) || dragging {
        style::WAVE_BACKGROUND.gamma_multiply(1.6)
    } else {
        style::WAVE_BACKGROUND
    };
    painter.rect_filled(rect, 2.0, background);
    let columns = rect.width().max(1.0) as usize;
    let length = waves
        .into_iter()
        .flat_map(|w| w.levels.values())
        .map(|l| l.envelope.seconds())
        .fold(seconds, f64::max)
        .max(1e-3);
    if let Some(waves) = waves {
        // Each level has its own rate (the host's for files, the model's while streaming).
        let span = |rate: f32| length * f64::from(rate);
        // One gain for both levels, so the growing one compares with the one it replaces.
        let mut gain = None;
        if let Some((_, finished)) = waves.best_finished() {
            let e = &finished.envelope;
            let cols = caches
                .finished
                .columns(e, 0.0, span(e.sample_rate), columns);
            let g = *gain.get_or_insert_with(|| display_gain(cols));
            paint_columns(&painter, rect, cols, g, style::WAVE);
        }
        if let Some((level, streaming)) = waves.streaming() {
            let e = &streaming.envelope;
            let cols = caches
                .streaming
                .columns(e, 0.0, span(e.sample_rate), columns);
            let g = *gain.get_or_insert_with(|| display_gain(cols));
            paint_columns(&painter, rect, cols, g, style::WAVE_STREAMING);
            painter.text(
                rect.right_top() + vec2(-4.0, 2.0),
                Align2::RIGHT_TOP,
                format!("{} streaming", level_badge(level)),
                FontId::proportional(style::SMALLEST_TEXT),
                style::WAVE_STREAMING,
            );
        }
    }
    let mut drawn = WaveResponse {
        action: None,
        response,
        rect,
        length,
    };
    if !draggable {
        return drawn;
    }
    drawn.response = drawn
        .response
        .on_hover_text(
            "Click to hear the take from here; drag it onto the DAW's timeline; right-click to \
             re-generate it from here",
        )
        .on_hover_cursor(CursorIcon::Grab);
    if drawn.response.drag_started() {
        drawn.action = Some(WaveAction::DragOut);
    } else if drawn.response.clicked() {
        drawn.action = drawn.pointer_seconds().map(WaveAction::AuditionFrom);
    }
    drawn
}
