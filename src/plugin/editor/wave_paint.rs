//! Painting an envelope: one filled bar per pixel column, all in one mesh, from columns cached
//! until the envelope or the size changes (recomputing is a few bins per column anyway).

use egui::{Color32, Mesh, Painter, Pos2, Rect, pos2};

use super::super::waveform::{Envelope, MinMax};

/// The columns of one waveform, kept while nothing they depend on changes.
#[derive(Debug, Default)]
pub struct WaveCache {
    key: Option<(u64, usize, u64, u64)>,
    columns: Vec<MinMax>,
}

impl WaveCache {
    /// The envelope of frames `from..to` in `count` columns.
    pub fn columns(&mut self, envelope: &Envelope, from: f64, to: f64, count: usize) -> &[MinMax] {
        let key = (envelope.revision(), count, from.to_bits(), to.to_bits());
        if self.key != Some(key) {
            envelope.columns(from, to, count, &mut self.columns);
            self.key = Some(key);
        }
        &self.columns
    }

    /// The columns computed last.
    pub fn last(&self) -> &[MinMax] {
        &self.columns
    }
}

/// Quiet audio is drawn up to this much louder (24 dB), so its shape shows in a short strip.
const MAX_DISPLAY_GAIN: f32 = 16.0;

/// The gain that brings the loudest of `columns` to full height, at most [`MAX_DISPLAY_GAIN`]
/// and never below 1 (loud audio is not squeezed).
pub fn display_gain(columns: &[MinMax]) -> f32 {
    let peak = columns
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| c.max.abs().max(c.min.abs()))
        .fold(0.0_f32, f32::max);
    if peak > 0.0 {
        (0.95 / peak).clamp(1.0, MAX_DISPLAY_GAIN)
    } else {
        1.0
    }
}

/// Paints `columns` across `rect`, scaled by `gain` (full scale is the rect's height), in
/// `colour`.
pub fn paint_columns(
    painter: &Painter,
    rect: Rect,
    columns: &[MinMax],
    gain: f32,
    colour: Color32,
) {
    if columns.is_empty() {
        return;
    }
    let width = rect.width() / columns.len() as f32;
    let centre = rect.center().y;
    let half = rect.height() / 2.0;
    let y = |v: f32| centre - (v * gain).clamp(-1.0, 1.0) * half;
    let mut mesh = Mesh::default();
    for (i, column) in columns.iter().enumerate() {
        if column.is_empty() {
            continue;
        }
        let x = rect.left() + i as f32 * width;
        let (mut top, mut bottom) = (y(column.max), y(column.min));
        // Silence still shows as a line.
        if bottom - top < 1.0 {
            top = centre.min(top) - 0.5;
            bottom = top + 1.0;
        }
        let quad = Rect::from_min_max(Pos2::new(x, top), pos2(x + width.max(1.0), bottom));
        mesh.add_colored_rect(quad, colour);
    }
    painter.add(mesh);
}
