//! Audio while a level is sampled: what has been sampled is decoded chunk by chunk, each chunk
//! with context on both sides so its edges match a decode of the whole level.

use super::events::{Event, EventSink};
use crate::engine::error::EngineError;
use crate::engine::vqvae::Vqvae;

/// Audio streamed per [`Event::Audio`] chunk by default, in seconds.
pub const STREAM_CHUNK_SECONDS: f64 = 1.0;

/// What the level under way has streamed so far.
pub struct Streamer {
    level: usize,
    /// Codes per chunk at this level.
    chunk: usize,
    /// Codes of context decoded on each side of a chunk: the decoder's reach, from its
    /// architecture ([`Vqvae::decode_context`]; Jukebox: 84 codes at level 2, 5744 at level 0,
    /// about a second of audio), so the chunk equals that part of a whole-level decode and its
    /// edges do not click.
    context: usize,
    /// Codes per take already sent.
    streamed: usize,
}

impl Streamer {
    /// A level with `present` codes per take already there (not streamed: the prompt, or what
    /// a resumed level had sampled), chunks of `chunk_seconds`.
    pub fn new(level: usize, present: usize, chunk_seconds: f64, vqvae: &Vqvae, rate: u32) -> Self {
        let hop = vqvae.hop_length(level);
        let chunk = (chunk_seconds * f64::from(rate) / hop as f64)
            .ceil()
            .max(1.0) as usize;
        Self {
            level,
            chunk,
            context: vqvae.decode_context(level),
            streamed: present,
        }
    }

    /// Decodes what has been sampled since the last chunk, once a chunk's worth (or the rest,
    /// when `flush`) is there. `codes`: every row's codes so far; `takes`: their take numbers.
    pub fn stream(
        &mut self,
        codes: &[Vec<i64>],
        takes: &[usize],
        vqvae: &mut Vqvae,
        events: &dyn EventSink,
        flush: bool,
    ) -> Result<(), EngineError> {
        let level = self.level;
        let have = codes.first().map_or(0, Vec::len);
        let upto = if flush {
            have
        } else {
            have.saturating_sub(self.context)
        };
        if upto <= self.streamed || (!flush && upto - self.streamed < self.chunk) {
            return Ok(());
        }
        let hop = vqvae.hop_length(level);
        let from = self.streamed.saturating_sub(self.context);
        let to = (upto + self.context).min(have);
        for (row, take) in codes.iter().zip(takes) {
            let window = &row[from..to];
            let audio = vqvae.decode(level, window)?;
            let skip = (self.streamed - from) * hop;
            let len = (upto - self.streamed) * hop;
            let samples = audio
                .get(skip..skip + len)
                .map(<[f32]>::to_vec)
                .ok_or_else(|| {
                    EngineError::InvalidInput(format!(
                        "the level {level} decoder gave {} samples for {} codes",
                        audio.len(),
                        window.len()
                    ))
                })?;
            events.emit(Event::Audio {
                take: *take,
                level,
                start_sample: self.streamed * hop,
                samples,
            });
        }
        self.streamed = upto;
        Ok(())
    }
}
