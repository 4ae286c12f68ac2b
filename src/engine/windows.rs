//! Windowed sampling of one level, the way the reference samples (docs/prior-graphs.md, "The
//! port's windows"): windows of `music_ctx` codes advanced by a hop, the codes already present in
//! a window are its prime, a window with nothing new is skipped.
//!
//! [`LevelSampler`] is driven one graph call at a time ([`LevelSampler::step`]), so a caller can
//! cancel between any two calls, report progress and (later) checkpoint.

use serde::{Deserialize, Serialize};

use super::error::EngineError;
use super::prior::{ConditioningInputs, Prior};
use super::sampler::{RowSampler, SamplingParams, UniformSource};
use crate::jukebox::PriorSpec;
use crate::jukebox::manifest::PriorKind;

/// One window a level samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// First music code of the window.
    pub start: usize,
    /// Codes already present in the window (fed through prefill).
    pub prime: usize,
    /// Codes sampled in the window.
    pub new: usize,
}

/// The port's `get_starts`: `range(0, total - n_ctx + hop, hop)`, a start whose window reaches
/// the end moved back to `total - n_ctx`. Needs `total >= n_ctx`.
pub fn window_starts(total: usize, n_ctx: usize, hop: usize) -> Vec<usize> {
    if hop == 0 || total < n_ctx {
        return Vec::new();
    }
    (0..total - n_ctx + hop)
        .step_by(hop)
        .map(|start| {
            if start + n_ctx >= total {
                total - n_ctx
            } else {
                start
            }
        })
        .collect()
}

/// The windows that sample a level from `existing` codes up to `total`, skipping windows whose
/// codes all exist. Each window samples up to its end, as the port does. A level shorter than
/// one window is sampled in one window from 0 to `total` (the port would overshoot to `n_ctx`).
pub fn plan_windows(total: usize, n_ctx: usize, hop: usize, existing: usize) -> Vec<Window> {
    if total < n_ctx {
        return if existing < total {
            vec![Window {
                start: 0,
                prime: existing,
                new: total - existing,
            }]
        } else {
            Vec::new()
        };
    }
    let mut have = existing;
    let mut windows = Vec::new();
    for start in window_starts(total, n_ctx, hop) {
        let end = start + n_ctx;
        if have >= end || have < start {
            continue;
        }
        windows.push(Window {
            start,
            prime: have - start,
            new: end - have,
        });
        have = end;
    }
    windows
}

/// `int(fraction * n_ctx)`: a level's hop in codes.
pub fn hop_length(n_ctx: usize, fraction: f32) -> usize {
    (f64::from(fraction) * n_ctx as f64) as usize
}

/// The port's `get_relevant_lyric_tokens`: the `n_tokens` lyric ids around the window's middle,
/// left-padded with 0 when the song has fewer. The midpoint is computed in fp32 like the port
/// (torch's default dtype), so windows match it at every offset.
pub fn lyric_window(
    lyrics: &[i64],
    n_tokens: usize,
    total_length: i64,
    offset: i64,
    duration: i64,
) -> Vec<i64> {
    let n = lyrics.len();
    if n < n_tokens {
        let mut window = vec![0; n_tokens - n];
        window.extend_from_slice(lyrics);
        return window;
    }
    let centre = offset as f32 + duration as f32 / 2.0;
    let mid = (n as f32 * centre / total_length as f32) as i64;
    let half = (n_tokens / 2) as i64;
    let mid = mid.max(half).min(n as i64 - half) as usize;
    lyrics[mid - n_tokens / 2..mid + n_tokens / 2].to_vec()
}

/// What a song is conditioned on, for every level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SongLabels {
    /// Artist id of each take.
    pub artist: Vec<i64>,
    /// Genre ids of each take (at most `max_nb_genres`; missing slots become -1).
    pub genres: Vec<Vec<i64>>,
    /// Song length in samples (the top prior's `total_length`).
    pub total_length: i64,
    /// Samples before code 0 of every level (added to every window's offset).
    pub offset: i64,
    /// The whole song's lyric ids (lyric kinds); like the port, every take uses the same.
    pub lyrics: Vec<i64>,
}

impl SongLabels {
    pub fn batch(&self) -> usize {
        self.artist.len()
    }
}

/// What a level is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelRequest {
    /// Codes to reach at this level (sample length / hop length of the level).
    pub total: usize,
    /// Window advance in codes.
    pub hop: usize,
    pub params: SamplingParams,
}

