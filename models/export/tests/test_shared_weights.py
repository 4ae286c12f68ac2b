"""The prior graphs of one prior and precision keep their weights in one shared file, each
tensor once (matched by content, not name), 4 KiB-aligned; ONNX Runtime runs them from it."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import model_dir
from encore_export.fixtures import VQVAE_ONLY
from encore_export.shared_weights import ALIGNMENT, INLINE_BELOW, SharedWeights, weights_file_name


def external_refs(model: onnx.ModelProto) -> dict[str, tuple[str, int, int]]:
    """initializer name -> (file, offset, length) of every externally stored initializer."""
    refs = {}
    for t in model.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            info = {e.key: e.value for e in t.external_data}
            refs[t.name] = (info["location"], int(info["offset"]), int(info["length"]))
    return refs


def inline_big_tensors(model: onnx.ModelProto) -> list[str]:
    big = [t.name for t in model.graph.initializer
           if t.data_location != TensorProto.EXTERNAL and len(t.raw_data) >= INLINE_BELOW]
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and len(attr.t.raw_data) >= INLINE_BELOW:
                big.append(node.output[0])
    return big


# ---- the writer on hand-made graphs ----

def _matmul_model(weight_name: str, weight: np.ndarray, bias: np.ndarray, constant: np.ndarray | None = None):
    nodes = [helper.make_node("MatMul", ["x", weight_name], ["xw"]), helper.make_node("Add", ["xw", "bias"], ["y"])]
    if constant is not None:  # a big Constant node, as torch's constant folding leaves them
        nodes = [helper.make_node("Constant", [], ["folded"], value=numpy_helper.from_array(constant, "folded")),
                 helper.make_node("MatMul", ["x", "folded"], ["xf"]),
                 helper.make_node("MatMul", ["xf", weight_name], ["xw"]), nodes[1]]
    n = weight.shape[0]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])],
        initializer=[numpy_helper.from_array(weight, weight_name), numpy_helper.from_array(bias, "bias")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_tensors_are_stored_once_by_content_and_graphs_run_from_the_file(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((50, 50)).astype(np.float32)  # 10000 B
    bias = rng.standard_normal(50).astype(np.float32)  # 200 B: stays inline
    first = _matmul_model("layers.0.w", w, bias)
    # Same weight under another name (as constant folding names it), plus a Constant node whose
    # content is w transposed: a different tensor, so a second copy.
    second = _matmul_model("onnx::MatMul_17", w, bias, constant=np.ascontiguousarray(w.T))
    shared = SharedWeights(str(tmp_path / weights_file_name("prior_l2", "fp32")))
    for model, name in ((first, "a.onnx"), (second, "b.onnx")):
        shared.externalize(model)
        onnx.save_model(model, str(tmp_path / name))
    size = shared.close()
    assert (shared.tensors_written, shared.tensors_reused) == (2, 1)
    assert size == 3 * ALIGNMENT + w.nbytes  # the second tensor starts at the next 4 KiB boundary

    refs_a, refs_b = external_refs(first), external_refs(second)
    assert refs_a["layers.0.w"] == refs_b["onnx::MatMul_17"] == ("prior_l2.fp32.weights", 0, w.nbytes)
    assert refs_b["folded"][1] % ALIGNMENT == 0 and refs_b["folded"][1] > 0
    assert not inline_big_tensors(first) and not inline_big_tensors(second)
    assert "bias" not in refs_a and not any(n.op_type == "Constant" for n in second.graph.node)

    x = rng.standard_normal((3, 50)).astype(np.float32)
    for name, want in (("a.onnx", x @ w + bias), ("b.onnx", (x @ w.T) @ w + bias)):
        session = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(session.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-4)


def test_same_bytes_with_another_dtype_or_shape_is_another_tensor(tmp_path):
    w = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    shared = SharedWeights(str(tmp_path / "w.weights"))
    for tensor in (w, w.view(np.int32), w.reshape(32, 128)):
        model = helper.make_model(helper.make_graph([], "g", [], [], initializer=[numpy_helper.from_array(tensor, "t")]))
        shared.externalize(model)
    shared.close()
    assert (shared.tensors_written, shared.tensors_reused) == (3, 0)


def test_constants_torch_wrote_to_files_are_settled(tmp_path):
    """Graphs over 2 GB come from torch with every tensor, Constant nodes' too, in a file of its
    own: big Constants become initializers in the shared file, small ones go inline."""
    from onnx.external_data_helper import convert_model_to_external_data

    rng = np.random.default_rng(1)
    big = rng.standard_normal((40, 40)).astype(np.float32)
    small = rng.standard_normal((40,)).astype(np.float32)
    nodes = [helper.make_node("Constant", [], ["big"], value=numpy_helper.from_array(big, "big")),
             helper.make_node("Constant", [], ["small"], value=numpy_helper.from_array(small, "small")),
             helper.make_node("MatMul", ["x", "big"], ["xb"]), helper.make_node("Add", ["xb", "small"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 40])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 40])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    torch_dir = tmp_path / "torch"
    torch_dir.mkdir()
    convert_model_to_external_data(model, all_tensors_to_one_file=False, size_threshold=0)
    onnx.save_model(model, str(torch_dir / "graph.onnx"))
    model = onnx.load(str(torch_dir / "graph.onnx"), load_external_data=False)

    shared = SharedWeights(str(tmp_path / "w.weights"))
    assert shared.externalize(model, str(torch_dir)) == 1
    shared.close()
    onnx.save_model(model, str(tmp_path / "graph.onnx"))
    assert list(external_refs(model)) == ["big"] and [n.op_type for n in model.graph.node] == ["Constant", "MatMul", "Add"]
    onnx.checker.check_model(str(tmp_path / "graph.onnx"))
    x = rng.standard_normal((2, 40)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "graph.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": x})[0], x @ big + small, rtol=1e-5, atol=1e-5)


def test_an_unused_weights_file_is_removed(tmp_path):
    shared = SharedWeights(str(tmp_path / "none.weights"))
    model = helper.make_model(helper.make_graph([], "g", [], [], initializer=[
        numpy_helper.from_array(np.zeros(8, np.float32), "small")]))
    shared.externalize(model)
    assert shared.close() == 0 and not (tmp_path / "none.weights").exists()


# ---- the committed fixtures ----

def prior_graph_sets(folder) -> dict:
    """(level, precision) -> manifest entries of that prior's graphs."""
    sets = defaultdict(list)
    for entry in json.loads((folder / "manifest.json").read_text())["graphs"]:
        if entry["kind"].startswith("prior_"):
            sets[(entry["level"], entry["precision"])].append(entry)
    return sets


