"""manifest.json: the runtime contract the Rust engine reads (documented field by field in
docs/manifest.md). Bump FORMAT_VERSION on any change an older reader would misread."""

from __future__ import annotations

import json
from pathlib import Path

FORMAT_VERSION = 2
MANIFEST_FILE = "manifest.json"

# Sampling defaults, indexed by VQ-VAE level (0 = finest, last = top), as openai/jukebox's
# sample.py indexes `sampling_kwargs[level]` and `hop_fraction[level]`: the top level samples at
# temperature 0.98 and advances by 1/8 window, the upsamplers at 0.99 and by 1/2 window.
# transformers' JukeboxConfig.hop_fraction is the other way round (prior index, 0 = top).
TEMPERATURE_BY_LEVEL = [0.99, 0.99, 0.98]
HOP_FRACTION_BY_LEVEL = [0.5, 0.5, 0.125]


def by_level(prior_index_order: list, levels: int) -> list:
    """A per-prior list in transformers' order (0 = top) re-indexed by VQ-VAE level (0 = finest)."""
    values = list(prior_index_order)[:levels]
    return values[::-1]


def model_kind(config) -> str:
    """Which top prior this is: its conditioning decides how the engine drives it."""
    top = config.prior_configs[0]
    if top.nb_relevant_lyric_tokens == 0:
        return "5b"
    return "1b_lyrics" if top.is_encoder_decoder else "5b_lyrics"


def sampling_section(config) -> dict:
    levels = len(config.prior_configs)
    # prior_configs are top first; n_ctx is music codes per window at each level.
    n_ctx = [config.prior_configs[levels - 1 - level].n_ctx for level in range(levels)]
    return {
        "temperature": TEMPERATURE_BY_LEVEL[:levels],
        "top_k": 0,
        "top_p": 0.0,
        "hop_fraction": (by_level(config.vqvae_config.hop_fraction, levels) if config.vqvae_config.hop_fraction
                         else HOP_FRACTION_BY_LEVEL[-levels:]),
        "n_ctx": n_ctx,
    }


def build_manifest(*, name: str, source: str, config, seed, hop_lengths, vocab: dict,
                   priors: list[dict], graphs: list[dict], versions: dict) -> dict:
    vq = config.vqvae_config
    return {
        "format_version": FORMAT_VERSION,
        "model": {"name": name, "kind": model_kind(config), "source": source, "random_seed": seed},
        "exporter": versions,
        "audio": {"sample_rate": int(config.sampling_rate), "channels": 1},
        "vqvae": {
            "levels": int(vq.levels),
            "hop_lengths": [int(h) for h in hop_lengths],
            "codebook_size": int(vq.nb_discrete_codes),
            "codebook_width": int(vq.embed_dim),
        },
        "labels": {
            "max_nb_genres": int(config.max_nb_genres),
            "min_duration_s": float(config.min_duration),
            "max_duration_s": float(config.max_duration),
        },
        "vocabularies": vocab,
        "sampling": sampling_section(config),
        "priors": priors,
        "graphs": graphs,
    }


def write_manifest(manifest: dict, out_dir: Path) -> Path:
    path = Path(out_dir) / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return path


def read_manifest(out_dir: Path) -> dict:
    manifest = json.loads((Path(out_dir) / MANIFEST_FILE).read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"manifest format_version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}")
    return manifest
