"""The export driver: one model source in, one model folder (graphs + manifest.json) out.

Parts are exported one at a time and dropped before the next is built, so peak memory is
about one part (the largest prior) plus its graph being written.
"""

from __future__ import annotations

import gc
import importlib
import logging
from pathlib import Path

from .manifest import build_manifest, write_manifest
from .onnx_graph import OPSET, sha256_file
from .vocab import vocab_section
from .vqvae import export_vqvae, hop_lengths

log = logging.getLogger(__name__)


def tool_versions() -> dict:
    import onnx
    import onnxruntime
    import torch
    import transformers

    return {"name": "encore_export", "opset": OPSET, "torch": torch.__version__,
            "transformers": transformers.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__}


def find_export_prior():
    """The prior engineer's entry point, or None while encore_export.prior does not provide it."""
    try:
        module = importlib.import_module("encore_export.prior")
    except ImportError as err:
        log.warning("priors skipped: encore_export.prior cannot be imported (%s)", err)
        return None
    export_prior = getattr(module, "export_prior", None)
    if export_prior is None:
        log.warning("priors skipped: encore_export.prior has no export_prior() yet")
    return export_prior


def _complete_graph_entry(entry: dict, out_dir: Path, level: int) -> dict:
    """Fill in what the prior exporter may have left out: kind, level, bytes, sha256.
    `external_data` (the prior's shared weights file, or None) comes from the prior exporter."""
    if "graph" in entry:
        entry.setdefault("kind", f"prior_{entry['graph']}")
    entry.setdefault("level", level)
    path = out_dir / entry["file"]
    entry.setdefault("bytes", path.stat().st_size)
    entry.setdefault("sha256", sha256_file(path))
    entry.setdefault("external_data", None)
    return entry


def export_priors(source, out_dir: Path, precisions: list[str], levels=None,
                  verify: bool = True, fp16_residual: bool = False,
                  fused_attention: bool = False, classic_step: bool = False) -> tuple[list[dict], list[dict]]:
    """Each prior (or those of the VQ-VAE `levels` given) through encore_export.prior.export_prior,
    which returns {"graphs": [graph entries], "section": manifest section (the same for every precision)}."""
    export_prior = find_export_prior()
    if export_prior is None:
        return [], []
    sections, graphs = [], []
    n_priors = len(source.config.prior_configs)
    for index in range(n_priors):  # transformers' priors[0] is the top level
        level = n_priors - 1 - index
        if levels is not None and level not in levels:
            log.warning("prior level %d skipped: not in --priors", level)
            continue
        prior = source.prior(index)
        for precision in precisions:
            result = export_prior(prior, level, out_dir, precision, verify=verify, fp16_residual=fp16_residual,
                                  fused_attention=fused_attention, fused_step=False if classic_step else None)
            graphs.extend(_complete_graph_entry(g, out_dir, level) for g in result["graphs"])
            log.info("prior level %d %s: %d graphs", level, precision, len(result["graphs"]))
        sections.append(result["section"])
        del prior
        gc.collect()
    return sections, graphs


def export_model(source, out_dir: Path, precisions: list[str], *, source_kind: str, seed=None,
                 with_priors: bool = True, prior_levels=None, verify: bool = True,
                 fp16_residual: bool = False, fused_attention: bool = False, classic_step: bool = False) -> dict:
    """Export everything `source` holds into out_dir and write manifest.json; returns the manifest.
    prior_levels: VQ-VAE levels whose priors to export (None: all); the manifest lists only those.
    verify: load every prior graph into ONNX Runtime and run it once.
    fp16_residual, fused_attention: experiments on the priors' graphs (see
    encore_export.prior.export.export_graphs); the manifest's exporter section names them.
    classic_step: every precision's step graph traced from the decoder, as before the fused step
    (what the GPU check compares the fused step with)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    vqvae = source.vqvae()
    hops = hop_lengths(vqvae)
    # The engine decodes with the fp32 VQ-VAE whatever the priors' precision (it is small); an
    # fp16 decoder is exported beside it when fp16 is asked for.
    graphs = export_vqvae(vqvae, out_dir, ["fp32"] + [p for p in precisions if p == "fp16"])
    del vqvae
    gc.collect()

    prior_sections, prior_graphs = [], []
    if with_priors:
        prior_sections, prior_graphs = export_priors(source, out_dir, precisions, prior_levels, verify,
                                                     fp16_residual, fused_attention, classic_step)
    else:
        log.warning("priors skipped: --vqvae-only")
    manifest = build_manifest(
        name=source.name, source=source_kind, config=source.config, seed=seed, hop_lengths=hops,
        vocab=vocab_section(source), priors=prior_sections, graphs=graphs + prior_graphs,
        versions={**tool_versions(), **({"fp16_residual": True} if fp16_residual else {}),
                  **({"fused_attention": True} if fused_attention else {}),
                  **({"classic_step": True} if classic_step else {})},
    )
    write_manifest(manifest, out_dir)
    log.info("wrote %s (%d graphs)", out_dir / "manifest.json", len(manifest["graphs"]))
    return manifest
