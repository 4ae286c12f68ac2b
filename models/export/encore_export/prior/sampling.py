"""The sampling rule shared by the goldens, the Python replay and (to be ported) the Rust engine.

For one batch row at one step, given the graph's fp32 logits `z` (length V):
  1. x = z / temperature                               (fp32, as the port: `hidden_states / temp`)
  2. x = filter_logits(x, top_k, top_p)                (the port's filter; removed entries = -inf)
  3. p = softmax(x) in float64: e = exp(x - max(x)); c = cumsum(e)   (no division needed)
  4. code = the first index i with c[i] > u * c[V-1], u the recorded uniform in [0, 1)
     (i.e. numpy.searchsorted(c, u * c[-1], side="right"), clamped to V-1)
One uniform per row per step, drawn in call order (level by level, window by window, position by
position, rows in batch order) from numpy.random.default_rng(seed).random(batch).
"""

from __future__ import annotations

import numpy as np


def filter_logits(x: np.ndarray, top_k: int = 0, top_p: float = 0.0) -> np.ndarray:
    """numpy twin of transformers' jukebox `filter_logits` for one 1-D row."""
    x = x.astype(np.float32).copy()
    top_k = min(top_k, x.shape[-1])
    if top_k > 0:
        kth = np.sort(x)[::-1][top_k - 1]
        x[x < kth] = -np.inf
    if top_p > 0.0:
        order = np.argsort(-x, kind="stable")
        sorted_x = x[order]
        e = np.exp((sorted_x - sorted_x[0]).astype(np.float32))
        cum = np.cumsum(e / e.sum(dtype=np.float32), dtype=np.float32)
        remove = cum > top_p
        remove[1:] = remove[:-1].copy()
        remove[0] = False
        x[order[remove]] = -np.inf
    return x


def pick(x: np.ndarray, u: float) -> int:
    """Inverse CDF of softmax(x) at u (steps 3-4 above)."""
    x = x.astype(np.float64)
    e = np.exp(x - np.max(x))
    c = np.cumsum(e)
    return int(min(np.searchsorted(c, u * c[-1], side="right"), x.shape[-1] - 1))


def sample_rows(logits: np.ndarray, uniforms: np.ndarray, temperature: float, top_k: int = 0, top_p: float = 0.0):
    """logits (B, V) fp32, uniforms (B,) -> codes (B,) int64 by the rule above."""
    out = np.empty(logits.shape[0], dtype=np.int64)
    for b in range(logits.shape[0]):
        x = (logits[b].astype(np.float32) / np.float32(temperature)).astype(np.float32)
        out[b] = pick(filter_logits(x, top_k, top_p), float(uniforms[b]))
    return out


def margin(logits: np.ndarray, u: float, temperature: float) -> float:
    """Distance of u*total from the nearest CDF edge, relative: how robust a replay is."""
    x = logits.astype(np.float64) / temperature
    e = np.exp(x - x.max())
    c = np.cumsum(e) / e.sum()
    return float(np.min(np.abs(c - u)))
