"""How far a quantised prior's next-code distribution is from fp32's on the same weights.

Both run the same teacher-forced window (the same codes fed whatever either would sample), so
every position compares the two distributions over one history. Figures per precision:

  max_abs, mean_abs   |logit difference| over every row, position and code
  kl_mean, kl_max     KL(p_fp32 || p_quantised) of the next-code distribution, nats per position
  top1                fraction of positions (and rows) where the most likely code is the same

`python -m encore_export.prior.quant_error --model DIR [--level L]` measures a model folder
holding fp32 and quantised graphs (e.g. a full-size random-weight export) and prints one JSON
line per precision. Random weights have none of trained weights' outliers, so these figures
understate what quantising real checkpoints costs (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass

import numpy as np

from .runtime import OrtPrior


@dataclass(frozen=True)
class QuantError:
    precision: str
    positions: int
    max_abs: float
    mean_abs: float
    kl_mean: float
    kl_max: float
    top1: float


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def compare(precision: str, reference: np.ndarray, candidate: np.ndarray) -> QuantError:
    """reference, candidate: logits (B, T, V) of the same window. Codes masked in the reference
    (-inf: outside the music vocabulary) are left out of every figure."""
    assert reference.shape == candidate.shape, (reference.shape, candidate.shape)
    live = np.isfinite(reference)
    diff = np.where(live, np.abs(candidate.astype(np.float64) - reference), 0.0)
    ref_lp = _log_softmax(np.where(live, reference, -np.inf))
    cand_lp = _log_softmax(np.where(live, candidate, -np.inf))
    kl = np.where(live, np.exp(ref_lp) * (ref_lp - np.where(live, cand_lp, 0.0)), 0.0).sum(axis=-1)
    agree = np.argmax(np.where(live, reference, -np.inf), -1) == np.argmax(np.where(live, candidate, -np.inf), -1)
    return QuantError(precision=precision, positions=int(agree.size), max_abs=float(diff.max()),
                      mean_abs=float(diff.sum() / live.sum()), kl_mean=float(kl.mean()), kl_max=float(kl.max()),
                      top1=float(agree.mean()))


def window_logits(engine: OrtPrior, feeds: dict, sequence: np.ndarray, step_from: int) -> np.ndarray:
    """Logits at every position of `sequence` (B, T): positions < step_from through the prefill
    graph (one chunk), the rest one step at a time."""
    batch, n = sequence.shape
    engine.new_caches(batch)
    cond = engine.conditioning(**feeds)
    inputs = np.concatenate([np.zeros((batch, 1), np.int64), sequence[:, :-1]], axis=1)
    out = []
    if step_from > 0:
        out.append(engine.prefill_all(inputs[:, :step_from], 0, cond["cond"], cond["start_emb"]))
    for t in range(step_from, n):
        out.append(engine.step(inputs[:, t], t, cond["cond"], cond["start_emb"])[:, None])
    return np.concatenate(out, axis=1)


# ----------------------------------------------------------------------------- a model folder

def _engine(folder: str, manifest: dict, level: int, precision: str, threads: int) -> OrtPrior:
    section = next(s for s in manifest["priors"] if s["level"] == level)
    graphs = [g for g in manifest["graphs"] if g["kind"].startswith("prior_") and g["level"] == level
              and g["precision"] == precision]
    return OrtPrior(folder, {"graphs": graphs, "section": section}, threads=threads)


def _window(engine: OrtPrior, batch: int, prime: int, steps: int, seed: int) -> tuple[dict, np.ndarray, int]:
    """Conditioning feeds and a teacher-forced sequence for a random-weight model: label ids
    0 (genres padded with -1), a song of twice the shortest total length, zero lyric tokens, and
    random codes (and upper codes)."""
    sec = engine.section
    rng = np.random.default_rng(seed)
    cond = sec["conditioning"]
    feeds = {}
    for inp in engine.sessions["conditioning"].get_inputs():
        shape = [batch if not isinstance(d, int) else d for d in inp.shape]
        if inp.name == "genres":
            value = np.full(shape, -1, np.int64)
            value[:, 0] = 0
        elif inp.name == "total_length":
            value = np.full(shape, 2 * cond["total_length_range"][0], np.int64)
        elif inp.name == "sample_length":
            value = np.full(shape, sec["music_ctx"] * sec["raw_to_tokens"], np.int64)
        elif inp.name == "upper_codes":
            value = rng.integers(0, sec["music_vocab_size"], shape).astype(np.int64)
        else:  # artist, offset, lyrics
            value = np.zeros(shape, np.int64)
        feeds[inp.name] = value
    lyrics = sec.get("lyrics") or {}
    prefix = lyrics.get("prefix_len", 0) if lyrics.get("mode") == "prefix" else 0
    step_from = max(sec.get("step_from_position", 0), prefix + prime)
    n = min(step_from + steps, sec["n_ctx"])
    codes = rng.integers(0, sec["music_vocab_size"], (batch, n - prefix)) + sec["token_offset"]
    sequence = np.concatenate([np.zeros((batch, prefix), np.int64), codes], axis=1)
    return feeds, sequence, step_from


def measure_folder(folder: str, level: int, precisions: list[str], batch: int, prime: int, steps: int,
                   threads: int, seed: int = 0) -> list[QuantError]:
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    reference = _engine(folder, manifest, level, "fp32", threads)
    feeds, sequence, step_from = _window(reference, batch, prime, steps, seed)
    want = window_logits(reference, feeds, sequence, step_from)[:, step_from:]
    del reference
    results = []
    for precision in precisions:
        engine = _engine(folder, manifest, level, precision, threads)
        got = window_logits(engine, feeds, sequence, step_from)[:, step_from:]
        results.append(compare(precision, want, got))
        del engine
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model folder with fp32 graphs and the precisions to compare")
    p.add_argument("--level", type=int, default=2)
    p.add_argument("--precisions", nargs="+", default=["fp16", "int8", "int4"])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prime", type=int, default=8, help="positions through the prefill before the window")
    p.add_argument("--steps", type=int, default=32, help="teacher-forced steps compared")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    for result in measure_folder(args.model, args.level, args.precisions, args.batch, args.prime, args.steps,
                                 args.threads):
        print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
