"""Jukebox prior graphs (conditioning, prefill, step) and their reference goldens.

Entry points
------------
export_prior(prior, level, out_dir, precision, **opts) -> dict
    prior      transformers `JukeboxPrior` (eval mode, any weights)
    level      VQ-VAE level of this prior: 2 = top, 1 and 0 = upsamplers (= 2 - prior.level)
    out_dir    folder the .onnx files are written to (created if missing)
    precision  "fp32" | "fp16" | "int8" | "int4" (the last two: the layers' matrices in 8 or 4 bits,
               fp16 around them)
    opts       stem (file name stem, default f"prior_l{level}"), verify (default True: load
               every graph in ONNX Runtime and run it once), batch (default None: symbolic
               "batch" axis; an int bakes that batch size in, so every shape is static and no
               shape arithmetic is left in the graphs, as CUDA-graph capture wants)

    Returns {"graphs": [GRAPH, GRAPH, GRAPH], "section": SECTION}:

    GRAPH = {
      "graph": "conditioning" | "prefill" | "step",
      "file": "prior_l2.step.fp32.onnx",          # relative to out_dir
      "external_data": {"file": "prior_l2.fp32.weights", "bytes": int, "sha256": str} | None,
                                                   # the file holding every tensor of >= 4 KiB of
                                                   # the prior's three graphs at this precision
                                                   # (shared_weights.py); None if all are smaller
      "precision": "fp32" | "fp16",
      "inputs":  [{"name": str, "dtype": "float32"|"float16"|"int64", "shape": [int | "batch" | "chunk"]}],
      "outputs": [ same ],
    }                                              # the driver adds "sha256"

    SECTION = {
      "level": 2, "prior_index": 0,                 # prior_index: transformers' priors[i] (0 = top)
      "kind": "top" | "top_lyrics_encoder" | "top_lyrics_prefix" | "upsampler",
      "n_ctx": int,                                 # sequence positions per window (1b: prefix + music)
      "music_ctx": int,                             # music codes per window
      "width", "depth", "heads", "attn_width", "head_dim", "blocks", "block_ctx": int,
      "attention_types": [int per layer],           # 0 dense, 1 block, 2 transpose, 3 prev block, 6 cross, 7 prime
      "vocab_size": int,                            # logits per position
      "music_vocab_size": int,
      "token_offset": int,                          # id fed for music code c is c + token_offset
      "raw_to_tokens": int,                         # audio samples per code
      "add_cond_after_transformer": bool,
      "conditioning": {
        "inputs": [names], "max_nb_genres": int, "timing": bool,
        "total_length_range": [min, max),           # samples; total_length must lie inside
        "cond_downsample": int,                     # upsamplers: lower codes per upper code, else 0
      },
      "lyrics": None | {"mode": "encoder" | "prefix", "n_tokens": int, "vocab_size": int,
                        "prefix_len": int, "prime_len": int},
      "prefill": {"max_chunk": "any: a chunk crossing an attention block binds its ring-cache outputs apart"},
      "step_from_position": int,                    # the step graph is exact from here on (the fused
                                                    # step: past the lyric prime and the first block);
                                                    # the engine steps earlier positions through prefill
      "cache": {                                   # the same for every precision:
        "dtype": {"fp32": "float32", "fp16": "float16", "int8": "float16", "int4": "float16"},
        "shape": ["batch", heads, "slots", head_dim],
        "zero_at_allocation": True,
        "layers": [{"layer": i, "type": t, "kind": "linear"|"ring"|"transposed"|"encoder"|"prime",
                    "slots": int, "key": "cache.{i}.key", "value": "cache.{i}.value",
                    "written_by": "conditioning" | "decoder"}],
        "bytes_per_sample": {"fp32": int, "fp16": int, ...},   # keys + values of every layer, one batch row
      },
    }

write_goldens(model, model_dir, codes=None) -> list[str]
    model      transformers `JukeboxModel`, or a weights source with `.config` (JukeboxConfig)
               and `.prior(i)` (i = transformers' prior index, 0 = top)
    model_dir  the fixture folder (goldens go to `model_dir/goldens/`), or the goldens folder itself
    codes      optional {VQ-VAE level: (1, n) int codes of an encoded prompt}: the sampled
               golden's prime at every level (random codes otherwise)
    Writes `prior_l{level}.teacher_forced.npz` per prior and `sampled.npz` (a primed
    continuation over several windows at every level). Array names: goldens.py, docs/prior-graphs.md.

Graph semantics, cache slot formulas and the in-place binding rules: docs/prior-graphs.md.
"""

from __future__ import annotations

