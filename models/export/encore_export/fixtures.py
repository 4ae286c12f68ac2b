"""Rebuilds the tiny random-weight fixtures and their goldens:

  python -m encore_export.fixtures [--root models] [--only tiny-5b ...]

For each fixture: models/<name>/ gets the graphs and manifest.json (exactly what
`python -m encore_export --config configs/<config>.json --precision <p> --random-seed <seed>`
writes) and models/<name>/goldens/ the reference outputs of transformers' PyTorch
implementation (array names in GOLDEN_ARRAYS, documented in docs/exporter.md). A full rebuild
also rewrites tests/goldens/text.json (encore_export.text_goldens).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from .audio import SAMPLE_RATE, synthetic_prompt, write_float_wav
from . import text_goldens
from .export import export_model
from .random_weights import RandomWeights

log = logging.getLogger(__name__)

CONFIGS = Path(__file__).parent / "configs"
# folder name -> (config file, random seed, precisions). Distinct seeds give distinct VQ-VAEs;
# only the smallest fixture carries fp16 and quantised graphs too, to keep all three well under
# 15 MB.
FIXTURES = {
    "tiny-5b": ("tiny_5b.json", 1234, ["fp32", "fp16", "int8", "int4"]),
    "tiny-5b-lyrics": ("tiny_5b_lyrics.json", 1235, ["fp32"]),
    "tiny-1b-lyrics": ("tiny_1b_lyrics.json", 1236, ["fp32"]),
    # The real decoders' depth and dilations (depth 4, growth 3, level 0 twice as deep) at a
    # tiny width: a sample here depends on as many codes as in Jukebox, so a streamed decode
    # that takes too little context shows it. VQ-VAE only: no priors, no prior goldens.
    "tiny-vqvae-deep": ("tiny_vqvae_deep.json", 1237, ["fp32"]),
}
VQVAE_ONLY = {"tiny-vqvae-deep"}
VQVAE_GOLDENS = "vqvae.npz"
GOLDEN_ARRAYS = {
    "prompt": "float32 [1, samples]: the synthetic prompt (also goldens/prompt.wav)",
    "sample_rate": "int64 []: 44100",
    "codes_level{L}": "int64 [1, samples / hop_L]: JukeboxVQVAE.encode(prompt)[L]",
    "decoded_level{L}": "float32 [1, samples]: JukeboxVQVAE.decode([codes_level{L}], start_level=L)",
}


def vqvae_goldens(vqvae, prompt: np.ndarray) -> dict[str, np.ndarray]:
    """Reference outputs of the PyTorch VQ-VAE for one prompt (batch of 1)."""
    arrays = {"prompt": prompt[None, :], "sample_rate": np.array(SAMPLE_RATE, dtype=np.int64)}
    with torch.no_grad():
        audio = torch.from_numpy(prompt)[None, :, None]  # (1, T, 1), the port's NTC layout
        codes = vqvae.encode(audio)
        for level, level_codes in enumerate(codes):
            arrays[f"codes_level{level}"] = level_codes.numpy().astype(np.int64)
            decoded = vqvae.decode([level_codes], start_level=level)  # (1, T, 1)
            arrays[f"decoded_level{level}"] = decoded[:, :, 0].numpy().astype(np.float32)
    return arrays


def prior_goldens_hook():
    """encore_export.prior.goldens.write_goldens, once the prior engineer provides it."""
    try:
        module = importlib.import_module("encore_export.prior.goldens")
    except ImportError as err:
        log.warning("prior goldens skipped: encore_export.prior.goldens cannot be imported (%s)", err)
        return None
    return getattr(module, "write_goldens", None)


def build_fixture(name: str, root: Path, with_priors: bool = True) -> Path:
    """Builds into models/.<name>.partial and swaps it in only once complete, so a failing
    export never leaves a half-written fixture behind."""
    final = root / name
    out = root / f".{name}.partial"
    if out.exists():
        shutil.rmtree(out)
    config_file, seed, precisions = FIXTURES[name]
    source = RandomWeights(CONFIGS / config_file, seed)
    source.name = name
    with_priors = with_priors and name not in VQVAE_ONLY
    export_model(source, out, precisions, source_kind="random", seed=seed, with_priors=with_priors)

    goldens = out / "goldens"
    goldens.mkdir()
    vqvae = source.vqvae()
    prompt = synthetic_prompt(int(vqvae.hop_lengths[-1]))
    arrays = vqvae_goldens(vqvae, prompt)
    np.savez_compressed(goldens / VQVAE_GOLDENS, **arrays)
    write_float_wav(goldens / "prompt.wav", prompt)

    write_goldens = prior_goldens_hook() if with_priors else None
    if write_goldens is not None:
        # The prompt's codes prime the prior engineer's sampled-continuation golden.
        codes = {level: arrays[f"codes_level{level}"] for level in range(len(vqvae.hop_lengths))}
        write_goldens(source, goldens, codes=codes)
    if final.exists():
        shutil.rmtree(final)
    out.rename(final)
    log.info("fixture %s done", final)
    return final


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m encore_export.fixtures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("models"), help="folder that holds models/tiny-*")
    parser.add_argument("--only", nargs="*", choices=sorted(FIXTURES), help="rebuild just these fixtures")
    parser.add_argument("--vqvae-only", action="store_true", help="skip prior graphs and prior goldens")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for name in args.only or FIXTURES:
        build_fixture(name, args.root, with_priors=not args.vqvae_only)
    if not args.only:
        log.info("text goldens: %s", text_goldens.write(args.root.parent / text_goldens.DEFAULT_OUT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
