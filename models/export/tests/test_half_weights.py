"""Random priors built directly in fp16 (`--weights-dtype fp16`, how a full-size 5b prior fits in
RAM for an fp16 export): the fp32 weights rounded, and fp16 graphs made from them stay within
the fp16 bound of the fp32 port."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from encore_export.fixtures import CONFIGS, FIXTURES
from encore_export.prior import export_prior, goldens
from encore_export.prior.runtime import OrtPrior
from encore_export.random_weights import RandomWeights

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

FP16_TOL = 0.05  # as test_prior_parity.py; the widened embeddings add a little (0.03 measured)


@pytest.fixture(scope="module")
def source():
    config_file, seed, _ = FIXTURES["tiny-5b-lyrics"]
    return RandomWeights(CONFIGS / config_file, seed)


@pytest.mark.parametrize("index", [0, 1])
def test_half_prior_is_the_fp32_prior_rounded(source, index):
    full, half = source.prior(index), source.prior(index, torch.float16)
    full_params = dict(full.named_parameters(remove_duplicate=False))
    half_params = dict(half.named_parameters(remove_duplicate=False))
    assert list(half_params) == list(full_params)
    assert len(list(half.parameters())) == len(list(full.parameters())), "ties lost"
    differ = [n for n, p in half_params.items() if not torch.equal(p.half(), full_params[n].half())]
    assert not differ, differ[:3]
    # What only the conditioning graph reads is float32 again; the transformer stays float16.
    assert half.prior.transformer._attn_mods[0].attn.c_attn.weight.dtype == torch.float16
    assert half.metadata_embedding.artist_emb.weight.dtype == torch.float32


def test_fp16_graphs_from_a_half_prior_match_the_port(source, tmp_path):
    half = source.prior(0, torch.float16)
    exported = export_prior(half, 2, str(tmp_path), "fp16", verify=False)
    g = goldens.teacher_forced(source.prior(0), batch=1)
    eng = OrtPrior(str(tmp_path), exported)
    eng.new_caches(1)
    cond = eng.conditioning(**{k: g[k] for k in eng.section["conditioning"]["inputs"]})
    inputs = np.concatenate([np.zeros((1, 1), np.int64), g["sequence"][:, :-1]], axis=1)
    half_way = eng.section["block_ctx"] + 1
    logits = [eng.prefill_all(inputs[:, :half_way], 0, cond["cond"], cond["start_emb"])]
    for t in range(half_way, inputs.shape[1]):
        logits.append(eng.step(inputs[:, t], t, cond["cond"], cond["start_emb"])[:, None])
    err = float(np.abs(np.concatenate(logits, axis=1) - g["logits"]).max())
    assert err < FP16_TOL, f"max |logit error| {err}"


def test_cli_refuses_half_weights_for_fp32_graphs(tmp_path, capsys):
    from encore_export.__main__ import main

    config = str(CONFIGS / FIXTURES["tiny-5b-lyrics"][0])
    assert main(["--config", config, "--out", str(tmp_path / "m"), "--weights-dtype", "fp16"]) == 2
    assert "--precision fp16" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
