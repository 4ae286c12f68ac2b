//! What a level costs in time on this machine, from the speed its last generations measured:
//! the editor says it before the user starts a Continue or an Upsample.

use serde::{Deserialize, Serialize};

use super::session::ModelInfo;

/// Jukebox's three levels: 0 (finest) to 2 (top prior).
pub const LEVELS: usize = 3;

/// The last measured sampling speed per level (index = level), saved with the project.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LevelSpeeds {
    pub levels: [Option<MeasuredSpeed>; LEVELS],
}

/// Codes per second per take (every take of a batch advances one code per step), measured at
/// a batch of `batch` takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeasuredSpeed {
    pub codes_per_second: f64,
    pub batch: usize,
}

impl LevelSpeeds {
    /// Remembers a level's speed; a rate that is not a positive number is ignored.
    pub fn record(&mut self, level: usize, codes_per_second: f64, batch: usize) {
        if let Some(slot) = self.levels.get_mut(level)
            && codes_per_second.is_finite()
            && codes_per_second > 0.0
        {
            *slot = Some(MeasuredSpeed {
                codes_per_second,
                batch: batch.max(1),
            });
        }
    }

    /// Seconds to sample `audio_seconds` of every take at `level`, or `None` before that level
    /// was ever measured. The speed is per take at the measured batch; a different batch costs
    /// about as much per step on a GPU and more on the CPU, so this is a floor there.
    pub fn estimate_seconds(
        &self,
        model: &ModelInfo,
        level: usize,
        audio_seconds: f64,
    ) -> Option<f64> {
        let speed = (*self.levels.get(level)?)?;
        let hop = *model.hop_lengths.get(level)? as f64;
        let codes = audio_seconds.max(0.0) * f64::from(model.sample_rate) / hop;
        Some(codes / speed.codes_per_second)
    }
}

/// A model with Jukebox's rates (44.1 kHz; hops 8, 32, 128) and nothing else, for tests.
#[cfg(test)]
pub(crate) fn jukebox_rates() -> ModelInfo {
    ModelInfo {
        dir: "/m".into(),
        name: "m".into(),
        artists: vec![],
        genres: vec![],
        max_genres: 1,
        has_lyrics: false,
        max_song_seconds: 600.0,
        device: "CPU".into(),
        sample_rate: 44100,
        hop_lengths: vec![8, 32, 128],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelInfo {
        jukebox_rates()
    }

    #[test]
    fn an_estimate_is_the_level_codes_over_the_measured_speed() {
        let mut speeds = LevelSpeeds::default();
        assert_eq!(speeds.estimate_seconds(&model(), 2, 10.0), None);
        speeds.record(2, 344.53125, 3);
        // 10 s at level 2: 44100 * 10 / 128 = 3445.3 codes, at 344.5 codes/s: 10 s.
        let estimate = speeds.estimate_seconds(&model(), 2, 10.0).unwrap();
        assert!((estimate - 10.0).abs() < 1e-9, "{estimate}");
        speeds.record(0, f64::NAN, 1);
        assert_eq!(speeds.levels[0], None);
    }
}
