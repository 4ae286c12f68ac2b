//! A level's sampling state: its checks on construction, its progress and its checkpoint.

use serde::{Deserialize, Serialize};

use super::conditioning::SongLabels;
use super::layout::{Window, plan_windows};
use crate::engine::error::EngineError;
use crate::engine::sampler::{RowSampler, SamplingParams};
use crate::jukebox::LyricsMode;
use crate::jukebox::PriorSpec;
use crate::jukebox::manifest::PriorKind;

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
    #[serde(with = "crate::engine::generation::codes_format::rows")]
    pub codes: Vec<Vec<i64>>,
    pub prompt_len: usize,
    pub windows: Vec<Window>,
    /// The window under way (restarted from its conditioning on resume).
    pub window: usize,
    pub finished: bool,
    /// The ids the window under way has fed so far at its music positions, per take. They
    /// differ from `code + token_offset` where 1b_lyrics sampled a lyric id (stored as code 0),
    /// so a resumed window re-feeds these to stay exact. Empty when no window is under way.
    #[serde(default, with = "crate::engine::generation::codes_format::rows")]
    pub window_ids: Vec<Vec<i64>>,
}

impl LevelCheckpoint {
    /// Codes sampled per take so far (the prompt not counted).
    pub fn sampled(&self) -> usize {
        self.codes
            .first()
            .map_or(0, |c| c.len().saturating_sub(self.prompt_len))
    }
}

/// Where the sampler is in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Condition,
    Prefill { next: usize },
    Sample { position: usize },
    Done,
}

/// Samples one level window by window, one graph call per [`step`](Self::step).
pub struct LevelSampler {
    pub(super) spec: PriorSpec,
    pub(super) labels: SongLabels,
    /// The upper level's codes per take (upsamplers).
    pub(super) upper: Option<Vec<Vec<i64>>>,
    pub(super) params: SamplingParams,
    /// Codes of each take: the prompt, then what was sampled.
    pub(super) codes: Vec<Vec<i64>>,
    pub(super) prompt_len: usize,
    pub(super) windows: Vec<Window>,
    pub(super) window: usize,
    pub(super) phase: Phase,
    /// Ids of the current window, `[batch, n_ctx]`: lyric prefix, prime, sampled.
    pub(super) seq: Vec<i64>,
    /// Sequence positions of the current window fed through prefill (lyric prefix + the codes
    /// present when the window began or resumed).
    pub(super) n_prime: usize,
    /// Sequence position where the current window ends.
    pub(super) end: usize,
    pub(super) uniforms: Vec<f64>,
    pub(super) ids: Vec<i64>,
    pub(super) tokens: Vec<i64>,
    pub(super) rows: RowSampler,
    /// From a checkpoint: the ids the resumed window had fed (see [`LevelCheckpoint`]).
    pub(super) resume_ids: Option<Vec<Vec<i64>>>,
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
        check_request(spec, &labels, upper.as_deref(), &prompt, request)?;
        let batch = labels.batch();
        let existing = prompt[0].len();
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

    /// Ids sampled by the last [`super::StepOutcome::Sampled`] step, one per take (1b_lyrics:
    /// the id in the joint vocabulary; the stored code is `max(id - token_offset, 0)`).
    pub fn last_ids(&self) -> &[i64] {
        &self.ids
    }

    /// `(sampled, to sample)` codes per take over the whole level.
    pub fn progress(&self) -> (usize, usize) {
        let total: usize = self.windows.iter().map(|w| w.new).sum();
        (self.codes[0].len() - self.prompt_len, total)
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Where this level stands, to resume it later with [`LevelSampler::resume`] (together
    /// with the uniform source's state). A resumed window re-feeds the ids it had fed through
    /// prefill, which gives the same logits as the steps did.
    /// [`Self::checkpoint`] into `target`, reusing its buffers (no fresh pages for the codes:
    /// what a running generation hands its checkpoint writer every few seconds).
    pub fn checkpoint_into(&self, target: &mut LevelCheckpoint) {
        target.codes.clone_from(&self.codes);
        target.prompt_len = self.prompt_len;
        target.windows.clone_from(&self.windows);
        target.window = self.window;
        target.finished = self.phase == Phase::Done;
        target.window_ids = self.window_ids();
    }

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

    pub(super) fn lyric_prefix_len(&self) -> usize {
        match &self.spec.lyrics {
            Some(l) if l.mode == LyricsMode::Prefix => l.prefix_len,
            _ => 0,
        }
    }
}

/// Refuses a request the level's prior cannot take, with what is wrong.
fn check_request(
    spec: &PriorSpec,
    labels: &SongLabels,
    upper: Option<&[Vec<i64>]>,
    prompt: &[Vec<i64>],
    request: &LevelRequest,
) -> Result<(), EngineError> {
    let invalid = |m: String| Err(EngineError::InvalidInput(m));
    let level = spec.level;
    request.params.validate()?;
    let batch = labels.batch();
    if batch == 0 || labels.genres.len() != batch || prompt.len() != batch {
        return invalid(format!(
            "level {level}: {} artists, {} genre lists and {} prompts: one of each per take",
            batch,
            labels.genres.len(),
            prompt.len()
        ));
    }
    if prompt.iter().any(|p| p.len() != prompt[0].len()) {
        return invalid(format!(
            "level {level}: every take's prompt must have the same length"
        ));
    }
    if labels
        .genres
        .iter()
        .any(|g| g.len() > spec.conditioning.max_nb_genres)
    {
        return invalid(format!(
            "level {level}: at most {} genres per take",
            spec.conditioning.max_nb_genres
        ));
    }
    let is_upsampler = spec.kind == PriorKind::Upsampler;
    match upper {
        Some(u) if is_upsampler && u.len() == batch => {}
        None if !is_upsampler => {}
        _ => {
            return invalid(format!(
                "level {level}: upsamplers need the upper level's codes of every take, top \
                 priors none"
            ));
        }
    }
    let vocab = spec.music_vocab_size as i64;
    let in_range = |rows: &[Vec<i64>]| rows.iter().flatten().all(|c| (0..vocab).contains(c));
    if !in_range(prompt) || !upper.is_none_or(in_range) {
        return invalid(format!("level {level}: codes must lie in 0..{vocab}"));
    }
    if request.hop == 0 || request.hop > spec.music_ctx {
        return invalid(format!(
            "level {level}: hop {} must lie in 1..={}",
            request.hop, spec.music_ctx
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
    Ok(())
}
