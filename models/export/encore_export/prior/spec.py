"""What one Jukebox prior looks like to the engine: sizes, attention types, cache layout.

Everything here is read off a transformers 4.40 `JukeboxPrior` module (never hard-coded per
checkpoint) so that the tiny random-weight fixtures and the real 5b / 1b priors go through the
same code. Names follow the port: `prior_index` 0 is the TOP level (VQ-VAE level 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Port attention function name -> the numeric type used by openai/jukebox and by our docs.
ATTN_TYPE = {
    "dense_attn": 0,
    "dense_attention": 0,
    "block_attn": 1,
    "transpose_block_attn": 2,
    "prev_block_attn": 3,
    "cross_attention": 6,
    "prime_attn": 7,
}

# How each type fills its cache (see docs/prior-graphs.md for the slot formulas).
CACHE_KIND = {
    0: "linear",  # slot = position, n_ctx slots
    1: "ring",  # slot = position % block_ctx, block_ctx slots
    2: "transposed",  # slot = (position % block_ctx) * blocks + position // block_ctx, n_ctx slots
    3: "ring",  # slot = position % (2 * block_ctx), 2 * block_ctx slots
    6: "encoder",  # written once by the conditioning graph, n_lyric_tokens slots
    7: "prime",  # slot = position if < prime_len else prime_len + position % block_ctx
}


@dataclass
class LayerSpec:
    index: int
    attn_type: int
    slots: int  # rows in this layer's key (and value) cache

    @property
    def cache_kind(self) -> str:
        return CACHE_KIND[self.attn_type]


@dataclass
class PriorSpec:
    """Static facts about one prior. Field comments give the port's attribute names."""

    prior_index: int  # JukeboxPrior.level (0 = top)
    level: int  # VQ-VAE level (2 = top, 0 = bottom)
    kind: str  # "top" | "top_lyrics_encoder" (5b_lyrics) | "top_lyrics_prefix" (1b_lyrics) | "upsampler"
    n_ctx: int  # sequence length the transformer sees (1b: lyric prefix + music)
    music_ctx: int  # config.n_ctx: music codes per window
    width: int  # config.hidden_size
    depth: int  # config.num_layers
    heads: int  # config.n_heads
    attn_width: int  # int(attention_multiplier * width)
    head_dim: int
    blocks: int  # config.blocks
    block_ctx: int  # n_ctx // blocks
    vocab_size: int  # logits per position (1b: lyric vocab + music codes)
    music_vocab_size: int
    token_offset: int  # added to music codes before embedding (1b: lyric_vocab_size)
    prefix_len: int  # lyric tokens at the start of the sequence (1b only)
    n_lyric_tokens: int  # config.nb_relevant_lyric_tokens (0 when no lyrics)
    lyric_vocab_size: int
    prime_len: int  # JukeboxAttention._encoder_len: keys a type-7 layer may see
    max_nb_genres: int
    timing: bool  # total length / offset / sample length embeddings present
    total_length_range: tuple[int, int]  # [min, max) samples the total-length embedding accepts
    add_cond_after_transformer: bool
    raw_to_tokens: int  # audio samples per code at this level
    cond_downsample: int  # lower codes per upper code (upsamplers), else 0
    res_scale: float
    layers: list[LayerSpec] = field(default_factory=list)


def attention_type_of(attn_func: str) -> int:
    if attn_func not in ATTN_TYPE:
        raise ValueError(f"attention function {attn_func!r} has no cached step implementation")
    return ATTN_TYPE[attn_func]


def cache_slots(attn_type: int, n_ctx: int, block_ctx: int, prime_len: int, n_lyric: int) -> int:
    """Rows of the per-layer cache for one attention type."""
    return {
        0: n_ctx,
        1: block_ctx,
        2: n_ctx,
        3: 2 * block_ctx,
        6: n_lyric,
        # prime_len real slots plus a block-sized scratch region that positions past the prime
        # write into (so a chunk never writes one slot twice and nothing needs a branch).
        7: prime_len + block_ctx,
    }[attn_type]


def prior_spec(prior) -> PriorSpec:
    """Read a PriorSpec off a transformers `JukeboxPrior`."""
    cfg = prior.config
    ar = prior.prior  # JukeboxConditionalAutoregressive
    first_attn = ar.transformer._attn_mods[0].attn
    n_ctx = ar.n_ctx
    blocks = cfg.blocks
    if n_ctx % blocks != 0:
        raise ValueError(f"n_ctx {n_ctx} is not a multiple of blocks {blocks}")
    block_ctx = n_ctx // blocks
    n_lyric = prior.nb_relevant_lyric_tokens
    prime_len = first_attn._encoder_len if cfg.is_encoder_decoder else 0

    if prior.level != 0:
        kind = "upsampler"
    elif cfg.is_encoder_decoder:
        kind = "top_lyrics_prefix"
    elif n_lyric > 0:
        kind = "top_lyrics_encoder"
    else:
        kind = "top"

    timing = bool(prior.metadata_conditioning and prior.metadata_embedding.include_time_signal)
    total_range = (0, 0)
    if timing:
        emb = prior.metadata_embedding.total_length_emb
        total_range = (int(emb.pos_min), int(emb.pos_max))

    layers = []
    for i, block in enumerate(ar.transformer._attn_mods):
        t = attention_type_of(block.attn_func)
        layers.append(LayerSpec(i, t, cache_slots(t, n_ctx, block_ctx, prime_len, n_lyric)))

    res_scales = {b.res_scale for b in ar.transformer._attn_mods}
    assert len(res_scales) == 1, "layers disagree on res_scale"

    return PriorSpec(
        prior_index=prior.level,
        level=prior.levels - 1 - prior.level,
        kind=kind,
        n_ctx=n_ctx,
        music_ctx=cfg.n_ctx,
        width=cfg.hidden_size,
        depth=cfg.num_layers,
        heads=cfg.n_heads,
        attn_width=first_attn.hidden_dim,
        head_dim=first_attn.head_dim,
        blocks=blocks,
        block_ctx=block_ctx,
        vocab_size=ar.embed_dim,
        music_vocab_size=cfg.music_vocab_size,
        token_offset=cfg.lyric_vocab_size if cfg.is_encoder_decoder else 0,
        prefix_len=n_lyric if cfg.is_encoder_decoder else 0,
        n_lyric_tokens=n_lyric,
        lyric_vocab_size=cfg.lyric_vocab_size if n_lyric > 0 else 0,
        prime_len=prime_len,
        max_nb_genres=prior.metadata_embedding.max_nb_genres if prior.metadata_conditioning else 0,
        timing=timing,
        total_length_range=total_range,
        add_cond_after_transformer=bool(ar.add_cond_after_transformer),
        raw_to_tokens=int(prior.raw_to_tokens),
        cond_downsample=int(prior.cond_downsample or 0),
        res_scale=float(res_scales.pop()),
        layers=layers,
    )


def cache_bytes_per_sample(spec: PriorSpec, bytes_per_element: int) -> int:
    """Key + value bytes of every layer's cache for one batch row."""
    return sum(2 * spec.heads * layer.slots * spec.head_dim * bytes_per_element for layer in spec.layers)
