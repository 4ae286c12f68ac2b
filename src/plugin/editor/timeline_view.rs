//! One timeline on the host's bars, the way the arrangement will play it: the next Continue's
//! prompt, every take where it starts (the prompt it came from ended there), the playhead, and
//! the take that plays highlighted. A click on a take chooses it. The takes list below stays
//! the place for everything else a take offers.

use egui::{Align2, FontId, Rect, Sense, Stroke, StrokeKind, Ui, WidgetInfo, pos2, vec2};

use super::super::session::Take;
use super::super::settings::PromptSource;
use super::super::worker::WorkerCommand;
use super::bar_ruler::{RULER_HEIGHT, RulerLook, paint_ruler, x_at};
use super::view::HostView;
use super::{EditorApp, style};

const PROMPT_LANE_HEIGHT: f32 = 18.0;
const TAKE_LANE_HEIGHT: f32 = 18.0;
/// Takes that overlap get a lane each, up to this many; further ones share the last.
const MAX_TAKE_LANES: usize = 4;
const LABEL_SIZE: f32 = 12.0;
/// The view is at least this long, so a short take is not stretched across the editor.
const MIN_SPAN_SECONDS: f64 = 8.0;
const RULER: RulerLook = RulerLook {
    colour: style::TEXT,
    label_spacing: 40.0,
    label_offset: 2.0,
};

/// Seconds on the host's timeline, mapped onto a rect's width.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub from: f64,
    pub to: f64,
}

impl Span {
    /// Everything in `ranges` (and `points`), with a little room at each end.
    fn around(ranges: &[(f64, f64)], points: &[f64]) -> Self {
        let starts = ranges.iter().map(|r| r.0).chain(points.iter().copied());
        let ends = ranges.iter().map(|r| r.1).chain(points.iter().copied());
        let from = starts.fold(f64::INFINITY, f64::min);
        let to = ends.fold(f64::NEG_INFINITY, f64::max);
        if !(from.is_finite() && to.is_finite()) {
            return Self {
                from: 0.0,
                to: MIN_SPAN_SECONDS,
            };
        }
        let to = to.max(from + MIN_SPAN_SECONDS);
        let margin = (to - from) * 0.03;
        Self {
            from: (from - margin).max(0.0),
            to: to + margin,
        }
    }

    pub fn x(&self, rect: Rect, seconds: f64) -> f32 {
        x_at(rect, self.from, self.to, seconds)
    }
}

/// Where a take plays on the host's timeline, in seconds.
pub fn take_seconds_on_timeline(take: &Take) -> (f64, f64) {
    let rate = f64::from(take.sample_rate.max(1.0));
    let start = take.timeline_start as f64 / rate;
    (start, start + take.frames as f64 / rate)
}

/// Where the next Continue's prompt is on the host's timeline; `None` for a file (it is not on
/// the timeline) or while bars have no tempo. Recent audio ends at the playhead.
pub fn next_prompt(source: PromptSource, host: &HostView) -> Option<(f64, f64)> {
    match source {
        PromptSource::LastSeconds(seconds) => {
            let playhead = host.position_seconds()?;
            Some((playhead - f64::from(seconds), playhead))
        }
        PromptSource::LastBars(bars) => {
            let playhead = host.position_seconds()?;
            let seconds = host.meter().bars_to_seconds(f64::from(bars)).ok()?;
            Some((playhead - seconds, playhead))
        }
        PromptSource::Range {
            start_seconds,
            end_seconds,
        } => Some((start_seconds, end_seconds)),
        PromptSource::File => None,
    }
    .map(|(a, b)| (a.max(0.0), b.max(0.0)))
}

/// Lanes for takes so that overlapping ones are side by side: the first lane free at each
/// take's start (takes sorted by start), the last lane when none is.
fn lanes(spans: &[(f64, f64)]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by(|a, b| spans[*a].0.total_cmp(&spans[*b].0));
    let mut lane_ends: Vec<f64> = Vec::new();
    let mut lane_of = vec![0; spans.len()];
    for i in order {
        let (start, end) = spans[i];
        let lane = match lane_ends.iter().position(|e| *e <= start + 1e-6) {
            Some(free) => free,
            None if lane_ends.len() < MAX_TAKE_LANES => {
                lane_ends.push(f64::NEG_INFINITY);
                lane_ends.len() - 1
            }
            None => MAX_TAKE_LANES - 1,
        };
        lane_ends[lane] = lane_ends[lane].max(end);
        lane_of[i] = lane;
    }
    (lane_of, lane_ends.len().max(1))
}

