"""torch.onnx export of the three per-prior graphs, with names and shapes declared once."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import onnx
import torch

from .conditioning import Conditioning
from .decoder import CachedDecoder
from .spec import PriorSpec

OPSET = 17
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}
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
            _io("cond", f32, ["batch", spec.width]),
            _io("start_emb", f32, ["batch", spec.width]),
        ]
        outputs = [_io("logits", f32, ["batch", spec.vocab_size])]
    else:
        inputs = [
            _io("tokens", i64, ["batch", "chunk"]),
            _io("position", i64, [1]),
            _io("cond", f32, ["batch", "chunk", spec.width]),
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


def _export(module, args, path, inputs, outputs):
    """torch.onnx.export into `path`; weights move to `path + '.data'` when over 2 GB."""
    dynamic = {}
    for d in inputs + outputs:
        axes = {i: s for i, s in enumerate(d["shape"]) if isinstance(s, str)}
        if axes:
            dynamic[d["name"]] = axes
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path) or ".") as tmp:
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
                do_constant_folding=True,
            )
        model = onnx.load(tmp_path, load_external_data=False)
        graph_inputs = [i.name for i in model.graph.input]
        missing = [d["name"] for d in inputs if d["name"] not in graph_inputs]
        if missing:
            raise RuntimeError(f"{os.path.basename(path)}: exporter dropped unused inputs {missing}")
        _declare_shapes(model, inputs, outputs)
        external = _move_weights(model, tmp, path)
        onnx.save_model(model, path)
    onnx.checker.check_model(path)
    return external


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


def _all_tensors(graph: onnx.GraphProto):
    """Initializers and tensor attributes (torch's constant folding leaves big Constant nodes)."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors


def _move_weights(model: onnx.ModelProto, tmp: str, path: str):
    """torch writes every weight of a >2 GB graph to its own file; stream them into one
    `<path>.data` (4 KiB-aligned) and point the initializers at it. Returns its name or None."""
    data_name = os.path.basename(path) + ".data"
    if os.path.exists(path + ".data"):
        os.remove(path + ".data")
    tensors = [t for t in _all_tensors(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL]
    if not tensors:
        return None
    with open(path + ".data", "wb") as out:
        for t in tensors:
            info = {e.key: e.value for e in t.external_data}
            out.write(b"\0" * (-out.tell() % 4096))
            offset = out.tell()
            with open(os.path.join(tmp, info["location"]), "rb") as src:
                src.seek(int(info.get("offset", 0)))
                remaining = int(info["length"]) if "length" in info else None
                while remaining is None or remaining > 0:
                    chunk = src.read(1 << 24 if remaining is None else min(1 << 24, remaining))
                    if not chunk:
                        break
                    out.write(chunk)
                    if remaining is not None:
                        remaining -= len(chunk)
            del t.external_data[:]
            for key, value in (("location", data_name), ("offset", str(offset)), ("length", str(out.tell() - offset))):
                entry = t.external_data.add()
                entry.key, entry.value = key, value
    return data_name


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
                  batch: int | None = None):
    """Write conditioning, prefill and step graphs; return their manifest entries.
    batch: None for a symbolic batch axis, or a fixed batch size baked into every graph."""
    cache_dtype = DTYPES[precision]
    entries = []
    cond = Conditioning(prior, spec, cache_dtype).eval()
    plans = [
        ("conditioning", cond, *conditioning_io(spec, cond)),
        ("prefill", CachedDecoder(prior, spec, cache_dtype, step=False).eval(), *decoder_io(spec, cache_dtype, False)),
        ("step", CachedDecoder(prior, spec, cache_dtype, step=True).eval(), *decoder_io(spec, cache_dtype, True)),
    ]
    for graph, module, inputs, outputs in plans:
        inputs, outputs = _fix_batch(inputs, batch), _fix_batch(outputs, batch)
        fname = f"{stem}.{graph}.{precision}.onnx"
        path = os.path.join(out_dir, fname)
        _export(module, example_inputs(spec, inputs), path, inputs, outputs)
        if verify:
            smoke_run(path, spec, inputs, outputs)
        entries.append(
            {
                "graph": graph,
                "file": fname,
                "external_data": None,  # the driver describes <file>.data when `external` is set
                "precision": precision,
                "inputs": inputs,
                "outputs": outputs,
            }
        )
    return entries
