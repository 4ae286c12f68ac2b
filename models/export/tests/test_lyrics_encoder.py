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


def test_equals_the_port_without_masked_attention():
    """The encoder is causal (mask=True) in every config we export; the port's unmasked branch
    is followed too, so a config that asks for it exports what the port computes."""
    prior = tiny_model("5b_lyrics", seed=3).priors[0]
    for block in prior.encoder.transformer._attn_mods:
        block.attn.mask = False
    tokens = lyrics(prior, 3)
    with torch.no_grad():
        assert torch.equal(LyricsEncoder(prior).eval()(tokens), prior.get_encoder_states(tokens, sample=True))


def causal_violation(prior) -> float:
    """Largest change of encoder states at positions before j when only token j changes."""
    tokens = lyrics(prior, 1)
    n = tokens.shape[1]
    worst = 0.0
    with torch.no_grad():
        base = LyricsEncoder(prior).eval()(tokens)
        for j in (1, n // 2, n - 1):
            changed = tokens.clone()
            changed[0, j] = (changed[0, j] + 1) % prior.config.lyric_vocab_size
            states = LyricsEncoder(prior).eval()(changed)
            # The port shifts tokens right by one (start token first): token j feeds position j + 1.
            worst = max(worst, (states[0, : j + 1] - base[0, : j + 1]).abs().max().item())
    return worst


@pytest.mark.parametrize("which", sorted(PRIORS))
def test_the_lyrics_encoder_is_causal(which):
    """openai/jukebox prior.py builds the lyrics encoder without `mask`, and
    ConditionalAutoregressive2D defaults to mask=True: each lyric position sees only earlier ones."""
    prior = PRIORS[which]
    violation = causal_violation(prior)
    assert violation == 0.0, f"a later lyric token moved earlier encoder states by {violation}"
    assert all(block.attn.mask for block in prior.encoder.transformer._attn_mods)


def test_a_config_without_mask_still_builds_a_causal_encoder(tmp_path):
    """The Hugging Face configs leave `mask` out (the port then defaults to False)."""
    import json

    config_file, seed, _ = FIXTURES["tiny-5b-lyrics"]
    raw = json.loads((CONFIGS / config_file).read_text())
    raw["prior_config_list"][0]["encoder_config"].pop("mask", None)
    path = tmp_path / "no_mask.json"
    path.write_text(json.dumps(raw))
    violation = causal_violation(RandomWeights(path, seed).prior(0))
    assert violation == 0.0, f"a later lyric token moved earlier encoder states by {violation}"


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
