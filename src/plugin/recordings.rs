//! Captured audio on the host timeline: the worker turns the capture ring's blocks into
//! recordings (contiguous audio with the timeline position of its first frame) and cuts prompts
//! out of them.
//!
//! A block that does not continue the previous one (the transport jumped, looped or was moved
//! while stopped, or the sample rate changed) starts a new recording: audio from two places on
//! the timeline is never stitched together. Only the most recent [`KEEP_SECONDS`] are kept.

use std::collections::VecDeque;

use super::capture::{BlockHeader, CHANNELS, TimeSignature};
use super::settings::PromptSource;

/// Audio kept for prompts: more than the top prior's ~24 s of context.
pub const KEEP_SECONDS: f64 = crate::audio::PROMPT_KEEP_SECONDS;
/// Time signature assumed when the host gives a tempo but no signature.
const DEFAULT_SIGNATURE: TimeSignature = TimeSignature {
    numerator: 4,
    denominator: 4,
};

/// Why no prompt could be cut.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromptSelectError {
    #[error("nothing has been recorded yet: play the track with Encore on it first")]
    NothingRecorded,
    #[error("nothing was recorded between {start_seconds:.2} s and {end_seconds:.2} s")]
    NothingInRange {
        start_seconds: f64,
        end_seconds: f64,
    },
    #[error("the prompt length must be positive, got {0}")]
    BadLength(String),
    #[error("bars need the host's tempo, and the host has not sent one: set lengths in seconds")]
    NoTempo,
    #[error("the prompt is a file, not recorded audio")]
    NotRecorded,
}

/// Audio recorded without a break, at one sample rate.
#[derive(Debug, Clone)]
pub struct Recording {
    pub sample_rate: f32,
    /// Timeline position (samples at `sample_rate`) of the first frame kept.
    pub start: i64,
    /// Interleaved stereo.
    samples: VecDeque<f32>,
    /// The host's musical time at block starts, in timeline order (blocks without it add none).
    beats: VecDeque<BeatMark>,
}

/// Where the host said a block started in quarter notes, and at what tempo it went on.
#[derive(Debug, Clone, Copy, PartialEq)]
struct BeatMark {
    position: i64,
    beats: f64,
    tempo_bpm: f64,
}

impl Recording {
    /// Tests only: a recording of interleaved stereo `samples` from timeline position `start`.
    #[cfg(test)]
    pub fn from_interleaved(sample_rate: f32, start: i64, samples: Vec<f32>) -> Self {
        Self {
            sample_rate,
            start,
            samples: samples.into(),
            beats: VecDeque::new(),
        }
    }

    pub fn frames(&self) -> usize {
        self.samples.len() / CHANNELS
    }

    /// Timeline position just after the last frame.
    pub fn end(&self) -> i64 {
        self.start + self.frames() as i64
    }

    fn seconds(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate)
    }

    /// The musical time (quarter notes) at timeline position `position`, from the block that
    /// holds it; `None` without a tempo map there.
    fn beat_at(&self, position: i64) -> Option<f64> {
        let mark = self.beats.iter().rev().find(|m| m.position <= position)?;
        let seconds = (position - mark.position) as f64 / f64::from(self.sample_rate);
        Some(mark.beats + seconds * mark.tempo_bpm / 60.0)
    }

    /// The timeline position of musical time `beats`, at the tempo played there (before the
    /// map's first mark: at that mark's tempo); `None` without a map.
    fn position_of_beat(&self, beats: f64) -> Option<i64> {
        let mark = self
            .beats
            .iter()
            .rev()
            .find(|m| m.beats <= beats)
            .or_else(|| self.beats.front())?;
        let seconds = (beats - mark.beats) * 60.0 / mark.tempo_bpm;
        Some(mark.position + (seconds * f64::from(self.sample_rate)).round() as i64)
    }

    /// Interleaved frames `[from, to)` of the timeline (clamped to this recording).
    pub fn interleaved(&self, from: i64, to: i64) -> Vec<f32> {
        let first = (from.max(self.start) - self.start) as usize;
        let last = (to.min(self.end()) - self.start).max(0) as usize;
        if last <= first {
            return Vec::new();
        }
        self.samples
            .range(first * CHANNELS..last * CHANNELS)
            .copied()
            .collect()
    }
}

