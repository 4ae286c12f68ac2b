//! The chosen take on the host timeline: played by the audio thread wherever the transport
//! plays over the take's region, sample-accurately.
//!
//! A [`TakeBuffer`] is allocated by the worker for the whole take and filled as audio comes
//! (streamed previews, then each finished level over them). Its samples are atomics, so the
//! worker writes while the audio thread reads, without locks. Buffers reach the audio thread as
//! `Arc`s through an `rtrb` ring, and the one they replace goes back through a second ring, so
//! the audio thread never allocates or frees memory.
//!
//! No clicks: in Replace mode the take fades in and out against the track over
//! [`EDGE_FADE_SECONDS`] at its region's edges (equal power). Where newer audio takes over
//! under the playhead (a finished level written over the preview, a level streamed over the one
//! before, another buffer for the same take), the player crossfades, equal power, from what it
//! was about to play to the new audio: it keeps the next few milliseconds it would have played
//! in a fixed array, refreshed as it plays.

use std::f32::consts::FRAC_PI_2;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use rtrb::{Consumer, Producer, RingBuffer};

use super::params::PlaybackMode;

/// Buffer swaps that can be in flight at once; the worker sends at most one per command.
const SWAPS: usize = 8;
/// Length of the fades at a region's edges and of the crossfade where newer audio takes over.
pub const EDGE_FADE_SECONDS: f64 = 0.005;
/// The longest fade, in frames (5 ms up to 384 kHz).
const MAX_FADE_FRAMES: usize = 2048;

/// The fade length at a host sample rate.
pub fn fade_frames(sample_rate: f32) -> usize {
    ((EDGE_FADE_SECONDS * f64::from(sample_rate)).round() as usize).clamp(1, MAX_FADE_FRAMES)
}

/// Gains (rising, falling) at `step` of an equal-power fade of `length` steps.
fn equal_power(step: usize, length: usize) -> (f32, f32) {
    let angle = FRAC_PI_2 * (step as f32 + 0.5) / length as f32;
    (angle.sin(), angle.cos())
}

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
    /// Counts writes, so the player notices audio replaced under it.
    writes: AtomicU64,
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
            writes: AtomicU64::new(0),
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
        self.writes.fetch_add(1, Ordering::Release);
    }

    /// Writes `samples` from frame `offset` on, over older audio (a level streamed over the one
    /// before): where older audio follows them, their last `fade` frames crossfade into it
    /// (equal power), so the seam does not click. The next write should start `fade` frames
    /// early with the pure samples again. Worker only.
    pub fn write_seamed(&self, offset: usize, samples: &[f32], fade: usize) {
        let end = offset + samples.len();
        let seam = fade.min(samples.len());
        let older_follows = self.ready() > end;
        let older: Vec<f32> = (end - seam..end).map(|f| self.sample(f)).collect();
        self.write(offset, samples);
        if older_follows && seam > 0 {
            let blended: Vec<f32> = samples[samples.len() - seam..]
                .iter()
                .zip(&older)
                .enumerate()
                .map(|(i, (&new, &old))| {
                    let (to_old, to_new) = equal_power(i, seam);
                    new * to_new + old * to_old
                })
                .collect();
            self.write(end - seam, &blended);
        }
    }

    fn writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    pub fn sample(&self, frame: usize) -> f32 {
        self.samples
            .get(frame)
            .map_or(0.0, |s| f32::from_bits(s.load(Ordering::Relaxed)))
    }

    /// The sample at `frame` where it is written, else silence. While the take is still being
    /// written, its audio fades out over `fade` frames before the last frame written, so a
    /// playhead that catches up with the generation hears no click.
    fn ready_sample(&self, frame: i64, ready: i64, fade: usize) -> f32 {
        if !(0..ready).contains(&frame) {
            return 0.0;
        }
        let sample = self.sample(frame as usize);
        let before_ready = (ready - 1 - frame) as usize;
        if fade == 0 || before_ready >= fade || ready >= self.region() as i64 {
            return sample;
        }
        sample * equal_power(before_ready, fade).0
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
    ahead: Lookahead,
    /// The crossfade under way: its source and how far it got.
    fade_from: Box<[f32; MAX_FADE_FRAMES]>,
    fade_done: usize,
    fade_length: usize,
}

