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
            logits.append(eng.step(inputs[:, t], t, cond["cond"], cond["start_emb"])[:, None])
        err = np.abs(np.concatenate(logits, axis=1) - g["logits"]).max()
        assert err < 1e-4, f"{name} level {level}: max |logit error| {err}"


SAMPLED_GOLDENS = ["sampled.npz", "sampled.top_k5.npz", "sampled.top_p08.npz"]


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_top_logits_spread_over_several_units(name):
    """The fixtures' random weights must make the 1e-4 parity bound and the sampled goldens
    discriminate: the port's init gave top-level logits of at most ~0.006."""
    priors_of(name, "fp32")
    for path in sorted((MODELS / name / "goldens").glob("prior_l*.teacher_forced.npz")):
        logits = np.load(path)["logits"]
        assert np.abs(logits).max() > 3.0 and logits.std() > 0.5, f"{name} {path.name}: logits too flat"


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("file", SAMPLED_GOLDENS)
def test_fixture_graphs_replay_sampled_golden(name, file):
    priors = priors_of(name, "fp32")
    golden = dict(np.load(MODELS / name / "goldens" / file))
    if file != "sampled.npz":
        assert int(golden["top_k"]) > 0 or float(golden["top_p"]) > 0.0, file
    for level, eng in priors:
        ids, codes = replay_level(eng, golden, level)
        np.testing.assert_array_equal(ids, golden[f"l{level}_sampled_ids"], err_msg=f"{name} level {level}")
        np.testing.assert_array_equal(codes, golden[f"l{level}_codes"], err_msg=f"{name} level {level}")


@pytest.mark.parametrize("name", FIXTURES)
def test_sampled_golden_carries_the_song_lyrics(name):
    """l2_lyrics: the song's whole lyric ids, present iff the top prior has lyrics; every
    window's lyric part of the label is a run of them (or left-padded with 0)."""
    root = MODELS / name
    manifest = json.loads((root / "manifest.json").read_text())
    top = [s for s in manifest.get("priors") or [] if s and s["level"] == 2]
    if not top or not (root / "goldens" / "sampled.npz").is_file():
        pytest.skip(f"{name}: no prior goldens")
    golden = dict(np.load(root / "goldens" / "sampled.npz"))
    lyric_section = top[0].get("lyrics")
    if not lyric_section:
        assert "l2_lyrics" not in golden, f"{name}: l2_lyrics without a lyric top prior"
        return
    lyrics = golden["l2_lyrics"]
    assert lyrics.dtype == np.int64 and lyrics.shape[0] == int(golden["batch"]) and (lyrics > 0).all()
    n_lyric = int(lyric_section["n_tokens"])
    metadata = golden["l2_window_metadata"]  # (W, B, 4 + genres + n_lyric)
    for w in range(metadata.shape[0]):
        for b in range(metadata.shape[1]):
            row, part = lyrics[b].tolist(), metadata[w, b, -n_lyric:].tolist()
            part = part[next((i for i, t in enumerate(part) if t != 0), len(part)):]  # left padding
            assert any(row[i : i + len(part)] == part for i in range(len(row) - len(part) + 1)), (
                f"{name} window {w} row {b}: lyric window is not a run of l2_lyrics")