/// A prompt cut from one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptClip {
    pub sample_rate: f32,
    /// Timeline positions (samples at `sample_rate`) of its first frame and just after its last:
    /// the continuation is placed at `end`.
    pub start: i64,
    pub end: i64,
    pub left: Vec<f32>,
    pub right: Vec<f32>,
}

/// The host's tempo and time signature, as last seen in a captured block.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Meter {
    pub tempo_bpm: Option<f64>,
    pub time_signature: Option<TimeSignature>,
}

impl Meter {
    /// Length of `bars` bars in seconds (a beat of the tempo is a quarter note).
    pub fn bars_to_seconds(&self, bars: f64) -> Result<f64, PromptSelectError> {
        let tempo = self
            .tempo_bpm
            .filter(|t| t.is_finite() && *t > 0.0)
            .ok_or(PromptSelectError::NoTempo)?;
        let signature = self.time_signature.unwrap_or(DEFAULT_SIGNATURE);
        let quarters_per_bar =
            f64::from(signature.numerator) * 4.0 / f64::from(signature.denominator.max(1));
        Ok(bars * quarters_per_bar * 60.0 / tempo)
    }
}

#[derive(Debug, Default)]
pub struct Recorder {
    /// Oldest first.
    recordings: VecDeque<Recording>,
    meter: Meter,
}

impl Recorder {
    /// Adds one captured block (`interleaved` holds its `header.frames` stereo frames).
    pub fn append(&mut self, header: &BlockHeader, interleaved: &[f32]) {
        let transport = &header.transport;
        if transport.tempo_bpm.is_some() {
            self.meter.tempo_bpm = transport.tempo_bpm;
        }
        if transport.time_signature.is_some() {
            self.meter.time_signature = transport.time_signature;
        }
        if header.frames == 0 {
            return;
        }
        let continues = self.recordings.back().is_some_and(|last| {
            last.sample_rate == transport.sample_rate
                && transport.position_samples.is_none_or(|p| p == last.end())
        });
        if !continues {
            // A host without a timeline position: the audio still counts, placed at 0.
            let start = transport.position_samples.unwrap_or(0);
            self.recordings.push_back(Recording {
                sample_rate: transport.sample_rate,
                start,
                samples: VecDeque::new(),
                beats: VecDeque::new(),
            });
        }
        if let Some(last) = self.recordings.back_mut() {
            if let (Some(position), Some(beats), Some(tempo_bpm)) = (
                transport.position_samples,
                transport.pos_beats,
                transport.tempo_bpm.filter(|t| t.is_finite() && *t > 0.0),
            ) && beats.is_finite()
                // A block that only goes on at the same tempo adds nothing to the map.
                && !last.beats.back().is_some_and(|m| {
                    m.tempo_bpm == tempo_bpm
                        && last.beat_at(position).is_some_and(|b| (b - beats).abs() < 1e-6)
                })
            {
                last.beats.push_back(BeatMark {
                    position,
                    beats,
                    tempo_bpm,
                });
            }
            last.samples.extend(interleaved);
        }
        self.forget_old();
    }

