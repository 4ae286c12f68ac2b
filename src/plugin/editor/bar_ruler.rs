//! The ruler under the recording strip and the timeline: bars at the host's tempo and time
//! signature (bar 1 at the timeline's start, as every DAW counts), or seconds without a tempo.

use egui::{Align2, Color32, FontId, Rect, Stroke, Ui, pos2};

use super::style;
use super::view::HostView;

/// Height of the ruler band at the bottom of a view.
pub const RULER_HEIGHT: f32 = 16.0;

/// Where `seconds` of the host's timeline falls in `rect`, when `from..to` spans its width.
pub fn x_at(rect: Rect, from: f64, to: f64, seconds: f64) -> f32 {
    let t = (seconds - from) / (to - from);
    rect.left() + (t.clamp(0.0, 1.0) as f32) * rect.width()
}

/// How one view draws its ruler.
pub struct RulerLook {
    pub colour: Color32,
    /// Fewer pixels than this between labels and labels are skipped.
    pub label_spacing: f32,
    /// The labels' distance below the ticks' top.
    pub label_offset: f32,
}

/// Paints the ruler for seconds `from..to` across `rect`, in its bottom [`RULER_HEIGHT`].
pub fn paint_ruler(ui: &Ui, rect: Rect, from: f64, to: f64, host: &HostView, look: &RulerLook) {
    let painter = ui.painter_at(rect);
    let ruler_top = rect.bottom() - RULER_HEIGHT;
    let (step, bars) = match host.meter().bars_to_seconds(1.0) {
        Ok(bar) if bar > 0.0 => (bar, true),
        _ => (1.0, false),
    };
    let pixels_per_step = rect.width() as f64 * step / (to - from);
    if !(pixels_per_step.is_finite() && pixels_per_step > 0.5) {
        return;
    }
    let mut label_every = 1_u64;
    while (pixels_per_step * label_every as f64) < f64::from(look.label_spacing) {
        label_every *= 2;
    }
    let first = (from / step).ceil().max(0.0) as u64;
    let last = (to / step).floor().max(0.0) as u64;
    // Never more ticks than pixels.
    let stride = ((last.saturating_sub(first)) / rect.width().max(1.0) as u64).max(1);
    for index in (first..=last).step_by(stride as usize) {
        let x = x_at(rect, from, to, index as f64 * step);
        let labelled = index % label_every == 0;
        let tick = if labelled { 6.0 } else { 3.0 };
        painter.vline(
            x,
            ruler_top..=ruler_top + tick,
            Stroke::new(1.0, look.colour),
        );
        if labelled {
            let text = if bars {
                format!("{}", index + 1)
            } else {
                format!("{index} s")
            };
            painter.text(
                pos2(x + 2.0, ruler_top + look.label_offset),
                Align2::LEFT_TOP,
                text,
                FontId::proportional(style::SMALLEST_TEXT),
                look.colour,
            );
        }
    }
}
