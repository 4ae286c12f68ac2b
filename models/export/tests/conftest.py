"""Shared fixtures: the committed tiny models (models/tiny-*) and their PyTorch references."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

EXPORT_ROOT = Path(__file__).resolve().parents[1]  # models/export
REPO_ROOT = EXPORT_ROOT.parents[1]
sys.path.insert(0, str(EXPORT_ROOT))

from encore_export.fixtures import CONFIGS, FIXTURES  # noqa: E402
from encore_export.random_weights import RandomWeights  # noqa: E402

TINY_NAMES = sorted(FIXTURES)


@functools.lru_cache(maxsize=None)
def reference_vqvae(name: str):
    """The PyTorch JukeboxVQVAE the fixture `name` was exported from (same config and seed)."""
    config_file, seed, _ = FIXTURES[name]
    return RandomWeights(CONFIGS / config_file, seed).vqvae()


def model_dir(name: str) -> Path:
    path = REPO_ROOT / "models" / name
    if not (path / "manifest.json").is_file():
        pytest.fail(f"{path} has no manifest.json: run `python -m encore_export.fixtures`")
    return path


@pytest.fixture(params=TINY_NAMES)
def tiny(request) -> str:
    return request.param
