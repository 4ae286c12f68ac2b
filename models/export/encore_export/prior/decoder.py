"""The prior's transformer rewritten around fixed-shape, in-place-updatable KV caches.

One module serves both exported graphs:
  * prefill: `L` consecutive positions `position .. position+L-1`, any `L`, logits for every
    position;
  * step: the same with `L == 1`.

Both take the window's whole conditioning `cond` (B, n_ctx, W) and gather the rows of their
positions themselves, so an engine binds `cond` once per window and never copies a row. Type-2
layers gather, for every query, only the `blocks` keys at its offset (`blocks` rows instead of
`n_ctx`), in prefill as in step.

Every layer scatters the chunk's new keys/values into its cache (the ONLY write; the engine
binds input `cache.{i}.key` and output `cache.{i}.key_out` to one buffer), with masks computed
from positions alone. Layers whose cache holds every position (types 0, 2, 7) write first and
attend over the updated cache. Ring caches (types 1, 3) are too small for a chunk that leaves its
block: there the prefill attends over the ring as it was before the chunk (old keys) plus the
chunk's own keys, and writes the chunk's last `ring` keys. A chunk inside one block overwrites
only slots none of its queries may see, so its ring outputs may be bound in place (the step
always is); a chunk that crosses a block needs its ring outputs bound to other buffers (the
engine copies them back after the run).

Numerics follow `JukeboxAttention` in transformers 4.40: scores = (q . k) * head_dim**-0.5,
softmax in fp32, QuickGELU MLP, `x + a + mlp(ln1(x + a))`. In fp16 graphs the matmul weights,
activations entering/leaving matmuls and the caches are fp16; the residual stream, LayerNorm,
softmax, embeddings and the logits projection stay fp32.

Two experiments change that for the GPU check to measure (docs/performance.md): `residual` in
fp16 (the residual stream and LayerNorm in fp16, as OpenAI's fp16 sampling has them) and
`fused_attention` (the step's attention as one com.microsoft.MultiHeadAttention per layer).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .quantize import FLOAT, MatMulNBits, WeightFormat, quantise
from .spec import PriorSpec

MASKED = -1e9  # added logit for a key a query may not see (as the port's masked path does)


def _as(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`x` in `dtype`; no Cast in the graph when it already is (the tracer records even a no-op
    `.to`)."""
    return x if x.dtype == dtype else x.to(dtype)


class _MultiHeadAttention(torch.autograd.Function):
    """One query position attending over a cache, exported as ONNX Runtime's
    `com.microsoft.MultiHeadAttention` (one op instead of the scores, mask, softmax and context
    nodes; on CUDA a fused kernel). The torch side computes the same for tracing.

    q (B, 1, A); keys/values (B, H, S, hd) (the cache's layout, read in place); bias (1, 1, 1, S)
    added to the scaled scores, or None -> (B, 1, A)."""

    @staticmethod
    def forward(ctx, q, keys, values, bias, heads: int, scale: float):
        qh = q.reshape(-1, heads, 1, keys.shape[-1])
        scores = torch.matmul(qh, keys.transpose(-1, -2)).float() * scale
        if bias is not None:
            scores = scores + bias.float()
        probs = torch.softmax(scores, dim=-1).to(q.dtype)
        return torch.matmul(probs, values).reshape(q.shape)

    @staticmethod
    def symbolic(g, q, keys, values, bias, heads: int, scale: float):
        from torch.onnx import symbolic_helper

        inputs = [q, keys, values]
        if bias is not None and not symbolic_helper._is_none(bias):
            absent = symbolic_helper._optional_input_placeholder_tensor(g)
            inputs += [absent, absent, bias]  # (projection bias, key padding mask, attention bias)
        out = g.op("com.microsoft::MultiHeadAttention", *inputs, num_heads_i=heads, scale_f=scale)
        out.setType(q.type())
        return out