/// A level's progress, serialisable: enough to resume it (see [`LevelSampler::checkpoint`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelCheckpoint {
    pub codes: Vec<Vec<i64>>,
    pub prompt_len: usize,
    pub windows: Vec<Window>,
    /// The window under way (restarted from its conditioning on resume).
    pub window: usize,
    pub finished: bool,
    /// The ids the window under way has fed so far at its music positions, per take. They
    /// differ from `code + token_offset` where 1b_lyrics sampled a lyric id (stored as code 0),
    /// so a resumed window re-feeds these to stay exact. Empty when no window is under way.
    #[serde(default)]
    pub window_ids: Vec<Vec<i64>>,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Condition,
    Prefill { next: usize },
    Sample { position: usize },
    Done,
}

/// Samples one level window by window, one graph call per [`step`](Self::step).
pub struct LevelSampler {
    spec: PriorSpec,
    labels: SongLabels,
    /// The upper level's codes per take (upsamplers).
    upper: Option<Vec<Vec<i64>>>,
    params: SamplingParams,
    /// Codes of each take: the prompt, then what was sampled.
    codes: Vec<Vec<i64>>,
    prompt_len: usize,
    windows: Vec<Window>,
    window: usize,
    phase: Phase,
    /// Ids of the current window, `[batch, n_ctx]`: lyric prefix, prime, sampled.
    seq: Vec<i64>,
    /// Sequence positions of the current window fed through prefill (lyric prefix + the codes
    /// present when the window began or resumed).
    n_prime: usize,
    /// Sequence position where the current window ends.
    end: usize,
    uniforms: Vec<f64>,
    ids: Vec<i64>,
    tokens: Vec<i64>,
    rows: RowSampler,
    /// From a checkpoint: the ids the resumed window had fed (see [`LevelCheckpoint`]).
    resume_ids: Option<Vec<Vec<i64>>>,
}

impl LevelSampler {
    /// `prompt`: the codes each take already has at this level (all the same length).
    /// `upper`: the codes of the level above (upsamplers only).
    pub fn new(
        spec: &PriorSpec,
        labels: SongLabels,
        upper: Option<Vec<Vec<i64>>>,
        prompt: Vec<Vec<i64>>,
        request: &LevelRequest,
    ) -> Result<Self, EngineError> {
        let invalid = |m: String| Err(EngineError::InvalidInput(m));
        request.params.validate()?;
        let batch = labels.batch();
        if batch == 0 || labels.genres.len() != batch || prompt.len() != batch {
            return invalid(format!(
                "level {}: {} artists, {} genre lists and {} prompts: one of each per take",
                spec.level,
                batch,
                labels.genres.len(),
                prompt.len()
            ));
        }
        let existing = prompt[0].len();
        if prompt.iter().any(|p| p.len() != existing) {
            return invalid(format!(
                "level {}: every take's prompt must have the same length",
                spec.level
            ));
        }
        if labels
            .genres
            .iter()
            .any(|g| g.len() > spec.conditioning.max_nb_genres)
        {
            return invalid(format!(
                "level {}: at most {} genres per take",
                spec.level, spec.conditioning.max_nb_genres
            ));
        }
        let is_upsampler = spec.kind == PriorKind::Upsampler;
        match &upper {
            Some(u) if is_upsampler && u.len() == batch => {}
            None if !is_upsampler => {}
            _ => {
                return invalid(format!(
                    "level {}: upsamplers need the upper level's codes of every take, top \
                     priors none",
                    spec.level
                ));
            }
        }
        let vocab = spec.music_vocab_size as i64;
        let in_range = |rows: &[Vec<i64>]| rows.iter().flatten().all(|c| (0..vocab).contains(c));
        if !in_range(&prompt) || !upper.as_deref().is_none_or(in_range) {
            return invalid(format!(
                "level {}: codes must lie in 0..{vocab}",
                spec.level
            ));
        }
        if request.hop == 0 || request.hop > spec.music_ctx {
            return invalid(format!(
                "level {}: hop {} must lie in 1..={}",
                spec.level, request.hop, spec.music_ctx
            ));
        }
        if spec.conditioning.timing {
            let [lo, hi] = spec.conditioning.total_length_range;
            if labels.total_length < lo || labels.total_length >= hi {
                return invalid(format!(
                    "song length {} samples is outside the model's range [{lo}, {hi})",
                    labels.total_length
                ));
            }
        }
        let windows = plan_windows(request.total, spec.music_ctx, request.hop, existing);
        Ok(Self {
            spec: spec.clone(),
            labels,
            upper,
            params: request.params,
            codes: prompt,
            prompt_len: existing,
            phase: if windows.is_empty() {
                Phase::Done
            } else {
                Phase::Condition
            },
            windows,
            window: 0,
            seq: Vec::new(),
            n_prime: 0,
            end: 0,
            uniforms: vec![0.0; batch],
            ids: vec![0; batch],
            tokens: Vec::with_capacity(batch * spec.block_ctx),
            rows: RowSampler::new(),
            resume_ids: None,
        })
    }

