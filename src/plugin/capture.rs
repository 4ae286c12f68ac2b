//! The audio thread's input, streamed to the worker.
//!
//! Two single-producer single-consumer rings (`rtrb`), both allocated once at activate: one
//! carries interleaved stereo samples, the other one small header per block (its length and the
//! host transport at its start). The producer writes the samples first and the header last, so a
//! header the worker sees always has its samples behind it. Pushing never blocks or allocates; a
//! block that does not fit is dropped whole and counted, never half-written.
//!
//! Headers also carry Continue requests (rising edges of the `continue` parameter), so the
//! worker sees each one exactly where it happened on the timeline, after the audio before it.
//! While the transport is stopped a request travels alone, as a header with no frames.

use std::sync::atomic::Ordering;

use rtrb::{Consumer, Producer, RingBuffer};

use super::diagnostics::Diagnostics;

/// Interleaved channels in the capture ring (mono input is duplicated).
pub const CHANNELS: usize = 2;
/// Seconds of audio the ring holds: the worker drains it every few milliseconds, so this only
/// matters when the worker is starved of CPU.
const RING_SECONDS: f64 = 4.0;

/// Beats per bar (`numerator`) of note value `denominator` (4: quarter notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSignature {
    pub numerator: u32,
    pub denominator: u32,
}

impl TimeSignature {
    /// One atomic word for the editor: numerator << 16 | denominator.
    pub fn packed(self) -> u32 {
        (self.numerator.min(0xffff) << 16) | self.denominator.min(0xffff)
    }

    /// The inverse of [`TimeSignature::packed`]; `None` for 0 (no signature from the host).
    pub fn unpacked(word: u32) -> Option<Self> {
        let (numerator, denominator) = (word >> 16, word & 0xffff);
        (numerator > 0 && denominator > 0).then_some(Self {
            numerator,
            denominator,
        })
    }
}

/// The host transport at the first sample of a block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransportSnapshot {
    pub playing: bool,
    pub tempo_bpm: Option<f64>,
    pub position_samples: Option<i64>,
    pub sample_rate: f32,
    pub time_signature: Option<TimeSignature>,
    /// Position in quarter notes.
    pub pos_beats: Option<f64>,
    /// Where the bar holding this block started, in quarter notes.
    pub bar_start_beats: Option<f64>,
}

/// One captured block as the worker receives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockHeader {
    /// 0 for a header that only carries Continue requests.
    pub frames: u32,
    /// Continue requests made at the start of this block.
    pub continue_requests: u32,
    pub transport: TransportSnapshot,
}

pub struct CaptureProducer {
    samples: Producer<f32>,
    headers: Producer<BlockHeader>,
}

pub struct CaptureConsumer {
    samples: Consumer<f32>,
    headers: Consumer<BlockHeader>,
}

/// Allocates the rings for a sample rate and the largest block the host will send.
pub fn capture_rings(
    sample_rate: f32,
    max_block_frames: usize,
) -> (CaptureProducer, CaptureConsumer) {
    let frames = ((sample_rate as f64 * RING_SECONDS) as usize).max(max_block_frames * 4);
    // Even the smallest blocks (1 frame) need a header each, so size for one per frame at worst
    // within a short window.
    let headers = frames.min(1 << 16);
    let (sample_tx, sample_rx) = RingBuffer::new(frames * CHANNELS);
    let (header_tx, header_rx) = RingBuffer::new(headers);
    (
        CaptureProducer {
            samples: sample_tx,
            headers: header_tx,
        },
        CaptureConsumer {
            samples: sample_rx,
            headers: header_rx,
        },
    )
}

impl CaptureProducer {
    /// Real-time safe. `channels` holds one slice per input channel (1 or 2), all of equal
    /// length (none while the transport is stopped). Returns false when the Continue requests
    /// could not be sent (the header ring is full): the caller sends them with the next block.
    /// Audio that does not fit is dropped whole and counted; its requests still go when a
    /// header slot is free.
    pub fn push<C: AsRef<[f32]>>(
        &mut self,
        channels: &[C],
        transport: TransportSnapshot,
        continue_requests: u32,
        diag: &Diagnostics,
    ) -> bool {
        let mut frames = channels.first().map_or(0, |c| c.as_ref().len());
        if frames == 0 && continue_requests == 0 {
            return true;
        }
        if self.headers.slots() == 0 {
            diag.dropped_frames
                .fetch_add(frames as u64, Ordering::Relaxed);
            return continue_requests == 0;
        }
        if frames > 0 && self.samples.slots() < frames * CHANNELS {
            diag.dropped_frames
                .fetch_add(frames as u64, Ordering::Relaxed);
            if continue_requests == 0 {
                return true;
            }
            frames = 0;
        }
        if frames > 0 {
            let left = channels[0].as_ref();
            let right = channels.get(1).map_or(left, |c| c.as_ref());
            // Cannot fail: we checked for room and we are the only producer.
            let Ok(chunk) = self.samples.write_chunk_uninit(frames * CHANNELS) else {
                return false;
            };
            let interleaved = left.iter().zip(right).flat_map(|(&l, &r)| [l, r]);
            chunk.fill_from_iter(interleaved);
            diag.captured_frames
                .fetch_add(frames as u64, Ordering::Relaxed);
        }
        let header = BlockHeader {
            frames: frames as u32,
            continue_requests,
            transport,
        };
        // Cannot fail: we checked for a free slot and we are the only producer.
        self.headers.push(header).is_ok()
    }
}

