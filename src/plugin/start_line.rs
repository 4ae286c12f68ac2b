//! Where a continuation starts on the host timeline: where Continue was pressed, or on the
//! next beat or bar line of the host's tempo and time signature.
//!
//! A Continue that waits for a line keeps a [`LineWait`]; every captured block after it tells
//! where the line falls (the block's own beat position and tempo, so a tempo change before the
//! line moves it as the host moves it). The line is found once recorded audio reaches it: the
//! prompt is exactly what precedes the line, and the take starts on it.

use super::capture::{BlockHeader, TimeSignature, TransportSnapshot};
use super::settings::StartAt;

/// Time signature assumed when the host gives a tempo but no signature.
const DEFAULT_SIGNATURE: TimeSignature = TimeSignature {
    numerator: 4,
    denominator: 4,
};
/// Beats closer than this to a line are on it (the host's beat positions are rounded).
const ON_THE_LINE_BEATS: f64 = 1e-9;
/// Samples closer than this to a whole sample are that sample: hosts round beat positions
/// (CLAP to 2^-31 beats, a few millionths of a sample), which must not move a line by one.
const WHOLE_SAMPLE_TOLERANCE: f64 = 1e-3;

/// What a Continue at a transport position asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StartPlan {
    /// Start at this timeline sample now.
    At(i64),
    /// Wait until the recorded audio reaches this line.
    Wait(LineWait),
}

/// Why a Continue does not start on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StartLineError {
    #[error(
        "the host sends no tempo or beat position, so the continuation starts where Continue \
         was pressed instead of on the next beat or bar"
    )]
    NoMusicalTime,
    #[error("the host sends no timeline position: the continuation cannot be placed")]
    NoPosition,
    #[error(
        "the transport stopped or jumped before the line Continue was waiting for: press \
         Continue again"
    )]
    TransportMoved,
    #[error(
        "{frames} frames of the track were lost before the line Continue was waiting for \
         (Encore fell behind the host; the editor counts them): press Continue again"
    )]
    FramesDropped { frames: u64 },
}

/// A Continue waiting for its beat or bar line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineWait {
    /// The line, in quarter notes from the timeline's start.
    pub line_beats: f64,
    /// Timeline position of the request: the line is never before it.
    pub requested_at: i64,
    /// Where the last block seen ended (a block elsewhere means the transport moved).
    expected_next: Option<i64>,
}

/// Where a Continue made at `transport` (the block's first sample) starts. While the
/// transport plays, a beat or bar start waits for the line at or after the request; while it is
/// stopped, the continuation starts on the line at or before the playhead, so its prompt is
/// audio already recorded.
pub fn plan(at: StartAt, transport: &TransportSnapshot) -> Result<StartPlan, StartLineError> {
    let position = transport
        .position_samples
        .ok_or(StartLineError::NoPosition)?;
    let Some(unit) = at.unit_quarters(signature(transport)) else {
        return Ok(StartPlan::At(position));
    };
    let (Some(beats), Some(_)) = (transport.pos_beats, tempo(transport)) else {
        return Err(StartLineError::NoMusicalTime);
    };
    let origin = transport.bar_start_beats.unwrap_or(0.0);
    let lines = (beats - origin) / unit;
    let line = if transport.playing {
        origin + (lines - ON_THE_LINE_BEATS).ceil() * unit
    } else {
        origin + (lines + ON_THE_LINE_BEATS).floor() * unit
    };
    let wait = LineWait {
        line_beats: line,
        requested_at: position,
        expected_next: None,
    };
    if transport.playing {
        Ok(StartPlan::Wait(wait))
    } else {
        Ok(StartPlan::At(
            sample_of_line(line, transport).unwrap_or(position),
        ))
    }
}

