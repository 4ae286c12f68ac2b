"""What every exported VQ-VAE graph shares: its inputs/outputs declared once, the export itself,
loading it back into ONNX Runtime to check it, and the manifest entry (with sha256)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
import onnxruntime as ort
import torch

OPSET = 17

ONNX_DTYPES = {
    "float32": onnx.TensorProto.FLOAT,
    "float16": onnx.TensorProto.FLOAT16,
    "int64": onnx.TensorProto.INT64,
    "int32": onnx.TensorProto.INT32,
}


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output. `shape` holds ints (fixed) or names (symbolic dims)."""

    name: str
    dtype: str
    shape: tuple

    def to_manifest(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class GraphSpec:
    """A graph file and its contract. `file` is relative to the model folder."""

    file: str
    kind: str
    level: int
    precision: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _dynamic_axes(specs: Sequence[TensorSpec]) -> dict:
    return {s.name: {i: d for i, d in enumerate(s.shape) if isinstance(d, str)} for s in specs}


def _stamp_declared_shapes(model: onnx.ModelProto, spec: GraphSpec) -> None:
    """torch names output dims after the arithmetic that made them ("floor(...)"):
    overwrite every graph input/output dim with the names we declared."""
    declared = {s.name: s for s in (*spec.inputs, *spec.outputs)}
    for value in (*model.graph.input, *model.graph.output):
        want = declared.get(value.name)
        if want is None:
            continue
        dims = value.type.tensor_type.shape.dim
        assert len(dims) == len(want.shape), f"{value.name}: rank {len(dims)} != declared {want.shape}"
        for dim, declared_dim in zip(dims, want.shape):
            if isinstance(declared_dim, str):
                dim.ClearField("dim_value")
                dim.dim_param = declared_dim
            else:
                dim.ClearField("dim_param")
                dim.dim_value = declared_dim


def check_io_matches(model: onnx.ModelProto, spec: GraphSpec) -> None:
    """The graph's own inputs/outputs must be exactly the declared ones, in order."""
    for kind, values, specs in (("input", model.graph.input, spec.inputs), ("output", model.graph.output, spec.outputs)):
        initializers = {i.name for i in model.graph.initializer}
        values = [v for v in values if v.name not in initializers]
        got = [v.name for v in values]
        want = [s.name for s in specs]
        assert got == want, f"{spec.file}: graph {kind}s {got} != declared {want}"
        for value, s in zip(values, specs):
            elem = value.type.tensor_type.elem_type
            assert elem == ONNX_DTYPES[s.dtype], f"{spec.file}: {s.name} has onnx type {elem}, declared {s.dtype}"


def export_module(module: torch.nn.Module, spec: GraphSpec, example_inputs: tuple, out_dir: Path) -> Path:
    """Trace `module` to out_dir/spec.file with the declared names and symbolic dims."""
    path = out_dir / spec.file
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            module,
            example_inputs,
            str(path),
            input_names=[s.name for s in spec.inputs],
            output_names=[s.name for s in spec.outputs],
            dynamic_axes=_dynamic_axes((*spec.inputs, *spec.outputs)),
            opset_version=OPSET,
            do_constant_folding=True,
            # The TorchScript exporter, which reads dynamic_axes: torch >= 2.9 defaults to the
            # torch.export one (the GPU machine has torch 2.11; the pinned 2.4.1 takes it too).
            dynamo=False,
        )
    model = onnx.load(str(path))
    _stamp_declared_shapes(model, spec)
    model.producer_name = "encore_export"
    check_io_matches(model, spec)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def open_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_against_torch(path: Path, module: torch.nn.Module, spec: GraphSpec, inputs: tuple, atol: float) -> float:
    """Run the exported graph in ONNX Runtime and the module in torch on the same inputs.
    Integer outputs must match exactly; float outputs within atol. Returns the max float error."""
    session = open_session(path)
    feeds = {s.name: np.asarray(x.numpy()) for s, x in zip(spec.inputs, inputs)}
    got = session.run([s.name for s in spec.outputs], feeds)
    with torch.no_grad():
        want = module(*inputs)
    want = want if isinstance(want, (tuple, list)) else (want,)
    worst = 0.0
    for s, g, w in zip(spec.outputs, got, want):
        w = w.numpy()
        assert g.shape == w.shape, f"{spec.file}:{s.name}: onnx shape {g.shape} != torch {w.shape}"
        if np.issubdtype(w.dtype, np.integer):
            mismatches = int((g != w).sum())
            assert mismatches == 0, f"{spec.file}:{s.name}: {mismatches} of {w.size} values differ from torch"
        else:
            err = float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))) if w.size else 0.0
            assert err <= atol, f"{spec.file}:{s.name}: max |onnx - torch| = {err:.3g} > {atol:.3g}"
            worst = max(worst, err)
    return worst


def manifest_entry(spec: GraphSpec, out_dir: Path) -> dict:
    """The manifest's description of one graph file (see docs/manifest.md, "graphs")."""
    path = out_dir / spec.file
    entry = {
        "file": spec.file,
        "kind": spec.kind,
        "level": spec.level,
        "precision": spec.precision,
        "inputs": [s.to_manifest() for s in spec.inputs],
        "outputs": [s.to_manifest() for s in spec.outputs],
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "external_data": None,  # VQ-VAE graphs are a few MB
    }
    return entry
