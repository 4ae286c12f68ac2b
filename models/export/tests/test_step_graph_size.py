"""The step graph's size per layer: on a GPU a step is a chain of small kernels (a few kB of
activations against each weight matrix), so its time follows the number of nodes that launch
one, not the weights it reads (docs/performance.md, "GPU figures"). A layer must not grow back
the head transposes, the three q/k/v slices, the per-layer scatter indices and mask fills that
the first device run counted."""

from __future__ import annotations

import collections
import os

import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from encore_export.prior import export_prior  # noqa: E402
from encore_export.prior.tiny import randomize, tiny_config  # noqa: E402

# Nodes that only relabel a buffer (ONNX Runtime aliases them) or work on shapes on the host.
NO_KERNEL = {"Reshape", "Squeeze", "Unsqueeze", "Shape", "Constant", "Identity", "Flatten"}
# Per layer, fp32, before ONNX Runtime's fusions: 2 LayerNorms, 4 MatMuls and their 4 bias
# Adds, 2 residual Adds, one Split for q/k/v, 2 cache ScatterElements, 2 attention MatMuls
# (with their 2 transposes, fused away at ORT's extended level), the scale Mul, the mask Where,
# Softmax, QuickGELU (Sigmoid and 2 Muls), about 1 more for a type-2 gather or type-3 guard.
# The graph of the first device run had 40.
MAX_NODES_PER_LAYER = 27


def step_nodes(depth: int, tmp_path) -> collections.Counter:
    """Kernel-launching nodes of an upsampler step graph `depth` layers deep, after ONNX
    Runtime's basic (provider-independent) optimisations."""
    from transformers import JukeboxModel

    config = tiny_config("5b")
    config.prior_configs[1].num_layers = depth
    prior = randomize(JukeboxModel(config).eval(), 7).priors[1]
    out = tmp_path / f"depth{depth}"
    exported = export_prior(prior, 1, str(out), "fp32", verify=False)
    step = next(e for e in exported["graphs"] if e["graph"] == "step")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(out / "step.basic.onnx")
    ort.InferenceSession(os.path.join(out, step["file"]), opts, providers=["CPUExecutionProvider"])
    graph = onnx.load(opts.optimized_model_filepath, load_external_data=False).graph
    return collections.Counter(n.op_type for n in graph.node if n.op_type not in NO_KERNEL)


def test_a_step_layer_launches_few_kernels(tmp_path):
    # Three more layers (one more cycle of the attention types 1, 2, 3): what they add is the
    # cost of a layer, whatever the graph spends once on embeddings, masks and logits.
    shallow, deep = step_nodes(3, tmp_path), step_nodes(6, tmp_path)
    per_layer = collections.Counter({op: (deep[op] - shallow[op]) / 3 for op in deep})
    total = sum(per_layer.values())
    assert total <= MAX_NODES_PER_LAYER, sorted(per_layer.items())
    assert per_layer["Slice"] == 0 and per_layer["Expand"] == 0, sorted(per_layer.items())
    assert per_layer["ConstantOfShape"] == 0, sorted(per_layer.items())
