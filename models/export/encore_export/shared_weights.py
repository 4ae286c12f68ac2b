"""One external-data file shared by the graphs of one prior and precision.

The prefill and step graphs hold the same weights (the conditioning graph mostly others): each
tensor of at least INLINE_BELOW bytes is written once into `<stem>.<precision>.weights`, and
every graph's initializer points at it. Tensors are matched by content, dtype and shape, never
by name: torch's constant folding names the tensors it folds after the node that used them,
which differs between graphs. Offsets are 4 KiB-aligned so ONNX Runtime can mmap each tensor on
CPU and two sessions over one file share the page cache; tensors of 1 MiB and more start on a
64 KiB boundary, Windows' mapping granularity (ORT copies a tensor it cannot map there).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

ALIGNMENT = 4096
BIG_TENSOR = 1 << 20
BIG_ALIGNMENT = 1 << 16
# Smaller tensors stay in the .onnx file: in the shared file each would take a whole 4 KiB page.
INLINE_BELOW = 4096


def weights_file_name(stem: str, precision: str) -> str:
    return f"{stem}.{precision}.weights"


def _settle_attribute_tensors(graph: onnx.GraphProto, source_dir: str) -> None:
    """Tensors held by node attributes (torch's folded Constant nodes; for graphs over 2 GB torch
    writes even these to files of their own): a large Constant becomes an initializer, so every
    big tensor is one and ONNX Runtime loads them all the same way; the rest are made inline."""
    keep = []
    for node in graph.node:
        tensor = None
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            tensor = node.attribute[0].t
        if tensor is not None and _stored_bytes(tensor) >= INLINE_BELOW:
            moved = graph.initializer.add()
            moved.CopyFrom(tensor)
            moved.name = node.output[0]
            continue
        keep.append(node)
        for attr in node.attribute:
            for t in [attr.t] if attr.type == onnx.AttributeProto.TENSOR else list(attr.tensors):
                if t.data_location == onnx.TensorProto.EXTERNAL:
                    data = _tensor_bytes(t, source_dir)
                    del t.external_data[:]
                    t.data_location = onnx.TensorProto.DEFAULT
                    t.raw_data = data
    if len(keep) != len(graph.node):
        del graph.node[:]
        graph.node.extend(keep)


def _stored_bytes(tensor: onnx.TensorProto) -> int:
    """Size from dtype and shape: torch's external files need not record a length."""
    itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    return int(np.prod(tensor.dims, dtype=np.int64)) * itemsize


def _tensor_bytes(tensor: onnx.TensorProto, source_dir: str) -> bytes:
    """The tensor's little-endian bytes, wherever torch put them (inline or in its own file)."""
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        info = {e.key: e.value for e in tensor.external_data}
        with open(os.path.join(source_dir, info["location"]), "rb") as handle:
            handle.seek(int(info.get("offset", 0)))
            return handle.read(int(info["length"])) if "length" in info else handle.read()
    if tensor.HasField("raw_data"):
        return tensor.raw_data
    return numpy_helper.to_array(tensor).tobytes()


class SharedWeights:
    """Appends tensors to one file, each once, and points initializers at them."""

    def __init__(self, path: str):
        self.path = path
        self.name = os.path.basename(path)
        self._offsets: dict[tuple, tuple[int, int]] = {}  # (sha256, dtype, dims) -> (offset, length)
        self._file = open(path, "wb")
        self.tensors_written = 0
        self.tensors_reused = 0

    def _place(self, data, dtype: int, dims: tuple) -> tuple[int, int]:
        """Offset and length of `data` (bytes-like) in the file, writing it unless already there."""
        data = memoryview(data).cast("B")
        key = (hashlib.sha256(data).hexdigest(), dtype, dims)
        if key in self._offsets:
            self.tensors_reused += 1
            return self._offsets[key]
        alignment = BIG_ALIGNMENT if len(data) >= BIG_TENSOR else ALIGNMENT
        self._file.write(b"\0" * (-self._file.tell() % alignment))
        offset = self._file.tell()
        self._file.write(data)
        self._offsets[key] = (offset, len(data))
        self.tensors_written += 1
        return offset, len(data)

    def externalize(self, model: onnx.ModelProto, source_dir: str = ".") -> int:
        """Move every initializer of at least INLINE_BELOW bytes into this file; smaller ones
        end up inline. source_dir: where torch's own external files are. Returns tensors moved."""
        _settle_attribute_tensors(model.graph, source_dir)
        moved = 0
        for tensor in model.graph.initializer:
            data = _tensor_bytes(tensor, source_dir)
            del tensor.external_data[:]
            tensor.data_location = onnx.TensorProto.DEFAULT
            if len(data) < INLINE_BELOW:
                if not tensor.HasField("raw_data") and not _has_typed_data(tensor):
                    tensor.raw_data = data
                continue
            offset, length = self._place(data, tensor.data_type, tuple(tensor.dims))
            _clear_data(tensor)
            self._point_at(tensor, offset, length)
            moved += 1
        self._file.flush()
        return moved

    def initializer(self, name: str, array: np.ndarray) -> onnx.TensorProto:
        """An initializer for `array` (a parameter torch did not serialise): stored in this file
        when large, inline otherwise. The array's memory is read, never copied whole."""
        array = np.ascontiguousarray(array)
        if array.nbytes < INLINE_BELOW:
            return numpy_helper.from_array(array, name)
        tensor = onnx.TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype),
                                  dims=array.shape)
        offset, length = self._place(array.reshape(-1).view(np.uint8), tensor.data_type, tuple(array.shape))
        self._point_at(tensor, offset, length)
        self._file.flush()
        return tensor

    def _point_at(self, tensor: onnx.TensorProto, offset: int, length: int) -> None:
        tensor.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", self.name), ("offset", str(offset)), ("length", str(length))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value

    def close(self) -> int:
        """Close the file and return its size; an empty file is removed."""
        size = self._file.tell()
        self._file.close()
        if size == 0:
            os.remove(self.path)
        return size


_TYPED_FIELDS = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")


def _has_typed_data(tensor: onnx.TensorProto) -> bool:
    return any(len(getattr(tensor, name)) for name in _TYPED_FIELDS)


def _clear_data(tensor: onnx.TensorProto) -> None:
    tensor.ClearField("raw_data")
    for name in _TYPED_FIELDS:
        tensor.ClearField(name)
