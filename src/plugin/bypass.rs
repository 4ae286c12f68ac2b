//! The host-visible bypass (`bypass`: VST3 `kIsBypass`, CLAP's bypass flag): what a DAW's
//! bypass button acts on.
//!
//! Contract: bypassed, the output is the input, bit for bit (the block is not touched at all).
//! At a switch the output crossfades linearly between the processed and the bypassed signal
//! over [`BYPASS_FADE_SECONDS`], so the switch does not click; a linear fade keeps the level of
//! the two (mostly identical) signals. Capture goes on while bypassed: recording the input
//! changes nothing the host hears. Real-time safe: the dry copy a crossfade needs is
//! allocated at activate for the largest block.

/// Length of the crossfade at a bypass switch.
pub const BYPASS_FADE_SECONDS: f64 = 0.005;
/// Channels the plugin processes at most (stereo).
const MAX_CHANNELS: usize = 2;

/// What `process()` does with a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BypassBlock {
    /// Process as usual.
    Process,
    /// Bypassed: leave the block as it is.
    PassThrough,
    /// A switch is under way: the input was kept; process, then call [`Bypass::crossfade`].
    Crossfade,
}

pub struct Bypass {
    /// The block's input during a crossfade, one buffer per channel (`max_block` frames).
    dry: [Vec<f32>; MAX_CHANNELS],
    /// Where the fade is: 0 processed, `fade` bypassed.
    step: usize,
    fade: usize,
    /// Whether the last block asked to be bypassed.
    target: bool,
}

impl Bypass {
    /// Allocates for `max_block` frames; starts in the state `bypassed` (no fade at activate).
    pub fn new(sample_rate: f32, max_block: usize, bypassed: bool) -> Self {
        let fade = ((BYPASS_FADE_SECONDS * f64::from(sample_rate)).round() as usize).max(1);
        Self {
            dry: std::array::from_fn(|_| vec![0.0; max_block]),
            step: if bypassed { fade } else { 0 },
            fade,
            target: bypassed,
        }
    }

    /// Real-time safe. Call before the block is processed (its samples still the input).
    pub fn begin(&mut self, bypassed: bool, channels: &[&mut [f32]]) -> BypassBlock {
        self.target = bypassed;
        match (bypassed, self.step) {
            (true, step) if step == self.fade => BypassBlock::PassThrough,
            (false, 0) => BypassBlock::Process,
            _ => {
                for (dry, channel) in self.dry.iter_mut().zip(channels) {
                    let n = channel.len().min(dry.len());
                    dry[..n].copy_from_slice(&channel[..n]);
                }
                BypassBlock::Crossfade
            }
        }
    }

    /// Real-time safe. After a [`BypassBlock::Crossfade`] block was processed: mixes the kept
    /// input in, moving one step towards the target per frame.
    pub fn crossfade(&mut self, channels: &mut [&mut [f32]]) {
        let frames = channels.first().map_or(0, |c| c.len());
        let start = self.step;
        for (channel, dry) in channels.iter_mut().zip(&self.dry) {
            let mut step = start;
            for (out, &dry) in channel.iter_mut().zip(dry).take(frames) {
                step = if self.target {
                    (step + 1).min(self.fade)
                } else {
                    step.saturating_sub(1)
                };
                *out = if step == self.fade {
                    dry
                } else if step == 0 {
                    *out
                } else {
                    let t = step as f32 / self.fade as f32;
                    *out * (1.0 - t) + dry * t
                };
            }
        }
        self.step = if self.target {
            (start + frames).min(self.fade)
        } else {
            start.saturating_sub(frames)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `blocks` of `n` frames through a bypass switched to `bypassed[i]`, the processing
    /// adding 1.0 to every sample; returns the output.
    fn run(bypass: &mut Bypass, bypassed: &[bool], n: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for (b, &on) in bypassed.iter().enumerate() {
            let input: Vec<f32> = (0..n).map(|i| ((b * n + i) as f32 * 0.1).sin()).collect();
            let mut left = input.clone();
            let mut right = input.clone();
            let mut channels = [&mut left[..], &mut right[..]];
            match bypass.begin(on, &channels) {
                BypassBlock::PassThrough => {}
                BypassBlock::Process => channels
                    .iter_mut()
                    .for_each(|c| c.iter_mut().for_each(|s| *s += 1.0)),
                BypassBlock::Crossfade => {
                    channels
                        .iter_mut()
                        .for_each(|c| c.iter_mut().for_each(|s| *s += 1.0));
                    bypass.crossfade(&mut channels);
                }
            }
            assert_eq!(left, right);
            out.extend(left);
        }
        out
    }

    #[test]
    fn bypassed_blocks_are_the_input_and_a_switch_fades_without_a_step() {
        // 48 kHz: a 240-frame fade; blocks of 100.
        let mut bypass = Bypass::new(48_000.0, 100, false);
        let pattern = [false, true, true, true, true, false, false, false, false];
        let out = run(&mut bypass, &pattern, 100);
        let input = |f: usize| (f as f32 * 0.1).sin();
        // Processed before the switch, bypassed (bit for bit) once the fade is over.
        assert_eq!(out[99], input(99) + 1.0);
        for (f, out) in out.iter().enumerate().take(500).skip(340) {
            assert_eq!(out.to_bits(), input(f).to_bits(), "frame {f}");
        }
        // Processed again 240 frames after switching back.
        for (f, &out) in out.iter().enumerate().take(900).skip(740) {
            assert_eq!(out, input(f) + 1.0, "frame {f}");
        }
        // No step larger than the processing's own offset spread over the fade.
        for f in 1..out.len() {
            let jump = (out[f] - out[f - 1]) - (input(f) - input(f - 1));
            assert!(jump.abs() <= 1.0 / 240.0 + 1e-5, "frame {f}: {jump}");
        }
    }
}
