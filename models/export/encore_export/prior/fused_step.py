"""The step graph written node by node from ONNX Runtime's fused operators (the default for fp16
and quantised precisions; docs/prior-graphs.md, "The fused step").

A GPU runs a step as a chain of small kernels, a couple of microseconds each whatever it
computes, so a step costs its kernel count long before it costs its weight bytes. The traced
step graph (decoder.py) leaves ONNX Runtime about 26 kernel-launching nodes a layer; this one is
built from the operators that do a layer's work in fewer, written here rather than hoped for
from ORT's optimiser (which never fuses a LayerNorm on a residual stream):

    SkipLayerNormalization   residual + previous branch + its bias, then LayerNorm (one node;
                             output 3 is the new residual)
    MatMul (+ Add)           packed q|k|v projection, its bias
    attention                per type, below
    MatMul                   out-projection (its bias goes into the next SkipLayerNormalization)
    SkipLayerNormalization
    MatMul + Add + QuickGelu the MLP's first half (QuickGelu(alpha=1.702) is Jukebox's x*sigmoid(1.702x))
    MatMul                   the MLP's second half (its bias: the next layer's SkipLayerNormalization)

Quantised weights replace each MatMul by one com.microsoft.MatMulNBits (the biases stay apart:
its CUDA kernel takes none).

Attention per Jukebox type (the cache layouts are the prefill graph's, unchanged):
    0, 1  GroupQueryAttention over the cache, which it updates in place: the new key and value
          go to slot seqlens_k and the query attends slots 0..seqlens_k (type 0: the position;
          type 1, the block's ring: position % block_ctx). One node.
    6     MultiHeadAttention over the encoder keys (no write). One node.
    7     past the prime, MultiHeadAttention over the first prime_len slots (key_padding_mask),
          no write; only the query's columns of the projection are computed.
    2, 3  no ORT attention operator reads a sub-range of a cache that does not start at slot 0,
          or leaves the query's own key out: the new key and value are scattered into the cache
          (ScatterElements, in place), then MultiHeadAttention reads the `blocks` rows at this
          offset (type 2, gathered; key_padding_mask = blocks seen so far) or the whole ring with
          the previous block's half unmasked (type 3, attention_bias).

The graph is exact only from `step_from_position` on (past the lyric prime and past the first
attention block, see `step_from_position`): the engine runs earlier positions through the
prefill graph at one position, as it runs every step on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from ..shared_weights import SharedWeights
from .quantize import WeightFormat, quantise
from .spec import PriorSpec

MS = "com.microsoft"
QUICK_GELU_ALPHA = 1.702
NP = {torch.float32: np.float32, torch.float16: np.float16}
ONNX_TYPE = {np.float32: TensorProto.FLOAT, np.float16: TensorProto.FLOAT16}


def step_from_position(spec: PriorSpec) -> int:
    """First position the fused step graph computes exactly. Before it: type-7 layers inside the
    prime (they write and attend like a dense layer there) and type-3 layers in the first block
    (the port attends to zeros there; the cache holds the previous window's keys)."""
    types = {layer.attn_type for layer in spec.layers}
    first = 0
    if 7 in types:
        first = max(first, spec.prime_len)
    if 3 in types:
        first = max(first, spec.block_ctx)
    return first


@dataclass
class _Builder:
    """Nodes, initializers and value names of one graph under construction."""

    shared: SharedWeights
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    _names: dict = field(default_factory=dict)
    _consts: dict = field(default_factory=dict)

    def unique(self, name: str) -> str:
        count = self._names.get(name, 0)
        self._names[name] = count + 1
        return name if count == 0 else f"{name}.{count}"

    def op(self, op_type: str, inputs: list, name: str, outputs: int | list = 1, domain: str | None = None,
           **attrs):
        """Adds a node; returns its output name, or names when `outputs` is a count above 1 or a
        list of names ("" for an optional output nobody reads). An input of None is absent."""
        name = self.unique(name)
        if isinstance(outputs, int):
            outs = [f"{name}:{i}" if outputs > 1 else name for i in range(outputs)]
        else:
            outs = list(outputs)
        self.nodes.append(helper.make_node(op_type, ["" if i is None else i for i in inputs], outs, name=name,
                                           domain=domain, **attrs))
        return outs if len(outs) > 1 else outs[0]

    def const(self, name: str, array: np.ndarray) -> str:
        """An initializer (large ones in the prior's shared weights file, matched by content); a
        name asked for again is the same constant."""
        if name not in self._consts:
            self._consts[name] = name
            self.initializers.append(self.shared.initializer(name, np.asarray(array)))
        return name


class FusedStep:
    """Writes the fused step graph of one prior from a `CachedDecoder`'s weights.

    decoder   decoder.CachedDecoder built in the compute dtype (its weights are read, not traced)
    weights   WeightFormat: the layers' matrices as floats of the compute dtype, or in 8 or 4 bits
    """

    def __init__(self, decoder, spec: PriorSpec, weights: WeightFormat):
        self.decoder = decoder
        self.spec = spec
        self.weights = weights
        self.dtype = NP[decoder.dtype]
        self.onnx_dtype = ONNX_TYPE[self.dtype]
        self.lowest = float(np.finfo(self.dtype).min) if self.dtype == np.float16 else -1e9
        # GroupQueryAttention takes head sizes that are multiples of 8 only (CPU and CUDA): 256
        # (1b_lyrics) and 480 (upsamplers) are, 150 (5b, 5b_lyrics) and the tiny models' are not.
        self.gqa = spec.head_dim % 8 == 0

    # ---- declarations ----

    def io(self, batch):
        """(inputs, outputs) in the exporter's declaration format (export.decoder_io's names)."""
        from .export import decoder_io

        dtype = torch.float32 if self.dtype == np.float32 else torch.float16
        inputs, outputs = decoder_io(self.spec, dtype, step=True)
        # Past the prime a type-7 layer writes nothing: its cache is read, not an output here.
        prime = {f"cache.{layer.index}.{part}_out" for layer in self.spec.layers if layer.attn_type == 7
                 for part in ("key", "value")}
        outputs = [o for o in outputs if o["name"] not in prime]
        if batch is not None:
            fix = lambda io: [{**d, "shape": [batch if s == "batch" else s for s in d["shape"]]} for d in io]  # noqa: E731
            inputs, outputs = fix(inputs), fix(outputs)
        return inputs, outputs

    # ---- the graph ----

    def build(self, shared: SharedWeights, batch=None) -> onnx.ModelProto:
        spec, dec = self.spec, self.decoder
        g = _Builder(shared)
        inputs, outputs = self.io(batch)
        pos = "position"  # (1,) int64
        rows = g.op("Shape", ["token"], "batch_shape")  # (1,) = [B]
        plans = self._plans(g, pos, rows)

        # Embedding: the start embedding at position 0, else the fed id's; + position + cond row.
        tok = g.op("Gather", [g.const("embed", dec.embed.detach().numpy()), "token"], "embed/tokens")  # (B, W)
        first = g.op("Equal", [pos, g.const("zero", _i64([0]))], "embed/first")
        x = g.op("Where", [first, "start_emb", tok], "embed/start")
        pe = g.op("Gather", [g.const("pos_emb", dec.pos_emb.detach().numpy()), pos], "embed/pos")  # (1, W)
        x = g.op("Unsqueeze", [g.op("Add", [x, pe], "embed/add_pos"), g.const("axis1", _i64([1]))], "embed/rows")
        cond = g.op("Gather", ["cond", pos], "embed/cond", axis=1)  # (B, 1, W)
        x = g.op("Add", [x, cond], "embed/add_cond")  # (B, 1, W)
        if self.dtype != np.float32:
            x = g.op("Cast", [x], "embed/cast", to=self.onnx_dtype)

        branch, branch_bias = None, None  # the previous MLP's output and its bias (if not fused)
        for layer, w in zip(spec.layers, dec.layers):
            name = f"layers.{layer.index}"
            gamma0, beta0 = self._param(g, f"{name}.ln0_w", w.ln0_w), self._param(g, f"{name}.ln0_b", w.ln0_b)
            if branch is None:
                h = g.op("LayerNormalization", [x, gamma0, beta0], f"{name}/ln0", axis=-1, epsilon=w.ln0_eps)
            else:
                h, x = self._skip_ln(g, x, branch, gamma0, beta0, branch_bias, w.ln0_eps, f"{name}/ln0")
            ctx = self._attention(g, layer, w, h, plans)
            a, a_bias = self._linear(g, ctx, w.w_out, w.b_out, f"{name}/attn/out", keep_bias=True)
            gamma1, beta1 = self._param(g, f"{name}.ln1_w", w.ln1_w), self._param(g, f"{name}.ln1_b", w.ln1_b)
            m, x = self._skip_ln(g, x, a, gamma1, beta1, a_bias, w.ln1_eps, f"{name}/ln1")
            m = self._linear(g, m, w.w_fc, w.b_fc, f"{name}/mlp/fc")
            m = g.op("QuickGelu", [m], f"{name}/mlp/gelu", domain=MS, alpha=QUICK_GELU_ALPHA)
            branch, branch_bias = self._linear(g, m, w.w_proj, w.b_proj, f"{name}/mlp/proj", keep_bias=True)

        x = g.op("Add", [x, branch], "out/residual")
        if branch_bias is not None:
            x = g.op("Add", [x, branch_bias], "out/bias")
        if self.dtype != np.float32:
            x = g.op("Cast", [x], "out/cast", to=TensorProto.FLOAT)
        if spec.add_cond_after_transformer:
            x = g.op("Add", [x, cond], "out/add_cond")
        x = g.op("Reshape", [x, g.const("flat", _i64([-1, spec.width]))], "out/rows")  # (B, W)
        g.op("MatMul", [x, g.const("proj_out_t", dec.proj_out_t.detach().numpy())], "logits")

        graph = helper.make_graph(g.nodes, "encore_fused_step", [_value_info(d) for d in inputs],
                                  [_value_info(d) for d in outputs], g.initializers)
        model = helper.make_model(graph, producer_name="encore_export",
                                  opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)])
        model.ir_version = 9  # what ONNX Runtime 1.31 and onnx 1.17 both read
        return model

    # ---- pieces ----

    def _param(self, g: _Builder, name: str, tensor) -> str:
        return g.const(name, np.asarray(tensor.detach().numpy(), self.dtype))

    def _skip_ln(self, g, residual, branch, gamma, beta, bias, eps, name):
        """(LayerNorm(residual + branch + bias), residual + branch + bias)."""
        normed, total = f"{name}:normed", f"{name}:sum"
        g.op("SkipLayerNormalization", [residual, branch, gamma, beta, bias], name, outputs=[normed, "", "", total],
             domain=MS, epsilon=eps)
        return normed, total

    def _linear(self, g, x, weight, bias, name, keep_bias=False):
        """x @ weight + bias. keep_bias: return (x @ weight, bias) with the bias for the next
        SkipLayerNormalization to add. The bias never goes into MatMulNBits' own bias input:
        ONNX Runtime's CUDA kernel refuses one ("MatMulNBits does not support bias in CUDA
        kernel", 1.31)."""
        w = weight.detach().numpy()
        b = np.asarray(bias.detach().numpy(), self.dtype)
        if self.weights.quantised:
            q = quantise(w, self.weights)
            y = g.op("MatMulNBits", [x, g.const(f"{name}.qweight", q.packed),
                                     g.const(f"{name}.scales", q.scales.astype(self.dtype))],
                     name, domain=MS, K=q.k, N=q.n, bits=q.bits, block_size=q.block_size,
                     accuracy_level=self.weights.accuracy_level)
        else:
            y = g.op("MatMul", [x, g.const(f"{name}.weight", np.asarray(w, self.dtype))], name)
        if keep_bias:
            return y, g.const(f"{name}.bias", b)
        return g.op("Add", [y, g.const(f"{name}.bias", b)], f"{name}/bias")

    def _attention(self, g, layer, w, h, plans) -> str:
        """Layer `layer`'s attention of one query (B, 1, A); writes its cache where it has to."""
        s, t, i = self.spec, layer.attn_type, layer.index
        name = f"layers.{i}/attn"
        key, value = f"cache.{i}.key", f"cache.{i}.value"
        mha = dict(domain=MS, num_heads=s.heads, scale=self.decoder.scale)
        if t in (6, 7):  # reads its cache, writes nothing: only the query is projected
            a = s.attn_width
            q = self._linear(g, h, w.w_in[:, :a], w.b_in[:a], f"{name}/q")
            mask = plans[7]["lengths"] if t == 7 else None
            return g.op("MultiHeadAttention", [q, key, value, None, mask], name, **mha)
        qkv = self._linear(g, h, w.w_in, w.b_in, f"{name}/qkv")  # (B, 1, 3A): q | k | v
        plan = plans[t]
        if t in (0, 1) and self.gqa:
            # present_key/value are the graph outputs the engine binds to the past buffers.
            ctx = g.op("GroupQueryAttention", [qkv, None, None, key, value, plan["seqlens"], plan["total"]], name,
                       outputs=[f"{name}:ctx", f"{key}_out", f"{value}_out"], domain=MS, num_heads=s.heads,
                       kv_num_heads=s.heads, scale=self.decoder.scale)[0]
            return ctx
        q, k, v = g.op("Split", [qkv], f"{name}/split", outputs=3, axis=2)
        heads = g.const("heads_shape", _i64([-1, s.heads, 1, s.head_dim]))
        written = []
        for part, new, cache in (("key", k, key), ("value", v, value)):
            new = g.op("Reshape", [new, heads], f"{name}/{part}_heads")  # (B, H, 1, hd): a dim of 1 moves
            written.append(g.op("ScatterElements", [cache, plan["index"], new], f"{name}/write_{part}",
                                outputs=[f"{cache}_out"], axis=2))
        if t in (0, 1):  # the slots written so far: a prefix of the cache
            return g.op("MultiHeadAttention", [q, written[0], written[1], None, plan["lengths"]], name, **mha)
        if t == 2:  # the `blocks` rows at this offset, those written so far unmasked
            keys, values = (g.op("Gather", [c, plan["rows"]], f"{name}/gather_{p}", axis=2)
                            for c, p in zip(written, ("key", "value")))
            return g.op("MultiHeadAttention", [q, keys, values, None, plan["lengths"]], name, **mha)
        # type 3: the whole ring, the previous block's half unmasked
        return g.op("MultiHeadAttention", [q, written[0], written[1], None, None, plan["bias"]], name, **mha)

    def _plans(self, g, pos, rows) -> dict:
        """Per attention type, what every layer of that type reads: slots, masks, lengths."""
        s = self.spec
        bc, blocks = s.block_ctx, s.blocks
        types = {layer.attn_type for layer in s.layers}
        slots = {layer.attn_type: layer.slots for layer in s.layers}

        def per_row(value, name):  # (1,) int64 -> (B,) int32
            return g.op("Expand", [g.op("Cast", [value], f"{name}/int32", to=TensorProto.INT32), rows], name)

        def cache_index(slot, name):  # (1,) int64 -> (B, H, 1, hd), ScatterElements' indices
            shape = g.op("Concat", [rows, g.const("index_tail", _i64([s.heads, 1, s.head_dim]))], f"{name}/shape",
                         axis=0)
            one = g.op("Reshape", [slot, g.const("one4", _i64([1, 1, 1, 1]))], f"{name}/one")
            return g.op("Expand", [one, shape], name)

        plans = {}
        offset = g.op("Mod", [pos, g.const("block_ctx", _i64([bc]))], "plan/offset")  # position % block_ctx
        block = g.op("Div", [pos, g.const("block_ctx", _i64([bc]))], "plan/block")  # position // block_ctx
        for t, slot in ((0, pos), (1, offset)):  # dense, and the block's own ring: slot = keys before
            if t not in types:
                continue
            if self.gqa:
                plans[t] = {"seqlens": per_row(slot, f"plan/t{t}/seqlens"),
                            "total": g.const(f"plan/t{t}/total", _i32(slots[t]))}
            else:
                seen = g.op("Add", [slot, g.const("one", _i64([1]))], f"plan/t{t}/seen")
                plans[t] = {"index": cache_index(slot, f"plan/t{t}/index"), "lengths": per_row(seen, f"plan/t{t}/lengths")}
        if 2 in types:
            base = g.op("Mul", [offset, g.const("blocks", _i64([blocks]))], "plan/t2/base")
            plans[2] = {
                "index": cache_index(g.op("Add", [base, block], "plan/t2/slot"), "plan/t2/index"),
                "rows": g.op("Add", [base, g.const("plan/t2/arange", np.arange(blocks, dtype=np.int64))], "plan/t2/rows"),
                "lengths": per_row(g.op("Add", [block, g.const("one", _i64([1]))], "plan/t2/seen"), "plan/t2/lengths"),
            }
        if 3 in types:
            ring = 2 * bc
            slot = g.op("Mod", [pos, g.const("ring", _i64([ring]))], "plan/t3/slot")
            # The previous block's half of the ring: (block - 1) % 2 (block >= 1 here).
            prev = g.op("Mod", [g.op("Sub", [block, g.const("one", _i64([1]))], "plan/t3/prev_block"),
                                g.const("two", _i64([2]))], "plan/t3/prev_half")
            halves = g.const("plan/t3/halves", np.arange(ring, dtype=np.int64) // bc)
            visible = g.op("Equal", [halves, prev], "plan/t3/visible")
            bias = g.op("Where", [visible, g.const("bias_open", np.zeros(1, self.dtype)),
                                  g.const("bias_masked", np.full(1, self.lowest, self.dtype))], "plan/t3/bias_row")
            plans[3] = {
                "index": cache_index(slot, "plan/t3/index"),
                "bias": g.op("Reshape", [bias, g.const("bias_shape", _i64([1, 1, 1, ring]))], "plan/t3/bias"),
            }
        if 7 in types:
            plans[7] = {"lengths": per_row(g.const("prime_len", _i64([s.prime_len])), "plan/t7/lengths")}
        return plans


def _i64(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _i32(value: int) -> np.ndarray:
    return np.asarray(value, dtype=np.int32)  # a scalar: GroupQueryAttention's total_sequence_length


def _value_info(d: dict):
    elem = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16, "int64": TensorProto.INT64}[d["dtype"]]
    return helper.make_tensor_value_info(d["name"], elem, d["shape"])
