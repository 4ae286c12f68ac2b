//! New generations made from a finished one, as checkpoints ready to run:
//! - [`Checkpoint::upsample`]: a preview taken down to a finer level later, all its takes or a
//!   chosen few, giving the codes one uninterrupted run would have given (the uniform streams
//!   are per level and take, see `engine::streams`);
//! - [`Checkpoint::continue_take`]: a take kept up to a point and sampled on from there with
//!   new settings (another seed re-generates the rest; a point at the end extends the take);
//! - [`Checkpoint::restart`]: the same prompt asked for again with new settings (a retry with
//!   another seed);
//! - [`Checkpoint::stopped_after`]: a generation stopped before its target, made a finished one
//!   at the finest level it reached (so its takes can be upsampled later like a preview's).

use serde::{Deserialize, Serialize};

use super::checkpoint::{CHECKPOINT_VERSION, Checkpoint};
use super::settings::Settings;
use super::state::GenerationState;
use crate::engine::error::EngineError;
use crate::jukebox::Manifest;

/// Which part of a take [`Checkpoint::continue_take`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TakeCut {
    /// The take's number (as in its events and file names).
    pub take: usize,
    /// Where the kept part ends, in seconds from the start of the song (the prompt's start),
    /// rounded down to a whole top-level code; `None`: the end of the take.
    pub at_seconds: Option<f64>,
}

/// Where a cut falls in a take, in samples from the song's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakeSpan {
    /// The cut, rounded down to a whole top-level code.
    pub at: usize,
    /// The end of the take.
    pub end: usize,
}

fn invalid(message: String) -> EngineError {
    EngineError::InvalidInput(message)
}

impl Checkpoint {
    /// This finished generation reopened with `target_level` as its new target: the levels
    /// between are sampled from the finished ones. `takes`: the take numbers to upsample
    /// (empty: all of them); they keep their numbers.
    pub fn upsample(mut self, target_level: usize, takes: &[usize]) -> Result<Self, EngineError> {
        self.state.check_shape()?;
        let state = &mut self.state;
        if !state.done {
            return Err(invalid(
                "the generation has not finished yet: resume it before upsampling".into(),
            ));
        }
        let reached = state.settings.target_level;
        if target_level >= reached {
            return Err(invalid(format!(
                "the takes are at level {reached} already: upsample to a lower level (finer; 0 \
                 is full quality)"
            )));
        }
        let missing = |l: usize| state.prompt_codes.get(l).is_none_or(Vec::is_empty);
        if let Some(level) = (target_level..reached).find(|&l| missing(l)) {
            return Err(invalid(format!(
                "the checkpoint has no prompt codes at level {level}: it cannot be upsampled"
            )));
        }
        let rows = rows_of(&state.take_numbers, takes)?;
        for rows_at_level in state.finished.iter_mut().flatten() {
            *rows_at_level = rows.iter().map(|&r| rows_at_level[r].clone()).collect();
        }
        state.take_numbers = rows.iter().map(|&r| state.take_numbers[r]).collect();
        state.settings.takes = rows.len();
        state.settings.target_level = target_level;
        state.level = reached - 1;
        state.current = None;
        state.done = false;
        Ok(self)
    }

    /// A new generation that keeps take `cut.take` up to `cut.at_seconds` at every level it
    /// has (levels it has not reached keep the original prompt) and samples `settings.seconds`
    /// after that point with `settings` (seed, takes, target level...). Its takes are numbered
    /// from 0; its client data is empty. The kept part is fed as codes: where 1b_lyrics had
    /// sampled a lyric id at a music position (stored as code 0), the new windows see code 0.
    pub fn continue_take(
        &self,
        manifest: &Manifest,
        cut: TakeCut,
        settings: Settings,
    ) -> Result<Self, EngineError> {
        let name = &manifest.model.name;
        if &self.model_name != name {
            return Err(invalid(format!(
                "the checkpoint was made with model {:?}, not {name:?}",
                self.model_name
            )));
        }
        let state = &self.state;
        let levels = manifest.vqvae.levels;
        if state.prompt_codes.len() != levels {
            return Err(invalid(format!(
                "the checkpoint has {} levels, the model {levels}",
                state.prompt_codes.len()
            )));
        }
        let hops = &manifest.vqvae.hop_lengths;
        let row = take_row(&state.take_numbers, cut.take)?;
        let TakeSpan { at, .. } = self.take_span(manifest, cut)?;
        let prompt_codes = (0..levels)
            .map(|level| {
                let keep = at / hops[level];
                match &state.finished[level] {
                    Some(rows) => rows[row][..keep.min(rows[row].len())].to_vec(),
                    None => {
                        let prompt = &state.prompt_codes[level];
                        prompt[..keep.min(prompt.len())].to_vec()
                    }
                }
            })
            .collect();
        Ok(self.successor(GenerationState::unstarted(settings, at, prompt_codes)))
    }