    /// Drops the oldest audio beyond [`KEEP_SECONDS`] in all.
    fn forget_old(&mut self) {
        let mut total: f64 = self.recordings.iter().map(Recording::seconds).sum();
        while total > KEEP_SECONDS {
            let Some(oldest) = self.recordings.front_mut() else {
                return;
            };
            // Rounding must not cost a frame, nor leave the loop without progress.
            let excess = ((total - KEEP_SECONDS) * f64::from(oldest.sample_rate) - 1e-6)
                .ceil()
                .max(1.0) as usize;
            if excess >= oldest.frames() {
                total -= oldest.seconds();
                self.recordings.pop_front();
            } else {
                oldest.samples.drain(..excess * CHANNELS);
                oldest.start += excess as i64;
                // The mark that holds the new start stays.
                while oldest
                    .beats
                    .get(1)
                    .is_some_and(|m| m.position <= oldest.start)
                {
                    oldest.beats.pop_front();
                }
                total = self.recordings.iter().map(Recording::seconds).sum();
            }
        }
    }

    #[cfg(test)]
    pub fn recordings(&self) -> impl Iterator<Item = &Recording> {
        self.recordings.iter()
    }

    pub fn latest(&self) -> Option<&Recording> {
        self.recordings.back()
    }

    pub fn meter(&self) -> Meter {
        self.meter
    }

    /// Cuts the prompt `source` asks for. `playhead`: the host position when Continue was
    /// pressed (at the latest recording's rate), if known.
    pub fn select(
        &self,
        source: &PromptSource,
        playhead: Option<i64>,
    ) -> Result<PromptClip, PromptSelectError> {
        match *source {
            PromptSource::LastSeconds(seconds) => {
                self.before_playhead(f64::from(seconds), playhead)
            }
            PromptSource::LastBars(bars) => self.bars_before_playhead(f64::from(bars), playhead),
            PromptSource::Range {
                start_seconds,
                end_seconds,
            } => self.range(start_seconds, end_seconds),
            PromptSource::File => Err(PromptSelectError::NotRecorded),
        }
    }

    /// The recording a prompt before the playhead comes from and where it ends: the most recent
    /// recording that reaches the playhead; when none does (the transport was stopped and moved
    /// back), the end of the most recent recording.
    fn ending_at_playhead(
        &self,
        playhead: Option<i64>,
    ) -> Result<(&Recording, i64), PromptSelectError> {
        let latest = self.latest().ok_or(PromptSelectError::NothingRecorded)?;
        let reaching = playhead.and_then(|p| {
            self.recordings
                .iter()
                .rev()
                .find(|r| r.start < p && p <= r.end())
                .map(|r| (r, p))
        });
        Ok(reaching.unwrap_or((latest, latest.end())))
    }

    /// The last `bars` bars before the playhead as the host played them (its tempo map in the
    /// recording); at the last tempo seen where the host gave no musical time.
    fn bars_before_playhead(
        &self,
        bars: f64,
        playhead: Option<i64>,
    ) -> Result<PromptClip, PromptSelectError> {
        let seconds = self.meter.bars_to_seconds(bars)?;
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(PromptSelectError::BadLength(format!("{bars} bars")));
        }
        let (recording, end) = self.ending_at_playhead(playhead)?;
        let signature = self.meter.time_signature.unwrap_or(DEFAULT_SIGNATURE);
        let quarters_per_bar =
            f64::from(signature.numerator) * 4.0 / f64::from(signature.denominator.max(1));
        let start = recording
            .beat_at(end)
            .and_then(|beats| recording.position_of_beat(beats - bars * quarters_per_bar));
        match start {
            Some(start) => Ok(clip(recording, start.clamp(recording.start, end), end)),
            None => self.before_playhead(seconds, playhead),
        }
    }

    /// The last `seconds` before the playhead (see [`Recorder::ending_at_playhead`]).
    fn before_playhead(
        &self,
        seconds: f64,
        playhead: Option<i64>,
    ) -> Result<PromptClip, PromptSelectError> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(PromptSelectError::BadLength(format!("{seconds} s")));
        }
        let (recording, end) = self.ending_at_playhead(playhead)?;
        let frames = (seconds * f64::from(recording.sample_rate)).round() as i64;
        let start = (end - frames).max(recording.start);
        Ok(clip(recording, start, end))
    }

    /// Timeline `start_seconds..end_seconds`, from the most recent recording that overlaps it.
    fn range(&self, start_seconds: f64, end_seconds: f64) -> Result<PromptClip, PromptSelectError> {
        if !(start_seconds.is_finite() && end_seconds.is_finite() && end_seconds > start_seconds) {
            return Err(PromptSelectError::BadLength(format!(
                "from {start_seconds} s to {end_seconds} s"
            )));
        }
        let nothing = PromptSelectError::NothingInRange {
            start_seconds,
            end_seconds,
        };
        if self.recordings.is_empty() {
            return Err(PromptSelectError::NothingRecorded);
        }
        self.recordings
            .iter()
            .rev()
            .find_map(|r| {
                let rate = f64::from(r.sample_rate);
                let from = ((start_seconds * rate).round() as i64).max(r.start);
                let to = ((end_seconds * rate).round() as i64).min(r.end());
                (from < to).then(|| clip(r, from, to))
            })
            .ok_or(nothing)
    }
}

