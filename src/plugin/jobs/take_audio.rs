//! The takes' audio: streamed into their playback buffers, each finished level into a WAV.

use std::sync::Arc;

use super::engine_events::BUFFER_MARGIN_SECONDS;
use super::{Generations, JobContext, KeptPart};
use crate::audio::resample_mono;
use crate::engine::JobId;
use crate::plugin::session::Take;
use crate::plugin::stream_resampler::{StreamResampler, convert_frames};
use crate::plugin::takes;
use crate::plugin::timeline::{TakeBuffer, fade_frames};

pub(super) struct LiveTake {
    pub id: u64,
    /// Only while the take is the chosen one (it plays).
    pub buffer: Option<Arc<TakeBuffer>>,
    pub stream: Option<LevelStream>,
}

/// Where a generation's takes go on the timeline and how long they are, at the host's rate.
#[derive(Debug, Clone, Copy)]
pub(super) struct BufferShape {
    pub timeline_start: i64,
    pub capacity: usize,
    pub region: usize,
}

impl BufferShape {
    /// Takes of `seconds` from `timeline_start`, at `host_rate`.
    pub fn of(timeline_start: i64, seconds: f64, host_rate: f32) -> Self {
        let rate = f64::from(host_rate);
        Self {
            timeline_start,
            capacity: ((seconds + BUFFER_MARGIN_SECONDS) * rate).ceil() as usize,
            region: (seconds * rate).round() as usize,
        }
    }

    /// A buffer for take `id`, with the best level it already has (a resumed generation, or a
    /// take chosen while it generates); a derived take not written yet starts with the part it
    /// keeps of its parent (`kept`).
    pub fn buffer(
        &self,
        id: u64,
        written: Option<&Take>,
        kept: Option<&KeptPart>,
        host_rate: f32,
    ) -> TakeBuffer {
        let buffer = TakeBuffer::new(id, self.timeline_start, self.capacity, self.region);
        if let Some(take) = written {
            match takes::read_take(take, host_rate) {
                Ok(samples) => buffer.write(0, &samples),
                Err(e) => tracing::warn!("take {}: {e}", take.id),
            }
        } else if let Some(kept) = kept {
            match takes::read_take(&kept.parent, host_rate) {
                Ok(samples) => {
                    let frames = convert_frames(
                        kept.samples as i64,
                        f64::from(kept.model_rate),
                        f64::from(host_rate),
                    ) as usize;
                    buffer.write(0, &samples[..frames.min(samples.len())]);
                }
                Err(e) => tracing::warn!("take {} (the parent of {id}): {e}", kept.parent.id),
            }
        }
        buffer
    }
}

/// One level's streamed audio of one take on its way into the buffer.
pub(super) struct LevelStream {
    level: usize,
    resampler: StreamResampler,
    /// Buffer frame the next resampled sample goes to.
    next: usize,
    /// The last samples written, pure: a chunk's end is blended into the older level after it,
    /// so the next chunk writes them again.
    tail: Vec<f32>,
}

impl Generations {
    pub(super) fn stream_audio(
        &mut self,
        job: JobId,
        number: usize,
        level: usize,
        start: usize,
        samples: &[f32],
    ) {
        let host_rate = self.host_rate;
        let Some(prepared) = self.live.get_mut(&job).and_then(|j| j.prepared.as_mut()) else {
            return;
        };
        let model_rate = prepared.client.model_rate;
        let origin = prepared.origin;
        let Some(row) = prepared.row_of(number) else {
            return;
        };
        let take = &mut prepared.takes[row];
        if take.stream.as_ref().is_none_or(|s| s.level != level) {
            let resampler = match StreamResampler::new(model_rate, host_rate.round() as u32) {
                Ok(resampler) => resampler,
                Err(e) => {
                    tracing::warn!("take {}: {e}", take.id);
                    return;
                }
            };
            // A level a derived take's parent never reached starts at the original prompt's
            // end, like the take's WAV: before the part it keeps.
            let from_origin = start.saturating_sub(origin) as i64;
            let next = convert_frames(from_origin, f64::from(model_rate), f64::from(host_rate));
            take.stream = Some(LevelStream {
                level,
                resampler,
                next: next as usize,
                tail: Vec::new(),
            });
        }
        let Some(stream) = take.stream.as_mut() else {
            return;
        };
        let mut out = Vec::with_capacity(samples.len() * 3);
        if let Err(e) = stream.resampler.push(samples, &mut out) {
            tracing::warn!("take {}: {e}", take.id);
            return;
        }
        let start = stream.next - stream.tail.len();
        let mut pure = std::mem::take(&mut stream.tail);
        pure.extend_from_slice(&out);
        let fade = fade_frames(host_rate);
        if let Some(buffer) = &take.buffer {
            buffer.write_seamed(start, &pure, fade);
        }
        stream.tail = pure[pure.len().saturating_sub(fade)..].to_vec();
        stream.next += out.len();
    }