impl StartAt {
    /// Quarter notes between two lines; `None` for [`StartAt::Now`].
    fn unit_quarters(self, signature: TimeSignature) -> Option<f64> {
        let beat = 4.0 / f64::from(signature.denominator.max(1));
        match self {
            StartAt::Now => None,
            StartAt::NextBeat => Some(beat),
            StartAt::NextBar => Some(beat * f64::from(signature.numerator.max(1))),
        }
    }
}

impl LineWait {
    /// Looks for the line in a captured block (after the recorder took it). `Ok(Some(sample))`:
    /// the line is at `sample`, inside or before the block's end; `Ok(None)`: still to come.
    pub fn find_in(&mut self, block: &BlockHeader) -> Result<Option<i64>, StartLineError> {
        let transport = &block.transport;
        let Some(start) = transport.position_samples else {
            return Err(StartLineError::TransportMoved);
        };
        let end = start + i64::from(block.frames);
        if self.expected_next.is_none() && transport.playing && end <= self.requested_at {
            // Audio from before the request (the editor's press lags the audio thread).
            return Ok(None);
        }
        // Audio lost before this block: the line may have been in it (the true reason, not a
        // jump of the transport).
        if block.dropped_before > 0 {
            return Err(StartLineError::FramesDropped {
                frames: block.dropped_before,
            });
        }
        let moved = !transport.playing || self.expected_next.is_some_and(|next| next != start);
        if moved || end < self.requested_at {
            return Err(StartLineError::TransportMoved);
        }
        self.expected_next = Some(end);
        let line =
            sample_of_line(self.line_beats, transport).ok_or(StartLineError::TransportMoved)?;
        // A line before this block's start (an editor's press that lagged the audio) is still
        // in the recorded audio; it is never before the request.
        Ok((line < end).then(|| line.max(self.requested_at)))
    }
}

/// The first sample at or after `line` (quarter notes), from a block's beat position and tempo.
fn sample_of_line(line: f64, transport: &TransportSnapshot) -> Option<i64> {
    let position = transport.position_samples?;
    let beats = transport.pos_beats?;
    let tempo = tempo(transport)?;
    let samples_per_beat = 60.0 * f64::from(transport.sample_rate) / tempo;
    let offset = ((line - beats) * samples_per_beat - WHOLE_SAMPLE_TOLERANCE).ceil();
    Some(position + offset as i64)
}

/// Where a cut `at_seconds` into a take of `length_seconds` that starts at timeline sample
/// `take_start` (at the transport's rate) falls when it snaps to the nearest beat or bar line
/// (`at`), the host's tempo taken as constant from its last position. The point as given when
/// `at` is [`StartAt::Now`], when the host sends no tempo or beat position, or when the line
/// falls outside the take.
pub fn snap_cut(
    at: StartAt,
    transport: &TransportSnapshot,
    take_start: i64,
    at_seconds: f64,
    length_seconds: f64,
) -> f64 {
    let rate = f64::from(transport.sample_rate);
    let snapped = (|| {
        let unit = at.unit_quarters(signature(transport))?;
        let position = transport.position_samples?;
        let beats_there = transport.pos_beats?;
        let samples_per_beat = 60.0 * rate / tempo(transport)?;
        let point = take_start as f64 + at_seconds * rate;
        let beats = beats_there + (point - position as f64) / samples_per_beat;
        let origin = transport.bar_start_beats.unwrap_or(0.0);
        let line = origin + ((beats - origin) / unit).round() * unit;
        let sample = position as f64 + (line - beats_there) * samples_per_beat;
        Some((sample - take_start as f64) / rate)
    })();
    match snapped {
        Some(s) if rate > 0.0 && s > 0.0 && s < length_seconds => s,
        _ => at_seconds,
    }
}

fn tempo(transport: &TransportSnapshot) -> Option<f64> {
    transport.tempo_bpm.filter(|t| t.is_finite() && *t > 0.0)
}

