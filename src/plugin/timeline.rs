//! The chosen take on the host timeline: played by the audio thread wherever the transport
//! plays over the take's region, sample-accurately.
//!
//! A [`TakeBuffer`] is allocated by the worker for the whole take and filled as audio comes
//! (streamed previews, then each finished level over them). Its samples are atomics, so the
//! worker writes while the audio thread reads, without locks. Buffers reach the audio thread as
//! `Arc`s through an `rtrb` ring, and the one they replace goes back through a second ring, so
//! the audio thread never allocates or frees memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use rtrb::{Consumer, Producer, RingBuffer};

use super::params::PlaybackMode;

/// Buffer swaps that can be in flight at once; the worker sends at most one per command.
const SWAPS: usize = 8;

/// One take's continuation at the host's sample rate (mono), placed on the timeline.
#[derive(Debug)]
pub struct TakeBuffer {
    pub take: u64,
    /// Timeline position (host samples) of the continuation's first frame.
    pub timeline_start: i64,
    /// f32 bits.
    samples: Box<[AtomicU32]>,
    /// Frames that belong to the take: in Replace mode the track is silent over all of them,
    /// ready or not.
    region: AtomicUsize,
    /// Frames written so far, from the start (later levels overwrite within this).
    ready: AtomicUsize,
}

impl TakeBuffer {
    /// Room for `capacity` frames, `region` of which belong to the take.
    pub fn new(take: u64, timeline_start: i64, capacity: usize, region: usize) -> Self {
        Self {
            take,
            timeline_start,
            samples: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
            region: AtomicUsize::new(region.min(capacity)),
            ready: AtomicUsize::new(0),
        }
    }

    /// A buffer holding exactly `samples`, all ready.
    pub fn filled(take: u64, timeline_start: i64, samples: &[f32]) -> Self {
        let buffer = Self::new(take, timeline_start, samples.len(), samples.len());
        buffer.write(0, samples);
        buffer
    }

    pub fn capacity(&self) -> usize {
        self.samples.len()
    }

    pub fn region(&self) -> usize {
        self.region.load(Ordering::Acquire)
    }

    pub fn ready(&self) -> usize {
        self.ready.load(Ordering::Acquire)
    }

    /// The exact length, once the take's length is known.
    pub fn set_region(&self, frames: usize) {
        self.region
            .store(frames.min(self.capacity()), Ordering::Release);
    }

    /// Writes `samples` from frame `offset` on (what does not fit is dropped) and marks them
    /// ready. Worker only.
    pub fn write(&self, offset: usize, samples: &[f32]) {
        let Some(slots) = self.samples.get(offset..) else {
            return;
        };
        let written = samples.len().min(slots.len());
        for (slot, sample) in slots.iter().zip(&samples[..written]) {
            slot.store(sample.to_bits(), Ordering::Relaxed);
        }
        // Release: a reader that sees the new mark sees the samples under it.
        self.ready.fetch_max(offset + written, Ordering::Release);
    }

    pub fn sample(&self, frame: usize) -> f32 {
        self.samples
            .get(frame)
            .map_or(0.0, |s| f32::from_bits(s.load(Ordering::Relaxed)))
    }
}

/// The worker's end: sends buffers to the audio thread and drops the ones it returns.
pub struct TimelineSender {
    outgoing: Producer<Option<Arc<TakeBuffer>>>,
    returned: Consumer<Option<Arc<TakeBuffer>>>,
}

/// The audio thread's end.
pub struct TimelinePlayer {
    current: Option<Arc<TakeBuffer>>,
    incoming: Consumer<Option<Arc<TakeBuffer>>>,
    retired: Producer<Option<Arc<TakeBuffer>>>,
}

/// Allocates both rings; the player starts with `initial` (the chosen take, loaded at
/// activate so that an offline render plays it from its first block).
pub fn timeline(initial: Option<Arc<TakeBuffer>>) -> (TimelineSender, TimelinePlayer) {
    let (outgoing, incoming) = RingBuffer::new(SWAPS);
    let (retired, returned) = RingBuffer::new(SWAPS);
    (
        TimelineSender { outgoing, returned },
        TimelinePlayer {
            current: initial,
            incoming,
            retired,
        },
    )
}

impl TimelineSender {
    /// Asks the audio thread to play `buffer` (`None`: nothing). False when the ring is full
    /// (the audio thread is not running); the caller tries again later.
    pub fn send(&mut self, buffer: Option<Arc<TakeBuffer>>) -> bool {
        self.drop_returned();
        self.outgoing.push(buffer).is_ok()
    }

    /// Frees the buffers the audio thread is done with.
    pub fn drop_returned(&mut self) {
        while self.returned.pop().is_ok() {}
    }
}

