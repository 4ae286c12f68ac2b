"""Reference goldens from the transformers Jukebox port (never from our ONNX graphs).

goldens/prior_l{level}.teacher_forced.npz   one per prior (level = VQ-VAE level, 2 = top)
  codes (B, music_ctx) int64        fixed music codes of one full window
  sequence (B, n_ctx) int64         ids at every sequence position (1b: lyric ids, then codes + token_offset)
  artist (B,), genres (B, G)        label inputs of the conditioning graph
  total_length, offset, sample_length (B,)   top levels only (audio samples)
  lyrics (B, n_lyric_tokens)        5b_lyrics / 1b_lyrics: the lyric window the port chose
  upper_codes (B, music_ctx / cond_downsample)   upsamplers only
  start_emb (B, W), cond (B, n_ctx, W) float32   the port's conditioning for that window
  logits (B, n_ctx, V) float32      logits at every position, input at position t = sequence[t-1]

goldens/sampled.npz   a primed continuation over several windows at every level
goldens/sampled.top_k5.npz, sampled.top_p08.npz   the same with top_k 5 / top_p 0.8
  seed, batch, sample_length, top_k, top_p, chunk_size (scalars)
  song_length                       total_length written into every label (>= the embedding's minimum)
  l{v}_temperature, l{v}_hop_length (scalars) for v in 2, 1, 0 (VQ-VAE levels)
  l{v}_prompt (B, P_v)              codes present before sampling (the prime)
  l{v}_codes (B, T_v)               prompt + sampled codes (what the port returned)
  l2_lyrics (B, L) int64            top prior with lyrics only: the song's whole lyric ids
  l{v}_window_start (W_v,)          window start (codes) of every window the port sampled
  l{v}_window_prime (W_v,)          codes already present in that window
  l{v}_window_new (W_v,)            codes sampled in that window
  l{v}_window_metadata (W_v, B, M)  the label vector the port used: total_length, offset,
                                    sample_length, artist, genres..., lyric window
  l{v}_window_upper (W_v, B, n_ctx / cond_downsample)   upsamplers: upper codes of the window
  l{v}_uniforms (N_v, B) float64    one uniform per row per sampled position, in call order
  l{v}_call_window (N_v,), l{v}_call_position (N_v,)   window index and sequence position
  l{v}_sampled_ids (N_v, B)         sampled ids (1b: + token_offset; a lyric id maps to code 0)
The rule that turns logits + uniform into an id is in sampling.py.

The port's `get_music_tokens_conds` hands upsamplers the WHOLE upper-level sequence (it only
works for single-window songs); the goldens patch it to openai/jukebox's `get_z_conds` slice
`upper[start // cd : end // cd]`, zero-padded to n_ctx // cd.
"""

from __future__ import annotations

import contextlib
import os
import types

import numpy as np
import torch

from . import reference as ref
from .sampling import pick
from .spec import prior_spec

BATCH = 2
SEED = 20260521
ARTIST = [3, 1]
GENRES = [[2, 4, -1, -1, -1], [1, -1, -1, -1, -1]]


def _labels(prior, batch: int, lyrics_len: int, rng) -> torch.Tensor:
    """Port label rows: [total_length, offset, sample_length, artist, genres..., full lyrics]."""
    g = prior.metadata_embedding.max_nb_genres
    rows = []
    for b in range(batch):
        genres = (GENRES[b % len(GENRES)] + [-1] * g)[:g]
        rows.append([0, 0, 0, ARTIST[b % len(ARTIST)]] + genres)
    labels = torch.tensor(rows, dtype=torch.long)
    if prior.nb_relevant_lyric_tokens > 0:
        vocab = prior.config.lyric_vocab_size
        lyr = torch.from_numpy(rng.integers(1, vocab, (1, lyrics_len))).repeat(batch, 1)
        labels = torch.cat([labels, lyr], dim=1)
    return labels


def _split_metadata(prior, spec, metadata: torch.Tensor) -> dict:
    g = spec.max_nb_genres
    out = {"artist": metadata[:, 3], "genres": metadata[:, 4 : 4 + g]}
    if spec.timing:
        out.update(total_length=metadata[:, 0], offset=metadata[:, 1], sample_length=metadata[:, 2])
    if spec.n_lyric_tokens > 0:
        out["lyrics"] = metadata[:, 4 + g :]
    return {k: v.numpy().astype(np.int64) for k, v in out.items()}


