"""Tiny random-weight Jukebox models for the prior tests (no weights can be downloaded).

Each kind keeps the real model's structure (attention pattern, conditioning, lyric handling)
at toy sizes. `randomize` replaces the port's init, which leaves some `torch.empty` weights
uninitialised (NaN/garbage in transformers 4.40.2 when JukeboxModel is built from a config),
and uses weights large enough that logits spread over several units, so a parity bound of 1e-4
means something.
"""

from __future__ import annotations

import torch
from torch import nn

_VQVAE = {
    "nb_discrete_codes": 64,
    "embed_dim": 16,
    "levels": 3,
    "res_conv_width": 8,
    "res_conv_depth": 1,
    "hop_fraction": [0.125, 0.5, 0.5],
}


def _upsampler(level: int) -> dict:
    return {
        "level": level,
        "n_ctx": 32,
        "hidden_size": 16,
        "num_layers": 3,
        "n_heads": 1,
        "attention_pattern": "raw_column_previous_row_attention",
        "blocks": 4,
        "is_encoder_decoder": False,
        "nb_relevant_lyric_tokens": 0,
        "lyric_vocab_size": 0,
        "merged_decoder": False,
        "music_vocab_size": 64,
        "res_conv_width": 8,
        "res_conv_depth": 1,
        "res_dilation_growth_rate": 3,
        "metadata_dims": [6, 10],
    }


_TOP = {
    "5b": {
        "n_ctx": 32,
        "hidden_size": 16,
        "num_layers": 3,
        "n_heads": 2,
        "attention_pattern": "raw_column_previous_row_attention",
        "blocks": 4,
        "is_encoder_decoder": False,
        "nb_relevant_lyric_tokens": 0,
        "lyric_vocab_size": 80,
        "merged_decoder": False,
    },
    "5b_lyrics": {
        "n_ctx": 32,
        "hidden_size": 16,
        "num_layers": 19,  # layer 18 is the first cross-attention (type 6) layer
        "n_heads": 2,
        "attention_pattern": "large_separated_enc_dec_w_lyrics",
        "blocks": 4,
        "is_encoder_decoder": False,
        "nb_relevant_lyric_tokens": 12,
        "lyric_vocab_size": 80,
        "merged_decoder": True,
        "encoder_config": {
            "hidden_size": 8,
            "num_layers": 3,
            "n_heads": 2,
            "blocks": 4,
            "attention_pattern": "raw_column_previous_row_attention",
            "mask": True,  # causal, as openai/jukebox builds it (the port defaults to False)
            "n_ctx": 12,
            "nb_relevant_lyric_tokens": 12,
            "lyric_vocab_size": 80,
            "merged_decoder": True,
            "is_encoder_decoder": False,
            "metadata_conditioning": False,
        },
    },
    "1b_lyrics": {
        "n_ctx": 48,
        "hidden_size": 16,
        "num_layers": 48,  # layers 15, 31 are type 7, layer 47 type 0
        "n_heads": 2,
        "attention_pattern": "enc_dec_with_lyrics",
        "blocks": 4,  # (48 + 16) / 4 = 16 positions per block
        "is_encoder_decoder": True,
        "nb_relevant_lyric_tokens": 16,
        "lyric_vocab_size": 79,
        "merged_decoder": True,
    },
}


def tiny_config(kind: str, head_dim: int | None = None):
    """head_dim: widen every prior so that its attention heads have this size (the fixtures'
    heads of 2 and 4 are below what GroupQueryAttention takes: a multiple of 8)."""
    from transformers import JukeboxConfig

    top = {"level": 0, "music_vocab_size": 64, "metadata_dims": [6, 10], **_TOP[kind]}
    priors = [top, _upsampler(1), _upsampler(2)]
    if head_dim is not None:
        for prior in priors:  # attention width = hidden_size / 4 (the port's attention_multiplier)
            prior["hidden_size"] = 4 * head_dim * prior["n_heads"]
    return JukeboxConfig(
        vqvae_config=_VQVAE,
        prior_config_list=priors,
        max_nb_genres=1 if kind == "1b_lyrics" else 5,
        min_duration=1.0,
        max_duration=60.0,
        timing_dims=16,
    )


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Deterministic weights with O(1) activations: matmuls ~ 1/sqrt(fan_in), embeddings N(0, 0.5)."""
    from transformers.models.jukebox.modeling_jukebox import JukeboxConv1D

    g = torch.Generator().manual_seed(seed)

    def normal(p, std):
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g) * std)

    for name, mod in model.named_modules():
        if isinstance(mod, JukeboxConv1D):
            normal(mod.weight, mod.weight.shape[0] ** -0.5)
            normal(mod.bias, 0.05)
        elif isinstance(mod, nn.LayerNorm):
            with torch.no_grad():
                mod.weight.copy_(1.0 + 0.1 * torch.randn(mod.weight.shape, generator=g))
            normal(mod.bias, 0.05)
        elif isinstance(mod, nn.Embedding):
            normal(mod.weight, 0.5)
        elif isinstance(mod, (nn.Linear, nn.Conv1d, nn.ConvTranspose1d)):
            fan_in = mod.weight[0].numel() if not isinstance(mod, nn.Linear) else mod.weight.shape[1]
            normal(mod.weight, fan_in**-0.5)
            if mod.bias is not None:
                normal(mod.bias, 0.05)
    for name, p in model.named_parameters():
        if name.endswith("pos_emb") or name.endswith("start_token"):
            normal(p, 0.5)
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise RuntimeError(f"{name} is still not finite after randomize")
    return model


def tiny_model(kind: str, seed: int = 0, head_dim: int | None = None):
    from transformers import JukeboxModel

    return randomize(JukeboxModel(tiny_config(kind, head_dim)).eval(), seed)
