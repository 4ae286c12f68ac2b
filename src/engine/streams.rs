//! The uniforms a generation samples with: one ChaCha20 stream per level and take, all keyed
//! by the seed.
//!
//! A take's codes at a level then depend only on the seed, the take's number and what the level
//! is conditioned on; not on which other takes share the batch, nor on whether the levels above
//! were sampled in the same run. That is what lets a finished preview be upsampled later (all
//! its takes or a chosen few) to the codes one uninterrupted run gives. The position in every
//! stream is the number of codes the level has sampled, so a checkpoint needs no RNG state.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use super::error::EngineError;
use super::sampler::{UniformSource, uniform_from};

/// One stream per batch row, for the takes `takes` at one level.
#[derive(Debug, Clone)]
pub struct TakeStreams {
    rows: Vec<ChaCha20Rng>,
}

impl TakeStreams {
    /// The streams of take numbers `takes` (one per batch row) at `level`, each after `drawn`
    /// uniforms (the codes per take the level has sampled so far).
    pub fn new(seed: u64, level: usize, takes: &[usize], drawn: u64) -> Self {
        let rows = takes
            .iter()
            .map(|&take| {
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                rng.set_stream(stream_id(level, take));
                // One uniform is one u64, two 32-bit words of the stream.
                rng.set_word_pos(u128::from(drawn) * 2);
                rng
            })
            .collect();
        Self { rows }
    }
}

/// The ChaCha20 stream (nonce) of a level and take: level in the high 32 bits.
fn stream_id(level: usize, take: usize) -> u64 {
    ((level as u64) << 32) | (take as u64 & 0xffff_ffff)
}

impl UniformSource for TakeStreams {
    fn next_uniforms(&mut self, out: &mut [f64]) -> Result<(), EngineError> {
        if out.len() != self.rows.len() {
            return Err(EngineError::InvalidInput(format!(
                "{} uniforms asked of {} take streams",
                out.len(),
                self.rows.len()
            )));
        }
        for (u, rng) in out.iter_mut().zip(&mut self.rows) {
            *u = uniform_from(rng.next_u64());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(streams: &mut TakeStreams, rows: usize, n: usize) -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| {
                let mut out = vec![0.0; rows];
                streams.next_uniforms(&mut out).unwrap();
                out
            })
            .collect()
    }

    #[test]
    fn a_take_draws_the_same_alone_or_in_a_batch() {
        let batch = draw(&mut TakeStreams::new(9, 1, &[0, 1, 2], 0), 3, 4);
        let alone = draw(&mut TakeStreams::new(9, 1, &[1], 0), 1, 4);
        for (b, a) in batch.iter().zip(&alone) {
            assert_eq!(b[1], a[0]);
        }
        assert_ne!(batch[0][0], batch[0][1], "two takes share a stream");
    }

    #[test]
    fn streams_resume_after_the_codes_drawn() {
        let whole = draw(&mut TakeStreams::new(3, 0, &[0, 5], 0), 2, 7);
        let rest = draw(&mut TakeStreams::new(3, 0, &[0, 5], 4), 2, 3);
        assert_eq!(whole[4..], rest[..]);
    }

    #[test]
    fn levels_and_seeds_have_their_own_streams() {
        let a = draw(&mut TakeStreams::new(3, 0, &[0], 0), 1, 2);
        let b = draw(&mut TakeStreams::new(3, 1, &[0], 0), 1, 2);
        let c = draw(&mut TakeStreams::new(4, 0, &[0], 0), 1, 2);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().flatten().all(|u| (0.0..1.0).contains(u)));
    }
}