impl EditorApp {
    pub(super) fn timeline_section(&mut self, ui: &mut Ui) {
        let host = self.view.host;
        let session = &self.view.session;
        let takes: Vec<(f64, f64)> = session.takes.iter().map(take_seconds_on_timeline).collect();
        let prompt = next_prompt(self.settings.prompt, &host);
        let playhead = host.position_seconds();
        let mut ranges = takes.clone();
        ranges.extend(prompt);
        let span = Span::around(&ranges, playhead.as_slice());
        let (lane_of, lane_count) = lanes(&takes);

        let height = PROMPT_LANE_HEIGHT + lane_count as f32 * TAKE_LANE_HEIGHT + RULER_HEIGHT;
        let (rect, _) = ui.allocate_exact_size(vec2(ui.available_width(), height), Sense::hover());
        let painter = ui.painter_at(rect);
        let lanes_rect =
            Rect::from_min_max(rect.min, pos2(rect.right(), rect.bottom() - RULER_HEIGHT));
        painter.rect_filled(lanes_rect, 2.0, style::WAVE_BACKGROUND);
        let font = FontId::proportional(LABEL_SIZE);

        if let Some((start, end)) = prompt.filter(|(a, b)| b > a) {
            let region = Rect::from_min_max(
                pos2(span.x(rect, start), rect.top() + 1.0),
                pos2(span.x(rect, end), rect.top() + PROMPT_LANE_HEIGHT - 1.0),
            );
            painter.rect_filled(region, 2.0, style::PROMPT_FILL);
            painter.text(
                region.left_center() + vec2(4.0, 0.0),
                Align2::LEFT_CENTER,
                "prompt",
                font.clone(),
                style::WAVE_BACKGROUND,
            );
            let response = ui.interact(region, egui::Id::unique("timeline-prompt"), Sense::hover());
            response
                .widget_info(|| WidgetInfo::labeled(egui::Role::Image, true, "Timeline: prompt"));
            response.on_hover_text(format!(
                "The next Continue's prompt: {start:.1} s to {end:.1} s on the timeline; the \
                 continuation starts where it ends"
            ));
        }

        let mut choose = None;
        // The chosen take last, so it is drawn over any it overlaps.
        let mut order: Vec<usize> = (0..session.takes.len()).collect();
        order.sort_by_key(|i| session.chosen == Some(session.takes[*i].id));
        for i in order {
            let take = &session.takes[i];
            let (start, end) = takes[i];
            let top = rect.top() + PROMPT_LANE_HEIGHT + lane_of[i] as f32 * TAKE_LANE_HEIGHT;
            let take_rect = Rect::from_min_max(
                pos2(span.x(rect, start), top + 1.0),
                pos2(
                    span.x(rect, end).max(span.x(rect, start) + 2.0),
                    top + TAKE_LANE_HEIGHT - 1.0,
                ),
            );
            let chosen = session.chosen == Some(take.id);
            let response = ui.interact(
                take_rect,
                egui::Id::unique(("timeline-take", take.id)),
                Sense::click(),
            );
            let (fill, text) = if chosen {
                (style::CHOSEN, style::WAVE_BACKGROUND)
            } else if response.hovered() {
                (style::TAKE_HOVERED, style::TEXT)
            } else {
                (style::TAKE_FILL, style::TEXT)
            };
            painter.rect_filled(take_rect, 2.0, fill);
            painter.rect_stroke(
                take_rect,
                2.0,
                Stroke::new(1.0, style::WAVE_BACKGROUND),
                StrokeKind::Inside,
            );
            let label = painter.layout_no_wrap(take.name.clone(), font.clone(), text);
            if label.size().x + 8.0 < take_rect.width() {
                painter.galley(
                    pos2(
                        take_rect.left() + 4.0,
                        take_rect.center().y - label.size().y / 2.0,
                    ),
                    label,
                    text,
                );
            }
            response.widget_info(|| {
                let mut info = WidgetInfo::labeled(
                    egui::Role::Button,
                    true,
                    format!("Timeline: {}", take.name),
                );
                info.selected = Some(chosen);
                info
            });
            let clicked = response.clicked();
            response.on_hover_text(format!(
                "{}: {start:.1} s to {end:.1} s on the timeline{}. Click to {}.",
                take.name,
                if chosen { ", playing" } else { "" },
                if chosen {
                    "play no take"
                } else {
                    "play it on the timeline"
                },
            ));
            if clicked {
                choose = Some((!chosen).then_some(take.id));
            }
        }

        paint_ruler(ui, rect, span.from, span.to, &host, &RULER);
        if let Some(at) = playhead {
            let x = span.x(rect, at);
            painter.vline(x, lanes_rect.y_range(), Stroke::new(2.0, style::PLAYHEAD));
            let mark = Rect::from_center_size(
                pos2(x, lanes_rect.center().y),
                vec2(3.0, lanes_rect.height()),
            );
            ui.interact(mark, egui::Id::unique("timeline-playhead"), Sense::hover())
                .widget_info(|| WidgetInfo::labeled(egui::Role::Image, true, "Timeline: playhead"));
        }
        if session.takes.is_empty() && prompt.is_none() {
            painter.text(
                lanes_rect.center(),
                Align2::CENTER_CENTER,
                "Takes appear here where they will play, after their prompt.",
                font,
                style::TEXT,
            );
        }
        if let Some(take) = choose {
            self.send(WorkerCommand::Choose { take });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_takes_get_lanes_of_their_own() {
        // A batch of three at 12 s, one after them, one overlapping the batch.
        let spans = [
            (12.0, 32.0),
            (12.0, 32.0),
            (12.0, 32.0),
            (32.0, 40.0),
            (20.0, 25.0),
        ];
        let (lane_of, count) = lanes(&spans);
        assert_eq!(lane_of, [0, 1, 2, 0, 3]);
        assert_eq!(count, 4);
        // More than fit share the last lane.
        let many = [(0.0, 1.0); 7];
        let (lane_of, count) = lanes(&many);
        assert_eq!(count, MAX_TAKE_LANES);
        assert_eq!(lane_of[6], MAX_TAKE_LANES - 1);
    }
}
