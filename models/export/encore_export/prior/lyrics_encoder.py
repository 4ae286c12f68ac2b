"""The 5b_lyrics lyrics encoder, written out so that it traces with a symbolic batch.

transformers 4.40.2 computes it as `JukeboxPrior.get_encoder_states(tokens)`: the encoder's
`JukeboxConditionalAutoregressive.forward` (full-sequence path, `sample=False`), then
`encoder.proj_in` and `encoder.final_layer_norm`. Its `hidden_states[:, 0] = start_token`
traces into a ScatterND whose indices are a constant `arange(batch)`, so the exported graph
only ran at the batch it was traced with. This module does the same arithmetic, op for op and
with the port's own weights, but every reshape names the batch as -1 and the start token is
concatenated instead of scattered. `test_lyrics_encoder.py` checks it equals the port exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.jukebox.modeling_jukebox import get_mask

# Port attention function -> how a full sequence is cut into the rows that attend together.
SUPPORTED = {"dense_attn", "block_attn", "transpose_block_attn", "prev_block_attn"}


def conv1d(x: torch.Tensor, conv) -> torch.Tensor:
    """JukeboxConv1D.forward: addmm over the flattened rows, same op, batch-free reshape."""
    out = torch.addmm(conv.bias.type_as(x), x.reshape(-1, x.shape[-1]), conv.weight.type_as(x))
    return out.reshape(-1, x.shape[1], conv.output_width)


def layer_norm(x: torch.Tensor, norm) -> torch.Tensor:
    """JukeboxLayerNorm.forward: both of its branches are this F.layer_norm."""
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps).type_as(x)


class _EncoderAttention(nn.Module):
    """JukeboxAttention.forward with sample=False and a query as long as its keys."""

    def __init__(self, attn, seq_len: int):
        super().__init__()
        if attn.attn_func not in SUPPORTED:
            raise ValueError(f"lyrics encoder attention {attn.attn_func!r} is not supported")
        self.attn = attn
        self.seq_len = seq_len
        self.width = attn.hidden_dim
        self.heads = attn.n_heads
        self.head_dim = attn.head_dim
        self.block_ctx = getattr(attn, "block_ctx", seq_len)

    def _dense(self, q, k, v):
        """dense_attn + _attn (eval): rows (N, T, width) -> (N, T, width)."""
        attn, rows = self.attn, q.shape[1]
        q = q.reshape(-1, rows, self.heads, self.head_dim).permute(0, 2, 1, 3)
        k = k.reshape(-1, k.shape[1], self.heads, self.head_dim).permute(0, 2, 3, 1)
        v = v.reshape(-1, v.shape[1], self.heads, self.head_dim).permute(0, 2, 1, 3)
        weight = torch.matmul(q, k)
        weight = weight.mul(attn.scale * attn.scale)
        dtype = weight.dtype
        weight = weight.float()
        if attn.mask:
            mask = get_mask(attn.attn_mask, rows, k.shape[-1], attn.blocks, attn.spread, weight.device, False, 0)
            if mask is not None:
                weight = weight * mask + -1e9 * (1 - mask)
        prob = F.softmax(weight, dim=-1).type(dtype)
        context = torch.matmul(prob, v)
        return context.permute(0, 2, 1, 3).contiguous().reshape(-1, rows, self.width)

    def forward(self, x):
        L, bc, width = self.seq_len, self.block_ctx, self.width
        q, k, v = conv1d(x, self.attn.c_attn).chunk(3, dim=2)
        func = self.attn.attn_func
        if func == "dense_attn":
            context = self._dense(q, k, v)
        elif func == "block_attn":
            rows = [t.reshape(-1, bc, width) for t in (q, k, v)]
            context = self._dense(*rows).reshape(-1, L, width)
        elif func == "transpose_block_attn":
            rows = [t.reshape(-1, L // bc, bc, width).transpose(1, 2).contiguous().reshape(-1, L // bc, width)
                    for t in (q, k, v)]
            context = self._dense(*rows).reshape(-1, bc, L // bc, width)
            context = context.transpose(1, 2).contiguous().reshape(-1, L, width)
        else:  # prev_block_attn: each block attends to the one before it, the first to zeros
            def previous(t):
                t = t.reshape(-1, L // bc, bc, width)[:, :-1, :, :]
                return F.pad(t, (0, 0, 0, 0, 1, 0)).reshape(-1, bc, width)

            context = self._dense(q.reshape(-1, bc, width), previous(k), previous(v)).reshape(-1, L, width)
        return conv1d(context, self.attn.c_proj)


class LyricsEncoder(nn.Module):
    """lyrics (B, n_lyric_tokens) int64 -> encoder states (B, n_lyric_tokens, prior width),
    what `prior.get_encoder_states(lyrics, sample=True)` returns."""

    def __init__(self, prior):
        super().__init__()
        encoder = prior.encoder
        if encoder.metadata_conditioning or encoder.audio_conditioning:
            raise ValueError("the lyrics encoder is expected to be unconditioned")
        self.encoder = encoder
        self.seq_len = encoder.n_ctx
        self.attention = nn.ModuleList(_EncoderAttention(b.attn, self.seq_len) for b in encoder.transformer._attn_mods)

    def forward(self, lyrics: torch.Tensor) -> torch.Tensor:
        enc = self.encoder
        x = enc.embed_tokens(lyrics.reshape(-1, self.seq_len).long())
        # The port rolls the sequence right by one and overwrites position 0 with start_token.
        start = enc.start_token.type_as(x).reshape(1, 1, -1).expand(x.shape[0], 1, x.shape[2])
        x = torch.cat([start, x[:, :-1]], dim=1)
        # The port also adds all-zero audio conditioning here and after the stack: x + 0 == x.
        x = x + enc.pos_emb.pos_emb
        for block, attention in zip(enc.transformer._attn_mods, self.attention):
            a = attention(layer_norm(x, block.layer_norm_0))
            m = layer_norm(x + a, block.layer_norm_1)
            m = conv1d(block.mlp.act(conv1d(m, block.mlp.c_fc)), block.mlp.c_proj)
            if block.res_scale == 1.0:
                x = x + a + m
            else:
                x = x + block.res_scale * (a + m)
        return layer_norm(conv1d(x, enc.proj_in), enc.final_layer_norm)
