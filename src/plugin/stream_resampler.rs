//! Streamed audio from the model's rate to the host's, chunk by chunk as the engine sends it.
//!
//! rubato's FFT resampler delays its output by `output_delay()` frames; they are dropped, so
//! output frame `k` is at time `k / to` from the first input frame, like
//! [`crate::audio::resample_mono`] on the whole signal.

use rubato::{FftFixedIn, Resampler};

use crate::audio::AudioError;

const CHUNK_FRAMES: usize = 1024;

pub struct StreamResampler {
    /// `None` when both rates are equal: samples pass unchanged.
    inner: Option<FftFixedIn<f32>>,
    from: u32,
    to: u32,
    /// Input waiting for a whole chunk.
    pending: Vec<f32>,
    /// Output frames still to drop (the resampler's delay).
    skip: usize,
}

impl StreamResampler {
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        let inner = if from == to {
            None
        } else {
            let resampler = FftFixedIn::<f32>::new(from as usize, to as usize, CHUNK_FRAMES, 2, 1)
                .map_err(|e| AudioError::Resample {
                    from,
                    to,
                    reason: e.to_string(),
                })?;
            Some(resampler)
        };
        let skip = inner.as_ref().map_or(0, Resampler::output_delay);
        Ok(Self {
            inner,
            from,
            to,
            pending: Vec::new(),
            skip,
        })
    }

    /// Feeds `input`; appends to `out` whatever output is complete.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let Some(resampler) = &mut self.inner else {
            out.extend_from_slice(input);
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let mut used = 0;
        while self.pending.len() - used >= resampler.input_frames_next() {
            let needed = resampler.input_frames_next();
            let chunk = resampler
                .process(&[&self.pending[used..used + needed]], None)
                .map_err(|e| AudioError::Resample {
                    from: self.from,
                    to: self.to,
                    reason: e.to_string(),
                })?;
            used += needed;
            let dropped = self.skip.min(chunk[0].len());
            self.skip -= dropped;
            out.extend_from_slice(&chunk[0][dropped..]);
        }
        self.pending.drain(..used);
        Ok(())
    }
}

/// Output frames for `frames` input frames at `from`, at `to` (rounded to nearest).
pub fn convert_frames(frames: i64, from: f64, to: f64) -> i64 {
    (frames as f64 * to / from).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::resample_mono;

    fn sine(rate: u32, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                (std::f64::consts::TAU * 440.0 * i as f64 / f64::from(rate)).sin() as f32 * 0.5
            })
            .collect()
    }

    #[test]
    fn equal_rates_pass_samples_unchanged() {
        let mut resampler = StreamResampler::new(44_100, 44_100).unwrap();
        let mut out = Vec::new();
        resampler.push(&[0.25, -0.0, 1e-40], &mut out).unwrap();
        assert_eq!(
            out.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
            [0.25f32, -0.0, 1e-40].map(f32::to_bits)
        );
    }

    #[test]
    fn streamed_output_has_no_delay_and_matches_the_whole_signal_resampled() {
        for to in [48_000, 96_000, 22_050, 88_200] {
            let input = sine(44_100, 1.0);
            let mut resampler = StreamResampler::new(44_100, to).unwrap();
            let mut streamed = Vec::new();
            // Chunks of uneven sizes, as the engine's are not multiples of anything.
            for chunk in input.chunks(3001) {
                resampler.push(chunk, &mut streamed).unwrap();
            }
            let whole = resample_mono(&input, 44_100, to).unwrap();
            let expected = sine(to, 1.0);
            assert!(
                streamed.len() > whole.len() * 9 / 10,
                "{to}: {}",
                streamed.len()
            );
            let margin = (to / 20) as usize;
            let worst = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .skip(margin)
                    .take(a.len().min(b.len()).saturating_sub(2 * margin))
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max)
            };
            // Against the analytic sine at the new rate: a delay of even one output frame
            // would be off by about 2*pi*440/to*0.5 (0.03 at 48 kHz).
            assert!(
                worst(&streamed, &expected) < 2e-3,
                "{to}: {}",
                worst(&streamed, &expected)
            );
            assert!(
                worst(&streamed, &whole) < 2e-3,
                "{to}: {}",
                worst(&streamed, &whole)
            );
        }
    }

    #[test]
    fn frames_convert_between_rates() {
        assert_eq!(convert_frames(44_100, 44_100.0, 48_000.0), 48_000);
        assert_eq!(convert_frames(147, 44_100.0, 48_000.0), 160);
        assert_eq!(convert_frames(-441, 44_100.0, 48_000.0), -480);
    }
}