    pub fn level(&self) -> usize {
        self.spec.level
    }

    pub fn batch(&self) -> usize {
        self.codes.len()
    }

    /// The windows this level samples, in order.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Codes of every take so far (prompt included).
    pub fn codes(&self) -> &[Vec<i64>] {
        &self.codes
    }

    pub fn into_codes(self) -> Vec<Vec<i64>> {
        self.codes
    }

    /// Ids sampled by the last [`StepOutcome::Sampled`] step, one per take (1b_lyrics: the id
    /// in the joint vocabulary; the stored code is `max(id - token_offset, 0)`).
    pub fn last_ids(&self) -> &[i64] {
        &self.ids
    }

    /// `(sampled, to sample)` codes per take over the whole level.
    pub fn progress(&self) -> (usize, usize) {
        let total: usize = self.windows.iter().map(|w| w.new).sum();
        (self.codes[0].len() - self.prompt_len, total)
    }

    /// Where this level stands, to resume it later with [`LevelSampler::resume`] (together
    /// with the uniform source's state, e.g. [`super::sampler::RngState`]). A resumed window
    /// re-feeds the ids it had fed through prefill, which gives the same logits as the steps
    /// did.
    pub fn checkpoint(&self) -> LevelCheckpoint {
        LevelCheckpoint {
            codes: self.codes.clone(),
            prompt_len: self.prompt_len,
            windows: self.windows.clone(),
            window: self.window,
            finished: self.phase == Phase::Done,
            window_ids: self.window_ids(),
        }
    }

    /// The current window's ids at its music positions, per take (see [`LevelCheckpoint`]).
    fn window_ids(&self) -> Vec<Vec<i64>> {
        match self.phase {
            Phase::Prefill { .. } | Phase::Sample { .. } => {
                let n_ctx = self.spec.n_ctx;
                let prefix = self.lyric_prefix_len();
                let start = self.windows[self.window].start;
                (0..self.batch())
                    .map(|row| {
                        let present = self.codes[row].len() - start;
                        let from = row * n_ctx + prefix;
                        self.seq[from..from + present].to_vec()
                    })
                    .collect()
            }
            Phase::Condition => self.resume_ids.clone().unwrap_or_default(),
            Phase::Done => Vec::new(),
        }
    }

