"""Milliseconds per step of the reference: the transformers port's own cached sampling loop
(`JukeboxConditionalAutoregressive.primed_sample`) on a random-weight prior, the weights built
by the same seeded `RandomWeights` source the exporter used, so they are the exported graphs'
weights byte for byte (fp16: the same fp32 draws rounded to nearest, as the fp16 graphs are):

  python -m encore_export.reference_bench (--model DIR | --config CONFIG.json [--seed N])
         [--level 2] [--device cpu|cuda] [--dtype fp32|fp16] [--batch 1 3 16]
         [--prime 400 [--fit-prime]] [--steps 30] [--warmup 3] [--threads N]

Per batch: the port's conditioning for one window, then `primed_sample` with a prime of
`--prime` positions (one pass through the transformer, the port's prefill) and
`--warmup + --steps` sampled positions. A step is timed from one `fc_proj_out` call to the next
(embedding, transformer with its key/value cache, projection, the port's own sampling), with
the device synchronised at each, so each time is a whole step done. Prints one JSON object per
line, as `step_bench` does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

CONFIGS = Path(__file__).parent / "configs"


def model_source(args) -> tuple[Path, int]:
    """The config and seed of an exported random-weight model folder, or the ones given."""
    if args.config is not None:
        return args.config, args.seed
    manifest = json.loads((args.model / "manifest.json").read_text())
    model = manifest["model"]
    if model.get("source") != "random":
        raise SystemExit(f"{args.model}: not a random-weight export; the reference needs the same weights")
    return CONFIGS / f"{model['name']}.json", int(model["random_seed"])


def build_prior(config: Path, seed: int, level: int, dtype: torch.dtype, device: str):
    from .random_weights import RandomWeights

    # fp16: built in fp16 directly (prior_in_half draws the same fp32 values and rounds them),
    # so a 5b prior never needs its 22 GB fp32 copy.
    source = RandomWeights(config, seed, dtype)
    index = len(source.config.prior_configs) - 1 - level
    prior = source.prior(index)
    return prior.to(device=device, dtype=dtype).eval()


def window_inputs(prior, batch: int, dtype: torch.dtype, device: str):
    """The port's conditioning for a window at the song start, and the window's ids (zeros)."""
    from .prior import reference as ref
    from .prior.goldens import _labels
    from .prior.spec import prior_spec

    spec = prior_spec(prior)
    rng = np.random.default_rng(0)
    labels = _labels(prior, batch, 3 * max(spec.n_lyric_tokens, 1), rng)
    total = spec.total_length_range[0] + 7 * spec.raw_to_tokens * spec.music_ctx if spec.timing else 0
    metadata = prior.get_metadata(labels, 0, total, 0).to(device)
    upper = None
    if spec.kind == "upsampler":
        upper = torch.zeros(batch, spec.music_ctx // spec.cond_downsample, dtype=torch.long, device=device)
    lyric_tokens, audio_cond, meta_cond, enc = ref.window_conditioning(prior, metadata, upper)
    codes = torch.zeros(batch, spec.music_ctx, dtype=torch.long, device=device)
    seq, cond = ref.sequence_and_cond(prior, codes, lyric_tokens, audio_cond)
    return spec, seq, cond.to(dtype), meta_cond.to(dtype), None if enc is None else enc.to(dtype)


class Clock:
    """Synchronised timestamps at hooks: the prime pass and every step."""

    def __init__(self, device: str):
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        self.marks: list[float] = []
        self.prime: list[float] = []

    def now(self) -> float:
        self.sync()
        return time.perf_counter()

    def transformer_pre(self, _module, _args):
        if not self.prime:
            self.prime.append(self.now())

    def transformer_post(self, _module, _args, _out):
        if len(self.prime) == 1:
            self.prime.append(self.now())

    def projection(self, _module, _args, _out):
        self.marks.append(self.now())


def memory(device: str) -> dict:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            key = {"VmHWM": "peak_rss_mb", "VmRSS": "rss_mb"}[line.split(":")[0]]
            out[key] = int(line.split()[1]) // 1024
    if device == "cuda":
        out["gpu_peak_allocated_mib"] = torch.cuda.max_memory_allocated() // 2**20
        out["gpu_reserved_mib"] = torch.cuda.memory_reserved() // 2**20
    return out


def bench(prior, batch: int, args, dtype: torch.dtype) -> dict:
    spec, seq, cond, meta_cond, enc = window_inputs(prior, batch, dtype, args.device)
    if args.fit_prime:  # as the GPU check's driver does for Encore's side
        args.prime = max(1, min(args.prime, spec.n_ctx - args.warmup - args.steps - 2))
    total = args.prime + args.warmup + args.steps + 1
    if total > spec.n_ctx:
        raise SystemExit(f"prime {args.prime} + {args.warmup + args.steps} steps passes the window of {spec.n_ctx}")
    clock = Clock(args.device)
    decoder = prior.prior
    hooks = [decoder.transformer.register_forward_pre_hook(clock.transformer_pre),
             decoder.transformer.register_forward_hook(clock.transformer_post),
             decoder.fc_proj_out.register_forward_hook(clock.projection)]
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    try:
        with torch.no_grad():
            decoder.primed_sample(batch, seq[:, : args.prime], cond, meta_cond, enc, chunk_size=None,
                                  sample_tokens=total)
    finally:
        for hook in hooks:
            hook.remove()
    steps = [(b - a) * 1e3 for a, b in zip(clock.marks, clock.marks[1:])][args.warmup:]
    return {"event": "batch", "batch": batch, "prime": args.prime, "prefill_ms": round((clock.prime[1] - clock.prime[0]) * 1e3, 1),
            "steps": len(steps), "first_position": args.prime + args.warmup, "median_ms": round(statistics.median(steps), 3),
            "min_ms": round(min(steps), 3), "max_ms": round(max(steps), 3), "memory": memory(args.device)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m encore_export.reference_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="a random-weight model folder the exporter wrote")
    source.add_argument("--config", type=Path, help="JukeboxConfig JSON (encore_export/configs/)")
    parser.add_argument("--seed", type=int, default=0, help="with --config: the exporter's --random-seed")
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=["fp32", "fp16"], default="fp32")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 3, 16])
    parser.add_argument("--prime", type=int, default=400)
    parser.add_argument("--fit-prime", action="store_true",
                        help="shorten the prime where the window is too short for it and the steps")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "fp16": torch.float16}[args.dtype]
    config, seed = model_source(args)
    began = time.perf_counter()
    prior = build_prior(config, seed, args.level, dtype, args.device)
    print(json.dumps({"event": "opened", "model": config.stem, "level": args.level, "device": args.device,
                      "dtype": args.dtype, "seed": seed, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "build_s": round(time.perf_counter() - began, 1), "memory": memory(args.device)}), flush=True)
    for batch in args.batch:
        print(json.dumps(bench(prior, batch, args, dtype)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
