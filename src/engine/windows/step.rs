//! One graph call of a level: condition the next window, prefill one chunk of its prime, or
//! sample one position of every take.

use super::layout::Window;
use super::sampler::{LevelSampler, Phase};
use crate::engine::error::EngineError;
use crate::engine::prior::Prior;
use crate::engine::sampler::UniformSource;

/// What one [`LevelSampler::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// Ran the conditioning graph of window `window`.
    Conditioned { window: usize },
    /// Fed the prime of window `window` up to sequence position `upto` (exclusive).
    Prefilled { window: usize, upto: usize },
    /// Sampled the ids of sequence position `position` ([`LevelSampler::last_ids`]).
    Sampled { window: usize, position: usize },
    /// Every window is sampled.
    Finished,
}

impl LevelSampler {
    /// Does the next unit of work: condition a window, prefill one chunk of its prime, or
    /// sample one position of every take.
    pub fn step(
        &mut self,
        prior: &mut Prior,
        uniforms: &mut dyn UniformSource,
    ) -> Result<StepOutcome, EngineError> {
        if prior.level() != self.spec.level {
            return Err(EngineError::InvalidInput(format!(
                "the level {} sampler was given the level {} prior",
                self.spec.level,
                prior.level()
            )));
        }
        match self.phase {
            Phase::Done => Ok(StepOutcome::Finished),
            Phase::Condition => self.condition(prior),
            Phase::Prefill { next } => self.prefill(prior, next),
            Phase::Sample { position } => self.sample(prior, uniforms, position),
        }
    }

    /// Steps until the level is done (no cancellation; for tests and the CLI).
    pub fn run_to_end(
        &mut self,
        prior: &mut Prior,
        uniforms: &mut dyn UniformSource,
    ) -> Result<(), EngineError> {
        while self.step(prior, uniforms)? != StepOutcome::Finished {}
        Ok(())
    }

    fn condition(&mut self, prior: &mut Prior) -> Result<StepOutcome, EngineError> {
        let window = self.window;
        let batch = self.batch();
        let n_ctx = self.spec.n_ctx;
        prior.allocate(batch)?;
        let inputs = self.conditioning_inputs(window);
        prior.condition(&inputs)?;
        // The window's ids: lyric prefix (1b_lyrics), then the codes present as ids (the
        // prime; after a resume also what the window had sampled).
        let Window { start, prime, new } = self.windows[window];
        let present = self.codes[0].len() - start;
        let prefix = self.lyric_prefix_len();
        let genres_n = self.spec.conditioning.max_nb_genres;
        let labels = self.window_labels(window);
        self.seq.clear();
        self.seq.resize(batch * n_ctx, 0);
        let offset = self.spec.token_offset as i64;
        let rows = self
            .seq
            .chunks_exact_mut(n_ctx)
            .zip(&labels)
            .zip(&self.codes);
        let resumed = self.resume_ids.take();
        for (row, ((ids, labels), codes)) in rows.enumerate() {
            let lyric = &labels[4 + genres_n..];
            ids[..prefix].copy_from_slice(&lyric[..prefix]);
            let music = &mut ids[prefix..prefix + present];
            match resumed.as_ref().map(|r| &r[row]) {
                Some(fed) if fed.len() == present => music.copy_from_slice(fed),
                _ => {
                    for (id, code) in music.iter_mut().zip(&codes[start..]) {
                        *id = code + offset;
                    }
                }
            }
        }
        self.n_prime = prefix + present;
        self.end = prefix + prime + new;
        self.phase = if self.n_prime > 0 {
            Phase::Prefill { next: 0 }
        } else {
            Phase::Sample { position: 0 }
        };
        Ok(StepOutcome::Conditioned { window })
    }

    fn prefill(&mut self, prior: &mut Prior, next: usize) -> Result<StepOutcome, EngineError> {
        let n_ctx = self.spec.n_ctx;
        let chunk = prior.max_prefill_chunk().min(self.n_prime - next);
        // Input at position t is the id at t - 1 (the start embedding at 0).
        self.tokens.clear();
        for row in 0..self.batch() {
            let ids = &self.seq[row * n_ctx..(row + 1) * n_ctx];
            self.tokens
                .extend((next..next + chunk).map(|t| if t == 0 { 0 } else { ids[t - 1] }));
        }
        prior.prefill(&self.tokens, next)?;
        let upto = next + chunk;
        self.phase = if upto < self.n_prime {
            Phase::Prefill { next: upto }
        } else {
            Phase::Sample {
                position: self.n_prime,
            }
        };
        Ok(StepOutcome::Prefilled {
            window: self.window,
            upto,
        })
    }

    fn sample(
        &mut self,
        prior: &mut Prior,
        uniforms: &mut dyn UniformSource,
        position: usize,
    ) -> Result<StepOutcome, EngineError> {
        let window = self.window;
        let batch = self.batch();
        let n_ctx = self.spec.n_ctx;
        self.tokens.clear();
        for row in 0..batch {
            let id = if position == 0 {
                0
            } else {
                self.seq[row * n_ctx + position - 1]
            };
            self.tokens.push(id);
        }
        uniforms.next_uniforms(&mut self.uniforms)?;
        let logits = prior.step(&self.tokens, position)?;
        self.rows
            .sample_rows(logits, &self.uniforms, &self.params, &mut self.ids);
        let offset = self.spec.token_offset as i64;
        for row in 0..batch {
            let id = self.ids[row];
            self.seq[row * n_ctx + position] = id;
            self.codes[row].push((id - offset).max(0));
        }
        self.phase = if position + 1 < self.end {
            Phase::Sample {
                position: position + 1,
            }
        } else if window + 1 < self.windows.len() {
            self.window += 1;
            Phase::Condition
        } else {
            Phase::Done
        };
        Ok(StepOutcome::Sampled { window, position })
    }
}