def test_each_prior_and_precision_has_one_weights_file(tiny):
    if tiny in VQVAE_ONLY:
        pytest.skip(f"{tiny} is a VQ-VAE alone")
    folder = model_dir(tiny)
    sets = prior_graph_sets(folder)
    assert sets, f"{tiny}: no prior graphs"
    for (level, precision), entries in sets.items():
        assert {e["graph"] for e in entries} == {"conditioning", "prefill", "step"}
        externals = {json.dumps(e["external_data"], sort_keys=True) for e in entries}
        assert len(externals) == 1, f"{tiny} L{level} {precision}: graphs name different weight files"
        external = entries[0]["external_data"]
        assert external["file"] == weights_file_name(f"prior_l{level}", precision)
        assert (folder / external["file"]).stat().st_size == external["bytes"]


def test_weights_files_hold_each_tensor_once_aligned_and_in_bounds(tiny):
    folder = model_dir(tiny)
    for (level, precision), entries in prior_graph_sets(folder).items():
        weights = folder / entries[0]["external_data"]["file"]
        data = weights.read_bytes()
        by_graph, places = {}, {}
        for entry in entries:
            model = onnx.load(str(folder / entry["file"]), load_external_data=False)
            assert not inline_big_tensors(model), f"{entry['file']}: tensors of >= {INLINE_BELOW} B left inline"
            tensors = {t.name: t for t in model.graph.initializer}
            refs = external_refs(model)
            assert {f for f, _, _ in refs.values()} == {weights.name}, entry["file"]
            for name, (_, offset, length) in refs.items():
                assert offset % ALIGNMENT == 0 and offset + length <= len(data), f"{entry['file']}:{name}"
                key = (hashlib.sha256(data[offset:offset + length]).hexdigest(), tensors[name].data_type,
                       tuple(tensors[name].dims))
                places.setdefault(key, set()).add(offset)
            by_graph[entry["graph"]] = {offset for _, offset, _ in refs.values()}
        duplicated = [k for k, offsets in places.items() if len(offsets) > 1]
        assert not duplicated, f"{tiny} L{level} {precision}: {len(duplicated)} tensors stored twice"
        # The step graph reads no weight the prefill graph does not (they are one network).
        assert by_graph["step"] <= by_graph["prefill"], f"{tiny} L{level} {precision}"


@pytest.mark.parametrize("graph", ["prefill", "step"])
def test_decoder_graphs_load_their_weights_from_the_shared_file(tiny, graph):
    """onnx's own loader resolves every external tensor relative to the graph (as ORT does)."""
    folder = model_dir(tiny)
    for entries in prior_graph_sets(folder).values():
        entry = next(e for e in entries if e["graph"] == graph)
        model = onnx.load(str(folder / entry["file"]))
        assert all(t.data_location != TensorProto.EXTERNAL for t in model.graph.initializer)
