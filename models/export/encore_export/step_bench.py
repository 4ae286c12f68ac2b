"""CPU step timing of one exported prior, the way the engine runs it:

  python -m encore_export.step_bench --model DIR [--level 2] [--precision fp32] [--batch 1 3]
         [--steps 30] [--warmup 3] [--threads 2] [--disable-prepacking]

Loads the conditioning, prefill and step graphs of one prior (ONNX Runtime sessions over one
shared weights file), allocates zeroed caches per batch, runs the conditioning graph once, a
prime of `--prime` positions through the prefill graph, then times `--steps` step calls at the
following positions after `--warmup` untimed ones. Prints one JSON
line per batch (median / min / max ms per step) and the process's memory: peak RSS, and the
current RSS split into anonymous memory and file-backed pages (the mmap'd weights), plus PSS,
which counts a page mapped by both sessions once.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


def memory() -> dict:
    """MB figures from /proc/self: peak RSS, RSS now by kind, PSS (shared pages split)."""
    status = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            status[key] = int(value.split()[0]) / 1024
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            status["Pss"] = int(line.split()[1]) / 1024
    names = {"VmHWM": "peak_rss_mb", "VmRSS": "rss_mb", "RssAnon": "rss_anon_mb", "RssFile": "rss_file_mb",
             "Pss": "pss_mb"}
    return {names[k]: round(v) for k, v in status.items()}


def conditioning_feeds(section: dict, batch: int) -> dict:
    """Valid labels for one window at the song start."""
    cond = section["conditioning"]
    feeds = {"artist": np.zeros(batch, np.int64), "genres": np.full((batch, cond["max_nb_genres"]), -1, np.int64)}
    feeds["genres"][:, 0] = 0
    if cond["timing"]:
        lo, hi = cond["total_length_range"]
        feeds["total_length"] = np.full(batch, (lo + hi) // 2, np.int64)
        feeds["offset"] = np.zeros(batch, np.int64)
        feeds["sample_length"] = np.full(batch, section["music_ctx"] * section["raw_to_tokens"], np.int64)
    if "lyrics" in cond["inputs"]:
        feeds["lyrics"] = np.ones((batch, section["lyrics"]["n_tokens"]), np.int64)
    if "upper_codes" in cond["inputs"]:
        feeds["upper_codes"] = np.zeros((batch, section["music_ctx"] // cond["cond_downsample"]), np.int64)
    return feeds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m encore_export.step_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--prime", type=int, default=16, help="positions fed through the prefill graph first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--disable-prepacking", action="store_true",
                        help="session.disable_prepacking=1: MatMul weights are not repacked per session")
    args = parser.parse_args(argv)
    from .manifest import read_manifest
    from .prior.runtime import OrtPrior

    manifest = read_manifest(args.model)
    section = next(s for s in manifest["priors"] if s["level"] == args.level)
    graphs = [g for g in manifest["graphs"] if g["level"] == args.level and g["precision"] == args.precision
              and g["kind"].startswith("prior_")]
    config = {"session.disable_prepacking": "1"} if args.disable_prepacking else {}
    start = time.perf_counter()
    engine = OrtPrior(str(args.model), {"graphs": graphs, "section": section}, threads=args.threads, config=config)
    report = {"model": manifest["model"]["name"], "level": args.level, "precision": args.precision,
              "threads": args.threads, "disable_prepacking": args.disable_prepacking,
              "load_s": round(time.perf_counter() - start, 1), "loaded": memory()}
    print(json.dumps(report), flush=True)
    for batch in args.batch:
        engine.new_caches(batch)
        cond = engine.conditioning(**conditioning_feeds(section, batch))
        prime = np.zeros((batch, args.prime), np.int64)
        began = time.perf_counter()
        logits = engine.prefill_all(prime, 0, cond["cond"], cond["start_emb"])
        prefill_ms = (time.perf_counter() - began) * 1e3
        times = []
        tokens = logits[:, -1].argmax(axis=1)
        for position in range(args.prime, args.prime + args.warmup + args.steps):
            began = time.perf_counter()
            logits = engine.step(tokens, position, cond["cond"], cond["start_emb"])
            times.append((time.perf_counter() - began) * 1e3)
            tokens = logits.argmax(axis=1)
        assert np.isfinite(logits).all(), "non-finite logits"
        timed = times[args.warmup:]
        print(json.dumps({"batch": batch, "prime": args.prime, "prefill_ms": round(prefill_ms), "steps": len(timed), "median_ms": round(statistics.median(timed), 1),
                          "min_ms": round(min(timed), 1), "max_ms": round(max(timed), 1), "memory": memory()}),
              flush=True)
        engine.caches = {}
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
