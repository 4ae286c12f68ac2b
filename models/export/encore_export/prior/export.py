"""torch.onnx export of the three per-prior graphs, with names and shapes declared once."""

from __future__ import annotations

import logging
import os
import tempfile

import numpy as np
import onnx
import torch

from ..onnx_graph import sha256_file
from ..shared_weights import SharedWeights, weights_file_name
from .conditioning import Conditioning
from .decoder import CachedDecoder
from .fused_step import FusedStep
from .quantize import PRECISION_WEIGHTS
from .spec import PriorSpec

log = logging.getLogger(__name__)

OPSET = 17
# Activations and caches per precision: int8 and int4 store the layers' matrices in N bits
# (MatMulNBits) and compute around them in fp16, as the fp16 graphs do.
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "int8": torch.float16, "int4": torch.float16}
ONNX_DTYPE_NAME = {torch.float32: "float32", torch.float16: "float16", torch.int64: "int64"}


def _io(name, dtype, shape):
    return {"name": name, "dtype": ONNX_DTYPE_NAME[dtype], "shape": list(shape)}


def decoder_io(spec: PriorSpec, cache_dtype: torch.dtype, step: bool):
    """(inputs, outputs) declarations of the prefill or step graph."""
    f32, i64 = torch.float32, torch.int64
    if step:
        inputs = [
            _io("token", i64, ["batch"]),
            _io("position", i64, [1]),
            _io("cond", f32, ["batch", spec.n_ctx, spec.width]),
            _io("start_emb", f32, ["batch", spec.width]),
        ]
        outputs = [_io("logits", f32, ["batch", spec.vocab_size])]
    else:
        inputs = [
            _io("tokens", i64, ["batch", "chunk"]),
            _io("position", i64, [1]),
            _io("cond", f32, ["batch", spec.n_ctx, spec.width]),
            _io("start_emb", f32, ["batch", spec.width]),
        ]
        outputs = [_io("logits", f32, ["batch", "chunk", spec.vocab_size])]
    for layer in spec.layers:
        shape = ["batch", spec.heads, layer.slots, spec.head_dim]
        for part in ("key", "value"):
            inputs.append(_io(f"cache.{layer.index}.{part}", cache_dtype, shape))
            if layer.attn_type != 6:
                outputs.append(_io(f"cache.{layer.index}.{part}_out", cache_dtype, shape))
    return inputs, outputs


def conditioning_io(spec: PriorSpec, cond_module: Conditioning):
    f32, i64 = torch.float32, torch.int64
    shapes = {
        "artist": ["batch"],
        "genres": ["batch", spec.max_nb_genres],
        "total_length": ["batch"],
        "offset": ["batch"],
        "sample_length": ["batch"],
        "lyrics": ["batch", spec.n_lyric_tokens],
        "upper_codes": ["batch", spec.music_ctx // max(spec.cond_downsample, 1)],
    }
    inputs = [_io(n, i64, shapes[n]) for n in cond_module.input_names()]
    outputs = [_io("start_emb", f32, ["batch", spec.width]), _io("cond", f32, ["batch", spec.n_ctx, spec.width])]
    for i in cond_module.cross:
        for part in ("key", "value"):
            outputs.append(
                _io(f"cache.{i}.{part}", cond_module.cache_dtype, ["batch", spec.heads, spec.n_lyric_tokens, spec.head_dim])
            )
    return inputs, outputs


def example_inputs(spec: PriorSpec, io, batch: int = 2, chunk: int = 2):
    """Valid example tensors for a declaration list (tracing and smoke runs)."""
    out = []
    for d in io:
        shape = [batch if s == "batch" else chunk if s == "chunk" else s for s in d["shape"]]
        dtype = {"float32": torch.float32, "float16": torch.float16, "int64": torch.int64}[d["dtype"]]
        if d["name"] == "position":
            t = torch.tensor([1], dtype=torch.int64)
        elif d["name"] == "genres":
            t = torch.full(shape, -1, dtype=dtype)
            t[:, 0] = 0
        elif d["name"] == "total_length":
            t = torch.full(shape, sum(spec.total_length_range) // 2, dtype=dtype)
        elif d["name"] == "sample_length":
            t = torch.full(shape, spec.raw_to_tokens * spec.music_ctx, dtype=dtype)
        else:
            t = torch.zeros(shape, dtype=dtype)
        out.append(t)
    return out


def _export(module, args, path, inputs, outputs, shared: SharedWeights):
    """torch.onnx.export into `path`, its weights written into the prior's shared weights file.

    torch is first asked not to serialise the parameters (export_params=False): it would hold a
    protobuf copy of them all in memory (and for >2 GB graphs write one file per tensor). They
    come back as graph inputs named after the module's parameters, which are streamed into the
    shared file one by one. A graph where constant folding made new tensors out of parameters
    (their values are then nowhere) is exported again the usual way; the decoder graphs never
    are, only conditioning graphs, which are small."""
    if os.path.exists(path + ".data"):  # an older export's per-graph weights
        os.remove(path + ".data")
    declared = {d["name"] for d in inputs}
    tensors = dict(module.named_parameters())
    tensors.update(module.named_buffers())
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path) or ".") as tmp:
        model = _torch_export(module, args, tmp, inputs, outputs, export_params=False)
        unknown = [i.name for i in model.graph.input if i.name not in declared and i.name not in tensors]
        if unknown:
            log.info("%s: %d folded parameter tensors, exporting with parameters", os.path.basename(path), len(unknown))
            model = _torch_export(module, args, tmp, inputs, outputs, export_params=True)
        missing = declared - {i.name for i in model.graph.input}
        if missing:
            raise RuntimeError(f"{os.path.basename(path)}: exporter dropped unused inputs {sorted(missing)}")
        shared.externalize(model, tmp)  # torch's initializers and big Constant nodes
        _parameters_to_initializers(model, tensors, declared, shared)
        _declare_shapes(model, inputs, outputs)
        onnx.save_model(model, path)
    onnx.checker.check_model(path)


