//! The prompt's audio as a waveform: the captured recording (or the prompt file), the part the
//! next Continue would send marked, and a ruler in bars at the host's tempo (seconds without
//! one). Dragging across the recording makes that range the prompt.

use egui::{Align2, FontId, Rect, Sense, Stroke, Ui, pos2, vec2};

use super::super::recordings::KEEP_SECONDS;
use super::super::settings::PromptSource;
use super::bar_ruler::{RULER_HEIGHT, RulerLook, paint_ruler, x_at};
use super::view::HostView;
use super::wave_paint::{WaveCache, display_gain, paint_columns};
use super::{EditorApp, style};

const WAVE_HEIGHT: f32 = 54.0;

/// Shorter drags than this are taken for a click, not a range.
const MIN_RANGE_SECONDS: f64 = 0.1;

#[derive(Debug, Default)]
pub struct RecordingUi {
    cache: WaveCache,
    /// Where a drag across the recording started, in timeline seconds.
    drag_from: Option<f64>,
}

/// What the strip shows, in seconds of its own axis.
struct Strip {
    /// Axis seconds of the strip's left and right edges.
    from: f64,
    to: f64,
    /// The prompt's part, if it can be placed.
    prompt: Option<(f64, f64)>,
    /// Where the continuation of the generation shown goes.
    continuation: Option<f64>,
}

impl EditorApp {
    pub(super) fn recording_section(&mut self, ui: &mut Ui) {
        let waveforms = &self.params.shared.waveforms;
        let host = self.view.host;
        let file_prompt = self.settings.prompt == PromptSource::File;
        let (rect, response) = ui.allocate_exact_size(
            vec2(ui.available_width(), WAVE_HEIGHT + RULER_HEIGHT),
            Sense::drag(),
        );
        response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::Image, true, "Waveform of the recording")
        });
        let wave_rect =
            Rect::from_min_max(rect.min, pos2(rect.right(), rect.bottom() - RULER_HEIGHT));
        let painter = ui.painter_at(rect);
        painter.rect_filled(wave_rect, 2.0, style::WAVE_BACKGROUND);
        let columns = wave_rect.width().max(1.0) as usize;

        let strip = if file_prompt {
            let Some(path) = self.settings.prompt_file.clone() else {
                return empty(
                    ui,
                    wave_rect,
                    "Choose the prompt's audio file to see it here.",
                );
            };
            waveforms.want_prompt_file(&path);
            let file = waveforms.prompt_file();
            let Some(file) = file.as_ref().filter(|f| f.path == path) else {
                return empty(ui, wave_rect, "Reading the prompt file…");
            };
            let envelope = match &file.envelope {
                Ok(envelope) => envelope,
                Err(reason) => return empty(ui, wave_rect, reason),
            };
            let length = envelope.seconds();
            let strip = Strip {
                from: 0.0,
                to: length.max(1e-3),
                prompt: Some(((length - KEEP_SECONDS).max(0.0), length)),
                continuation: None,
            };
            // Computed into the cache, painted below.
            let _ = self
                .recording
                .cache
                .columns(envelope, 0.0, envelope.frames() as f64, columns);
            strip
        } else {
            let recording = waveforms.recording();
            let Some(wave) = recording.as_ref() else {
                return empty(
                    ui,
                    wave_rect,
                    "Nothing recorded yet: play the track with Encore on it.",
                );
            };
            let rate = f64::from(wave.envelope.sample_rate.max(1.0));
            let first = wave.envelope.first_frame() as f64;
            let end = wave.envelope.frames() as f64;
            // The last KEEP_SECONDS at most: what the recorder still holds.
            let shown_from = first.max(end - KEEP_SECONDS * rate);
            let origin = wave.origin as f64;
            let from = (origin + shown_from) / rate;
            let to = ((origin + end) / rate).max(from + 1e-3);
            let _ = self.recording.cache.columns(
                &wave.envelope,
                shown_from,
                end.max(shown_from + 1.0),
                columns,
            );
            let continuation = self
                .view
                .generation
                .as_ref()
                .map(|g| g.timeline_start as f64 / f64::from(host.sample_rate.max(1.0)))
                .filter(|at| (from..=to).contains(at));
            let seconds_at = |x: f32| {
                let t = f64::from((x - wave_rect.left()) / wave_rect.width().max(1.0));
                from + t.clamp(0.0, 1.0) * (to - from)
            };
            if let Some(range) = self.recording.drag_range(&response, seconds_at) {
                self.settings.prompt = range;
            }
            let response =
                response.on_hover_text("Drag across the recording to make that range the prompt");
            if response.hovered() {
                ui.ctx().set_cursor_icon(egui::CursorIcon::Text);
            }
            Strip {
                from,
                to,
                prompt: prompt_region(self.settings.prompt, &host, to),
                continuation,
            }
        };
        // The prompt's part under the audio, its edge over it.
        paint_region(&painter, wave_rect, &strip);
        let cols = self.recording.cache.last();
        paint_columns(&painter, wave_rect, cols, display_gain(cols), style::WAVE);
        paint_marks(&painter, wave_rect, &strip);
        let look = RulerLook {
            colour: ui.visuals().weak_text_color(),
            label_spacing: 36.0,
            label_offset: 1.0,
        };
        paint_ruler(ui, rect, strip.from, strip.to, &host, &look);
    }
}

