"""CLI: python -m encore_export (--from SNAPSHOT | --config CONFIG.json) --out DIR --precision P."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .errors import ExportError

PRECISIONS = {"fp32": ["fp32"], "fp16": ["fp16"], "both": ["fp32", "fp16"], "int8": ["int8"], "int4": ["int4"],
              "all": ["fp32", "fp16", "int8", "int4"]}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m encore_export", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="snapshot", type=Path,
                        help="Hugging Face Jukebox snapshot folder (config.json, weights, artists/genres/lyrics.json)")
    source.add_argument("--config", type=Path,
                        help="JukeboxConfig JSON: build a random-weight model (see encore_export/configs/)")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="fp32",
                        help="fp32; fp16; int8 / int4: the priors' layer matrices in 8 or 4 bits (MatMulNBits), "
                             "fp16 around them (the VQ-VAE stays fp32); both = fp32 + fp16; all = every one")
    parser.add_argument("--vqvae-only", action="store_true", help="export the VQ-VAE graphs, skip the priors")
    parser.add_argument("--priors", type=int, nargs="+", choices=[0, 1, 2], metavar="LEVEL",
                        help="export only the priors of these VQ-VAE levels (2 = top), e.g. --priors 2, for "
                             "measurements (the engine loads only folders with every level); default: all three")
    parser.add_argument("--random-seed", type=int, default=0, help="seed for --config weights")
    parser.add_argument("--weights-dtype", choices=["fp32", "fp16"], default="fp32",
                        help="--config only: build the random priors directly in fp16 (half the memory; the "
                             "fp32 weights rounded to fp16), for --precision fp16 exports of models too big "
                             "for RAM in fp32")
    parser.add_argument("--fp16-residual", action="store_true",
                        help="fp16 priors' traced graphs keep the residual stream and LayerNorm in fp16, as "
                             "OpenAI's fp16 sampling does, instead of fp32 (an experiment on the traced "
                             "graphs; the fused step graph does so anyway)")
    parser.add_argument("--fused-attention", action="store_true",
                        help="the traced step graph's attention as one com.microsoft.MultiHeadAttention per "
                             "layer (an experiment, with --classic-step or fp32; superseded by the fused step)")
    parser.add_argument("--classic-step", action="store_true",
                        help="step graphs traced from the decoder as before the fused step (fp16 and the "
                             "quantised precisions default to the fused step, prior/fused_step.py); what the "
                             "GPU check compares the fused step with")
    parser.add_argument("--no-verify", action="store_true",
                        help="do not load each prior graph into ONNX Runtime after export (ORT on CPU widens "
                             "fp16 weights to fp32, which a full-size 5b fp16 graph cannot afford in 24 GB)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.weights_dtype == "fp16" and (args.snapshot is not None or args.precision != "fp16"):
        print("error: --weights-dtype fp16 needs --config and --precision fp16", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # Import late: torch and transformers take seconds to load, --help should not.
    from .export import export_model
    from .random_weights import RandomWeights
    from .snapshot import Snapshot

    try:
        if args.snapshot is not None:
            source, kind, seed = Snapshot(args.snapshot), "snapshot", None
        else:
            import torch

            dtype = {"fp32": torch.float32, "fp16": torch.float16}[args.weights_dtype]
            source, kind, seed = RandomWeights(args.config, args.random_seed, dtype), "random", args.random_seed
        export_model(source, args.out, PRECISIONS[args.precision], source_kind=kind, seed=seed,
                     with_priors=not args.vqvae_only, prior_levels=args.priors, verify=not args.no_verify,
                     fp16_residual=args.fp16_residual, fused_attention=args.fused_attention,
                     classic_step=args.classic_step)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