impl TimelinePlayer {
    /// Real-time safe: takes the newest buffer the worker sent (handing the old one back) and
    /// plays it into `channels` (1 or 2 slices of equal length) for the block starting at
    /// timeline position `position`. Frames outside the take's region are left untouched.
    pub fn play_into<C: AsMut<[f32]>>(
        &mut self,
        channels: &mut [C],
        position: i64,
        mode: PlaybackMode,
    ) {
        self.take_new_buffers();
        let Some(buffer) = &self.current else {
            return;
        };
        let frames = channels.first_mut().map_or(0, |c| c.as_mut().len()) as i64;
        let region = buffer.region() as i64;
        let ready = buffer.ready() as i64;
        let offset = position - buffer.timeline_start;
        // The block's frames that fall inside the region, as offsets into the take.
        let first = offset.max(0);
        let last = (offset + frames).min(region);
        let last = match mode {
            PlaybackMode::Replace => last,
            // Mixing silence would still touch the track's bits (-0.0 + 0.0 is +0.0).
            PlaybackMode::Mix => last.min(ready),
        };
        for take_frame in first..last {
            let sample = if take_frame < ready {
                buffer.sample(take_frame as usize)
            } else {
                0.0
            };
            let frame = (take_frame - offset) as usize;
            for channel in channels.iter_mut() {
                let out = &mut channel.as_mut()[frame];
                *out = match mode {
                    PlaybackMode::Replace => sample,
                    PlaybackMode::Mix => *out + sample,
                };
            }
        }
    }

    fn take_new_buffers(&mut self) {
        // Only take a buffer when the old one can be handed back: it must not be freed here.
        while self.retired.slots() > 0 {
            let Ok(next) = self.incoming.pop() else {
                return;
            };
            let old = std::mem::replace(&mut self.current, next);
            // Cannot fail: we checked for a free slot and we are the only producer.
            let _ = self.retired.push(old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(player: &mut TimelinePlayer, position: i64, mode: PlaybackMode) -> [Vec<f32>; 2] {
        let mut left: Vec<f32> = (0..8).map(|i| 100.0 + i as f32).collect();
        let mut right = left.clone();
        player.play_into(&mut [&mut left, &mut right], position, mode);
        [left, right]
    }

    #[test]
    fn replace_plays_the_take_where_it_is_and_silence_where_it_is_not_ready() {
        let buffer = Arc::new(TakeBuffer::new(1, 10, 8, 6));
        buffer.write(0, &[1.0, 2.0, 3.0]);
        let (_tx, mut player) = timeline(Some(buffer.clone()));
        // Block [6, 14): frames 10..16 are the region, 10..13 ready.
        let [left, right] = run(&mut player, 6, PlaybackMode::Replace);
        assert_eq!(left, [100.0, 101.0, 102.0, 103.0, 1.0, 2.0, 3.0, 0.0]);
        assert_eq!(left, right);
        // Block [14, 22): 14 and 15 are in the region (silent), the rest passes.
        let [left, _] = run(&mut player, 14, PlaybackMode::Replace);
        assert_eq!(left, [0.0, 0.0, 102.0, 103.0, 104.0, 105.0, 106.0, 107.0]);
        // More arrives while playing.
        buffer.write(3, &[4.0, 5.0, 6.0, 7.0]);
        let [left, _] = run(&mut player, 14, PlaybackMode::Replace);
        assert_eq!(left[..3], [5.0, 6.0, 102.0]);
    }

    #[test]
    fn mix_adds_only_what_is_ready_and_leaves_the_rest_bit_exact() {
        let buffer = Arc::new(TakeBuffer::new(1, 0, 8, 8));
        buffer.write(0, &[0.5, 0.25]);
        let (_tx, mut player) = timeline(Some(buffer));
        let mut mono = [-0.0f32, 1.0, -0.0, 1e-40];
        player.play_into(&mut [&mut mono], 0, PlaybackMode::Mix);
        assert_eq!(mono[..2], [0.5, 1.25]);
        assert_eq!(
            [mono[2].to_bits(), mono[3].to_bits()],
            [(-0.0f32).to_bits(), 1e-40f32.to_bits()]
        );
    }

    #[test]
    fn buffers_are_swapped_and_the_old_ones_go_back_to_the_worker() {
        let first = Arc::new(TakeBuffer::filled(1, 0, &[1.0; 8]));
        let second = Arc::new(TakeBuffer::filled(2, 0, &[2.0; 8]));
        let (mut tx, mut player) = timeline(Some(first.clone()));
        assert_eq!(run(&mut player, 0, PlaybackMode::Replace)[0][0], 1.0);
        assert!(tx.send(Some(second.clone())));
        assert_eq!(run(&mut player, 0, PlaybackMode::Replace)[0][0], 2.0);
        // The audio thread handed the first buffer back instead of dropping it.
        assert_eq!(Arc::strong_count(&first), 2);
        tx.drop_returned();
        assert_eq!(Arc::strong_count(&first), 1);
        assert!(tx.send(None));
        assert_eq!(run(&mut player, 0, PlaybackMode::Replace)[0][0], 100.0);
        tx.drop_returned();
        assert_eq!(Arc::strong_count(&second), 1);
    }

    #[test]
    fn writes_past_the_end_are_dropped() {
        let buffer = TakeBuffer::new(1, 0, 4, 4);
        buffer.write(2, &[1.0, 2.0, 3.0]);
        buffer.write(9, &[1.0]);
        assert_eq!(buffer.ready(), 4);
        assert_eq!(
            (0..5).map(|i| buffer.sample(i)).collect::<Vec<_>>(),
            [0.0, 0.0, 1.0, 2.0, 0.0]
        );
    }
}
