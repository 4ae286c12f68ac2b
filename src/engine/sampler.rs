//! Turning a prior's logits into codes: the documented sampling rule (docs/prior-graphs.md,
//! "Sampling rule") and the seeded stream of uniforms that drives it.
//!
//! Per batch row and step, from the fp32 logits `z`:
//! 1. `x = z / temperature` in fp32;
//! 2. the port's top-k / top-p filter (removed entries become `-inf`);
//! 3. `e = exp(x - max x)`, `c = cumsum(e)` in f64;
//! 4. the id is the first `i` with `c[i] > u * c[last]`, clamped to the last index.
//!
//! `u` is one uniform in `[0, 1)` per row per step. The engine draws them from
//! [`SeededUniforms`]; the replay tests feed the uniforms recorded in the goldens instead, which is
//! why the source is a trait.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use super::error::EngineError;

/// Temperature and filters of one level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    pub temperature: f32,
    /// Keep the `top_k` largest logits (ties included); 0 = off.
    pub top_k: usize,
    /// Keep the smallest set of most likely ids whose probability exceeds `top_p`; 0 = off.
    pub top_p: f32,
}

impl SamplingParams {
    pub fn new(temperature: f32) -> Self {
        Self {
            temperature,
            top_k: 0,
            top_p: 0.0,
        }
    }

    pub fn validate(&self) -> Result<(), EngineError> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(EngineError::InvalidInput(format!(
                "sampling temperature must be a positive number, got {}",
                self.temperature
            )));
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return Err(EngineError::InvalidInput(format!(
                "top-p must lie in [0, 1], got {}",
                self.top_p
            )));
        }
        if self.top_k > 0 && self.top_p > 0.0 {
            return Err(EngineError::InvalidInput(
                "top-k and top-p are mutually exclusive: set one of them to 0".into(),
            ));
        }
        Ok(())
    }
}

/// Where the uniforms come from: one `u` in `[0, 1)` per batch row per sampled position.
pub trait UniformSource {
    /// Fills `out` (one entry per batch row) with the uniforms of the next sampled position.
    fn next_uniforms(&mut self, out: &mut [f64]) -> Result<(), EngineError>;
}

/// The engine's uniforms: ChaCha20 seeded from a `u64`, so a seed names a take exactly.
///
/// Each uniform takes the top 53 bits of one `u64` of the stream. The stream position is part of
/// [`RngState`], so a generation can be checkpointed and resumed with the same continuation.
#[derive(Debug, Clone)]
pub struct SeededUniforms {
    seed: u64,
    rng: ChaCha20Rng,
}

/// Everything needed to continue a [`SeededUniforms`] stream where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: u64,
    /// Position in the ChaCha20 stream, in 32-bit words.
    pub word_pos: u64,
}

impl SeededUniforms {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The next uniform in `[0, 1)`.
    pub fn next_uniform(&mut self) -> f64 {
        uniform_from(self.rng.next_u64())
    }

    pub fn state(&self) -> RngState {
        RngState {
            seed: self.seed,
            // 2^64 words is far beyond any generation; saturate rather than wrap.
            word_pos: u64::try_from(self.rng.get_word_pos()).unwrap_or(u64::MAX),
        }
    }

    pub fn from_state(state: RngState) -> Self {
        let mut uniforms = Self::new(state.seed);
        uniforms.rng.set_word_pos(u128::from(state.word_pos));
        uniforms
    }
}

impl UniformSource for SeededUniforms {
    fn next_uniforms(&mut self, out: &mut [f64]) -> Result<(), EngineError> {
        for u in out.iter_mut() {
            *u = self.next_uniform();
        }
        Ok(())
    }
}

/// A uniform in `[0, 1)` from the top 53 bits of `bits`.
pub(crate) fn uniform_from(bits: u64) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (bits >> 11) as f64 * SCALE
}

/// Applies the rule to logits, reusing its buffers so a step allocates nothing.
#[derive(Debug, Default)]
pub struct RowSampler {
    scaled: Vec<f32>,
    order: Vec<usize>,
    cumulative: Vec<f64>,
}

impl RowSampler {
    pub fn new() -> Self {
        Self::default()
    }

    /// One row's id from its logits and its uniform.
    pub fn sample(&mut self, logits: &[f32], u: f64, params: &SamplingParams) -> usize {
        self.scaled.clear();
        self.scaled
            .extend(logits.iter().map(|&z| z / params.temperature));
        filter_logits(
            &mut self.scaled,
            params.top_k,
            params.top_p,
            &mut self.order,
        );
        pick_with(&self.scaled, u, &mut self.cumulative)
    }

    /// Every row of `logits` (`[rows, vocab]`, row-major) with its uniform; ids into `out`.
    pub fn sample_rows(
        &mut self,
        logits: &[f32],
        uniforms: &[f64],
        params: &SamplingParams,
        out: &mut [i64],
    ) {
        let rows = uniforms.len();
        debug_assert_eq!(out.len(), rows);
        if rows == 0 {
            return;
        }
        let vocab = logits.len() / rows;
        for (row, (u, id)) in uniforms.iter().zip(out.iter_mut()).enumerate() {
            let picked = self.sample(&logits[row * vocab..(row + 1) * vocab], *u, params);
            *id = picked as i64;
        }
    }
}

