"""Writes a random-weight model as a Hugging Face-style snapshot folder, one shard per part
(vqvae, priors.0, priors.1, priors.2) plus the index json, so `--from` can be tested (and
benchmarked at full size) without downloading real weights.

  python -m encore_export.snapshot_writer --config CONFIG.json --out DIR [--format safetensors|bin]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

import torch

from .random_weights import RandomWeights
from .vocab import V2_LYRIC_CHARS, synthetic_names


def _save_shard(tensors: dict, path: Path, fmt: str) -> None:
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})
    else:
        torch.save(tensors, str(path))


def write_snapshot(source: RandomWeights, folder: Path, fmt: str = "safetensors") -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "safetensors" if fmt == "safetensors" else "bin"
    stem = "model" if fmt == "safetensors" else "pytorch_model"
    parts = [("vqvae.", source.vqvae)] + [
        (f"priors.{i}.", (lambda i=i: source.prior(i))) for i in range(len(source.config.prior_configs))]
    weight_map = {}
    for n, (prefix, build) in enumerate(parts, start=1):
        shard = f"{stem}-{n:05d}-of-{len(parts):05d}.{suffix}"
        module = build()
        tensors, seen = {}, set()
        for k, v in module.state_dict(keep_vars=True).items():
            if id(v) in seen:  # tied weights are saved once, as transformers' save_pretrained does
                continue
            seen.add(id(v))
            tensors[prefix + k] = v.detach()
        _save_shard(tensors, folder / shard, fmt)
        weight_map.update({k: shard for k in tensors})
        del module, tensors
        gc.collect()
    (folder / f"{stem}.{suffix}.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))

    config = source.config.to_dict()
    config["model_type"] = "jukebox"
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    artists, genres = synthetic_names(source.config)
    lyrics = {"<unk>": 0, **{ch: i + 1 for i, ch in enumerate(V2_LYRIC_CHARS.replace("+", ""))}}
    for name, vocab in (("artists", artists), ("genres", genres), ("lyrics", lyrics)):
        (folder / f"{name}.json").write_text(json.dumps(vocab))
    return folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m encore_export.snapshot_writer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--format", choices=["safetensors", "bin"], default="safetensors")
    parser.add_argument("--random-seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_snapshot(RandomWeights(args.config, args.random_seed), args.out, args.format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
