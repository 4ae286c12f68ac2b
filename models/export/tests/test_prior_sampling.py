"""The documented sampling rule (encore_export.prior.sampling) against the port's own pieces."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

torch = pytest.importorskip("torch")

from transformers.models.jukebox.modeling_jukebox import filter_logits as port_filter  # noqa: E402

from encore_export.prior import goldens  # noqa: E402
from encore_export.prior.sampling import filter_logits, pick, sample_rows  # noqa: E402


@pytest.mark.parametrize("top_k,top_p", [(0, 0.0), (1, 0.0), (5, 0.0), (0, 0.3), (0, 0.9), (7, 0.8)])
def test_numpy_filter_matches_the_port(top_k, top_p):
    rng = np.random.default_rng(top_k * 100 + int(top_p * 10))
    for _ in range(20):
        row = (rng.standard_normal(64) * 3).astype(np.float32)
        ours = filter_logits(row, top_k, top_p)
        theirs = port_filter(torch.from_numpy(row)[None], top_k=top_k, top_p=top_p)[0].numpy()
        np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(theirs))
        np.testing.assert_array_equal(ours[np.isfinite(ours)], theirs[np.isfinite(theirs)])


def test_inverse_cdf_picks_by_cumulative_probability():
    x = np.log(np.array([0.1, 0.0, 0.6, 0.3]) + 1e-30).astype(np.float32)
    x[1] = -np.inf  # a filtered entry is never picked
    assert pick(x, 0.0) == 0
    assert pick(x, 0.0999) == 0
    assert pick(x, 0.1001) == 2
    assert pick(x, 0.6999) == 2
    assert pick(x, 0.7001) == 3
    assert pick(x, 0.999999) == 3


def test_sample_rows_applies_temperature_before_the_filter():
    logits = np.array([[2.0, 1.0, 0.0, -1.0]], np.float32)
    # top_k=2 keeps entries 0 and 1; with temperature 0.5 p(0) = e^4 / (e^4 + e^2) = 0.881
    assert sample_rows(logits, np.array([0.87]), 0.5, top_k=2)[0] == 0
    assert sample_rows(logits, np.array([0.89]), 0.5, top_k=2)[0] == 1
    assert sample_rows(logits, np.array([0.89]), 1.0, top_k=2)[0] == 1  # p(0) = 0.731 at T = 1


def test_recorded_categorical_uses_the_documented_rule():
    rec = goldens._Recorder(seed=5)
    logits = torch.randn(3, 1, 50) * 2
    ids = rec.categorical(logits=logits).sample()
    u = rec.calls[0][2]
    np.testing.assert_array_equal(ids.view(-1).numpy(), sample_rows(logits.view(3, 50).numpy(), u, 1.0))
    again = np.random.default_rng(5).random(3)
    np.testing.assert_array_equal(u, again)  # the stream is numpy default_rng(seed).random(batch)