def teacher_forced(prior, batch: int = BATCH, seed: int = SEED) -> dict:
    """Arrays of one teacher-forced golden (see the module docstring)."""
    spec = prior_spec(prior)
    rng = np.random.default_rng(seed + spec.level)
    codes = torch.from_numpy(rng.integers(0, spec.music_vocab_size, (batch, spec.music_ctx)))
    labels = _labels(prior, batch, 3 * max(spec.n_lyric_tokens, 1), rng)
    total = spec.total_length_range[0] + 7 * spec.raw_to_tokens * spec.music_ctx if spec.timing else 0
    start = spec.music_ctx // 2  # a window that does not begin at the song start
    metadata = prior.get_metadata(labels, start, total, 0)
    upper = None
    if spec.kind == "upsampler":
        n_up = spec.music_ctx // spec.cond_downsample
        upper = torch.from_numpy(rng.integers(0, prior.config.music_vocab_size, (batch, n_up)))
    lyric_tokens, audio_cond, meta_cond, _ = ref.window_conditioning(prior, metadata, upper)
    seq, cond = ref.sequence_and_cond(prior, codes, lyric_tokens, audio_cond)
    logits = ref.teacher_forced_logits(prior, codes, metadata, upper)
    arrays = {
        "codes": codes.numpy(),
        "sequence": seq.numpy().astype(np.int64),
        "start_emb": meta_cond.reshape(batch, spec.width).float().numpy(),
        "cond": cond.float().numpy(),
        "logits": logits.numpy().astype(np.float32),
        **_split_metadata(prior, spec, metadata),
    }
    if upper is not None:
        arrays["upper_codes"] = upper.numpy()
    return arrays


