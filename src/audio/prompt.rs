//! Turning whatever the user gives as a prompt into what the model reads: mono, the model's
//! sample rate, a whole number of top-level hops, ending exactly where the user's audio ends
//! (the continuation starts there).

use super::{AudioError, DecodedAudio, resample_mono};

/// Seconds of a prompt file that are kept by default (its end: the continuation follows it),
/// in the plugin and the CLI alike. More than the top prior's ~24 s of context, so nothing it
/// could hear is lost, and a whole song as a prompt costs no memory or time for nothing.
pub const PROMPT_KEEP_SECONDS: f64 = 40.0;

/// Peak below which a prompt counts as silence (-120 dBFS): nothing for Jukebox to continue,
/// and usually a sign that no audio reached Encore.
const SILENCE_PEAK: f32 = 1e-6;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("the prompt is empty: record or choose some audio first")]
    Empty,
    #[error(
        "the prompt is too short: {samples} samples at the model's rate, at least {min} needed"
    )]
    TooShort { samples: usize, min: usize },
    #[error("the prompt is silent: check that audio reaches Encore")]
    Silent,
    #[error("the prompt contains invalid samples (NaN or infinite) from sample {index} on")]
    NotFinite { index: usize },
    #[error(transparent)]
    Audio(#[from] AudioError),
}

/// Mono at `model_rate`, trimmed at the start to a multiple of `hop` samples.
pub fn prepare_prompt(
    audio: &DecodedAudio,
    model_rate: u32,
    hop: usize,
) -> Result<Vec<f32>, PromptError> {
    let mono = audio.to_mono();
    if mono.is_empty() {
        return Err(PromptError::Empty);
    }
    if let Some(index) = mono.iter().position(|s| !s.is_finite()) {
        return Err(PromptError::NotFinite { index });
    }
    let mut samples = resample_mono(&mono, audio.sample_rate, model_rate)?;
    if samples.len() < hop {
        return Err(PromptError::TooShort {
            samples: samples.len(),
            min: hop,
        });
    }
    if samples.iter().all(|s| s.abs() < SILENCE_PEAK) {
        return Err(PromptError::Silent);
    }
    let excess = samples.len() % hop;
    samples.drain(..excess);
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(rate: u32, channels: Vec<Vec<f32>>) -> DecodedAudio {
        DecodedAudio {
            sample_rate: rate,
            channels,
        }
    }

    fn tone(rate: u32, seconds: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize)
            .map(|i| (i as f32 * 0.05).sin() * 0.3)
            .collect()
    }

    #[test]
    fn bad_prompts_are_typed_errors() {
        assert!(matches!(
            prepare_prompt(&audio(44_100, vec![vec![]]), 44_100, 128),
            Err(PromptError::Empty)
        ));
        assert!(matches!(
            prepare_prompt(&audio(44_100, vec![vec![0.5]]), 44_100, 128),
            Err(PromptError::TooShort {
                samples: 1,
                min: 128
            })
        ));
        assert!(matches!(
            prepare_prompt(&audio(44_100, vec![vec![0.0; 44_100]]), 44_100, 128),
            Err(PromptError::Silent)
        ));
        let mut nan = tone(44_100, 0.1);
        nan[100] = f32::NAN;
        assert!(matches!(
            prepare_prompt(&audio(44_100, vec![nan]), 44_100, 128),
            Err(PromptError::NotFinite { index: 100 })
        ));
    }

    #[test]
    fn any_rate_and_channel_count_becomes_whole_hops_of_mono_at_the_model_rate() {
        for rate in [8_000, 44_100, 48_000, 192_000] {
            let left = tone(rate, 1.0);
            let right: Vec<f32> = left.iter().map(|s| -s * 0.5).collect();
            let prompt = prepare_prompt(&audio(rate, vec![left, right]), 44_100, 128).unwrap();
            assert_eq!(prompt.len() % 128, 0, "{rate}");
            assert!(
                prompt.len().abs_diff(44_100) < 128,
                "{rate}: {}",
                prompt.len()
            );
        }
    }

    #[test]
    fn trimming_keeps_the_end_of_the_prompt() {
        let samples: Vec<f32> = (0..300).map(|i| i as f32 / 1000.0 + 0.01).collect();
        let prompt = prepare_prompt(&audio(44_100, vec![samples.clone()]), 44_100, 128).unwrap();
        assert_eq!(prompt, samples[44..]);
    }
}