    /// A new generation of the same prompt (at every level, as this one had it) with
    /// `settings`: nothing sampled yet, takes numbered from 0, no client data. With another
    /// seed it is a retry; with the same seed it gives this generation's codes again.
    pub fn restart(&self, settings: Settings) -> Result<Self, EngineError> {
        self.state.check_shape()?;
        let state = &self.state;
        Ok(self.successor(GenerationState::unstarted(
            settings,
            state.prompt_samples,
            state.prompt_codes.clone(),
        )))
    }

    /// A checkpoint of the same model holding `state`.
    fn successor(&self, state: GenerationState) -> Self {
        Self {
            format_version: CHECKPOINT_VERSION,
            model_dir: self.model_dir.clone(),
            model_name: self.model_name.clone(),
            state,
        }
    }

    /// The finest level this generation finished (`None`: none yet).
    pub fn finest_finished_level(&self) -> Option<usize> {
        self.state.finished.iter().position(Option::is_some)
    }

    /// This generation, stopped before its target, as a finished one whose target was
    /// `level` (a level it finished): what it sampled below is dropped, so its takes can be
    /// upsampled later from there with the codes one run would have given.
    pub fn stopped_after(mut self, level: usize) -> Result<Self, EngineError> {
        self.state.check_shape()?;
        let state = &mut self.state;
        if state.finished.get(level).is_none_or(Option::is_none) {
            return Err(invalid(format!(
                "level {level} is not finished: the generation cannot stop after it"
            )));
        }
        for finer in &mut state.finished[..level] {
            *finer = None;
        }
        state.settings.target_level = level;
        state.level = level;
        state.current = None;
        state.done = true;
        Ok(self)
    }

    /// Where `cut` falls in its take, checked: inside the take, keeping at least one code.
    pub fn take_span(&self, manifest: &Manifest, cut: TakeCut) -> Result<TakeSpan, EngineError> {
        self.state.check_shape()?;
        let state = &self.state;
        let levels = manifest.vqvae.levels;
        let top_hop = manifest.vqvae.hop_lengths[levels - 1];
        let row = take_row(&state.take_numbers, cut.take)?;
        let Some(Some(top)) = state.finished.get(levels - 1) else {
            return Err(invalid(format!(
                "take {} has no finished top level yet: resume the generation first",
                cut.take
            )));
        };
        let rate = f64::from(manifest.audio.sample_rate);
        let end = top[row].len() * top_hop;
        let at = match cut.at_seconds {
            None => end,
            Some(s) if !(s.is_finite() && s >= 0.0) => {
                return Err(invalid(format!(
                    "the cut must be a time in seconds from the song's start, got {s}"
                )));
            }
            Some(s) => ((s * rate) as usize / top_hop) * top_hop,
        };
        if at == 0 {
            return Err(invalid(format!(
                "a cut at {:.3} s keeps nothing: cut at {:.3} s or later",
                cut.at_seconds.unwrap_or(0.0),
                top_hop as f64 / rate
            )));
        }
        if at > end {
            return Err(invalid(format!(
                "take {} ends at {:.2} s: cut at or before its end",
                cut.take,
                end as f64 / rate
            )));
        }
        Ok(TakeSpan { at, end })
    }
}

/// The batch row of take number `take`.
fn take_row(numbers: &[usize], take: usize) -> Result<usize, EngineError> {
    numbers.iter().position(|&n| n == take).ok_or_else(|| {
        invalid(format!(
            "there is no take {take}: the checkpoint has takes {numbers:?}"
        ))
    })
}

/// The rows of the take numbers `wanted` (empty: every row), each once, in the order asked.
fn rows_of(numbers: &[usize], wanted: &[usize]) -> Result<Vec<usize>, EngineError> {
    if wanted.is_empty() {
        return Ok((0..numbers.len()).collect());
    }
    let mut rows = Vec::with_capacity(wanted.len());
    for &take in wanted {
        let row = take_row(numbers, take)?;
        if rows.contains(&row) {
            return Err(invalid(format!("take {take} is asked for twice")));
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_take_numbers() {
        assert_eq!(rows_of(&[0, 1, 2], &[]).unwrap(), [0, 1, 2]);
        assert_eq!(rows_of(&[4, 7], &[7]).unwrap(), [1]);
        assert!(rows_of(&[4, 7], &[5]).is_err());
        assert!(rows_of(&[4, 7], &[7, 7]).is_err());
    }
}
