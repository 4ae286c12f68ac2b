//! Audio the worker plays now, whatever the transport does (a take auditioned, the prompt
//! played back).
//!
//! An `rtrb` ring of interleaved stereo samples, allocated at activate. The audio thread takes
//! what is there, up to one block, and never waits for more. When nothing is queued the track is
//! left untouched, so idle Encore is a bit-exact pass-through. To stop at once, the worker raises
//! a flag and the audio thread throws away what is queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rtrb::{Consumer, Producer, RingBuffer};

use super::capture::CHANNELS;
use super::diagnostics::Diagnostics;
use super::params::PlaybackMode;

const RING_SECONDS: f64 = 2.0;

pub fn playback_ring(sample_rate: f32) -> (PlaybackProducer, PlaybackConsumer) {
    let frames = (sample_rate as f64 * RING_SECONDS) as usize;
    let (tx, rx) = RingBuffer::new(frames * CHANNELS);
    let discard = Arc::new(AtomicBool::new(false));
    (
        PlaybackProducer {
            samples: tx,
            discard: discard.clone(),
        },
        PlaybackConsumer {
            samples: rx,
            discard,
        },
    )
}

pub struct PlaybackProducer {
    samples: Producer<f32>,
    discard: Arc<AtomicBool>,
}

impl PlaybackProducer {
    /// Free room, in samples.
    pub fn slots(&self) -> usize {
        self.samples.slots()
    }

    /// Queues one sample; false when the ring is full.
    pub fn push(&mut self, sample: f32) -> bool {
        self.samples.push(sample).is_ok()
    }

    /// Asks the audio thread to drop everything queued so far.
    pub fn stop(&self) {
        self.discard.store(true, Ordering::Release);
    }
}

pub struct PlaybackConsumer {
    samples: Consumer<f32>,
    discard: Arc<AtomicBool>,
}

impl PlaybackConsumer {
    /// Real-time safe: plays queued audio into `channels` (1 or 2 slices of equal length).
    pub fn play_into<C: AsMut<[f32]>>(
        &mut self,
        channels: &mut [C],
        mode: PlaybackMode,
        diag: &Diagnostics,
    ) {
        if self.discard.swap(false, Ordering::AcqRel) {
            let queued = self.samples.slots();
            if let Ok(chunk) = self.samples.read_chunk(queued) {
                chunk.commit_all();
            }
        }
        let frames_wanted = channels.first_mut().map_or(0, |c| c.as_mut().len());
        let frames = (self.samples.slots() / CHANNELS).min(frames_wanted);
        if frames == 0 {
            return;
        }
        let Ok(chunk) = self.samples.read_chunk(frames * CHANNELS) else {
            return;
        };
        let (first, second) = chunk.as_slices();
        let mut queued = first.iter().chain(second).copied();
        for frame in 0..frames {
            let (l, r) = (queued.next().unwrap_or(0.0), queued.next().unwrap_or(0.0));
            match channels {
                [mono] => {
                    let mono = &mut mono.as_mut()[frame];
                    *mono = mix(*mono, 0.5 * (l + r), mode);
                }
                [left, right, ..] => {
                    let left = &mut left.as_mut()[frame];
                    *left = mix(*left, l, mode);
                    let right = &mut right.as_mut()[frame];
                    *right = mix(*right, r, mode);
                }
                [] => {}
            }
        }
        chunk.commit_all();
        diag.played_frames
            .fetch_add(frames as u64, Ordering::Relaxed);
    }
}

fn mix(track: f32, generated: f32, mode: PlaybackMode) -> f32 {
    match mode {
        PlaybackMode::Mix => track + generated,
        PlaybackMode::Replace => generated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_queued_leaves_the_track_bit_exact() {
        let diag = Diagnostics::default();
        let (_tx, mut rx) = playback_ring(48_000.0);
        let mut left = [-0.0f32, 1e-40, 0.25];
        let mut right = left;
        rx.play_into(&mut [&mut left, &mut right], PlaybackMode::Mix, &diag);
        assert_eq!(
            left.map(f32::to_bits),
            [-0.0f32, 1e-40, 0.25].map(f32::to_bits)
        );
    }

    #[test]
    fn queued_audio_mixes_or_replaces_and_stops_where_the_queue_ends() {
        let diag = Diagnostics::default();
        let (mut tx, mut rx) = playback_ring(48_000.0);
        for s in [0.5, -0.5, 0.25, -0.25] {
            assert!(tx.push(s));
        }
        let mut left = [1.0f32; 3];
        let mut right = [1.0f32; 3];
        rx.play_into(&mut [&mut left, &mut right], PlaybackMode::Mix, &diag);
        assert_eq!(left, [1.5, 1.25, 1.0]);
        assert_eq!(right, [0.5, 0.75, 1.0]);

        assert!(tx.push(0.1));
        assert!(tx.push(0.2));
        let mut mono = [1.0f32; 2];
        rx.play_into(&mut [&mut mono], PlaybackMode::Replace, &diag);
        assert!((mono[0] - 0.15).abs() < 1e-6);
        assert_eq!(mono[1], 1.0);
        assert_eq!(diag.played_frames.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn stopping_drops_what_is_queued() {
        let diag = Diagnostics::default();
        let (mut tx, mut rx) = playback_ring(48_000.0);
        for _ in 0..8 {
            assert!(tx.push(0.5));
        }
        tx.stop();
        let mut mono = [1.0f32; 4];
        rx.play_into(&mut [&mut mono], PlaybackMode::Replace, &diag);
        assert_eq!(mono, [1.0; 4]);
        assert!(tx.push(0.25) && tx.push(0.25));
        rx.play_into(&mut [&mut mono], PlaybackMode::Replace, &diag);
        assert_eq!(mono[0], 0.25);
    }
}