def _torch_export(module, args, tmp: str, inputs, outputs, export_params: bool) -> onnx.ModelProto:
    """The graph as torch.onnx writes it (into `tmp`), external data not loaded."""
    dynamic = {}
    for d in inputs + outputs:
        axes = {i: s for i, s in enumerate(d["shape"]) if isinstance(s, str)}
        if axes:
            dynamic[d["name"]] = axes
    tmp_path = os.path.join(tmp, "graph.onnx")
    with torch.no_grad():
        torch.onnx.export(
            module,
            tuple(args),
            tmp_path,
            input_names=[d["name"] for d in inputs],
            output_names=[d["name"] for d in outputs],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            custom_opsets={"com.microsoft": 1},  # MultiHeadAttention (fused_attention), MatMulNBits
            do_constant_folding=True,
            export_params=export_params,
            dynamo=False,  # the TorchScript exporter on every torch (see onnx_graph.export_module)
        )
    return onnx.load(tmp_path, load_external_data=False)


def _parameters_to_initializers(model: onnx.ModelProto, tensors: dict, declared: set, shared: SharedWeights):
    """Graph inputs that are not declared inputs are parameters torch did not serialise: give
    each its values (through the shared file) as an initializer."""
    keep = []
    for value in model.graph.input:
        if value.name in declared:
            keep.append(value)
        else:
            model.graph.initializer.append(shared.initializer(value.name, tensors[value.name].detach().cpu().numpy()))
    del model.graph.input[:]
    model.graph.input.extend(keep)


def _declare_shapes(model: onnx.ModelProto, inputs, outputs):
    """Stamp the declared shapes onto the graph's inputs and outputs. torch.onnx names dims it
    cannot infer statically after the op that made them (e.g. 'Concatcond_dim_1' for the 1b
    conditioning graph's `cond`, whose length is lyric + music positions); the declaration is
    the contract, so fixed dims become dim_value and named dims dim_param."""
    declared = {d["name"]: d["shape"] for d in inputs + outputs}
    for value in list(model.graph.input) + list(model.graph.output):
        shape = declared.get(value.name)
        if shape is None:
            continue
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(shape):
            raise RuntimeError(f"{value.name}: graph rank {len(dims)} but declared {shape}")
        for dim, want in zip(dims, shape):
            if isinstance(want, str):
                dim.Clear()
                dim.dim_param = want
            else:
                if dim.HasField("dim_value") and dim.dim_value != want:
                    raise RuntimeError(f"{value.name}: graph has {dim.dim_value} where {want} is declared")
                dim.Clear()
                dim.dim_value = int(want)