    /// Writes one finished level of one take and puts it in the take's buffer and the list.
    pub(super) fn take_finished(
        &mut self,
        ctx: &JobContext,
        job: JobId,
        number: usize,
        level: usize,
        song: &[f32],
    ) -> Result<(), String> {
        let host_rate = self.host_rate;
        let Some(live) = self.live.get_mut(&job) else {
            return Ok(());
        };
        let Some(prepared) = live.prepared.as_mut() else {
            return Ok(());
        };
        let Some(row) = prepared.row_of(number) else {
            return Ok(());
        };
        let take = &mut prepared.takes[row];
        if live.skipped.contains(&take.id) {
            return Ok(());
        }
        live.wrote_level = true;
        let rate = host_rate.round() as u32;
        let model_rate = prepared.client.model_rate;
        // The whole song is resampled, so the continuation's first samples have their real
        // left context; it starts where the prompt ends (the original prompt, for a derived
        // take: the part it keeps of its parent comes first).
        let song = resample_mono(song, model_rate, rate).map_err(|e| e.to_string())?;
        let cut = convert_frames(
            prepared.origin as i64,
            f64::from(model_rate),
            f64::from(rate),
        ) as usize;
        let continuation = song.get(cut..).unwrap_or_default();
        let id = take.id;
        let name = match ctx.shared.session.read().take(id) {
            Some(existing) => existing.name.clone(),
            None => prepared
                .client
                .names
                .get(row)
                .cloned()
                .unwrap_or_else(|| takes::default_name(id)),
        };
        let file = takes::write_level(ctx.takes_dir, &name, level, continuation, rate)
            .map_err(|e| format!("take {name} (level {level}) could not be written: {e}"))?;
        tracing::info!("take {id} level {level}: {}", file.display());
        if let Some(buffer) = &take.buffer {
            buffer.write(0, continuation);
            buffer.set_region(continuation.len());
        }
        take.stream = None;
        let mut session = ctx.shared.session.write();
        let frames = continuation.len() as u64;
        session
            .level_files
            .entry(id)
            .or_default()
            .push(file.clone());
        match session.takes.iter_mut().find(|t| t.id == id) {
            Some(existing) => {
                existing.level = level;
                existing.file = file;
                existing.frames = frames;
                existing.timeline_start = prepared.timeline_start;
                existing.sample_rate = host_rate;
            }
            None => session.takes.push(Take {
                id,
                name,
                level,
                file,
                timeline_start: prepared.timeline_start,
                sample_rate: host_rate,
                frames,
                batch_row: row,
                settings: prepared.settings.clone(),
                source: None,
                parent: prepared.client.parent.clone(),
            }),
        }
        Ok(())
    }
}
impl Generations {
    /// The host's rate changed (a new activation): every live take's buffer shape moves to the
    /// new rate and the buffers made for the old one are dropped; the chosen take's is made
    /// again (with the levels already written) when the timeline is handed over next. The level
    /// under way streams on into it from its next chunk (what it streamed before the change is
    /// heard again when the level ends).
    pub fn set_host_rate(&mut self, host_rate: f32) {
        if host_rate == self.host_rate {
            return;
        }
        let (old, new) = (f64::from(self.host_rate), f64::from(host_rate));
        self.host_rate = host_rate;
        for prepared in self.live.values_mut().filter_map(|j| j.prepared.as_mut()) {
            prepared.timeline_start = convert_frames(prepared.timeline_start, old, new);
            prepared.shape = BufferShape::of(prepared.timeline_start, prepared.seconds, host_rate);
            for take in &mut prepared.takes {
                take.buffer = None;
                take.stream = None;
            }
        }
    }
}
