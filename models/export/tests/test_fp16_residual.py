"""The exporter's `--fp16-residual` graphs (an experiment on the traced step graph, which
`--classic-step` keeps; the fused step has its residual in fp16 anyway): fp16 priors
whose residual stream and LayerNorm stay in fp16, as OpenAI's `Transformer(fp16=True)` samples,
instead of fp32. They must cost fewer casts per layer and stay as close to the port's fp32
logits as every fp16 graph must."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from encore_export.prior import export_prior, goldens  # noqa: E402
from encore_export.prior.runtime import OrtPrior  # noqa: E402
from test_prior_parity import FP16_TOL, IDS, PRIORS, model, run_window, teacher_forced  # noqa: E402


@contextlib.contextmanager
def original_fp16_rules():
    """The port run by the rules of OpenAI's fp16 sampling: the transformer's input halved and
    its output widened (`Transformer.forward` with fp16=True, fp16_out=False), LayerNorm computed
    in fp32 on a widened input and returned in the input's dtype (`ops.LayerNorm`); the port's
    Conv1D (`addmm` in the input's dtype) and attention (softmax in fp32) already follow them."""
    import torch.nn.functional as F
    from transformers.models.jukebox import modeling_jukebox as port

    stack, norm = port.JukeboxLayerStack.forward, port.JukeboxLayerNorm.forward

    def stack_forward(self, hidden_states, last_encoder_hidden_states=None, sample=False):
        return stack(self, hidden_states.half(), last_encoder_hidden_states, sample).float()

    def norm_forward(self, x):
        return F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps).type_as(x)

    port.JukeboxLayerStack.forward, port.JukeboxLayerNorm.forward = stack_forward, norm_forward
    try:
        yield
    finally:
        port.JukeboxLayerStack.forward, port.JukeboxLayerNorm.forward = stack, norm


def step_casts(out: str, exported: dict) -> int:
    step = next(e for e in exported["graphs"] if e["graph"] == "step")
    graph = onnx.load(os.path.join(out, step["file"]), load_external_data=False).graph
    return sum(node.op_type == "Cast" for node in graph.node)


@pytest.mark.parametrize("kind,index", PRIORS, ids=IDS)
def test_fp16_residual_graphs_stay_near_the_reference_with_fewer_casts(tmp_path, kind, index):
    prior = model(kind).priors[index]
    g = teacher_forced(kind, index)
    with original_fp16_rules():
        original = goldens.teacher_forced(prior)["logits"]
    errors, casts = {}, {}
    for fp16_residual in (False, True):
        out = str(tmp_path / f"residual_{fp16_residual}")
        exported = export_prior(prior, 2 - index, out, "fp16", verify=False, fp16_residual=fp16_residual,
                                fused_step=False)
        _, logits = run_window(OrtPrior(out, exported), g, prefill_until=5)
        assert np.isfinite(logits).all()
        errors[fp16_residual] = (np.abs(logits - g["logits"]).max(), np.abs(logits - original).max())
        casts[fp16_residual] = step_casts(out, exported)
    depth = len(prior.prior.transformer._attn_mods)
    print(f"{kind}[{index}] |error| vs the fp32 port and vs the original's fp16 rules: fp32 residual "
          f"{errors[False]}, fp16 residual {errors[True]}; the original's own fp16 error "
          f"{np.abs(original - g['logits']).max():.5f}; casts {casts} for {depth} layers")

    own = np.abs(original - g["logits"]).max()
    # As close to fp32 as every fp16 graph must be, and about as close as OpenAI's own fp16
    # sampling is (its distance to our graphs is its own rounding: it does not tell them apart).
    assert errors[True][0] < FP16_TOL
    assert errors[True][0] <= 1.5 * own
    # The default keeps 6 casts a layer (LayerNorm out twice, scores, probabilities, the two
    # branches back to fp32); the fp16 stream keeps the softmax's 2.
    assert casts[False] >= 6 * depth
    assert casts[True] <= 2 * depth + 10