fn signature(transport: &TransportSnapshot) -> TimeSignature {
    transport.time_signature.unwrap_or(DEFAULT_SIGNATURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f32 = 48_000.0;

    /// 120 bpm: a quarter note is 24 000 samples.
    fn at(position: i64, playing: bool) -> TransportSnapshot {
        TransportSnapshot {
            playing,
            tempo_bpm: Some(120.0),
            position_samples: Some(position),
            sample_rate: RATE,
            time_signature: None,
            pos_beats: Some(position as f64 / 24_000.0),
            bar_start_beats: None,
        }
    }

    fn block(transport: TransportSnapshot, frames: u32) -> BlockHeader {
        BlockHeader {
            frames,
            continue_requests: 0,
            dropped_before: 0,
            transport,
        }
    }

    fn waiting(plan: Result<StartPlan, StartLineError>) -> LineWait {
        match plan {
            Ok(StartPlan::Wait(wait)) => wait,
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    #[test]
    fn now_starts_at_the_request_and_needs_no_tempo() {
        let mut transport = at(12_345, true);
        transport.tempo_bpm = None;
        assert_eq!(plan(StartAt::Now, &transport), Ok(StartPlan::At(12_345)));
        assert_eq!(
            plan(StartAt::NextBar, &transport),
            Err(StartLineError::NoMusicalTime)
        );
    }

    #[test]
    fn frames_lost_before_the_line_say_so_not_that_the_transport_moved() {
        let mut wait = waiting(plan(StartAt::NextBar, &at(100_000, true)));
        assert_eq!(wait.find_in(&block(at(100_000, true), 480)), Ok(None));
        // The ring was full for 4 800 frames: the next block arrives after a gap.
        let mut after_gap = block(at(105_280, true), 480);
        after_gap.dropped_before = 4_800;
        let error = wait.find_in(&after_gap).unwrap_err();
        assert_eq!(error, StartLineError::FramesDropped { frames: 4_800 });
        assert!(
            error
                .to_string()
                .starts_with("4800 frames of the track were lost")
        );
        // A real jump is still a jump.
        let mut wait = waiting(plan(StartAt::NextBar, &at(100_000, true)));
        assert_eq!(wait.find_in(&block(at(100_000, true), 480)), Ok(None));
        assert_eq!(
            wait.find_in(&block(at(50_000, true), 480)),
            Err(StartLineError::TransportMoved)
        );
    }

    #[test]
    fn a_bar_line_is_found_inside_the_block_that_crosses_it() {
        // 4/4 at 120 bpm: bars every 96 000 samples. Requested in bar 1, the line is at 192 000.
        let mut wait = waiting(plan(StartAt::NextBar, &at(100_000, true)));
        assert_eq!(wait.line_beats, 8.0);
        let mut position = 100_000;
        let mut found = None;
        while found.is_none() {
            found = wait.find_in(&block(at(position, true), 4095)).unwrap();
            position += 4095;
        }
        assert_eq!(found, Some(192_000));
        // On a line, the request starts there.
        let mut wait = waiting(plan(StartAt::NextBar, &at(96_000, true)));
        assert_eq!(
            wait.find_in(&block(at(96_000, true), 7)).unwrap(),
            Some(96_000)
        );
    }

    #[test]
    fn beats_follow_the_time_signature_and_the_hosts_bar_start() {
        // 6/8: a beat is an eighth note (12 000 samples), a bar three quarter notes.
        let mut transport = at(30_000, true);
        transport.time_signature = Some(TimeSignature {
            numerator: 6,
            denominator: 8,
        });
        assert_eq!(waiting(plan(StartAt::NextBeat, &transport)).line_beats, 1.5);
        assert_eq!(waiting(plan(StartAt::NextBar, &transport)).line_beats, 3.0);
        // A host whose bars started at beat 0.5 (a signature change earlier).
        transport.bar_start_beats = Some(0.5);
        assert_eq!(waiting(plan(StartAt::NextBar, &transport)).line_beats, 3.5);
    }

    #[test]
    fn a_tempo_change_before_the_line_moves_it_as_the_host_does() {
        let mut wait = waiting(plan(StartAt::NextBar, &at(10_000, true)));
        // From beat 2 on the host plays at 60 bpm: beat 2 is at 48 000, the bar line (beat 4)
        // two seconds later.
        let mut slower = at(48_000, true);
        slower.tempo_bpm = Some(60.0);
        slower.pos_beats = Some(2.0);
        let mut wait_two = wait;
        assert_eq!(
            wait.find_in(&block(at(10_000, true), 38_000)).unwrap(),
            None
        );
        assert_eq!(
            wait.find_in(&block(slower, 100_000)).unwrap(),
            Some(48_000 + 96_000)
        );
        // Had the tempo stayed, the line would have been at 96 000.
        assert_eq!(
            wait_two.find_in(&block(at(10_000, true), 90_000)).unwrap(),
            Some(96_000)
        );
    }

    #[test]
    fn a_stopped_transport_starts_on_the_line_before_the_playhead() {
        assert_eq!(
            plan(StartAt::NextBar, &at(100_000, false)),
            Ok(StartPlan::At(96_000))
        );
        assert_eq!(
            plan(StartAt::NextBeat, &at(100_000, false)),
            Ok(StartPlan::At(96_000))
        );
    }

    #[test]
    fn a_cut_snaps_to_the_nearest_line_or_stays_where_it_was_put() {
        // A take from 1.1 s (52 800) of 10 s; the host last stood at 3 s, 120 bpm in 4/4.
        let transport = at(144_000, false);
        let snap = |start_at, seconds| snap_cut(start_at, &transport, 52_800, seconds, 10.0);
        // 2.3 s in is 3.4 s on the timeline: beat 6.8, nearest beat 7 (3.5 s), bar 8 (4 s).
        assert!((snap(StartAt::NextBeat, 2.3) - 2.4).abs() < 1e-9);
        assert!((snap(StartAt::NextBar, 2.3) - 2.9).abs() < 1e-9);
        assert_eq!(snap(StartAt::Now, 2.3), 2.3);
        // A line at or before the take's start, or past its end, leaves the point alone: from
        // 0.2 s in a take at 10 000 the nearest bar is 0; 2.4 s into a take of 2.5 s, bar 8.
        assert_eq!(
            snap_cut(StartAt::NextBar, &transport, 10_000, 0.2, 10.0),
            0.2
        );
        assert_eq!(
            snap_cut(StartAt::NextBar, &transport, 52_800, 2.4, 2.5),
            2.4
        );
        // No tempo from the host: as given.
        let mut no_tempo = transport;
        no_tempo.tempo_bpm = None;
        assert_eq!(
            snap_cut(StartAt::NextBar, &no_tempo, 52_800, 2.3, 10.0),
            2.3
        );
        // The host's bars start at beat 1 (a signature change earlier): bar lines at 5 and 9.
        let mut shifted = transport;
        shifted.bar_start_beats = Some(1.0);
        let bar = snap_cut(StartAt::NextBar, &shifted, 52_800, 2.3, 10.0);
        assert!((bar - 1.4).abs() < 1e-9, "{bar}");
    }

    #[test]
    fn a_jump_or_a_stop_before_the_line_gives_up() {
        let mut wait = waiting(plan(StartAt::NextBar, &at(100_000, true)));
        assert_eq!(wait.find_in(&block(at(100_000, true), 512)).unwrap(), None);
        assert_eq!(
            wait.find_in(&block(at(0, true), 512)),
            Err(StartLineError::TransportMoved)
        );
        let mut wait = waiting(plan(StartAt::NextBar, &at(100_000, true)));
        assert_eq!(
            wait.find_in(&block(at(100_000, false), 0)),
            Err(StartLineError::TransportMoved)
        );
    }
}