def smoke_run(path: str, spec: PriorSpec, inputs, outputs):
    """Load the written graph into ONNX Runtime and run it once on example inputs."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {d["name"]: t.numpy() for d, t in zip(inputs, example_inputs(spec, inputs))}
    got = sess.run(None, feeds)
    names = [o.name for o in sess.get_outputs()]
    assert names == [d["name"] for d in outputs], f"{path}: outputs {names}"
    for name, value in zip(names, got):
        if not np.isfinite(value.astype(np.float32) if value.dtype != np.int64 else value).all():
            raise RuntimeError(f"{path}: output {name} is not finite on example inputs")


def _fix_batch(io, batch: int | None):
    """Replace the symbolic batch by a fixed size (static shapes: CUDA-graph friendly)."""
    if batch is None:
        return io
    return [{**d, "shape": [batch if s == "batch" else s for s in d["shape"]]} for d in io]


def export_graphs(prior, spec: PriorSpec, out_dir: str, precision: str, stem: str, verify: bool = True,
                  batch: int | None = None, fp16_residual: bool = False, fused_attention: bool = False,
                  fused_step: bool | None = None):
    """Write conditioning, prefill and step graphs; return their manifest entries.
    batch: None for a symbolic batch axis, or a fixed batch size baked into every graph.
    fp16_residual: in an fp16 export, keep the residual stream (and LayerNorm's input and
    weights) in fp16 as OpenAI's fp16 sampling does, instead of fp32 (an experiment the GPU
    check measures; docs/performance.md).
    fused_attention: the traced step graph's attention as one com.microsoft.MultiHeadAttention per
    layer (another such experiment).
    fused_step: the step graph built from ONNX Runtime's fused operators (fused_step.py); default:
    every precision but fp32 (whose step graph ONNX Runtime's CUDA GroupQueryAttention cannot run)."""
    cache_dtype = DTYPES[precision]
    weights = PRECISION_WEIGHTS[precision]
    if fused_step is None:
        fused_step = precision != "fp32"
    entries = []
    cond = Conditioning(prior, spec, cache_dtype).eval()
    residual = cache_dtype if fp16_residual else torch.float32
    prefill = CachedDecoder(prior, spec, cache_dtype, step=False, residual=residual,
                            fused_attention=fused_attention, weights=weights).eval()
    if fused_step:
        # The prefill's weights; LayerNorm's in the compute dtype, as the residual stream there
        # (OpenAI's fp16 sampling keeps it in fp16).
        step = FusedStep(prefill, spec, weights)
        step_plan = ("step", step, *step.io(None))
    else:
        step_plan = ("step", prefill.twin(step=True), *decoder_io(spec, cache_dtype, True))
    plans = [
        ("conditioning", cond, *conditioning_io(spec, cond)),
        ("prefill", prefill, *decoder_io(spec, cache_dtype, False)),
        step_plan,
    ]
    shared = SharedWeights(os.path.join(out_dir, weights_file_name(stem, precision)))
    try:
        for graph, module, inputs, outputs in plans:
            inputs, outputs = _fix_batch(inputs, batch), _fix_batch(outputs, batch)
            fname = f"{stem}.{graph}.{precision}.onnx"
            path = os.path.join(out_dir, fname)
            if isinstance(module, FusedStep):
                onnx.save_model(module.build(shared, batch), path)
                onnx.checker.check_model(path)
            else:
                _export(module, example_inputs(spec, inputs), path, inputs, outputs, shared)
            if verify:
                smoke_run(path, spec, inputs, outputs)
            entries.append({"graph": graph, "file": fname, "external_data": None, "precision": precision,
                            "inputs": inputs, "outputs": outputs})
    finally:
        size = shared.close()
    log.info("%s: %d tensors (%.1f MB) in %s, %d more references to them from other graphs", stem, shared.tensors_written,
             size / 1e6, shared.name, shared.tensors_reused)
    external = None
    if size:
        external = {"file": shared.name, "bytes": size, "sha256": sha256_file(shared.path)}
    for entry in entries:
        entry["external_data"] = external  # one file for the three graphs, hashed once
    return entries