class _Recorder:
    """Replaces torch.distributions.Categorical inside the port's samplers: draws one recorded
    uniform per row and applies the documented inverse-CDF rule to the port's final logits."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.calls = []  # (level, window, uniforms, ids)
        self.level = None
        self.window = -1

    def categorical(self, logits=None, **_):
        recorder = self

        class _Replay:
            def sample(self):
                rows = logits.reshape(-1, logits.shape[-1]).float().numpy()
                u = recorder.rng.random(rows.shape[0])
                ids = np.array([pick(r, ui) for r, ui in zip(rows, u)], dtype=np.int64)
                recorder.calls.append((recorder.level, recorder.window, u, ids))
                return torch.from_numpy(ids).view(logits.shape[:-1])

        return _Replay()


def _upper_window(prior, music_tokens, start, end):
    """openai/jukebox get_z_conds: the upper codes under [start, end), zero-padded."""
    if prior.level == 0:
        return None
    cd = prior.cond_downsample
    upper = music_tokens[prior.level - 1][:, start // cd : end // cd]
    missing = prior.n_ctx // cd - upper.shape[1]
    if missing > 0:
        upper = torch.cat([upper, torch.zeros(upper.shape[0], missing, dtype=upper.dtype)], dim=1)
    return [upper.long()]


@contextlib.contextmanager
def _patched(model, recorder, windows, song_length, top_k=0, top_p=0.0):
    """Record every window and route Categorical through the recorder; undo on exit."""
    saved_cat = torch.distributions.Categorical
    saved_ssw = model.sample_single_window
    saved_sample = [p.sample for p in model.priors]

    def sample_single_window(self, music_tokens, labels, offset, sampling_kwargs, level, start, max_batch_size):
        recorder.level = level
        n_ctx = self.priors[level].n_ctx
        prime = music_tokens[level][:, start : start + n_ctx].shape[1]
        new = n_ctx - prime  # the port always samples up to a full window (sample_tokens = end - start)
        if new > 0:
            recorder.window += 1
            windows.append({"level": level, "start": start, "prime": prime, "new": new})
        return saved_ssw(music_tokens, labels, offset, sampling_kwargs, level, start, max_batch_size)

    def make_sample(prior, orig):
        def sample(self, n_samples, music_tokens=None, music_tokens_conds=None, metadata=None, **kw):
            windows[-1]["metadata"] = metadata.numpy().copy()
            if music_tokens_conds is not None:
                windows[-1]["upper"] = music_tokens_conds[0].numpy().copy()
            if top_k or top_p:  # the port's _sample never passes them; its prior.sample takes them
                kw.update(top_k=top_k, top_p=top_p)
            return orig(n_samples, music_tokens=music_tokens, music_tokens_conds=music_tokens_conds, metadata=metadata, **kw)

        return types.MethodType(sample, prior)

    def make_get_metadata(prior):
        orig = prior.get_metadata

        def get_metadata(self, labels, start, total_length, offset, get_indices=False):
            return orig(labels, start, song_length, offset, get_indices=get_indices)

        return types.MethodType(get_metadata, prior)

    try:
        torch.distributions.Categorical = recorder.categorical
        model.sample_single_window = types.MethodType(sample_single_window, model)
        for p, orig in zip(model.priors, saved_sample):
            p.get_music_tokens_conds = types.MethodType(_upper_window, p)
            p.sample = make_sample(p, orig)
            p.get_metadata = make_get_metadata(p)
        yield
    finally:  # instance attributes shadowed the class methods: dropping them restores the port
        torch.distributions.Categorical = saved_cat
        del model.sample_single_window
        for p in model.priors:
            del p.get_music_tokens_conds, p.sample, p.get_metadata


def port_sampler(config, priors):
    """A JukeboxModel holding only its priors (no VQ-VAE): its `_sample` windowing needs nothing else."""
    from transformers import JukeboxModel

    sampler = JukeboxModel.__new__(JukeboxModel)
    torch.nn.Module.__init__(sampler)
    sampler.config = config
    sampler.priors = torch.nn.ModuleList(priors)
    return sampler.eval()


def sampled_continuation(model, batch: int = BATCH, seed: int = SEED, top_windows: int = 3,
                         temperature: float = 0.98, codes: dict | None = None, top_k: int = 0,
                         top_p: float = 0.0) -> dict:
    """Primed continuation through the port's own `_sample` windowing (chunk_size 1).

    model: a JukeboxModel (or port_sampler). codes: optional {VQ-VAE level: (1, n) codes of a
    prompt} (the fixture's encoded prompt); its first codes become the prime at every level."""
    priors = model.priors
    top = priors[0]
    top_spec = prior_spec(top)
    rng = np.random.default_rng(seed)
    hop_top = int(model.config.hop_fraction[0] * top.n_ctx)
    top_len = top.n_ctx + (top_windows - 1) * hop_top  # tokens at the top level
    prompt_top = max(top.n_ctx // 4, 1)
    sample_length = top_len * int(top.raw_to_tokens)
    # The label's total_length is the whole song's length; tiny fixtures sample far less than the
    # total-length embedding's minimum, so the song is declared longer than what is sampled.
    song_length = sample_length
    if top_spec.timing:
        lo, hi = top_spec.total_length_range
        song_length = min(max(sample_length, lo + sample_length), hi - 1)
    music_tokens, prompts = [], {}
    for p in priors:
        spec = prior_spec(p)
        n = prompt_top * int(top.raw_to_tokens) // int(p.raw_to_tokens)
        given = None if codes is None else np.asarray(codes.get(spec.level, np.zeros((1, 0))))
        if given is not None and given.shape[-1] >= n:
            rows = np.resize(given.reshape(-1, given.shape[-1])[:, :n], (batch, n))
        else:
            rows = rng.integers(0, spec.music_vocab_size, (batch, n))
        codes_l = torch.from_numpy(rows.astype(np.int64))
        music_tokens.append(codes_l)
        prompts[spec.level] = codes_l.numpy().copy()
    labels = [_labels(p, batch, 5 * max(p.nb_relevant_lyric_tokens, 1), rng) for p in priors]

    recorder, windows = _Recorder(seed + 1), []
    with _patched(model, recorder, windows, song_length, top_k, top_p), torch.no_grad():
        out = model._sample(
            [t.clone() for t in music_tokens],
            labels,
            sample_levels=list(range(len(priors))),
            chunk_size=1,
            sampling_temperature=temperature,
            lower_batch_size=batch,
            max_batch_size=batch,
            sample_length=sample_length,
            save_results=False,
        )
    arrays = {
        "seed": np.int64(seed),
        "batch": np.int64(batch),
        "sample_length": np.int64(sample_length),
        "song_length": np.int64(song_length),
        "top_k": np.int64(top_k),
        "top_p": np.float64(top_p),
        "chunk_size": np.int64(1),
    }
    for index, p in enumerate(priors):
        v = prior_spec(p).level
        arrays[f"l{v}_temperature"] = np.float64(0.99 if index == len(priors) - 1 else temperature)
        arrays[f"l{v}_hop_length"] = np.int64(int(model.config.hop_fraction[index] * p.n_ctx))
        arrays[f"l{v}_prompt"] = prompts[v]
        arrays[f"l{v}_codes"] = out[index].numpy().astype(np.int64)
        if index == 0 and p.nb_relevant_lyric_tokens > 0:
            # The song's whole lyric ids (every row the same): the port picks each window's slice.
            arrays[f"l{v}_lyrics"] = labels[0][:, 4 + prior_spec(p).max_nb_genres :].numpy().astype(np.int64)
        mine = [w for w in windows if w["level"] == index]
        first = windows.index(mine[0]) if mine else 0
        arrays[f"l{v}_window_start"] = np.array([w["start"] for w in mine], dtype=np.int64)
        arrays[f"l{v}_window_prime"] = np.array([w["prime"] for w in mine], dtype=np.int64)
        arrays[f"l{v}_window_new"] = np.array([w["new"] for w in mine], dtype=np.int64)
        arrays[f"l{v}_window_metadata"] = np.stack([w["metadata"] for w in mine]).astype(np.int64)
        if index > 0:
            arrays[f"l{v}_window_upper"] = np.stack([w["upper"] for w in mine]).astype(np.int64)
        calls = [c for c in recorder.calls if c[0] == index]
        arrays[f"l{v}_uniforms"] = np.stack([c[2] for c in calls])
        arrays[f"l{v}_sampled_ids"] = np.stack([c[3] for c in calls])
        arrays[f"l{v}_call_window"] = np.array([c[1] - first for c in calls], dtype=np.int64)
        positions = []
        for w_index, w in enumerate(mine):
            seq_prime = w["prime"] + prior_spec(p).prefix_len
            positions += list(range(seq_prime, seq_prime + w["new"]))
        arrays[f"l{v}_call_position"] = np.array(positions, dtype=np.int64)
        assert len(positions) == len(calls), f"level {v}: {len(calls)} sampling calls for {len(positions)} positions"
    return arrays


# sampled goldens: file -> filters (same seed, prompt and labels; array names as sampled.npz).
SAMPLED_VARIANTS = {
    "sampled.npz": {},
    "sampled.top_k5.npz": {"top_k": 5},
    "sampled.top_p08.npz": {"top_p": 0.8},
}


def _priors_of(model) -> list:
    """priors in transformers' order (0 = top) from a JukeboxModel or a source with .prior(i)."""
    if hasattr(model, "priors"):
        return list(model.priors)
    return [model.prior(i) for i in range(len(model.config.prior_configs))]


def _check_finite(priors):
    for p in priors:
        bad = [n for n, w in p.named_parameters() if not torch.isfinite(w).all()]
        if bad:
            raise ValueError(
                f"priors[{p.level}] has non-finite weights ({', '.join(bad[:3])}...): transformers 4.40 leaves "
                "some torch.empty weights uninitialised; randomise them first (encore_export.prior.tiny.randomize)"
            )


def write_goldens(model, model_dir: str, codes: dict | None = None) -> list[str]:
    """Write the goldens into `model_dir/goldens/` (or into model_dir itself if it is named
    `goldens`). model: JukeboxModel, or a weights source with `.config` and `.prior(i)`.
    codes: optional {VQ-VAE level: (1, n) prompt codes} used as the sampled golden's prime."""
    priors = [p.eval() for p in _priors_of(model)]
    _check_finite(priors)
    out_dir = model_dir if os.path.basename(os.path.normpath(model_dir)) == "goldens" else os.path.join(model_dir, "goldens")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for prior in priors:
        level = prior_spec(prior).level
        path = os.path.join(out_dir, f"prior_l{level}.teacher_forced.npz")
        np.savez_compressed(path, **teacher_forced(prior))
        paths.append(path)
    sampler = port_sampler(model.config, priors)
    for name, filters in SAMPLED_VARIANTS.items():
        path = os.path.join(out_dir, name)
        np.savez_compressed(path, **sampled_continuation(sampler, codes=codes, **filters))
        paths.append(path)
    return paths