/// What the player was about to play: take samples from timeline frame `from` on, as read from
/// `source` (the buffer's address and its write count then).
struct Lookahead {
    samples: Box<[f32; 2 * MAX_FADE_FRAMES]>,
    from: i64,
    len: usize,
    source: (usize, u64),
}

impl Lookahead {
    fn new() -> Self {
        Self {
            samples: Box::new([0.0; 2 * MAX_FADE_FRAMES]),
            from: 0,
            len: 0,
            source: (0, 0),
        }
    }

    /// The `frames` frames from `position` on, if they are all here.
    fn covering(&self, position: i64, frames: usize) -> Option<&[f32]> {
        let first = usize::try_from(position - self.from).ok()?;
        self.samples[..self.len].get(first..first + frames)
    }
}

fn source_of(buffer: &Arc<TakeBuffer>) -> (usize, u64) {
    (Arc::as_ptr(buffer) as usize, buffer.writes())
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
            // Allocated here, on the host's thread, once.
            ahead: Lookahead::new(),
            fade_from: Box::new([0.0; MAX_FADE_FRAMES]),
            fade_done: 0,
            fade_length: 0,
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
    /// timeline position `position`, with fades of `fade` frames ([`fade_frames`]; 0: none).
    /// Frames outside the take's region are left untouched.
    pub fn play_into<C: AsMut<[f32]>>(
        &mut self,
        channels: &mut [C],
        position: i64,
        mode: PlaybackMode,
        fade: usize,
    ) {
        self.take_new_buffers();
        let Some(buffer) = self.current.clone() else {
            self.ahead.len = 0;
            return;
        };
        let fade = fade.min(MAX_FADE_FRAMES);
        let frames = channels.first_mut().map_or(0, |c| c.as_mut().len());
        self.notice_replaced_audio(&buffer, position, fade);
        let region = buffer.region() as i64;
        let ready = buffer.ready() as i64;
        let offset = position - buffer.timeline_start;
        // The block's frames that fall inside the region, as offsets into the take.
        let first = offset.max(0);
        let last = (offset + frames as i64).min(region);
        let last = match mode {
            PlaybackMode::Replace => last,
            // Mixing silence would still touch the track's bits (-0.0 + 0.0 is +0.0).
            PlaybackMode::Mix => last.min(ready.max(offset + self.fade_left() as i64)),
        };
        let edge = (fade as i64).min(region / 2) as usize;
        for take_frame in first..last {
            let frame = (take_frame - offset) as usize;
            let mut sample = buffer.ready_sample(take_frame, ready, fade);
            if frame < self.fade_left() {
                let (rising, falling) = equal_power(self.fade_done + frame, self.fade_length);
                sample = sample * rising + self.fade_from[self.fade_done + frame] * falling;
            }
            let into_region = take_frame as usize;
            let from_end = (region - 1 - take_frame) as usize;
            let (take_gain, track_gain) = if into_region < edge {
                equal_power(into_region, edge)
            } else if from_end < edge {
                equal_power(from_end, edge)
            } else {
                (1.0, 0.0)
            };
            for channel in channels.iter_mut() {
                let out = &mut channel.as_mut()[frame];
                *out = match mode {
                    // Inside the edges the take alone, exactly (whatever the track holds).
                    PlaybackMode::Replace if track_gain == 0.0 => sample,
                    PlaybackMode::Replace => sample * take_gain + *out * track_gain,
                    PlaybackMode::Mix => *out + sample,
                };
            }
        }
        self.fade_done = (self.fade_done + frames).min(self.fade_length);
        self.look_ahead(&buffer, position + frames as i64, fade);
    }

    /// Frames of the crossfade still to play.
    fn fade_left(&self) -> usize {
        self.fade_length - self.fade_done
    }

    /// Starts a crossfade when the audio under the playhead is not what the player was about
    /// to play (another buffer, or samples written over), and the transport moved on smoothly.
    fn notice_replaced_audio(&mut self, buffer: &Arc<TakeBuffer>, position: i64, fade: usize) {
        if fade == 0 || source_of(buffer) == self.ahead.source {
            return;
        }
        let Some(before) = self.ahead.covering(position, fade) else {
            return;
        };
        let ready = buffer.ready() as i64;
        let start = position - buffer.timeline_start;
        let replaced = before.iter().enumerate().any(|(i, &old)| {
            (buffer.ready_sample(start + i as i64, ready, fade) - old).abs() > 1e-6
        });
        if replaced {
            self.fade_from[..fade].copy_from_slice(before);
            self.fade_length = fade;
            self.fade_done = 0;
        }
    }

    /// Keeps what the next blocks will play, refreshed when the playhead nears its end or the
    /// audio changed.
    fn look_ahead(&mut self, buffer: &Arc<TakeBuffer>, next: i64, fade: usize) {
        let source = source_of(buffer);
        if source == self.ahead.source && self.ahead.covering(next, fade).is_some() {
            return;
        }
        let ready = buffer.ready() as i64;
        let start = next - buffer.timeline_start;
        let len = 2 * fade;
        for (i, slot) in self.ahead.samples[..len].iter_mut().enumerate() {
            let mut sample = buffer.ready_sample(start + i as i64, ready, fade);
            // A crossfade still under way is part of what comes next.
            let into_fade = self.fade_done + i;
            if into_fade < self.fade_length {
                let (rising, falling) = equal_power(into_fade, self.fade_length);
                sample = sample * rising + self.fade_from[into_fade] * falling;
            }
            *slot = sample;
        }
        self.ahead.from = next;
        self.ahead.len = len;
        self.ahead.source = source;
    }

    /// Real-time safe. Starts playing `buffer` if nothing plays yet: a restored project's take
    /// the worker loaded after activate (its own hand-over through the ring follows).
    pub fn start_with(&mut self, buffer: Arc<TakeBuffer>) {
        if self.current.is_none() {
            self.current = Some(buffer);
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
        player.play_into(&mut [&mut left, &mut right], position, mode, 0);
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
        player.play_into(&mut [&mut mono], 0, PlaybackMode::Mix, 0);
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

    const RATE: f32 = 48_000.0;

    fn sine(hz: f32, phase: f32, frames: usize) -> Vec<f32> {
        (0..frames)
            .map(|i| 0.5 * (std::f32::consts::TAU * hz * i as f32 / RATE + phase).sin())
            .collect()
    }

    /// The largest step between neighbouring samples of `audio` within `radius` of `at`.
    fn largest_jump(audio: &[f32], at: usize, radius: usize) -> f32 {
        let from = at.saturating_sub(radius).max(1);
        let to = (at + radius).min(audio.len());
        (from..to)
            .map(|i| (audio[i] - audio[i - 1]).abs())
            .fold(0.0, f32::max)
    }

    fn own_jump(audio: &[f32]) -> f32 {
        largest_jump(audio, audio.len() / 2, audio.len())
    }

    /// Plays `track` through `player` in blocks of `block` frames from timeline position 0,
    /// calling `between` before each block with its position.
    fn render(
        player: &mut TimelinePlayer,
        track: &[f32],
        block: usize,
        mode: PlaybackMode,
        mut between: impl FnMut(i64),
    ) -> Vec<f32> {
        let mut out = track.to_vec();
        for (n, chunk) in out.chunks_mut(block).enumerate() {
            let position = (n * block) as i64;
            between(position);
            player.play_into(&mut [chunk], position, mode, fade_frames(RATE));
        }
        out
    }

    #[test]
    fn replace_fades_between_track_and_take_at_the_region_edges() {
        // The take starts and ends half a wave away from the track: a hard cut jumps by ~1.
        let track = sine(440.0, 0.0, 12_000);
        let take = vec![-0.5; 4_800];
        // At the track's peaks (440 Hz peaks every 109.09 frames).
        let start = 1_091;
        let buffer = Arc::new(TakeBuffer::filled(1, start as i64, &take));
        let (_tx, mut player) = timeline(Some(buffer));
        let out = render(&mut player, &track, 333, PlaybackMode::Replace, |_| {});
        let own = own_jump(&track).max(own_jump(&take));
        let radius = 2 * fade_frames(RATE);
        for edge in [start, start + take.len()] {
            let jump = largest_jump(&out, edge, radius);
            assert!(
                jump <= 1.25 * own,
                "a jump of {jump} at {edge} (the audio's own: {own})"
            );
        }
        // Between the fades the take plays alone.
        assert_eq!(out[start + 1_000], -0.5);
    }

    #[test]
    fn a_level_written_over_the_playing_one_crossfades_into_it() {
        let frames = 24_000;
        let preview = sine(200.0, 0.0, frames);
        let finished = sine(200.0, std::f32::consts::PI, frames);
        let buffer = Arc::new(TakeBuffer::filled(1, 0, &preview));
        let (_tx, mut player) = timeline(Some(buffer.clone()));
        let silence = vec![0.0; frames];
        let switch = 10_007;
        let out = render(&mut player, &silence, 64, PlaybackMode::Mix, |position| {
            if position == (switch / 64 * 64) as i64 {
                buffer.write(0, &finished);
            }
        });
        let own = own_jump(&preview);
        let jump = largest_jump(&out, switch, 4 * fade_frames(RATE));
        assert!(
            jump <= 1.25 * own,
            "a jump of {jump} (the audio's own: {own})"
        );
        // After the crossfade, the finished level alone.
        assert_eq!(out[switch + 1_000], finished[switch + 1_000]);
    }

    #[test]
    fn a_new_buffer_for_the_same_take_crossfades_into_it() {
        let frames = 24_000;
        let preview = sine(200.0, 0.0, frames);
        let finished = sine(200.0, std::f32::consts::PI, frames);
        let first = Arc::new(TakeBuffer::filled(1, 0, &preview));
        let second = Arc::new(TakeBuffer::filled(1, 0, &finished));
        let (mut tx, mut player) = timeline(Some(first));
        let silence = vec![0.0; frames];
        let switch = 9_999;
        let out = render(&mut player, &silence, 7, PlaybackMode::Mix, |position| {
            if position == (switch / 7 * 7) as i64 {
                assert!(tx.send(Some(second.clone())));
            }
        });
        let own = own_jump(&preview);
        let jump = largest_jump(&out, switch, 4 * fade_frames(RATE));
        assert!(
            jump <= 1.25 * own,
            "a jump of {jump} (the audio's own: {own})"
        );
        assert_eq!(out[switch + 1_000], finished[switch + 1_000]);
    }

    #[test]
    fn a_playhead_that_catches_up_with_the_generation_fades_out_and_back_in() {
        let frames = 24_000;
        let take = sine(200.0, 0.0, frames);
        let buffer = Arc::new(TakeBuffer::new(1, 0, frames, frames));
        let written = 10_000;
        buffer.write(0, &take[..written]);
        let (_tx, mut player) = timeline(Some(buffer.clone()));
        let silence = vec![0.0; frames];
        let arrives = 14_000;
        let out = render(
            &mut player,
            &silence,
            64,
            PlaybackMode::Replace,
            |position| {
                if position == (arrives / 64 * 64) as i64 {
                    buffer.write(written, &take[written..]);
                }
            },
        );
        let own = own_jump(&take);
        let radius = 2 * fade_frames(RATE);
        for at in [written, arrives] {
            let jump = largest_jump(&out, at, radius);
            assert!(
                jump <= 1.25 * own,
                "a jump of {jump} at {at} (the audio's own: {own})"
            );
        }
        // Between them, silence; long after, the take.
        assert_eq!(out[12_000], 0.0);
        assert_eq!(out[20_000], take[20_000]);
    }

    #[test]
    fn a_level_streamed_over_the_one_before_meets_it_without_a_click() {
        let frames = 24_000;
        let before = sine(200.0, 0.0, frames);
        let streamed = sine(200.0, std::f32::consts::PI, frames);
        let buffer = TakeBuffer::filled(1, 0, &before);
        let fade = fade_frames(RATE);
        // The first chunk ends at the seam; the second starts `fade` frames early, pure.
        buffer.write_seamed(0, &streamed[..5_000], fade);
        let seam = 5_000;
        let played: Vec<f32> = (0..frames).map(|f| buffer.sample(f)).collect();
        let own = own_jump(&before);
        let jump = largest_jump(&played, seam, 2 * fade);
        assert!(
            jump <= 1.25 * own,
            "a jump of {jump} (the audio's own: {own})"
        );
        buffer.write_seamed(seam - fade, &streamed[seam - fade..12_000], fade);
        assert_eq!(buffer.sample(seam - 1), streamed[seam - 1]);
        // Once nothing older follows (the level is done), the end is not blended.
        buffer.write_seamed(12_000 - fade, &streamed[12_000 - fade..], fade);
        assert_eq!(buffer.sample(frames - 1), streamed[frames - 1]);
    }
}