fn clip(recording: &Recording, start: i64, end: i64) -> PromptClip {
    let interleaved = recording.interleaved(start, end);
    let left = interleaved.iter().step_by(CHANNELS).copied().collect();
    let right = interleaved
        .iter()
        .skip(1)
        .step_by(CHANNELS)
        .copied()
        .collect();
    PromptClip {
        sample_rate: recording.sample_rate,
        start,
        end,
        left,
        right,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::capture::TransportSnapshot;

    const RATE: f32 = 1000.0;

    fn header(frames: u32, position: Option<i64>, rate: f32) -> BlockHeader {
        BlockHeader {
            frames,
            continue_requests: 0,
            dropped_before: 0,
            transport: TransportSnapshot {
                playing: true,
                tempo_bpm: Some(120.0),
                position_samples: position,
                sample_rate: rate,
                time_signature: Some(TimeSignature {
                    numerator: 3,
                    denominator: 4,
                }),
                pos_beats: None,
                bar_start_beats: None,
            },
        }
    }

    /// A block whose left channel counts timeline positions and right channel their negatives.
    fn block(position: i64, frames: usize) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let t = (position + i as i64) as f32;
                [t, -t]
            })
            .collect()
    }

    fn record(recorder: &mut Recorder, position: i64, frames: usize, rate: f32) {
        recorder.append(
            &header(frames as u32, Some(position), rate),
            &block(position, frames),
        );
    }

    #[test]
    fn contiguous_blocks_of_any_size_make_one_recording() {
        let mut recorder = Recorder::default();
        let mut position = 100;
        for frames in [1, 64, 17, 512, 3] {
            record(&mut recorder, position, frames, RATE);
            position += frames as i64;
        }
        let recordings: Vec<_> = recorder.recordings().collect();
        assert_eq!(recordings.len(), 1);
        assert_eq!((recordings[0].start, recordings[0].end()), (100, position));
        let all = recordings[0].interleaved(0, i64::MAX);
        assert_eq!(all, block(100, (position - 100) as usize));
    }

    #[test]
    fn a_jump_or_a_rate_change_starts_a_new_recording() {
        let mut recorder = Recorder::default();
        record(&mut recorder, 0, 100, RATE);
        // Looped back: the same timeline again, never stitched after the first pass.
        record(&mut recorder, 50, 100, RATE);
        // Jumped forward.
        record(&mut recorder, 1000, 10, RATE);
        // Same position the previous block ended at, but another rate.
        record(&mut recorder, 1010, 10, 2.0 * RATE);
        let spans: Vec<_> = recorder
            .recordings()
            .map(|r| (r.start, r.end(), r.sample_rate))
            .collect();
        assert_eq!(
            spans,
            [
                (0, 100, RATE),
                (50, 150, RATE),
                (1000, 1010, RATE),
                (1010, 1020, 2.0 * RATE)
            ]
        );
    }

    #[test]
    fn blocks_without_a_position_continue_the_last_recording() {
        let mut recorder = Recorder::default();
        recorder.append(&header(5, None, RATE), &block(0, 5));
        recorder.append(&header(5, None, RATE), &block(5, 5));
        let recording = recorder.latest().unwrap();
        assert_eq!((recording.start, recording.end()), (0, 10));
    }

    #[test]
    fn only_the_most_recent_seconds_are_kept() {
        let mut recorder = Recorder::default();
        let rate = 100.0;
        let total = (KEEP_SECONDS as i64 + 10) * 100;
        let mut position = 0;
        while position < total {
            record(&mut recorder, position, 70, rate);
            position += 70;
        }
        let recording = recorder.latest().unwrap();
        assert_eq!(recording.end(), position);
        assert_eq!(recording.frames(), (KEEP_SECONDS * 100.0) as usize);
        // What is kept is the audio of those positions.
        assert_eq!(
            recording.interleaved(recording.start, recording.start + 1)[0],
            recording.start as f32
        );

        // Older recordings go first.
        record(&mut recorder, 1_000_000, 1000, rate);
        let kept: f64 = recorder
            .recordings()
            .map(|r| r.frames() as f64 / 100.0)
            .sum();
        assert!((kept - KEEP_SECONDS).abs() < 0.011, "{kept}");
        assert_eq!(recorder.latest().unwrap().start, 1_000_000);
    }

    #[test]
    fn last_seconds_end_at_the_playhead_inside_the_recording() {
        let mut recorder = Recorder::default();
        record(&mut recorder, 0, 3000, RATE);
        let clip = recorder
            .select(&PromptSource::LastSeconds(1.5), Some(2500))
            .unwrap();
        assert_eq!((clip.start, clip.end), (1000, 2500));
        assert_eq!(clip.left.first(), Some(&1000.0));
        assert_eq!(clip.left.last(), Some(&2499.0));
        assert_eq!(clip.right.last(), Some(&-2499.0));
        // Longer than what was recorded: everything before the playhead.
        let clip = recorder
            .select(&PromptSource::LastSeconds(10.0), Some(2500))
            .unwrap();
        assert_eq!((clip.start, clip.end), (0, 2500));
    }

    #[test]
    fn a_playhead_outside_every_recording_uses_the_end_of_the_latest() {
        let mut recorder = Recorder::default();
        record(&mut recorder, 0, 3000, RATE);
        record(&mut recorder, 5000, 1000, RATE);
        for playhead in [None, Some(0), Some(4000), Some(9000)] {
            let clip = recorder
                .select(&PromptSource::LastSeconds(0.5), playhead)
                .unwrap();
            assert_eq!((clip.start, clip.end), (5500, 6000), "{playhead:?}");
        }
        // A playhead in the older recording uses that one.
        let clip = recorder
            .select(&PromptSource::LastSeconds(0.5), Some(3000))
            .unwrap();
        assert_eq!((clip.start, clip.end), (2500, 3000));
    }

    #[test]
    fn the_most_recent_pass_over_a_region_wins() {
        let mut recorder = Recorder::default();
        record(&mut recorder, 0, 2000, RATE);
        recorder.append(&header(2000, Some(0), RATE), &vec![0.5; 4000]);
        let clip = recorder
            .select(&PromptSource::LastSeconds(1.0), Some(1500))
            .unwrap();
        assert!(clip.left.iter().all(|&s| s == 0.5));
    }

    #[test]
    fn bars_follow_the_host_tempo_and_time_signature() {
        let mut recorder = Recorder::default();
        record(&mut recorder, 0, 10_000, RATE);
        // 120 bpm in 3/4: a bar is 1.5 s.
        let clip = recorder
            .select(&PromptSource::LastBars(2.0), Some(8000))
            .unwrap();
        assert_eq!((clip.start, clip.end), (5000, 8000));
        let meter = Meter {
            tempo_bpm: Some(90.0),
            time_signature: Some(TimeSignature {
                numerator: 6,
                denominator: 8,
            }),
        };
        // 6/8 is three quarter notes a bar: 2 s at 90 bpm.
        assert!((meter.bars_to_seconds(1.0).unwrap() - 2.0).abs() < 1e-12);
        let no_tempo = Meter::default();
        assert_eq!(
            no_tempo.bars_to_seconds(1.0),
            Err(PromptSelectError::NoTempo)
        );
    }

    #[test]
    fn bars_follow_the_tempo_map_the_host_played() {
        // 4/4 at 48 kHz: 120 bpm for the first bar (2 s), then 160 bpm; blocks of 480 frames,
        // each with the host's beat position and tempo at its start.
        let rate = 48_000.0;
        let mut recorder = Recorder::default();
        let (mut position, mut beats) = (0i64, 0.0f64);
        while position < 2 * 48_000 + 36_000 {
            let tempo = if beats < 4.0 { 120.0 } else { 160.0 };
            let mut h = header(480, Some(position), rate);
            h.transport.tempo_bpm = Some(tempo);
            h.transport.pos_beats = Some(beats);
            h.transport.time_signature = Some(TimeSignature {
                numerator: 4,
                denominator: 4,
            });
            recorder.append(&h, &block(position, 480));
            position += 480;
            beats += 480.0 / 48_000.0 * tempo / 60.0;
        }
        // The playhead at beat 6 (2 s + 0.75 s): the last bar is beats 2..6, 1 s at 120 bpm and
        // 0.75 s at 160, not one bar at the last tempo (1.5 s).
        let playhead = 2 * 48_000 + 36_000;
        let clip = recorder
            .select(&PromptSource::LastBars(1.0), Some(playhead))
            .unwrap();
        assert_eq!((clip.start, clip.end), (48_000, playhead));
        // Two bars reach back to the timeline's start.
        let clip = recorder
            .select(&PromptSource::LastBars(2.0), Some(playhead))
            .unwrap();
        assert_eq!(clip.start, 0);
    }

    #[test]
    fn a_range_is_cut_from_the_latest_recording_that_overlaps_it() {
        let mut recorder = Recorder::default();
        record(&mut recorder, 0, 3000, RATE);
        record(&mut recorder, 10_000, 500, RATE);
        let clip = recorder
            .select(
                &PromptSource::Range {
                    start_seconds: 0.5,
                    end_seconds: 1.25,
                },
                None,
            )
            .unwrap();
        assert_eq!((clip.start, clip.end), (500, 1250));
        assert_eq!(clip.left.len(), 750);
        // Partly recorded: the part that is there.
        let clip = recorder
            .select(
                &PromptSource::Range {
                    start_seconds: 9.0,
                    end_seconds: 10.2,
                },
                None,
            )
            .unwrap();
        assert_eq!((clip.start, clip.end), (10_000, 10_200));
        let error = recorder
            .select(
                &PromptSource::Range {
                    start_seconds: 4.0,
                    end_seconds: 5.0,
                },
                None,
            )
            .unwrap_err();
        assert!(matches!(error, PromptSelectError::NothingInRange { .. }));
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        let empty = Recorder::default();
        assert_eq!(
            empty.select(&PromptSource::LastSeconds(1.0), None),
            Err(PromptSelectError::NothingRecorded)
        );
        let mut recorder = Recorder::default();
        record(&mut recorder, 0, 100, RATE);
        for source in [
            PromptSource::LastSeconds(0.0),
            PromptSource::LastSeconds(f32::NAN),
            PromptSource::Range {
                start_seconds: 2.0,
                end_seconds: 1.0,
            },
        ] {
            assert!(matches!(
                recorder.select(&source, None),
                Err(PromptSelectError::BadLength(_))
            ));
        }
    }
}