/// The port's `filter_logits` on one row, in place: top-k keeps every logit not below the k-th
/// largest; top-p keeps, in descending order (ties by index), the ids up to and including the
/// first whose cumulative fp32 softmax exceeds `top_p`. Removed logits become `-inf`.
pub fn filter_logits(x: &mut [f32], top_k: usize, top_p: f32, order: &mut Vec<usize>) {
    let top_k = top_k.min(x.len());
    if top_k > 0 {
        order.clear();
        order.extend(0..x.len());
        let (_, kth, _) = order.select_nth_unstable_by(top_k - 1, |&a, &b| x[b].total_cmp(&x[a]));
        let kth = x[*kth];
        for v in x.iter_mut() {
            if *v < kth {
                *v = f32::NEG_INFINITY;
            }
        }
    }
    if top_p > 0.0 && !x.is_empty() {
        order.clear();
        order.extend(0..x.len());
        // Descending, stable: equal logits keep index order (numpy's argsort(-x, "stable")).
        order.sort_by(|&a, &b| x[b].total_cmp(&x[a]));
        let first = x[order[0]];
        let total: f32 = order.iter().map(|&i| (x[i] - first).exp()).sum();
        let mut cumulative = 0.0f32;
        let mut remove = false; // shifted by one: the id that crosses top_p is kept
        for &i in order.iter() {
            cumulative += (x[i] - first).exp() / total;
            if remove {
                x[i] = f32::NEG_INFINITY;
            }
            remove = cumulative > top_p;
        }
    }
}

/// Inverse CDF of `softmax(x)` at `u` (steps 3 and 4 of the rule).
pub fn pick(x: &[f32], u: f64) -> usize {
    pick_with(x, u, &mut Vec::new())
}

fn pick_with(x: &[f32], u: f64, cumulative: &mut Vec<f64>) -> usize {
    let max = x
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    cumulative.clear();
    let mut sum = 0.0f64;
    for &v in x {
        sum += (f64::from(v) - max).exp();
        cumulative.push(sum);
    }
    let target = u * sum;
    // searchsorted(c, target, side="right"): the number of entries <= target.
    let index = cumulative.partition_point(|&c| c <= target);
    index.min(x.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_is_the_inverse_cdf() {
        // Probabilities 0.25, 0.25, 0.5 (logits ln 1, ln 1, ln 2).
        let x = [0.0f32, 0.0, std::f32::consts::LN_2];
        assert_eq!(pick(&x, 0.0), 0);
        assert_eq!(pick(&x, 0.2), 0);
        assert_eq!(pick(&x, 0.3), 1);
        assert_eq!(pick(&x, 0.6), 2);
        assert_eq!(pick(&x, 0.999_999), 2);
        // A removed id is never picked, even at its edge.
        let x = [f32::NEG_INFINITY, 1.0, f32::NEG_INFINITY];
        for u in [0.0, 0.5, 0.999] {
            assert_eq!(pick(&x, u), 1);
        }
    }

    #[test]
    fn top_k_keeps_the_k_largest_and_ties() {
        let mut x = vec![1.0f32, 5.0, 3.0, 3.0, -2.0];
        filter_logits(&mut x, 2, 0.0, &mut Vec::new());
        let ninf = f32::NEG_INFINITY;
        assert_eq!(x, [ninf, 5.0, 3.0, 3.0, ninf]);
        let mut x = vec![1.0f32, 2.0];
        filter_logits(&mut x, 10, 0.0, &mut Vec::new());
        assert_eq!(x, [1.0, 2.0]);
    }

    #[test]
    fn top_p_keeps_the_id_that_crosses_the_threshold() {
        // Probabilities 0.5, 0.25, 0.125, 0.125 after softmax.
        let l = |p: f32| p.ln();
        let base = vec![l(0.125), l(0.5), l(0.125), l(0.25)];
        let mut x = base.clone();
        filter_logits(&mut x, 0, 0.6, &mut Vec::new());
        let kept: Vec<bool> = x.iter().map(|v| v.is_finite()).collect();
        assert_eq!(kept, [false, true, false, true]);
        let mut x = base.clone();
        filter_logits(&mut x, 0, 0.4, &mut Vec::new());
        let kept: Vec<bool> = x.iter().map(|v| v.is_finite()).collect();
        assert_eq!(kept, [false, true, false, false]);
    }

    #[test]
    fn seeded_uniforms_resume_from_their_state() {
        let mut a = SeededUniforms::new(7);
        let mut first = [0.0; 5];
        a.next_uniforms(&mut first).unwrap();
        assert!(first.iter().all(|u| (0.0..1.0).contains(u)));
        let state = a.state();
        let json = serde_json::to_string(&state).unwrap();
        let mut b = SeededUniforms::from_state(serde_json::from_str(&json).unwrap());
        let (mut next_a, mut next_b) = ([0.0; 3], [0.0; 3]);
        a.next_uniforms(&mut next_a).unwrap();
        b.next_uniforms(&mut next_b).unwrap();
        assert_eq!(next_a, next_b);
        let mut c = SeededUniforms::new(8);
        let mut other = [0.0; 5];
        c.next_uniforms(&mut other).unwrap();
        assert_ne!(first, other);
    }

    #[test]
    fn parameters_are_checked() {
        assert!(SamplingParams::new(0.98).validate().is_ok());
        assert!(SamplingParams::new(0.0).validate().is_err());
        let both = SamplingParams {
            temperature: 1.0,
            top_k: 5,
            top_p: 0.5,
        };
        assert!(both.validate().is_err());
    }
}