impl CaptureConsumer {
    /// Takes the next complete block: its header and its interleaved samples, appended to `out`.
    pub fn pop_block(&mut self, out: &mut Vec<f32>) -> Option<BlockHeader> {
        let header = self.headers.pop().ok()?;
        let count = header.frames as usize * CHANNELS;
        // The producer committed these samples before the header, so they are all there.
        let chunk = self
            .samples
            .read_chunk(count)
            .expect("capture ring: samples of a published block are missing");
        let (first, second) = chunk.as_slices();
        out.extend_from_slice(first);
        out.extend_from_slice(second);
        chunk.commit_all();
        Some(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_signature_survives_its_atomic_word() {
        let seven_eight = TimeSignature {
            numerator: 7,
            denominator: 8,
        };
        assert_eq!(
            TimeSignature::unpacked(seven_eight.packed()),
            Some(seven_eight)
        );
        assert_eq!(TimeSignature::unpacked(0), None);
    }

    fn transport(position: i64) -> TransportSnapshot {
        TransportSnapshot {
            playing: true,
            tempo_bpm: Some(120.0),
            position_samples: Some(position),
            sample_rate: 48_000.0,
            time_signature: None,
            pos_beats: None,
            bar_start_beats: None,
        }
    }

    #[test]
    fn blocks_arrive_whole_and_in_order_with_mono_duplicated() {
        let diag = Diagnostics::default();
        let (mut tx, mut rx) = capture_rings(48_000.0, 512);
        let left = [1.0, 2.0, 3.0];
        let right = [-1.0, -2.0, -3.0];
        assert!(tx.push(&[&left, &right], transport(0), 0, &diag));
        assert!(tx.push(&[&left[..1]], transport(3), 0, &diag));

        let mut out = Vec::new();
        let first = rx.pop_block(&mut out).unwrap();
        assert_eq!(first.frames, 3);
        assert_eq!(out, [1.0, -1.0, 2.0, -2.0, 3.0, -3.0]);
        out.clear();
        let second = rx.pop_block(&mut out).unwrap();
        assert_eq!(second.transport.position_samples, Some(3));
        assert_eq!(out, [1.0, 1.0]);
        assert!(rx.pop_block(&mut out).is_none());
        assert_eq!(diag.captured_frames.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_full_ring_drops_whole_blocks_and_counts_them() {
        let diag = Diagnostics::default();
        let (mut tx, _rx) = capture_rings(8.0, 4);
        let block = [0.5f32; 16];
        let mut pushed = 0;
        while diag.dropped_frames.load(Ordering::Relaxed) == 0 {
            assert!(tx.push(&[&block, &block], transport(0), 0, &diag));
            pushed += 1;
        }
        pushed -= 1;
        assert!(pushed > 0);
        assert_eq!(diag.dropped_frames.load(Ordering::Relaxed), 16);
        assert_eq!(diag.captured_frames.load(Ordering::Relaxed), pushed * 16);
    }

    #[test]
    fn continue_requests_travel_with_the_audio_or_alone() {
        let diag = Diagnostics::default();
        let (mut tx, mut rx) = capture_rings(48_000.0, 512);
        let none: [&[f32]; 0] = [];
        assert!(tx.push(&none, transport(7), 0, &diag));
        assert!(tx.push(&none, transport(7), 2, &diag));
        assert!(tx.push(&[&[0.5f32; 4]], transport(9), 1, &diag));
        let mut out = Vec::new();
        let alone = rx.pop_block(&mut out).unwrap();
        assert_eq!((alone.frames, alone.continue_requests), (0, 2));
        assert!(out.is_empty());
        let with_audio = rx.pop_block(&mut out).unwrap();
        assert_eq!((with_audio.frames, with_audio.continue_requests), (4, 1));
        assert_eq!(with_audio.transport.position_samples, Some(9));
        assert!(rx.pop_block(&mut out).is_none());
    }

    #[test]
    fn a_request_in_a_block_that_does_not_fit_still_arrives() {
        let diag = Diagnostics::default();
        let (mut tx, mut rx) = capture_rings(8.0, 4);
        let block = [0.5f32; 64];
        assert!(tx.push(&[&block, &block], transport(0), 1, &diag));
        assert_eq!(diag.dropped_frames.load(Ordering::Relaxed), 64);
        let mut out = Vec::new();
        let header = rx.pop_block(&mut out).unwrap();
        assert_eq!((header.frames, header.continue_requests), (0, 1));
    }
}