import os

from .spec import cache_bytes_per_sample, prior_spec

# torch is imported by the functions that need it, so that runtime.py (ONNX Runtime only, used
# by step_bench) loads without it.

__all__ = ["export_prior", "write_goldens", "manifest_section"]


def manifest_section(prior) -> dict:
    """The prior's manifest section (see the module docstring) without writing any graph.
    It does not depend on the precision, so the driver may merge the sections of both exports."""
    from .export import DTYPES, ONNX_DTYPE_NAME
    from .fused_step import step_from_position

    spec = prior_spec(prior)
    lyrics = None
    if spec.kind == "top_lyrics_encoder":
        lyrics = {"mode": "encoder", "n_tokens": spec.n_lyric_tokens, "vocab_size": spec.lyric_vocab_size,
                  "prefix_len": 0, "prime_len": 0}
    elif spec.kind == "top_lyrics_prefix":
        lyrics = {"mode": "prefix", "n_tokens": spec.n_lyric_tokens, "vocab_size": spec.lyric_vocab_size,
                  "prefix_len": spec.prefix_len, "prime_len": spec.prime_len}
    from .conditioning import Conditioning

    return {
        "level": spec.level,
        "prior_index": spec.prior_index,
        "kind": spec.kind,
        "n_ctx": spec.n_ctx,
        "music_ctx": spec.music_ctx,
        "width": spec.width,
        "depth": spec.depth,
        "heads": spec.heads,
        "attn_width": spec.attn_width,
        "head_dim": spec.head_dim,
        "blocks": spec.blocks,
        "block_ctx": spec.block_ctx,
        "attention_types": [layer.attn_type for layer in spec.layers],
        "vocab_size": spec.vocab_size,
        "music_vocab_size": spec.music_vocab_size,
        "token_offset": spec.token_offset,
        "raw_to_tokens": spec.raw_to_tokens,
        "add_cond_after_transformer": spec.add_cond_after_transformer,
        "conditioning": {
            "inputs": Conditioning(prior, spec).input_names(),
            "max_nb_genres": spec.max_nb_genres,
            "timing": spec.timing,
            "total_length_range": list(spec.total_length_range),
            "cond_downsample": spec.cond_downsample,
        },
        "lyrics": lyrics,
        "prefill": {"max_chunk": "any: a chunk crossing an attention block binds its ring-cache outputs apart"},
        "step_from_position": step_from_position(spec),
        "cache": {
            "dtype": {name: ONNX_DTYPE_NAME[dtype] for name, dtype in DTYPES.items()},
            "shape": ["batch", spec.heads, "slots", spec.head_dim],
            "zero_at_allocation": True,
            "layers": [
                {
                    "layer": layer.index,
                    "type": layer.attn_type,
                    "kind": layer.cache_kind,
                    "slots": layer.slots,
                    "key": f"cache.{layer.index}.key",
                    "value": f"cache.{layer.index}.value",
                    "written_by": "conditioning" if layer.attn_type == 6 else "decoder",
                }
                for layer in spec.layers
            ],
            "bytes_per_sample": {name: cache_bytes_per_sample(spec, dtype.itemsize) for name, dtype in DTYPES.items()},
        },
    }


def export_prior(prior, level: int, out_dir: str, precision: str, **opts) -> dict:
    """Write this prior's three graphs for one precision; return graph entries + manifest section."""
    from .export import DTYPES, export_graphs

    if precision not in DTYPES:
        raise ValueError(f"precision must be one of {sorted(DTYPES)}, got {precision!r}")
    spec = prior_spec(prior)
    from .goldens import _check_finite

    _check_finite([prior])
    if level != spec.level:
        raise ValueError(
            f"level {level} does not match this prior (priors[{spec.prior_index}] is VQ-VAE level {spec.level}); "
            "pass the VQ-VAE level: 2 for the top prior"
        )
    os.makedirs(out_dir, exist_ok=True)
    prior = prior.eval()
    stem = opts.get("stem", f"prior_l{level}")
    graphs = export_graphs(prior, spec, out_dir, precision, stem, verify=opts.get("verify", True),
                           batch=opts.get("batch"), fp16_residual=opts.get("fp16_residual", False),
                           fused_attention=opts.get("fused_attention", False), fused_step=opts.get("fused_step"))
    return {"graphs": graphs, "section": manifest_section(prior)}


def write_goldens(model, model_dir: str, codes: dict | None = None) -> list[str]:
    """Reference goldens from the PyTorch port (see goldens.py); returns the written paths."""
    from .goldens import write_goldens as _write

    return _write(model, model_dir, codes=codes)