impl RecordingUi {
    /// A drag across the recording: the range from its start to the pointer, once it is long
    /// enough to be meant as one.
    fn drag_range(
        &mut self,
        response: &egui::Response,
        seconds_at: impl Fn(f32) -> f64,
    ) -> Option<PromptSource> {
        if response.drag_started() {
            let origin = response.ctx.input(|i| i.pointer.press_origin());
            self.drag_from = origin.map(|p| seconds_at(p.x));
        }
        let from = self.drag_from?;
        if !response.dragged() {
            self.drag_from = None;
        }
        let to = seconds_at(response.interact_pointer_pos()?.x);
        ((to - from).abs() >= MIN_RANGE_SECONDS).then_some(PromptSource::Range {
            start_seconds: from.min(to),
            end_seconds: from.max(to),
        })
    }
}

/// The part of the recording the next Continue sends, on the timeline (seconds); `end` is
/// where the recording ends (the playhead while playing).
fn prompt_region(source: PromptSource, host: &HostView, end: f64) -> Option<(f64, f64)> {
    match source {
        PromptSource::LastSeconds(seconds) => Some((end - f64::from(seconds), end)),
        PromptSource::LastBars(bars) => host
            .meter()
            .bars_to_seconds(f64::from(bars))
            .ok()
            .map(|seconds| (end - seconds, end)),
        PromptSource::Range {
            start_seconds,
            end_seconds,
        } => Some((start_seconds, end_seconds)),
        PromptSource::File => None,
    }
}

fn x_of(rect: Rect, strip: &Strip, seconds: f64) -> f32 {
    x_at(rect, strip.from, strip.to, seconds)
}

fn paint_region(painter: &egui::Painter, rect: Rect, strip: &Strip) {
    if let Some((start, end)) = strip.prompt {
        let (a, b) = (x_of(rect, strip, start), x_of(rect, strip, end));
        if b > a {
            let region = Rect::from_min_max(pos2(a, rect.top()), pos2(b, rect.bottom()));
            painter.rect_filled(region, 0.0, style::PROMPT_REGION);
        }
    }
}

fn paint_marks(painter: &egui::Painter, rect: Rect, strip: &Strip) {
    if let Some((start, end)) = strip.prompt {
        let (a, b) = (x_of(rect, strip, start), x_of(rect, strip, end));
        if b > a {
            painter.vline(a, rect.y_range(), Stroke::new(1.5, style::PROMPT_EDGE));
            // On a dark backing: the audio under it can be any colour.
            let label = painter.layout_no_wrap(
                "prompt".into(),
                FontId::proportional(style::SMALLEST_TEXT),
                style::PROMPT_EDGE,
            );
            let at = pos2(a + 4.0, rect.top() + 2.0);
            painter.rect_filled(
                Rect::from_min_size(at, label.size()).expand(2.0),
                2.0,
                style::WAVE_BACKGROUND,
            );
            painter.galley(at, label, style::PROMPT_EDGE);
        }
    }
    if let Some(at) = strip.continuation {
        let x = x_of(rect, strip, at);
        painter.vline(x, rect.y_range(), Stroke::new(1.5, style::CONTINUATION));
    }
}

fn empty(ui: &Ui, rect: Rect, text: &str) {
    ui.painter().text(
        rect.center(),
        Align2::CENTER_CENTER,
        text,
        FontId::proportional(style::SMALLEST_TEXT),
        ui.visuals().weak_text_color(),
    );
}
