//! Colours and spacing shared by the editor's sections.

use egui::{Color32, RichText, Style, Ui};

pub const OK: Color32 = Color32::from_rgb(120, 200, 120);
pub const WARNING: Color32 = Color32::from_rgb(230, 180, 90);
pub const ERROR: Color32 = Color32::from_rgb(235, 105, 90);
/// The take that plays on the timeline.
pub const CHOSEN: Color32 = Color32::from_rgb(110, 170, 240);
/// Level progress bars: their own colour, apart from the sliders' fill, so a glance (and the
/// screenshot test) tells a running generation from the settings. Dark enough for the bar's
/// light text (WCAG AA).
pub const PROGRESS: Color32 = Color32::from_rgb(40, 96, 150);
/// Hints and notes: dimmer than body text, still 4.5:1 on every ground they are drawn on.
pub const WEAK_TEXT: Color32 = Color32::from_rgb(168, 168, 168);
/// Body text on egui's dark panels (its own grey 140 reads dim at small sizes).
pub const BODY_TEXT: Color32 = Color32::from_rgb(200, 200, 200);
/// No text is drawn smaller than this (points): egui's "small" style is 9.
pub const SMALLEST_TEXT: f32 = 12.0;

/// Looks shared by every window of the editor.
pub fn apply(ctx: &egui::Context) {
    ctx.all_styles_mut(apply_to);
}

fn apply_to(style: &mut Style) {
    use egui::{FontId, TextStyle};
    style.spacing.item_spacing = egui::vec2(8.0, 5.0);
    style.spacing.slider_width = 170.0;
    // A scroll bar that is always there says there is more below.
    style.spacing.scroll = egui::style::ScrollStyle::solid();
    style.visuals.weak_text_color = Some(WEAK_TEXT);
    style.visuals.widgets.noninteractive.fg_stroke.color = BODY_TEXT;
    for (text_style, size) in [
        (TextStyle::Small, SMALLEST_TEXT),
        (TextStyle::Body, 13.0),
        (TextStyle::Button, 13.0),
        (TextStyle::Monospace, 13.0),
    ] {
        let family = match text_style {
            TextStyle::Monospace => egui::FontFamily::Monospace,
            _ => egui::FontFamily::Proportional,
        };
        style
            .text_styles
            .insert(text_style, FontId::new(size, family));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// WCAG 2's relative luminance of an sRGB colour.
    fn luminance(c: Color32) -> f64 {
        let channel = |v: u8| {
            let v = f64::from(v) / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(c.r()) + 0.7152 * channel(c.g()) + 0.0722 * channel(c.b())
    }

    /// A (premultiplied, maybe translucent) colour as it shows over an opaque `ground`.
    fn over(c: Color32, ground: Color32) -> Color32 {
        let a = f32::from(c.a()) / 255.0;
        let mix = |f: u8, g: u8| (f32::from(f) + f32::from(g) * (1.0 - a)).round().min(255.0) as u8;
        Color32::from_rgb(
            mix(c.r(), ground.r()),
            mix(c.g(), ground.g()),
            mix(c.b(), ground.b()),
        )
    }

    fn contrast(text: Color32, ground: Color32) -> f64 {
        let (a, b) = (luminance(over(text, ground)), luminance(ground));
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// Every text colour of the editor against every ground it is drawn on: at least WCAG AA's
    /// 4.5:1 for normal text.
    #[test]
    fn text_reads_at_wcag_aa_on_its_grounds() {
        let mut style = Style::default();
        apply_to(&mut style);
        let v = &style.visuals;
        let pairs = [
            ("body text on a panel", v.text_color(), v.panel_fill),
            ("a hint on a panel", v.weak_text_color(), v.panel_fill),
            (
                "a hint in a text field",
                v.weak_text_color(),
                v.text_edit_bg_color(),
            ),
            (
                "a button's text",
                v.widgets.inactive.fg_stroke.color,
                v.widgets.inactive.weak_bg_fill,
            ),
            ("OK", OK, v.panel_fill),
            ("a warning", WARNING, v.panel_fill),
            ("an error", ERROR, v.panel_fill),
            ("the chosen take's name", CHOSEN, v.panel_fill),
            ("a progress bar's text", v.selection.stroke.color, PROGRESS),
            ("a hint on a waveform", v.weak_text_color(), WAVE_BACKGROUND),
            ("a streaming level's label", WAVE_STREAMING, WAVE_BACKGROUND),
            ("the prompt's label", PROMPT_EDGE, WAVE_BACKGROUND),
            ("a ruler's label", TEXT, v.panel_fill),
            ("a take on the timeline", TEXT, TAKE_FILL),
            ("a hovered take on the timeline", TEXT, TAKE_HOVERED),
            ("the chosen take on the timeline", WAVE_BACKGROUND, CHOSEN),
            ("the prompt on the timeline", WAVE_BACKGROUND, PROMPT_FILL),
        ];
        let low: Vec<String> = pairs
            .iter()
            .filter(|(_, text, ground)| contrast(*text, *ground) < 4.5)
            .map(|(what, text, ground)| format!("{what}: {:.2}:1", contrast(*text, *ground)))
            .collect();
        assert!(low.is_empty(), "below 4.5:1: {low:?}");
    }

    #[test]
    fn contrast_is_computed_as_wcag_defines_it() {
        assert!((contrast(Color32::WHITE, Color32::BLACK) - 21.0).abs() < 1e-9);
        assert!((contrast(Color32::from_gray(118), Color32::WHITE) - 4.54).abs() < 0.01);
    }
}
