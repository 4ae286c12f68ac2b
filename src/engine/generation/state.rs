//! What a generation is and how far it got: everything a checkpoint saves, and the checks that
//! it fits a model before anything runs.

use serde::{Deserialize, Serialize};

use super::engine::Engine;
use super::plan::{LevelPlan, plan};
use super::settings::Settings;
use crate::audio::{DecodedAudio, prepare_prompt};
use crate::engine::error::EngineError;
use crate::engine::windows::LevelCheckpoint;
use crate::jukebox::Manifest;

/// The serialisable state of a generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationState {
    pub settings: Settings,
    /// Prompt length in samples at the model's rate (for a take continued from a point in it,
    /// the song up to that point).
    pub prompt_samples: usize,
    /// The prompt's codes at every level, one row shared by every take. Every level is kept
    /// (encoding is cheap), so a preview can be upsampled later.
    #[serde(with = "super::codes_format::rows")]
    pub prompt_codes: Vec<Vec<i64>>,
    /// The take number of each batch row: `0..takes`, or the takes chosen for an upsample.
    /// Events, file names and the uniform streams use these numbers.
    pub take_numbers: Vec<usize>,
    /// Codes of every row, by level, for the levels already finished.
    #[serde(with = "super::codes_format::levels")]
    pub finished: Vec<Option<Vec<Vec<i64>>>>,
    /// The level under way (the target level once `done`).
    pub level: usize,
    /// Where that level stands, if it has started.
    pub current: Option<LevelCheckpoint>,
    pub done: bool,
    /// Whatever the caller wants back on resume (the CLI keeps its output folder here).
    #[serde(default)]
    pub client: serde_json::Value,
}

impl GenerationState {
    /// A generation not started yet: the prompt brought to the model's rate and encoded at
    /// every level.
    pub fn start(
        engine: &mut Engine,
        prompt: &DecodedAudio,
        settings: Settings,
    ) -> Result<Self, EngineError> {
        let manifest = &engine.manifest;
        let levels = manifest.vqvae.levels;
        let top_hop = manifest.vqvae.hop_lengths[levels - 1];
        let samples = prepare_prompt(prompt, manifest.audio.sample_rate, top_hop)?;
        // Refuse bad settings before spending time on encoding.
        plan(manifest, &settings, samples.len())?;
        let prompt_codes = (0..levels)
            .map(|level| engine.vqvae.encode(level, &samples))
            .collect::<Result<_, _>>()?;
        Ok(Self::unstarted(settings, samples.len(), prompt_codes))
    }

    /// A generation of `prompt_codes` (every level; `prompt_samples` long at the model's rate)
    /// with nothing sampled yet: takes numbered from 0, the top level next, no client data.
    pub(super) fn unstarted(
        settings: Settings,
        prompt_samples: usize,
        prompt_codes: Vec<Vec<i64>>,
    ) -> Self {
        let levels = prompt_codes.len();
        Self {
            take_numbers: (0..settings.takes).collect(),
            finished: vec![None; levels],
            level: levels - 1,
            current: None,
            done: false,
            prompt_samples,
            prompt_codes,
            settings,
            client: serde_json::Value::Null,
        }
    }

    /// Makes `self` a copy of `source` but its level under way (`current`, left as it is),
    /// reusing `self`'s buffers: no fresh pages for the codes.
    pub(super) fn refresh_from(&mut self, source: &Self) {
        self.settings.clone_from(&source.settings);
        self.prompt_samples = source.prompt_samples;
        self.prompt_codes.clone_from(&source.prompt_codes);
        self.take_numbers.clone_from(&source.take_numbers);
        self.finished.clone_from(&source.finished);
        self.level = source.level;
        self.done = source.done;
        self.client.clone_from(&source.client);
    }

    /// Checks that the state is whole: as many levels everywhere, one take number per take,
    /// every finished level with a row per take. Follow-ups rely on it before indexing.
    pub fn check_shape(&self) -> Result<(), EngineError> {
        let levels = self.prompt_codes.len();
        if levels == 0 || self.finished.len() != levels || self.level >= levels {
            return Err(broken(format!(
                "{levels} prompt levels, {} finished levels, level {} under way",
                self.finished.len(),
                self.level
            )));
        }
        let takes = self.settings.takes;
        let mut numbers = self.take_numbers.clone();
        numbers.sort_unstable();
        numbers.dedup();
        if self.take_numbers.len() != takes || numbers.len() != takes {
            return Err(broken(format!(
                "{takes} takes but take numbers {:?}",
                self.take_numbers
            )));
        }
        if let Some(level) = self
            .finished
            .iter()
            .position(|f| f.as_ref().is_some_and(|rows| rows.len() != takes))
        {
            return Err(broken(format!("level {level} does not have {takes} takes")));
        }
        Ok(())
    }

    /// Checks that the state is whole and fits `manifest`, and works out every level's plan.
    pub(super) fn plans(&self, manifest: &Manifest) -> Result<Vec<LevelPlan>, EngineError> {
        self.check_shape()?;
        let levels = manifest.vqvae.levels;
        if self.prompt_codes.len() != levels {
            return Err(EngineError::InvalidInput(format!(
                "the generation does not fit this model: it has {} levels, the model {levels}",
                self.prompt_codes.len()
            )));
        }
        if self.settings.target_level > self.level {
            return Err(broken(format!(
                "level {} under way, target {}",
                self.level, self.settings.target_level
            )));
        }
        plan(manifest, &self.settings, self.prompt_samples)
    }
}

fn broken(reason: String) -> EngineError {
    EngineError::InvalidInput(format!("the generation state is inconsistent: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> GenerationState {
        let mut settings = Settings::new(1.0, 1);
        settings.takes = 2;
        GenerationState {
            settings,
            prompt_samples: 128,
            prompt_codes: vec![vec![1; 16], vec![1; 4], vec![1]],
            take_numbers: vec![0, 1],
            finished: vec![None, None, Some(vec![vec![1; 3], vec![2; 3]])],
            level: 1,
            current: None,
            done: false,
            client: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_broken_state_is_refused_before_anything_indexes_it() {
        assert!(state().check_shape().is_ok());
        let mut s = state();
        s.finished.pop();
        assert!(s.check_shape().is_err());
        let mut s = state();
        s.take_numbers = vec![1, 1];
        assert!(s.check_shape().is_err());
        let mut s = state();
        s.finished[2] = Some(vec![vec![1; 3]]);
        assert!(s.check_shape().is_err());
        let mut s = state();
        s.level = 3;
        assert!(s.check_shape().is_err());
    }
}
