"""ONNX Runtime prior graphs vs the transformers Jukebox port (the reference).

Tiny random-weight models (encore_export.prior.tiny) of every kind: 5b (types 1,2,3),
5b_lyrics (+ lyrics encoder, type 6), 1b_lyrics (lyric prefix, types 7 and 0) and an upsampler.
Goldens come from the port (goldens.py), never from our graphs. Every decoder run goes through
IoBinding with each cache bound as both input and output (runtime.OrtPrior), so a graph or
binding that stopped updating caches in place fails the logits checks too.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import warnings

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from encore_export.prior import export_prior, goldens  # noqa: E402
from encore_export.prior.runtime import OrtPrior, replay_level  # noqa: E402
from encore_export.prior.tiny import tiny_model  # noqa: E402

torch.set_num_threads(1)
warnings.filterwarnings("ignore")

FP32_TOL = 1e-4  # max |logit difference| at any position, fp32 graphs vs the port in fp32
FP16_TOL = 0.05  # fp16 graphs vs the port in fp32; measured max 0.0087 on these models (logits up to ~20)

# (model kind, priors[i]): the three top-level kinds and an upsampler
PRIORS = [("5b", 0), ("5b_lyrics", 0), ("1b_lyrics", 0), ("5b", 1)]
IDS = ["5b", "5b_lyrics", "1b_lyrics", "upsampler"]


@functools.lru_cache(maxsize=None)
def model(kind):
    return tiny_model(kind, seed=7)


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("prior_graphs")


_exports = {}


def exported(export_dir, kind, index, precision):
    key = (kind, index, precision)
    if key not in _exports:
        prior = model(kind).priors[index]
        out = os.path.join(export_dir, f"{kind}_{index}")
        _exports[key] = (out, export_prior(prior, 2 - index, out, precision, verify=False))
    return _exports[key]


@functools.lru_cache(maxsize=None)
def teacher_forced(kind, index):
    return goldens.teacher_forced(model(kind).priors[index])


def engine(export_dir, kind, index, precision="fp32"):
    out, ex = exported(export_dir, kind, index, precision)
    return OrtPrior(out, ex)


def conditioning_feeds(eng, g):
    return {name: g[name] for name in eng.section["conditioning"]["inputs"]}


def run_window(eng, g, prefill_until=0, chunk_pattern=(3, 1, 5, 2), cross_blocks=False):
    """Logits at every position of the golden window: positions < prefill_until through the
    prefill graph (irregular chunks, crossing blocks only if cross_blocks), the rest through the
    step graph."""
    seq = g["sequence"]
    batch, n = seq.shape
    eng.new_caches(batch)
    cond = eng.conditioning(**conditioning_feeds(eng, g))
    inputs = np.concatenate([np.zeros((batch, 1), np.int64), seq[:, :-1]], axis=1)
    out, pos, i = [], 0, 0
    bc = eng.section["block_ctx"]
    while pos < prefill_until:
        size = min(chunk_pattern[i % len(chunk_pattern)], prefill_until - pos)
        if not cross_blocks:
            size = min(size, bc - pos % bc)
        out.append(eng.prefill(inputs[:, pos : pos + size], pos, cond["cond"], cond["start_emb"]))
        pos, i = pos + size, i + 1
    for t in range(pos, n):
        out.append(eng.step(inputs[:, t], t, cond["cond"], cond["start_emb"])[:, None])
    return cond, np.concatenate(out, axis=1)


@pytest.mark.parametrize("kind,index", PRIORS, ids=IDS)
def test_conditioning_graph_matches_port(export_dir, kind, index):
    g = teacher_forced(kind, index)
    eng = engine(export_dir, kind, index)
    eng.new_caches(g["sequence"].shape[0])
    cond = eng.conditioning(**conditioning_feeds(eng, g))
    np.testing.assert_allclose(cond["start_emb"], g["start_emb"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(cond["cond"], g["cond"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind,index", PRIORS, ids=IDS)
def test_step_graph_logits_match_port_at_every_position(export_dir, kind, index):
    g = teacher_forced(kind, index)
    _, logits = run_window(engine(export_dir, kind, index), g)
    err = np.abs(logits - g["logits"]).max(axis=(0, 2))  # per position
    assert err.max() < FP32_TOL, f"positions over tolerance: {np.nonzero(err >= FP32_TOL)[0].tolist()}"


@pytest.mark.parametrize("kind,index", PRIORS, ids=IDS)
def test_prefill_then_step_logits_match_port(export_dir, kind, index):
    g = teacher_forced(kind, index)
    eng = engine(export_dir, kind, index)
    n = g["sequence"].shape[1]
    until = n - eng.section["block_ctx"] - 3  # prefill across several block boundaries, then step
    _, logits = run_window(eng, g, prefill_until=until)
    err = np.abs(logits - g["logits"]).max(axis=(0, 2))
    assert err.max() < FP32_TOL, f"positions over tolerance: {np.nonzero(err >= FP32_TOL)[0].tolist()}"


@pytest.mark.parametrize("kind,index", PRIORS, ids=IDS)
def test_prefill_chunks_across_blocks_match_port(export_dir, kind, index):
    """Chunks that cross attention blocks (a ring cache wraps inside one chunk): ring outputs
    bound apart and copied back, then steps; the same logits as the port everywhere."""
    g = teacher_forced(kind, index)
    eng = engine(export_dir, kind, index)
    bc, n = eng.section["block_ctx"], g["sequence"].shape[1]
    pattern = (bc + 3, 1, 3 * bc - 1, 2)  # the first chunk crosses one boundary, the third two
    _, logits = run_window(eng, g, prefill_until=n - 4, chunk_pattern=pattern, cross_blocks=True)
    err = np.abs(logits - g["logits"]).max(axis=(0, 2))
    assert err.max() < FP32_TOL, f"positions over tolerance: {np.nonzero(err >= FP32_TOL)[0].tolist()}"


@pytest.mark.parametrize("kind,index", PRIORS, ids=IDS)
def test_fp16_graphs_within_stated_bound(export_dir, kind, index):
    """The fp16 prefill graph over the whole window, in chunks: what the engine runs on the CPU
    and on CUDA without graphs (the fused step graph: test_fused_step.py)."""
    g = teacher_forced(kind, index)
    eng = engine(export_dir, kind, index, "fp16")
    _, logits = run_window(eng, g, prefill_until=g["sequence"].shape[1])
    err = float(np.abs(logits - g["logits"]).max())
    print(f"fp16 {kind}[{index}] max |logit error| {err:.5f} (logits up to {np.abs(g['logits']).max():.1f})")
    assert np.isfinite(logits).all()
    assert err < FP16_TOL


@functools.lru_cache(maxsize=None)
def sampled(kind):
    return goldens.sampled_continuation(model(kind))


@pytest.mark.parametrize("kind", ["5b", "5b_lyrics", "1b_lyrics"])
def test_replaying_recorded_uniforms_gives_the_port_codes(export_dir, kind):
    golden = sampled(kind)
    for index in range(3):
        level = 2 - index
        assert len(golden[f"l{level}_window_start"]) >= 3, "golden must cover several windows"
        eng = engine(export_dir, kind, index)
        ids, codes = replay_level(eng, golden, level, prefill_chunk=5)
        np.testing.assert_array_equal(ids, golden[f"l{level}_sampled_ids"], err_msg=f"level {level} ids")
        np.testing.assert_array_equal(codes, golden[f"l{level}_codes"], err_msg=f"level {level} codes")


@pytest.mark.parametrize("top_k,top_p", [(5, 0.0), (0, 0.8)])
def test_replay_with_top_k_top_p_filters(export_dir, top_k, top_p):
    golden = goldens.sampled_continuation(model("5b"), seed=11, top_windows=2, top_k=top_k, top_p=top_p)
    for index in range(3):
        level = 2 - index
        ids, codes = replay_level(engine(export_dir, "5b", index), golden, level)
        np.testing.assert_array_equal(ids, golden[f"l{level}_sampled_ids"], err_msg=f"level {level} ids")
        np.testing.assert_array_equal(codes, golden[f"l{level}_codes"], err_msg=f"level {level} codes")


def test_step_graph_updates_the_bound_cache_in_place(export_dir):
    """The step graph's cache outputs land in the very buffers bound as inputs, and doing so
    gives the same numbers as letting ORT allocate fresh outputs."""
    g = teacher_forced("5b", 0)
    eng = engine(export_dir, "5b", 0)
    cond_out, _ = run_window(eng, g, prefill_until=10)  # fills positions 0..n-1
    bc, blocks = eng.section["block_ctx"], eng.section["blocks"]
    ptrs = {k: v.data_ptr() for k, v in eng.caches.items()}
    before = {k: v.numpy().copy() for k, v in eng.caches.items()}

    # Re-run the last position out of place: fresh outputs, inputs untouched.
    sess = eng.sessions["step"]
    t = g["sequence"].shape[1] - 1
    feeds = {
        "token": g["sequence"][:, t - 1],
        "position": np.array([t], np.int64),
        "cond": cond_out["cond"],
        "start_emb": cond_out["start_emb"],
    }
    zeroed = {}
    for layer in eng.section["cache"]["layers"]:  # clear this position's slot so a write shows
        slot = {0: t, 1: t % bc, 2: (t % bc) * blocks + t // bc, 3: t % (2 * bc)}[layer["type"]]
        for name in (layer["key"], layer["value"]):
            arr = before[name].copy()
            arr[:, :, slot] = 0
            zeroed[name] = (arr, slot)
    names = [o.name for o in sess.get_outputs()]
    fresh = dict(zip(names, sess.run(None, {**feeds, **{k: v[0] for k, v in zeroed.items()}})))

    for name, (arr, _) in zeroed.items():
        eng.caches[name].update_inplace(arr)
    logits = eng.step(feeds["token"], t, feeds["cond"], feeds["start_emb"])
    np.testing.assert_array_equal(logits, fresh["logits"])
    for name, (arr, slot) in zeroed.items():
        assert eng.caches[name].data_ptr() == ptrs[name], f"{name} was reallocated"
        now = eng.caches[name].numpy()
        np.testing.assert_array_equal(now, fresh[name + "_out"])
        assert np.abs(now[:, :, slot]).max() > 0, f"{name}: slot {slot} not written"
        others = np.delete(np.arange(now.shape[2]), slot)
        np.testing.assert_array_equal(now[:, :, others], arr[:, :, others])


def _scatter_graph(slots: int, head_dim: int = 64):
    from onnx import TensorProto, helper

    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("Reshape", ["position", "shape4"], ["pos4"]),
        helper.make_node("Shape", ["row"], ["row_shape"]),
        helper.make_node("Expand", ["pos4", "row_shape"], ["index"]),
        helper.make_node("ScatterElements", ["cache", "index", "row"], ["cache_out"], axis=2),
    ]
    graph = helper.make_graph(
        nodes,
        "cache_write",
        [
            helper.make_tensor_value_info("cache", f, [1, 1, slots, head_dim]),
            helper.make_tensor_value_info("row", f, [1, 1, 1, head_dim]),
            helper.make_tensor_value_info("position", TensorProto.INT64, [1]),
        ],
        [helper.make_tensor_value_info("cache_out", f, [1, 1, slots, head_dim])],
        initializer=[helper.make_tensor("shape4", TensorProto.INT64, [4], [1, 1, 1, 1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_scatter_bound_in_place_costs_no_cache_copy():
    """ORT's ScatterElements skips its input->output copy when both are one buffer: a write into
    a 64 MiB cache bound in place must cost far less than one into a separate output."""
    slots = 1 << 18
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(_scatter_graph(slots), opts, providers=["CPUExecutionProvider"])
    cache = ort.OrtValue.ortvalue_from_numpy(np.zeros((1, 1, slots, 64), np.float32))
    other = ort.OrtValue.ortvalue_from_numpy(np.zeros((1, 1, slots, 64), np.float32))

    def best_time(out, reps=15):
        io = sess.io_binding()
        io.bind_ortvalue_input("cache", cache)
        io.bind_cpu_input("row", np.ones((1, 1, 1, 64), np.float32))
        io.bind_cpu_input("position", np.array([slots - 1], np.int64))
        io.bind_ortvalue_output("cache_out", out)
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            sess.run_with_iobinding(io)
            times.append(time.perf_counter() - start)
        return min(times)

    in_place, copied = best_time(cache), best_time(other)
    print(f"64 MiB cache write: in place {in_place * 1e6:.0f} us, separate output {copied * 1e6:.0f} us")
    assert cache.numpy()[0, 0, slots - 1].min() == 1.0
    assert in_place * 10 < copied


def test_manifest_section_names_every_graph_cache(export_dir):
    for kind, index in PRIORS:
        _, ex = exported(export_dir, kind, index, "fp16")
        sec = ex["section"]
        graphs = {g["graph"]: g for g in ex["graphs"]}
        step_inputs = {d["name"]: d for d in graphs["step"]["inputs"]}
        step_outputs = {d["name"] for d in graphs["step"]["outputs"]}
        prefill_outputs = {d["name"] for d in graphs["prefill"]["outputs"]}
        cond_outputs = {d["name"] for d in graphs["conditioning"]["outputs"]}
        for layer in sec["cache"]["layers"]:
            for name in (layer["key"], layer["value"]):
                d = step_inputs[name]
                assert d["dtype"] == sec["cache"]["dtype"]["fp16"] == "float16"
                assert d["shape"] == ["batch", sec["heads"], layer["slots"], sec["head_dim"]]
                if layer["written_by"] == "decoder" and layer["type"] == 7:
                    # The prime (lyrics) keys lie before step_from_position: the prefill
                    # writes them and the fused step only reads them.
                    assert name + "_out" in prefill_outputs and name + "_out" not in step_outputs
                    assert sec["step_from_position"] >= sec["lyrics"]["prime_len"] > 0
                elif layer["written_by"] == "decoder":
                    assert name + "_out" in step_outputs
                else:
                    assert name in cond_outputs and name + "_out" not in step_outputs
        per_row = sum(2 * sec["heads"] * layer["slots"] * sec["head_dim"] * 2 for layer in sec["cache"]["layers"])
        assert sec["cache"]["bytes_per_sample"] == {"fp16": per_row, "fp32": 2 * per_row, "int8": per_row,
                                                    "int4": per_row}


@pytest.mark.parametrize("graph", ["step", "prefill"])
def test_decoder_graphs_touch_caches_only_by_scatter_then_read(export_dir, graph):
    """No node copies a cache: each cache input feeds exactly one ScatterElements (as its data),
    whose output is the graph's `_out` and is read only by attention (MatMul, or in the fused
    fp16 step MultiHeadAttention) or Gather (type 2 rows); or, in the fused step, it is the
    past of a GroupQueryAttention that writes it in place (its present is the `_out`), or a
    type-7 cache past the prime, only read. Ring caches in the prefill are read as they were
    before the chunk (MatMul) and written by the scatter, whose output nothing reads."""
    import onnx

    READERS = {"MatMul", "MultiHeadAttention"}
    for kind, index in PRIORS:
        out, ex = exported(export_dir, kind, index, "fp16")
        entry = next(g for g in ex["graphs"] if g["graph"] == graph)
        model_proto = onnx.load(os.path.join(out, entry["file"]))
        consumers = {}
        for node in model_proto.graph.node:
            for i, name in enumerate(node.input):
                consumers.setdefault(name, []).append((node.op_type, i))
        producers = {o: node.op_type for node in model_proto.graph.node for o in node.output}
        for layer in ex["section"]["cache"]["layers"]:
            for name in (layer["key"], layer["value"]):
                if layer["written_by"] == "conditioning":
                    assert {op for op, _ in consumers[name]} <= READERS, (kind, name, consumers[name])
                    continue
                if graph == "step" and consumers[name][0][0] == "GroupQueryAttention":
                    assert consumers[name] == [("GroupQueryAttention", 3 if name.endswith("key") else 4)]
                    assert producers[name + "_out"] == "GroupQueryAttention"
                    continue
                if graph == "step" and layer["type"] == 7:
                    assert {op for op, _ in consumers[name]} <= READERS and name + "_out" not in producers
                    continue
                if graph == "prefill" and layer["kind"] == "ring":
                    assert sorted(op for op, _ in consumers[name]) == ["MatMul", "ScatterElements"], (kind, name)
                    assert producers[name + "_out"] == "ScatterElements"
                    assert name + "_out" not in consumers, (kind, name, consumers.get(name + "_out"))
                    continue
                assert consumers[name] == [("ScatterElements", 0)], (kind, name, consumers[name])
                assert producers[name + "_out"] == "ScatterElements"
                readers = {op for op, _ in consumers[name + "_out"]}
                assert readers <= READERS | {"Gather"}, (kind, name, readers)


def test_fixed_batch_export_has_static_shapes_and_same_logits(export_dir, tmp_path):
    """export_prior(batch=N) bakes the batch in: after ORT's basic optimisations no Shape node is
    left in the step graph (what CUDA-graph capture needs), and the logits are unchanged."""
    import onnx

    g = teacher_forced("5b", 0)
    batch = g["sequence"].shape[0]
    ex = export_prior(model("5b").priors[0], 2, str(tmp_path), "fp32", batch=batch, verify=False)
    step = next(e for e in ex["graphs"] if e["graph"] == "step")
    assert all("batch" not in d["shape"] for d in step["inputs"] + step["outputs"])
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(tmp_path / "step.optimized.onnx")
    ort.InferenceSession(str(tmp_path / step["file"]), opts, providers=["CPUExecutionProvider"])
    ops = {n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node}
    assert "Shape" not in ops and "ConstantOfShape" not in ops, sorted(ops)
    _, logits = run_window(OrtPrior(str(tmp_path), ex), g, prefill_until=5)
    assert np.abs(logits - g["logits"]).max() < FP32_TOL
