"""--from: a Hugging Face-style snapshot exports the same graphs as the model it was saved from,
and a bad snapshot is refused with one clear line (exit status 2), not a traceback."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from encore_export.__main__ import main
from encore_export.fixtures import CONFIGS
from encore_export.onnx_graph import open_session
from encore_export.random_weights import RandomWeights
from encore_export.snapshot import Snapshot
from encore_export.snapshot_writer import write_snapshot

CONFIG = CONFIGS / "tiny_1b_lyrics.json"


@pytest.fixture(scope="module")
def source():
    return RandomWeights(CONFIG, 99)


@pytest.fixture(scope="module")
def snapshot(source, tmp_path_factory):
    return write_snapshot(source, tmp_path_factory.mktemp("snapshot"), "safetensors")


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_snapshot_loads_the_saved_weights(source, tmp_path, fmt):
    loaded = Snapshot(write_snapshot(source, tmp_path / fmt, fmt))
    for got, want in [(loaded.vqvae(), source.vqvae())] + [(loaded.prior(i), source.prior(i)) for i in range(3)]:
        want_state = want.state_dict()
        for key, value in got.state_dict().items():
            assert torch.equal(value, want_state[key]), f"{fmt}: {key} differs after the round trip"


def test_export_from_snapshot_matches_reference(source, snapshot, tmp_path):
    out = tmp_path / "model"
    assert main(["--from", str(snapshot), "--out", str(out), "--precision", "fp32", "--vqvae-only"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["source"] == "snapshot" and manifest["vocabularies"]["synthetic"] is False
    assert manifest["vocabularies"]["artists"] == json.loads((snapshot / "artists.json").read_text())
    audio = (0.3 * np.sin(np.arange(4096) / 7.0)).astype(np.float32)[None, :]
    with torch.no_grad():
        want = source.vqvae().encode(torch.from_numpy(audio)[:, :, None])
    for level in range(3):
        got = open_session(out / "vqvae" / f"encoder_level{level}.fp32.onnx").run(None, {"audio": audio})[0]
        np.testing.assert_array_equal(got, want[level].numpy())


def _refused(capsys, folder, fragment: str) -> None:
    status = main(["--from", str(folder), "--out", str(folder.parent / "out"), "--precision", "fp32"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: ") and fragment in err, err
    assert "Traceback" not in err


def test_refuses_missing_folder(tmp_path, capsys):
    _refused(capsys, tmp_path / "nowhere", "not a folder")


def test_refuses_folder_without_config(tmp_path, capsys):
    _refused(capsys, tmp_path, "no config.json")


def test_refuses_other_model_type(snapshot, tmp_path, capsys):
    bad = shutil.copytree(snapshot, tmp_path / "bad")
    (bad / "config.json").write_text(json.dumps({"model_type": "bert"}))
    _refused(capsys, bad, "expected 'jukebox'")


def test_refuses_snapshot_without_weights(snapshot, tmp_path, capsys):
    bad = shutil.copytree(snapshot, tmp_path / "bad", ignore=shutil.ignore_patterns("*.safetensors*"))
    _refused(capsys, bad, "no weights found")


def test_refuses_snapshot_without_vocabularies(snapshot, tmp_path, capsys):
    bad = shutil.copytree(snapshot, tmp_path / "bad", ignore=shutil.ignore_patterns("lyrics.json"))
    _refused(capsys, bad, "tokenizer files missing: lyrics.json")


def test_refuses_missing_shard(snapshot, tmp_path, capsys):
    bad = shutil.copytree(snapshot, tmp_path / "bad")
    (bad / "model-00001-of-00004.safetensors").unlink()
    _refused(capsys, bad, "names shard files that are not in the snapshot")


def test_refuses_weights_that_do_not_fit_the_config(snapshot, tmp_path, capsys):
    bad = shutil.copytree(snapshot, tmp_path / "bad")
    config = json.loads((bad / "config.json").read_text())
    config["vqvae_config"]["res_conv_width"] = 12  # the stored convolutions are 8 wide
    (bad / "config.json").write_text(json.dumps(config))
    _refused(capsys, bad, "config.json implies")
