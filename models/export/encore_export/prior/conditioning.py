"""The conditioning graph: labels / lyrics / upper-level codes -> what the decoder consumes.

It wraps the port's own modules (`JukeboxLabelConditioner`, `JukeboxMusicTokenConditioner` and
each type-6 layer's `c_enc_kv` weights), so its numbers are the port's. The 5b_lyrics lyrics
encoder is `lyrics_encoder.LyricsEncoder`: the port's arithmetic, rewritten because the port's
own forward bakes the traced batch into the graph. Every reshape leaves the batch as -1.
Runs once per window, always in fp32; type-6 keys/values leave in the cache dtype.
"""

from __future__ import annotations

import torch
from torch import nn

from .lyrics_encoder import LyricsEncoder, conv1d
from .spec import PriorSpec


class Conditioning(nn.Module):
    """Inputs depend on `spec.kind` (see `input_names`):

    artist (B,) int64; genres (B, max_nb_genres) int64, -1 = empty slot
    top levels: total_length, offset, sample_length (B,) int64, in audio samples
    5b_lyrics: lyrics (B, n_lyric_tokens) int64, the window of lyric ids for this window
    upsamplers: upper_codes (B, n_ctx // cond_downsample) int64, the upper level's codes
    Outputs: start_emb (B, W) fp32, cond (B, n_ctx, W) fp32 (zeros on a 1b lyric prefix),
    and for 5b_lyrics `cache.{i}.key` / `cache.{i}.value` (B, heads, n_lyric_tokens, head_dim).
    """

    def __init__(self, prior, spec: PriorSpec, cache_dtype: torch.dtype = torch.float32):
        super().__init__()
        self.prior = prior
        self.spec = spec
        self.cache_dtype = cache_dtype
        self.cross = [i for i, layer in enumerate(spec.layers) if layer.attn_type == 6]
        self.lyrics_encoder = LyricsEncoder(prior) if self.cross else None

    def input_names(self) -> list[str]:
        names = ["artist", "genres"]
        if self.spec.timing:
            names += ["total_length", "offset", "sample_length"]
        if self.spec.kind == "top_lyrics_encoder":  # 1b_lyrics feeds its lyrics through prefill
            names.append("lyrics")
        if self.spec.kind == "upsampler":
            names.append("upper_codes")
        return names

    def output_names(self) -> list[str]:
        names = ["start_emb", "cond"]
        for i in self.cross:
            names += [f"cache.{i}.key", f"cache.{i}.value"]
        return names

    def forward(self, *inputs):
        spec, prior = self.spec, self.prior
        args = dict(zip(self.input_names(), inputs))
        artist, genres = args["artist"], args["genres"]
        batch = artist.shape[0]
        if spec.timing:
            timing = [args["total_length"], args["offset"], args["sample_length"]]
        else:
            timing = [torch.zeros_like(artist)] * 3  # the upsamplers' label conditioner ignores these
        metadata = torch.cat([torch.stack(timing + [artist], dim=1), genres], dim=1)
        start_emb, pos_emb = prior.metadata_embedding(metadata)  # (B,1,W), (B,music_ctx,W) | None
        if spec.kind == "upsampler":
            cond = prior.conditioner_blocks(args["upper_codes"])
        else:
            cond = pos_emb
        if spec.prefix_len > 0:
            cond = torch.cat([torch.zeros(batch, spec.prefix_len, spec.width, dtype=cond.dtype), cond], dim=1)
        outputs = [start_emb.reshape(-1, spec.width), cond]
        if self.cross:
            enc = self.lyrics_encoder(args["lyrics"])  # (B, n_lyric, W), as prior.get_encoder_states
            mods = prior.prior.transformer._attn_mods
            for i in self.cross:
                k, v = conv1d(enc, mods[i].attn.c_enc_kv).chunk(2, dim=2)
                for t in (k, v):
                    t = t.reshape(-1, spec.n_lyric_tokens, spec.heads, spec.head_dim).transpose(1, 2)
                    outputs.append(t.to(self.cache_dtype))
        return tuple(outputs)
