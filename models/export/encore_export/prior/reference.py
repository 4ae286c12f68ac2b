"""Thin helpers that drive the transformers Jukebox port itself: the reference for goldens/tests.

Nothing here reimplements the model: logits come from `JukeboxConditionalAutoregressive.
primed_sample` (the port's own cached sampling path), conditioning from `JukeboxPrior.get_cond`.
`chunk_size=1` keeps every position on the port's one-query cached path, which is causal
whatever `config.mask` says (with `mask=False` the port's chunked/full-forward path is not).
"""

from __future__ import annotations

import torch


def window_conditioning(prior, metadata, upper_codes=None):
    """The port's conditioning for one window.

    metadata: (B, 4 + max_nb_genres + n_lyric_tokens) int64 as `JukeboxPrior.get_metadata` makes it.
    upper_codes: (B, n_ctx // cond_downsample) upper-level codes for upsamplers.
    Returns (tokens_prefix, audio_conditioning, metadata_conditioning, encoder_states)."""
    conds = [upper_codes] if upper_codes is not None else None
    with torch.no_grad():
        audio_cond, meta_cond, lyric_tokens = prior.get_cond(conds, metadata)
        enc = None
        if not prior.is_encoder_decoder and prior.nb_relevant_lyric_tokens > 0:
            enc = prior.get_encoder_states(lyric_tokens, sample=True)
    return lyric_tokens, audio_cond, meta_cond, enc


def sequence_and_cond(prior, codes, lyric_tokens, audio_cond):
    """Sequence ids and per-position conditioning as the port's sampler sees them
    (1b_lyrics: lyric prefix + shifted music codes, zero conditioning on the prefix)."""
    if prior.is_encoder_decoder:
        seq, cond = prior.prior_preprocess([lyric_tokens, codes.clone()], [None, audio_cond])
        return seq, cond
    return codes, audio_cond


def teacher_forced_logits(prior, codes, metadata, upper_codes=None):
    """Logits (B, len, V) at every sequence position for fixed music `codes` (B, T),
    from the port's cached sampling path (one position per call). len = T (+ lyric prefix)."""
    lyric_tokens, audio_cond, meta_cond, enc = window_conditioning(prior, metadata, upper_codes)
    seq, cond = sequence_and_cond(prior, codes, lyric_tokens, audio_cond)
    n = seq.shape[1]
    prime = seq[:, : n - 1]
    with torch.no_grad():
        # The port's primed_sample needs >= 1 sampled step; the last position's logits come from
        # that step (input = seq[:, n-2]), its sampled id is discarded.
        _, preds = prior.prior.primed_sample(
            seq.shape[0], prime, cond, meta_cond, enc, get_preds=True, chunk_size=1, sample_tokens=n
        )
    prior.prior.transformer.del_cache()
    return preds.float()
