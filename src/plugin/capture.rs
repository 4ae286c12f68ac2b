//! The audio thread's input, streamed to the worker.
//!
//! Two single-producer single-consumer rings (`rtrb`), both allocated once at activate: one
//! carries interleaved stereo samples, the other one small header per block (its length and the
//! host transport at its start). The producer writes the samples first and the header last, so a
//! header the worker sees always has its samples behind it. Pushing never allocates. In real
//! time it never blocks either: a block that does not fit is dropped whole and counted, never
//! half-written, and the next header says how many frames were lost before it. A block without
//! a deadline (an offline or faster-than-real-time render: `RenderClock`) waits for room
//! instead, so a render at any speed loses nothing.
//!
//! Headers also carry Continue requests (rising edges of the `continue` parameter), so the
//! worker sees each one exactly where it happened on the timeline, after the audio before it.
//! While the transport is stopped a request travels alone, as a header with no frames.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer, RingBuffer};

use super::diagnostics::Diagnostics;

/// Interleaved channels in the capture ring (mono input is duplicated).
pub const CHANNELS: usize = 2;
/// Seconds of audio the ring holds: the worker drains it every few milliseconds, so this only
/// matters when the worker is starved of CPU or busy (reading a long take took 100+ ms).
const RING_SECONDS: f64 = 8.0;
/// The longest a block without a deadline waits for room (a worker that long stuck has failed:
/// the block is then dropped and counted).
const ROOM_WAIT: Duration = Duration::from_secs(2);
/// How long a waiting block sleeps between looks.
const ROOM_POLL: Duration = Duration::from_micros(100);

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
    /// Frames dropped (the ring was full) since the block before this one.
    pub dropped_before: u64,
    pub transport: TransportSnapshot,
}

pub struct CaptureProducer {
    samples: Producer<f32>,
    headers: Producer<BlockHeader>,
    /// Frames dropped since the last header pushed.
    dropped: u64,
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
            dropped: 0,
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
    /// header slot is free. `may_wait`: the block has no deadline, so it waits (sleeping, at
    /// most [`ROOM_WAIT`]) for the worker to make room rather than drop anything.
    pub fn push<C: AsRef<[f32]>>(
        &mut self,
        channels: &[C],
        transport: TransportSnapshot,
        continue_requests: u32,
        may_wait: bool,
        diag: &Diagnostics,
    ) -> bool {
        let mut frames = channels.first().map_or(0, |c| c.as_ref().len());
        if frames == 0 && continue_requests == 0 {
            return true;
        }
        if may_wait {
            self.wait_for_room(frames);
        }
        if self.headers.slots() == 0 {
            self.drop_frames(frames, diag);
            return continue_requests == 0;
        }
        if frames > 0 && self.samples.slots() < frames * CHANNELS {
            self.drop_frames(frames, diag);
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
            dropped_before: self.dropped,
            transport,
        };
        // Cannot fail: we checked for a free slot and we are the only producer.
        let pushed = self.headers.push(header).is_ok();
        if pushed {
            self.dropped = 0;
        }
        pushed
    }

    fn drop_frames(&mut self, frames: usize, diag: &Diagnostics) {
        self.dropped += frames as u64;
        diag.dropped_frames
            .fetch_add(frames as u64, Ordering::Relaxed);
    }

    /// Sleeps until the rings have room for a header and `frames` frames, the worker is gone,
    /// or [`ROOM_WAIT`] has passed. Allocates nothing.
    fn wait_for_room(&self, frames: usize) {
        let has_room = |p: &Self| p.headers.slots() > 0 && p.samples.slots() >= frames * CHANNELS;
        if has_room(self) || self.samples.is_abandoned() {
            return;
        }
        let until = Instant::now() + ROOM_WAIT;
        while !has_room(self) && !self.samples.is_abandoned() && Instant::now() < until {
            std::thread::sleep(ROOM_POLL);
        }
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
        assert!(tx.push(&[&left, &right], transport(0), 0, false, &diag));
        assert!(tx.push(&[&left[..1]], transport(3), 0, false, &diag));

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
            assert!(tx.push(&[&block, &block], transport(0), 0, false, &diag));
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
        assert!(tx.push(&none, transport(7), 0, false, &diag));
        assert!(tx.push(&none, transport(7), 2, false, &diag));
        assert!(tx.push(&[&[0.5f32; 4]], transport(9), 1, false, &diag));
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
        let block = [0.5f32; 128];
        assert!(tx.push(&[&block, &block], transport(0), 1, false, &diag));
        assert_eq!(diag.dropped_frames.load(Ordering::Relaxed), 128);
        let mut out = Vec::new();
        let header = rx.pop_block(&mut out).unwrap();
        assert_eq!((header.frames, header.continue_requests), (0, 1));
        // The lost frames are counted in the header that follows them.
        assert_eq!(header.dropped_before, 128);
    }

    #[test]
    fn a_block_without_a_deadline_waits_for_room_and_loses_nothing() {
        let diag = Diagnostics::default();
        // 64 frames of room; 100 blocks of 16 frames pushed as fast as possible.
        let (mut tx, mut rx) = capture_rings(8.0, 4);
        let drain = std::thread::spawn(move || {
            let mut frames = 0;
            let mut out = Vec::new();
            while frames < 1_600 {
                match rx.pop_block(&mut out) {
                    Some(header) => {
                        assert_eq!(header.dropped_before, 0);
                        frames += header.frames as usize;
                    }
                    None => std::thread::sleep(Duration::from_millis(1)),
                }
            }
            frames
        });
        let block = [0.25f32; 16];
        for i in 0..100 {
            assert!(tx.push(&[&block], transport(i * 16), 0, true, &diag));
        }
        assert_eq!(drain.join().unwrap(), 1_600);
        assert_eq!(diag.dropped_frames.load(Ordering::Relaxed), 0);
        assert_eq!(diag.captured_frames.load(Ordering::Relaxed), 1_600);
    }
}
