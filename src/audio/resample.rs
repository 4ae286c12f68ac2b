//! Sample-rate conversion (rubato's FFT resampler: exact for integer rate ratios, which every
//! common rate pair is).

use rubato::{FftFixedIn, Resampler};

use super::AudioError;

const CHUNK_FRAMES: usize = 1024;

/// Resamples mono audio; the output has `round(len * to / from)` samples, aligned with the input
/// (the resampler's delay is removed).
pub fn resample_mono(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    let failed = |reason: String| AudioError::Resample { from, to, reason };
    let mut resampler = FftFixedIn::<f32>::new(from as usize, to as usize, CHUNK_FRAMES, 2, 1)
        .map_err(|e| failed(e.to_string()))?;
    let wanted = (input.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let delay = resampler.output_delay();
    let mut output = Vec::with_capacity(wanted + delay + CHUNK_FRAMES * 4);
    let mut position = 0;
    while output.len() < wanted + delay {
        let needed = resampler.input_frames_next();
        let chunk = if position < input.len() {
            let end = (position + needed).min(input.len());
            let slice = &input[position..end];
            position = end;
            if slice.len() == needed {
                resampler.process(&[slice], None)
            } else {
                resampler.process_partial(Some(&[slice]), None)
            }
        } else {
            // Flush what the resampler still holds.
            resampler.process_partial::<&[f32]>(None, None)
        }
        .map_err(|e| failed(e.to_string()))?;
        output.extend_from_slice(&chunk[0]);
    }
    output.drain(..delay);
    output.truncate(wanted);
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, seconds: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n)
            .map(|i| (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn a_sine_keeps_its_pitch_phase_and_length_across_rates() {
        for from in [8_000, 22_050, 48_000, 96_000, 192_000] {
            let input = sine(from, 440.0, 0.5);
            let output = resample_mono(&input, from, 44_100).unwrap();
            let expected = sine(44_100, 440.0, 0.5);
            assert!(
                output.len().abs_diff(expected.len()) <= 1,
                "{from}: {}",
                output.len()
            );
            // Away from the edges the resampled sine is the sine at the new rate.
            let worst = output[2000..20000]
                .iter()
                .zip(&expected[2000..20000])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // Some rate pairs leave a fraction of a sample of delay (under 12 us at 44.1 kHz),
            // which at 440 Hz and amplitude 0.5 is at most about 0.016.
            assert!(worst < 0.02, "{from} Hz: off by {worst}");
        }
    }
}
