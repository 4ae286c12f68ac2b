//! Colours and spacing shared by the editor's sections.

use egui::{Color32, RichText, Style, Ui};

pub const OK: Color32 = Color32::from_rgb(120, 200, 120);
pub const WARNING: Color32 = Color32::from_rgb(230, 180, 90);
pub const ERROR: Color32 = Color32::from_rgb(235, 105, 90);
/// The take that plays on the timeline.
pub const CHOSEN: Color32 = Color32::from_rgb(110, 170, 240);
/// Level progress bars: their own colour, apart from the sliders' fill, so a glance (and the
/// screenshot test) tells a running generation from the settings.
pub const PROGRESS: Color32 = Color32::from_rgb(80, 150, 210);

/// Looks shared by every window of the editor.
pub fn apply(ctx: &egui::Context) {
    ctx.all_styles_mut(|style| {
        style.spacing.item_spacing = egui::vec2(8.0, 5.0);
        style.spacing.slider_width = 170.0;
    });
}

/// A filled panel with a margin: the bare window would be black to its edges.
pub fn panel_frame(style: &Style) -> egui::Frame {
    egui::Frame::central_panel(style)
}

pub fn section_heading(ui: &mut Ui, text: &str) {
    ui.label(RichText::new(text).strong().size(15.0));
}

/// A label for a grid's first column, with the explanation on hover.
pub fn field_label(ui: &mut Ui, text: &str, help: &str) {
    ui.label(text).on_hover_text(help);
}

/// `add` laid out left to right in a box exactly `width` wide (a column that lines up from row
/// to row whatever its text).
pub fn fixed_width<R>(ui: &mut Ui, width: f32, add: impl FnOnce(&mut Ui) -> R) -> R {
    let size = egui::vec2(width, ui.spacing().interact_size.y);
    let layout = egui::Layout::left_to_right(egui::Align::Center);
    ui.allocate_ui_with_layout(size, layout, |ui| {
        ui.set_min_width(width);
        ui.set_max_width(width);
        add(ui)
    })
    .inner
}

/// Body text on the editor's dark grounds (panels, waveforms, timeline lanes).
pub const TEXT: Color32 = Color32::from_rgb(225, 225, 225);
/// The timeline: a take's region (hovered: lighter), the next prompt's, the playhead.
pub const TAKE_FILL: Color32 = Color32::from_rgb(58, 78, 68);
pub const TAKE_HOVERED: Color32 = Color32::from_rgb(74, 100, 88);
pub const PROMPT_FILL: Color32 = Color32::from_rgb(200, 140, 230);
pub const PLAYHEAD: Color32 = Color32::from_rgb(245, 245, 245);

/// Waveforms: the audio, the ground it is drawn on, a level still streaming over it.
pub const WAVE: Color32 = Color32::from_rgb(150, 200, 150);
pub const WAVE_BACKGROUND: Color32 = Color32::from_rgb(24, 28, 32);
pub const WAVE_STREAMING: Color32 = Color32::from_rgb(250, 160, 70);
/// The part of the recording the next Continue sends.
pub const PROMPT_REGION: Color32 = Color32::from_rgba_premultiplied(50, 35, 60, 60);
pub const PROMPT_EDGE: Color32 = Color32::from_rgb(200, 140, 230);
/// Where the continuation of the generation shown goes.
pub const CONTINUATION: Color32 = Color32::from_rgb(120, 220, 220);
/// The point picked on a take's waveform (Re-generate from here), and the part after it that
/// would be sampled anew.
pub const PICK: Color32 = Color32::from_rgb(240, 220, 110);
pub const PICK_AFTER: Color32 = Color32::from_rgba_premultiplied(40, 36, 16, 40);