def _masked(mask: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """`scores` where `mask`, else MASKED: a Where against a scalar, so no graph fills a
    scores-sized tensor with the constant on every layer."""
    return torch.where(mask, scores, MASKED)


def _param(t: torch.Tensor, dtype: torch.dtype) -> nn.Parameter:
    """The same tensor when no cast is needed (shared initializer), else a cast copy."""
    if t.dtype == dtype:
        return t if isinstance(t, nn.Parameter) else nn.Parameter(t, requires_grad=False)
    return nn.Parameter(t.detach().to(dtype), requires_grad=False)


class _Layer(nn.Module):
    """Weights of one JukeboxBlock, matmul weights in the compute dtype (or, quantised, as
    MatMulNBits buffers next to them: the float ones are then only read by the fused step)."""

    MATRICES = {"in": ("w_in", "b_in"), "out": ("w_out", "b_out"), "fc": ("w_fc", "b_fc"), "proj": ("w_proj", "b_proj")}

    def __init__(self, block, dtype: torch.dtype, residual: torch.dtype = torch.float32,
                 weights: WeightFormat = FLOAT):
        super().__init__()
        attn = block.attn
        # LayerNorm's weights are in the residual stream's dtype (an ONNX LayerNormalization
        # takes them in its input's type; ONNX Runtime computes its statistics in fp32 anyway)
        r = residual
        self.ln0_w, self.ln0_b = _param(block.layer_norm_0.weight, r), _param(block.layer_norm_0.bias, r)
        self.ln1_w, self.ln1_b = _param(block.layer_norm_1.weight, r), _param(block.layer_norm_1.bias, r)
        self.ln0_eps, self.ln1_eps = block.layer_norm_0.eps, block.layer_norm_1.eps
        self.w_in = _param(attn.c_attn.weight, dtype)  # (width, 3*attn_width) or (width, attn_width) for cross
        self.b_in = _param(attn.c_attn.bias, dtype)
        self.w_out = _param(attn.c_proj.weight, dtype)  # (attn_width, width)
        self.b_out = _param(attn.c_proj.bias, dtype)
        self.w_fc = _param(block.mlp.c_fc.weight, dtype)
        self.b_fc = _param(block.mlp.c_fc.bias, dtype)
        self.w_proj = _param(block.mlp.c_proj.weight, dtype)
        self.b_proj = _param(block.mlp.c_proj.bias, dtype)
        self.act = block.mlp.act
        self.weights = weights
        self.quantised = {}
        if weights.quantised:
            for key, (w_name, _) in self.MATRICES.items():
                q = quantise(getattr(self, w_name).detach().float().numpy(), weights)
                self.register_buffer(f"q_{key}", torch.from_numpy(q.packed))
                self.register_buffer(f"s_{key}", torch.from_numpy(q.scales).to(dtype))
                self.quantised[key] = (q.k, q.n, q.block_size)

    def linear(self, key: str, x: torch.Tensor) -> torch.Tensor:
        """x @ W + b for one of the layer's matrices ("in", "out", "fc", "proj")."""
        w_name, b_name = self.MATRICES[key]
        if key not in self.quantised:
            return torch.matmul(x, getattr(self, w_name)) + getattr(self, b_name)
        k, n, block = self.quantised[key]
        # The bias as its own Add: ONNX Runtime's CUDA MatMulNBits refuses a bias input.
        y = MatMulNBits.apply(x, getattr(self, f"q_{key}"), getattr(self, f"s_{key}"), None, k, n,
                              self.weights.bits, block, self.weights.accuracy_level)
        return y + getattr(self, b_name)


class CachedDecoder(nn.Module):
    """forward(tokens, position, cond, start_emb, *caches) -> (logits, *updated caches).

    tokens    (B, L) int64   sequence id fed at each position: the id at position-1
                             (music code + token_offset); ignored at position 0. Step: (B,)
    position  (1,) int64     sequence position of tokens[:, 0]
    cond      (B, n_ctx, W) fp32 the window's conditioning (conditioning graph's `cond`); the
                             rows at the chunk's positions are gathered here
    start_emb (B, W) fp32    start embedding (used at position 0 only)
    caches    per layer key, value: (B, heads, slots, head_dim), cache dtype
    returns   logits (B, L, V) fp32 (step: (B, V)) and, per non-type-6 layer, key/value updated
    """

    def __init__(self, prior, spec: PriorSpec, dtype: torch.dtype = torch.float32, step: bool = False,
                 residual: torch.dtype = torch.float32, fused_attention: bool = False,
                 weights: WeightFormat = FLOAT):
        super().__init__()
        ar = prior.prior
        self.spec = spec
        self.dtype = dtype
        self.step = step
        # The residual stream's dtype: fp32 (the default, also in fp16 graphs), or the compute
        # dtype as OpenAI's `Transformer(fp16=True)` samples (fewer casts per layer).
        self.residual = residual
        # The step graph's attention as one MultiHeadAttention op per layer (an experiment the
        # GPU check measures; the prefill keeps its own nodes).
        self.fused_attention = fused_attention
        # fp32 in every graph; a prior built in fp16 (RandomWeights.prior_in_half) is widened here
        self.embed = _param(ar.embed_tokens.weight, torch.float32)  # (V, W)
        self.pos_emb = _param(ar.pos_emb.pos_emb, torch.float32)  # (n_ctx, W)
        # (W, V) fp32, stored transposed so the graph holds it as one named initializer
        self.proj_out_t = nn.Parameter(ar.fc_proj_out.weight.detach().t().float().contiguous(), requires_grad=False)
        self.layers = nn.ModuleList(_Layer(b, dtype, residual, weights) for b in ar.transformer._attn_mods)
        self.scale = float(spec.head_dim) ** -0.5

    def twin(self, step: bool) -> "CachedDecoder":
        """The same module, weights shared (not copied), computing the prefill or step graph:
        an fp16 export then holds one fp16 copy of the matmul weights, not two."""
        other = copy.copy(self)
        other.step = step
        return other

    # ---- positions -> slots and masks (all int64 arithmetic, computed once per type) ----

    def _write_slots(self, attn_type: int, qpos: torch.Tensor) -> torch.Tensor:
        s = self.spec
        bc = s.block_ctx
        if attn_type == 0:
            return qpos
        if attn_type == 1:
            return qpos % bc
        if attn_type == 2:
            return (qpos % bc) * s.blocks + qpos // bc
        if attn_type == 3:
            return qpos % (2 * bc)
        if attn_type == 7:
            return torch.where(qpos < s.prime_len, qpos, s.prime_len + qpos % bc)
        raise ValueError(attn_type)

    def _key_positions(self, attn_type: int, p_last: torch.Tensor, slots: int):
        """Sequence position held by every cache slot once positions <= p_last are written,
        and whether that slot holds anything (negative / scratch slots do not)."""
        s = self.spec
        bc = s.block_ctx
        slot = torch.arange(slots, dtype=torch.int64)
        if attn_type == 0:
            return slot, torch.ones_like(slot, dtype=torch.bool)
        if attn_type in (1, 3):
            ring = bc if attn_type == 1 else 2 * bc
            pos = p_last - (p_last - slot) % ring
            return pos, pos >= 0
        if attn_type == 2:
            return (slot % s.blocks) * bc + slot // s.blocks, torch.ones_like(slot, dtype=torch.bool)
        if attn_type == 7:
            return slot, slot < s.prime_len
        raise ValueError(attn_type)

    def _mask(self, attn_type: int, key_pos, key_ok, qpos) -> torch.Tensor:
        """(slots, L) bool: may the query at qpos[j] see the key in slot i."""
        bc = self.spec.block_ctx
        kp, q = key_pos.unsqueeze(1), qpos.unsqueeze(0)
        ok = key_ok.unsqueeze(1) & (kp <= q)
        if attn_type == 1:
            ok = ok & (kp // bc == q // bc)
        elif attn_type == 2:
            ok = ok & (kp % bc == q % bc)
        elif attn_type == 3:
            ok = key_ok.unsqueeze(1) & (kp // bc == q // bc - 1)
        return ok

    # ---- the network ----

    def _ln(self, x, w, b, eps):
        return _as(F.layer_norm(x, (self.spec.width,), w, b, eps), self.dtype)

    def _split(self, x):  # (B, L, A) -> (B, H, L, hd)
        if self.step:
            return x.reshape(-1, self.spec.heads, 1, self.spec.head_dim)
        return x.reshape(x.shape[0], x.shape[1], self.spec.heads, self.spec.head_dim).transpose(1, 2)

    # A step's one position makes the head transposes pure reshapes (a dim of size 1 moves), and
    # one Split serves q, k and v: fewer GPU kernels per layer, the same numbers.

    def _split_qkv_step(self, qkv):  # (B, 1, 3A) -> three (B, H, 1, hd)
        s = self.spec
        heads = (-1, s.heads, 1, s.head_dim)  # a reshape, not squeeze (exported as an If)
        q, k, v = qkv.reshape(-1, 3, s.heads, 1, s.head_dim).split(1, dim=1)
        return q.reshape(heads), k.reshape(heads), v.reshape(heads)

    def _merge_heads(self, ctx, n_tok: int):  # (B, H, L, hd) -> (B, L, A)
        if self.step:
            return ctx.reshape(-1, 1, self.spec.attn_width)
        return ctx.transpose(1, 2).reshape(ctx.shape[0], n_tok, self.spec.attn_width)

    def _attend(self, q, keys, values, mask):
        """q (B,H,L,hd); keys/values (B,H,S,hd); mask (S,L) bool or None -> (B,H,L,hd)."""
        scores = torch.matmul(keys, q.transpose(-1, -2)).float() * self.scale  # (B, H, S, L)
        if mask is not None:
            scores = _masked(mask, scores)
        probs = torch.softmax(scores, dim=2).to(self.dtype)
        return torch.matmul(probs.transpose(-1, -2), values)  # (B, H, L, hd)

    def _finish_layer(self, x, ctx, w):
        """Attention output projection, MLP and residuals of one layer."""
        spec = self.spec
        a = _as(w.linear("out", ctx), self.residual)
        m = self._ln(x + a, w.ln1_w, w.ln1_b, w.ln1_eps)
        m = w.act(w.linear("fc", m))
        m = _as(w.linear("proj", m), self.residual)
        if spec.res_scale == 1.0:
            return x + a + m
        return x + spec.res_scale * (a + m)

    def _attend_ring(self, q, k_cache, v_cache, k, v, mask, ring: int):
        """q, k, v (B,H,L,hd): the chunk; caches (B,H,R,hd) as before it; mask (R+L, L). Scores
        of the old ring and of the chunk side by side, one softmax, no copy of the cache."""
        scores = torch.cat([torch.matmul(k_cache, q.transpose(-1, -2)), torch.matmul(k, q.transpose(-1, -2))], dim=2)
        scores = _masked(mask, scores.float() * self.scale)
        probs = torch.softmax(scores, dim=2).to(self.dtype).transpose(-1, -2)  # (B, H, L, R+L)
        return torch.matmul(probs[..., :ring], v_cache) + torch.matmul(probs[..., ring:], v)

    def _attend_per_query(self, q, k_cache, v_cache, gather, mask):
        """q (B,H,L,hd); gather/mask (L, K): each query attends to its own K slots -> (B,H,L,hd)."""
        s = self.spec
        shape = (q.shape[0], s.heads, -1, gather.shape[1], s.head_dim)  # (B, H, L, K, hd)
        keys = k_cache.index_select(2, gather.reshape(-1)).reshape(shape)
        values = v_cache.index_select(2, gather.reshape(-1)).reshape(shape)
        scores = torch.matmul(keys, q.unsqueeze(-1)).squeeze(-1).float() * self.scale  # (B, H, L, K)
        scores = _masked(mask, scores)
        probs = torch.softmax(scores, dim=-1).to(self.dtype)
        return torch.matmul(probs.unsqueeze(-2), values).squeeze(-2)  # (B, H, L, hd)

    def forward(self, tokens, position, cond, start_emb, *caches):
        spec = self.spec
        if self.step:  # token (B,): one position
            tokens = tokens.unsqueeze(1)
            qpos = position  # (1,)
        else:
            qpos = position + torch.cumsum(torch.ones_like(tokens[0]), 0) - 1  # (L,)
        cond = cond.index_select(1, qpos)  # (B, L, W): this chunk's rows, gathered in the graph
        n_tok = tokens.shape[1]
        p_last = qpos[-1:]

        # Embedding: start embedding at position 0, else the previous id's embedding.
        tok = F.embedding(tokens, self.embed)  # (B, L, W)
        first = (qpos == 0).view(1, -1, 1)
        x = torch.where(first, start_emb.unsqueeze(1), tok)
        x = _as(x + F.embedding(qpos, self.pos_emb).unsqueeze(0) + cond, self.residual)

        plans = {}
        for t in {layer.attn_type for layer in spec.layers} - {6}:
            slots = next(layer.slots for layer in spec.layers if layer.attn_type == t)
            write = self._write_slots(t, qpos)
            if self.step and t in (1, 3):
                kpos, kok = self._key_positions(t, p_last, slots)
                plans[t] = (write, self._mask(t, kpos, kok, qpos), None)
            elif self.step and t == 2:
                # Only the `blocks` keys at this offset: slots (p % bc) * blocks + j.
                j = torch.arange(spec.blocks, dtype=torch.int64)
                gather = (p_last % spec.block_ctx) * spec.blocks + j
                kpos = j * spec.block_ctx + p_last % spec.block_ctx
                mask = kpos.unsqueeze(1) <= qpos.unsqueeze(0)
                plans[t] = (write, mask, gather)
            elif t == 2:
                # Per query, the `blocks` keys at its own offset: (L, blocks) slots, so a chunk
                # reads L * blocks rows instead of scoring every query against all n_ctx slots.
                j = torch.arange(spec.blocks, dtype=torch.int64).unsqueeze(0)
                offset = (qpos % spec.block_ctx).unsqueeze(1)
                gather = offset * spec.blocks + j
                mask = j * spec.block_ctx + offset <= qpos.unsqueeze(1)  # (L, blocks)
                plans[t] = (write, mask, gather)
            elif t in (1, 3):
                # The ring before this chunk (positions up to position - 1), then the chunk.
                old_pos, old_ok = self._key_positions(t, qpos[:1] - 1, slots)
                mask = torch.cat([self._mask(t, old_pos, old_ok, qpos),
                                  self._mask(t, qpos, torch.ones_like(qpos, dtype=torch.bool), qpos)])
                plans[t] = (write[-slots:], mask, "ring")
            else:
                kpos, kok = self._key_positions(t, p_last, slots)
                plans[t] = (write, self._mask(t, kpos, kok, qpos), None)
        prev_block_live = (qpos // spec.block_ctx > 0).view(1, 1, -1, 1)
        fused = self.step and self.fused_attention
        if fused:
            # Per type, the mask as the additive bias MultiHeadAttention takes (1, 1, 1, S), in
            # the compute dtype (fp16 cannot hold MASKED: its lowest finite value does the same).
            lowest = MASKED if self.dtype == torch.float32 else torch.finfo(self.dtype).min
            biases = {t: torch.where(plan[1], 0.0, lowest).to(self.dtype).reshape(1, 1, 1, -1)
                      for t, plan in plans.items()}
            prev_block_live = prev_block_live.reshape(1, 1, 1)
        # Each type's scatter index, shaped like a layer's new keys (B, H, L, hd) once for all of
        # its layers (a ring prefill shapes its own, for the chunk's tail).
        new_rows = (tokens.shape[0], spec.heads, n_tok, spec.head_dim)
        indices = {t: plan[0].view(1, 1, -1, 1).expand(new_rows) for t, plan in plans.items()
                   if not isinstance(plan[2], str)}

        updated = []
        cache_iter = iter(caches)
        for layer, w in zip(spec.layers, self.layers):
            k_cache, v_cache = next(cache_iter), next(cache_iter)
            h = self._ln(x, w.ln0_w, w.ln0_b, w.ln0_eps)
            if layer.attn_type == 6 and fused:
                q = w.linear("in", h)
                ctx = _MultiHeadAttention.apply(q, k_cache, v_cache, None, spec.heads, self.scale)
                x = self._finish_layer(x, ctx, w)
                continue
            if layer.attn_type == 6:
                q = self._split(w.linear("in", h))
                ctx = self._attend(q, k_cache, v_cache, None)
            else:
                qkv = w.linear("in", h)
                if self.step:
                    q, k, v = self._split_qkv_step(qkv)
                else:
                    q, k, v = (self._split(part) for part in qkv.chunk(3, dim=2))
                write, mask, gather = plans[layer.attn_type]
                if isinstance(gather, str):  # ring, prefill: old ring + the chunk, then write
                    ring = layer.slots
                    ctx = self._attend_ring(q, k_cache, v_cache, k, v, mask, ring)
                    k_tail, v_tail = k[:, :, -ring:], v[:, :, -ring:]
                    index = write.view(1, 1, -1, 1).expand_as(k_tail)
                    updated += [k_cache.scatter(2, index, k_tail), v_cache.scatter(2, index, v_tail)]
                    if layer.attn_type == 3:
                        ctx = torch.where(prev_block_live, ctx, 0.0)
                    x = self._finish_layer(x, self._merge_heads(ctx, n_tok), w)
                    continue
                index = indices[layer.attn_type]
                k_cache = k_cache.scatter(2, index, k)  # the in-place write
                v_cache = v_cache.scatter(2, index, v)
                updated += [k_cache, v_cache]
                if fused:
                    keys, values = (k_cache, v_cache) if gather is None else (
                        k_cache.index_select(2, gather), v_cache.index_select(2, gather))
                    q = q.reshape(-1, 1, spec.attn_width)  # (B, H, 1, hd): a reshape at one position
                    ctx = _MultiHeadAttention.apply(q, keys, values, biases[layer.attn_type], spec.heads, self.scale)
                    if layer.attn_type == 3:
                        ctx = torch.where(prev_block_live, ctx, 0.0)
                    x = self._finish_layer(x, ctx, w)
                    continue
                if gather is None:
                    ctx = self._attend(q, k_cache, v_cache, mask)
                elif gather.dim() == 1:
                    ctx = self._attend(q, k_cache.index_select(2, gather), v_cache.index_select(2, gather), mask)
                else:
                    ctx = self._attend_per_query(q, k_cache, v_cache, gather, mask)
                if layer.attn_type == 3:  # before the first block the port attends to zeros: context 0
                    ctx = torch.where(prev_block_live, ctx, 0.0)
            x = self._finish_layer(x, self._merge_heads(ctx, n_tok), w)

        x = _as(x, torch.float32)
        if spec.add_cond_after_transformer:
            x = x + cond
        logits = torch.matmul(x, self.proj_out_t)  # (B, L, V) fp32
        if self.step:
            logits = logits[:, 0]
        return (logits, *updated)