    /// A sampler that continues from `checkpoint`; the other arguments as for [`Self::new`].
    pub fn resume(
        spec: &PriorSpec,
        labels: SongLabels,
        upper: Option<Vec<Vec<i64>>>,
        request: &LevelRequest,
        checkpoint: LevelCheckpoint,
    ) -> Result<Self, EngineError> {
        let LevelCheckpoint {
            codes,
            prompt_len,
            windows,
            window,
            finished,
            window_ids,
        } = checkpoint;
        let prompt = codes
            .iter()
            .map(|c| c[..prompt_len.min(c.len())].to_vec())
            .collect();
        let mut sampler = Self::new(spec, labels, upper, prompt, request)?;
        let consistent = sampler.windows == windows
            && (finished || window < windows.len())
            && codes.iter().all(|c| c.len() == codes[0].len())
            && windows.get(window).is_none_or(|w| {
                (w.start + w.prime..w.start + w.prime + w.new).contains(&codes[0].len())
            });
        if !consistent {
            return Err(EngineError::InvalidInput(format!(
                "level {}: the checkpoint does not belong to this request",
                spec.level
            )));
        }
        sampler.resume_ids = (!window_ids.is_empty()).then_some(window_ids);
        sampler.codes = codes;
        sampler.window = window;
        sampler.phase = if finished {
            Phase::Done
        } else {
            Phase::Condition
        };
        Ok(sampler)
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    fn lyric_prefix_len(&self) -> usize {
        match &self.spec.lyrics {
            Some(l) if l.mode == "prefix" => l.prefix_len,
            _ => 0,
        }
    }

    /// The port's label vector of window `index` for every take: `[total_length, offset,
    /// sample_length, artist, genres (-1 padded)..., lyric window...]`.
    pub fn window_labels(&self, index: usize) -> Vec<Vec<i64>> {
        let start = self.windows[index].start;
        let raw = self.spec.raw_to_tokens as i64;
        let offset = self.labels.offset + start as i64 * raw;
        let sample_length = self.spec.music_ctx as i64 * raw;
        let total = self.labels.total_length;
        let lyrics = self.spec.lyrics.as_ref().map(|l| {
            lyric_window(
                &self.labels.lyrics,
                l.n_tokens,
                total,
                offset,
                sample_length,
            )
        });
        (0..self.batch())
            .map(|row| {
                let mut v = vec![total, offset, sample_length, self.labels.artist[row]];
                let genres = &self.labels.genres[row];
                v.extend(
                    (0..self.spec.conditioning.max_nb_genres)
                        .map(|g| genres.get(g).copied().unwrap_or(-1)),
                );
                if let Some(lyrics) = &lyrics {
                    v.extend_from_slice(lyrics);
                }
                v
            })
            .collect()
    }

    /// The upper level's codes under window `index`, `[batch, music_ctx / cond_downsample]`,
    /// zero-padded (openai/jukebox's `get_z_conds`).
    pub fn window_upper(&self, index: usize) -> Option<Vec<Vec<i64>>> {
        let upper = self.upper.as_ref()?;
        let cd = self.spec.conditioning.cond_downsample.max(1);
        let start = self.windows[index].start;
        let (from, len) = (start / cd, self.spec.music_ctx / cd);
        Some(
            upper
                .iter()
                .map(|codes| {
                    (from..from + len)
                        .map(|i| codes.get(i).copied().unwrap_or(0))
                        .collect()
                })
                .collect(),
        )
    }

    /// The conditioning graph's inputs for window `index`.
    pub fn conditioning_inputs(&self, index: usize) -> ConditioningInputs {
        let labels = self.window_labels(index);
        let genres_n = self.spec.conditioning.max_nb_genres;
        let column = |c: usize| labels.iter().map(|l| l[c]).collect::<Vec<_>>();
        ConditioningInputs {
            total_length: column(0),
            offset: column(1),
            sample_length: column(2),
            artist: column(3),
            genres: labels
                .iter()
                .flat_map(|l| l[4..4 + genres_n].iter().copied())
                .collect(),
            lyrics: labels
                .iter()
                .flat_map(|l| l[4 + genres_n..].iter().copied())
                .collect(),
            upper_codes: self
                .window_upper(index)
                .map(|u| u.into_iter().flatten().collect())
                .unwrap_or_default(),
        }
    }

    /// Does the next unit of work: condition a window, prefill one block-aligned chunk of its
    /// prime, or sample one position of every take.
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
        let batch = self.batch();
        let n_ctx = self.spec.n_ctx;
        match self.phase {
            Phase::Done => Ok(StepOutcome::Finished),
            Phase::Condition => {
                let window = self.window;
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
            Phase::Prefill { next } => {
                let bc = self.spec.block_ctx;
                let chunk = (bc - next % bc).min(self.n_prime - next);
                // Input at position t is the id at t - 1 (the start embedding at 0).
                self.tokens.clear();
                for row in 0..batch {
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
            Phase::Sample { position } => {
                let window = self.window;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_follow_the_port() {
        assert_eq!(window_starts(80, 64, 8), [0, 8, 16]);
        assert_eq!(window_starts(64, 64, 8), [0]);
        assert_eq!(window_starts(100, 64, 32), [0, 32, 36]);
        assert_eq!(window_starts(10, 64, 32), Vec::<usize>::new());
    }

    #[test]
    fn windows_skip_what_exists_and_prime_with_it() {
        let w = |start, prime, new| Window { start, prime, new };
        assert_eq!(
            plan_windows(80, 64, 8, 16),
            [w(0, 16, 48), w(8, 56, 8), w(16, 56, 8)]
        );
        assert_eq!(plan_windows(320, 64, 32, 64)[0], w(32, 32, 32));
        assert_eq!(plan_windows(320, 64, 32, 64).len(), 8);
        assert_eq!(plan_windows(80, 64, 8, 80), []);
        assert_eq!(plan_windows(40, 64, 8, 10), [w(0, 10, 30)]);
    }

    #[test]
    fn lyric_window_pads_and_centres() {
        assert_eq!(lyric_window(&[5, 6], 4, 100, 0, 10), [0, 0, 5, 6]);
        let lyrics: Vec<i64> = (0..100).collect();
        // The window's middle at 50% of the song: ids 48..52.
        assert_eq!(lyric_window(&lyrics, 4, 1000, 450, 100), [48, 49, 50, 51]);
        // Clamped at both ends.
        assert_eq!(lyric_window(&lyrics, 4, 1000, 0, 10), [0, 1, 2, 3]);
        assert_eq!(lyric_window(&lyrics, 4, 1000, 990, 10), [96, 97, 98, 99]);
    }

    #[test]
    fn hop_is_truncated_like_int() {
        assert_eq!(hop_length(8192, 0.125), 1024);
        assert_eq!(hop_length(64, 0.5), 32);
        assert_eq!(hop_length(6144, 0.125), 768);
    }
}
