"""lyrics_encoder.LyricsEncoder is the port's lyrics encoder, bit for bit, at any batch, and its
ONNX export runs at batches other than the traced one."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from encore_export.fixtures import CONFIGS, FIXTURES
from encore_export.prior.lyrics_encoder import LyricsEncoder
from encore_export.prior.tiny import tiny_model
from encore_export.random_weights import RandomWeights

warnings.filterwarnings("ignore")
torch.set_num_threads(1)


def lyric_priors():
    config_file, seed, _ = FIXTURES["tiny-5b-lyrics"]
    return {
        "fixture": RandomWeights(CONFIGS / config_file, seed).prior(0),
        "tiny": tiny_model("5b_lyrics", seed=7).priors[0],
    }


PRIORS = lyric_priors()


def lyrics(prior, batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + batch)
    return torch.randint(0, prior.config.lyric_vocab_size, (batch, prior.nb_relevant_lyric_tokens), generator=g)


@pytest.mark.parametrize("which", sorted(PRIORS))
@pytest.mark.parametrize("batch", [1, 2, 3])
def test_equals_the_port_bit_for_bit(which, batch):
    prior = PRIORS[which]
    tokens = lyrics(prior, batch)
    with torch.no_grad():
        want = prior.get_encoder_states(tokens, sample=True)
        got = LyricsEncoder(prior).eval()(tokens)
    assert torch.equal(got, want), f"max |difference| {(got - want).abs().max().item()}"


def test_equals_the_port_with_masked_attention():
    """config.mask is false in every released config; the masked branch is followed too."""
    prior = tiny_model("5b_lyrics", seed=3).priors[0]
    for block in prior.encoder.transformer._attn_mods:
        block.attn.mask = True
    tokens = lyrics(prior, 3)
    with torch.no_grad():
        assert torch.equal(LyricsEncoder(prior).eval()(tokens), prior.get_encoder_states(tokens, sample=True))


def test_onnx_export_runs_at_untraced_batches(tmp_path):
    prior = PRIORS["fixture"]
    encoder = LyricsEncoder(prior).eval()
    path = str(tmp_path / "encoder.onnx")
    with torch.no_grad():
        torch.onnx.export(encoder, (lyrics(prior, 2),), path, input_names=["lyrics"], output_names=["states"],
                          dynamic_axes={"lyrics": {0: "batch"}, "states": {0: "batch"}}, opset_version=17)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for batch in (1, 3, 4):
        tokens = lyrics(prior, batch, seed=10)
        (got,) = session.run(None, {"lyrics": tokens.numpy()})
        with torch.no_grad():
            want = prior.get_encoder_states(tokens, sample=True).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
