"""The exporter's `--fused-attention` step graphs (an experiment on the traced step, superseded by
the fused step, prior/fused_step.py, which the GPU check measures instead): each
layer's attention over its cache as one `com.microsoft.MultiHeadAttention` (the mask as its
additive bias, the cache read in place in its (B, H, S, hd) layout) instead of the scores, mask,
softmax and context nodes. They must compute what the default graphs compute."""

from __future__ import annotations

import collections
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from encore_export.prior import export_prior  # noqa: E402
from encore_export.prior.runtime import OrtPrior  # noqa: E402
from test_prior_parity import FP16_TOL, FP32_TOL, IDS, PRIORS, model, run_window, teacher_forced  # noqa: E402


@pytest.mark.parametrize("precision,bound", [("fp32", FP32_TOL), ("fp16", FP16_TOL)])
@pytest.mark.parametrize("kind,index", PRIORS, ids=IDS)
def test_fused_attention_steps_match_the_reference(tmp_path, kind, index, precision, bound):
    prior = model(kind).priors[index]
    g = teacher_forced(kind, index)
    out = str(tmp_path)
    exported = export_prior(prior, 2 - index, out, precision, verify=False, fused_attention=True,
                            fused_step=False)
    step = next(e for e in exported["graphs"] if e["graph"] == "step")
    ops = collections.Counter(n.op_type for n in onnx.load(os.path.join(out, step["file"]),
                                                               load_external_data=False).graph.node)
    depth = len(prior.prior.transformer._attn_mods)
    assert ops["MultiHeadAttention"] == depth and ops["Softmax"] == 0, ops
    # Positions 5 on through the step graph, crossing attention blocks (rings, the previous
    # block's guard, the transposed layers' gathers).
    _, logits = run_window(OrtPrior(out, exported), g, prefill_until=5)
    assert np.isfinite(logits).all()
    err = float(np.abs(logits - g["logits"]).max())
    print(f"{kind}[{index}] {precision} fused attention: max |logit error| {err:.2e}")
    assert err < bound
