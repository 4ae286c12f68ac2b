"""The committed fixtures (models/tiny-*): their prior graphs reproduce their own prior goldens.

Skipped for a fixture whose manifest lists no priors yet. What the Rust engine is tested
against is exactly this pair (graphs from manifest.json, goldens/*.npz), so it must agree here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
pytest.importorskip("onnxruntime")

from encore_export.prior.runtime import OrtPrior, replay_level  # noqa: E402

MODELS = Path(os.environ.get("ENCORE_FIXTURES_ROOT", Path(__file__).resolve().parents[2]))  # models/
FIXTURES = sorted(p.name for p in MODELS.glob("tiny-*") if (p / "manifest.json").is_file())


def priors_of(name: str, precision: str):
    """[(level, OrtPrior)] built from the fixture's manifest, or skip."""
    root = MODELS / name
    manifest = json.loads((root / "manifest.json").read_text())
    sections = [s for s in manifest.get("priors") or [] if s]
    if not sections or not (root / "goldens" / "sampled.npz").is_file():
        pytest.skip(f"{name}: no prior graphs or prior goldens in this fixture yet")
    out = []
    for section in sections:
        level = section["level"]
        graphs = [
            g for g in manifest["graphs"]
            if g.get("precision") == precision and Path(g["file"]).name.startswith(f"prior_l{level}.")
        ]
        assert {g["graph"] for g in graphs} == {"conditioning", "prefill", "step"}, f"{name} level {level}"
        out.append((level, OrtPrior(str(root), {"graphs": graphs, "section": section})))
    return out


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_step_graphs_match_teacher_forced_goldens(name):
    for level, eng in priors_of(name, "fp32"):
        g = dict(np.load(MODELS / name / "goldens" / f"prior_l{level}.teacher_forced.npz"))
        seq = g["sequence"]
        batch, n = seq.shape
        eng.new_caches(batch)
        cond = eng.conditioning(**{k: g[k] for k in eng.section["conditioning"]["inputs"]})
        inputs = np.concatenate([np.zeros((batch, 1), np.int64), seq[:, :-1]], axis=1)
        half = eng.section["block_ctx"] + 1
        logits = [eng.prefill_all(inputs[:, :half], 0, cond["cond"], cond["start_emb"], max_chunk=7)]
        for t in range(half, n):
            logits.append(eng.step(inputs[:, t], t, cond["cond"][:, t], cond["start_emb"])[:, None])
        err = np.abs(np.concatenate(logits, axis=1) - g["logits"]).max()
        assert err < 1e-4, f"{name} level {level}: max |logit error| {err}"


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_graphs_replay_sampled_golden(name):
    priors = priors_of(name, "fp32")
    golden = dict(np.load(MODELS / name / "goldens" / "sampled.npz"))
    for level, eng in priors:
        ids, codes = replay_level(eng, golden, level)
        np.testing.assert_array_equal(ids, golden[f"l{level}_sampled_ids"], err_msg=f"{name} level {level}")
        np.testing.assert_array_equal(codes, golden[f"l{level}_codes"], err_msg=f"{name} level {level}")
