//! Crop a take: its waveform with a start and an end handle to drag (and the same in numbers),
//! the part kept lit; "Crop to a new take" asks the worker for a new take holding that part.
//! The take itself and its files stay as they are.

use egui::{Button, CursorIcon, DragValue, Id, Rect, Sense, Stroke, Ui, WidgetInfo, pos2, vec2};

use super::super::waveform::TakeWaves;
use super::style;
use super::wave_paint::{WaveCache, display_gain, paint_columns};

const WAVE_WIDTH: f32 = 420.0;
const WAVE_HEIGHT: f32 = 60.0;
/// How wide a handle is to grab, in points.
const HANDLE_WIDTH: f32 = 10.0;
/// The shortest crop, in seconds.
const MIN_CROP_SECONDS: f64 = 0.1;

/// The Crop dialog's state: which take, how long it is, and the part kept.
#[derive(Debug, Clone)]
pub struct CropForm {
    pub take: u64,
    pub name: String,
    pub seconds: f64,
    pub start: f64,
    pub end: f64,
}

impl CropForm {
    pub fn new(take: u64, name: String, seconds: f64) -> Self {
        Self {
            take,
            name,
            seconds,
            start: 0.0,
            end: seconds,
        }
    }

    fn clamp(&mut self) {
        self.start = self
            .start
            .clamp(0.0, (self.seconds - MIN_CROP_SECONDS).max(0.0));
        self.end = self.end.clamp(
            self.start + MIN_CROP_SECONDS,
            self.seconds.max(MIN_CROP_SECONDS),
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CropOutcome {
    Open,
    Cancel,
    Crop { start: f64, end: f64 },
}

/// The dialog, modal over the editor.
pub fn crop_dialog(
    ctx: &egui::Context,
    form: &mut CropForm,
    waves: Option<&TakeWaves>,
    cache: &mut WaveCache,
) -> CropOutcome {
    let mut outcome = CropOutcome::Open;
    let shown = egui::Modal::new(Id::unique("crop-take")).show(ctx, |ui| {
        ui.set_width(WAVE_WIDTH);
        style::section_heading(ui, &format!("Crop “{}”", form.name));
        ui.label("Drag the handles to the part to keep: it becomes a new take, placed where it plays now.");
        handles(ui, form, waves, cache);
        ui.horizontal(|ui| {
            ui.label("from");
            ui.add(
                DragValue::new(&mut form.start)
                    .range(0.0..=form.seconds)
                    .speed(0.05)
                    .fixed_decimals(2)
                    .suffix(" s"),
            );
            ui.label("to");
            ui.add(
                DragValue::new(&mut form.end)
                    .range(0.0..=form.seconds)
                    .speed(0.05)
                    .fixed_decimals(2)
                    .suffix(" s"),
            );
            ui.weak(format!("{:.1} s kept", form.end - form.start));
        });
        form.clamp();
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            let whole = form.start <= 0.0 && form.end >= form.seconds;
            let crop = ui
                .add_enabled(!whole, Button::new("Crop to a new take"))
                .on_hover_text("A new take with this part, in a file of its own; this take stays")
                .on_disabled_hover_text("Move a handle first: this is the whole take");
            if crop.clicked() {
                outcome = CropOutcome::Crop {
                    start: form.start,
                    end: form.end,
                };
            }
            if ui.button("Cancel").clicked() {
                outcome = CropOutcome::Cancel;
            }
        });
    });
    if outcome == CropOutcome::Open && shown.should_close() {
        outcome = CropOutcome::Cancel;
    }
    outcome
}

/// The waveform with its two handles; dragging one moves that end of the crop.
fn handles(ui: &mut Ui, form: &mut CropForm, waves: Option<&TakeWaves>, cache: &mut WaveCache) {
    let (rect, response) = ui.allocate_exact_size(vec2(WAVE_WIDTH, WAVE_HEIGHT), Sense::hover());
    response.widget_info(|| WidgetInfo::labeled(egui::Role::Image, true, "Crop waveform"));
    let length = form.seconds.max(1e-3);
    let x = |seconds: f64| rect.left() + (seconds / length).clamp(0.0, 1.0) as f32 * rect.width();
    let seconds_at =
        |x: f32| f64::from(((x - rect.left()) / rect.width()).clamp(0.0, 1.0)) * length;
    let painter = ui.painter_at(rect.expand(HANDLE_WIDTH));
    painter.rect_filled(rect, 2.0, style::WAVE_BACKGROUND);
    if let Some((_, finished)) = waves.and_then(TakeWaves::best_finished) {
        let e = &finished.envelope;
        let columns = rect.width().max(1.0) as usize;
        let cols = cache.columns(e, 0.0, length * f64::from(e.sample_rate), columns);
        paint_columns(&painter, rect, cols, display_gain(cols), style::WAVE);
    }
    // What is cut away, dimmed.
    let dim = style::WAVE_BACKGROUND.gamma_multiply(0.8);
    for (a, b) in [(0.0, form.start), (form.end, length)] {
        if b > a {
            let cut = Rect::from_min_max(pos2(x(a), rect.top()), pos2(x(b), rect.bottom()));
            painter.rect_filled(cut, 0.0, dim);
        }
    }
    for (name, which) in [("Crop start", 0), ("Crop end", 1)] {
        let at = if which == 0 { form.start } else { form.end };
        let handle = Rect::from_center_size(
            pos2(x(at), rect.center().y),
            vec2(HANDLE_WIDTH, rect.height()),
        );
        let response = ui
            .interact(handle, Id::unique(("crop-handle", which)), Sense::drag())
            .on_hover_cursor(CursorIcon::ResizeHorizontal);
        response.widget_info(|| WidgetInfo::labeled(egui::Role::Slider, true, name));
        if response.dragged()
            && let Some(pointer) = response.interact_pointer_pos()
        {
            let seconds = seconds_at(pointer.x);
            if which == 0 {
                form.start = seconds.min(form.end - MIN_CROP_SECONDS);
            } else {
                form.end = seconds.max(form.start + MIN_CROP_SECONDS);
            }
        }
        let colour = if response.hovered() || response.dragged() {
            style::PLAYHEAD
        } else {
            style::PICK
        };
        painter.vline(x(at), rect.y_range(), Stroke::new(3.0, colour));
    }
}
