"""Random-weight Jukebox parts built from a JukeboxConfig-style JSON (tiny fixtures, full-size benchmarks).

Parts are built one at a time (VQ-VAE, then each prior) so a full-size model never sits in RAM whole.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import JukeboxConfig
from transformers.models.jukebox.modeling_jukebox import JukeboxPrior, JukeboxVQVAE

from .audio import synthetic_prompt
from .errors import ExportError
from .prior.tiny import randomize


def load_config(path: Path) -> JukeboxConfig:
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ExportError(f"cannot read config {path}: {err}") from err
    if raw.get("model_type", "jukebox") != "jukebox":
        raise ExportError(f"{path}: model_type is {raw.get('model_type')!r}, expected 'jukebox'")
    return shared_params_applied(JukeboxConfig(**raw))


# openai/jukebox hparams.py: the v3 labels of the 1b_lyrics top prior take one genre
# (`labels_v3.max_bow_genre_size = 1`); every v2 prior takes a bag of up to 5 genre words
# (`labels.max_bow_genre_size = 5`), the 1b_lyrics upsamplers included.
V3_GENRE_SLOTS = 1
V2_GENRE_SLOTS = 5


def shared_params_applied(config: JukeboxConfig) -> JukeboxConfig:
    """JukeboxModel.__init__ copies these model-wide fields into each prior config; we build
    priors on their own, so do the same here. Two fields follow openai/jukebox instead of the
    port, whose configs leave them out:
    - genre slots per prior: the 1b_lyrics top prior (v3 labels, 79 lyric symbols) takes one
      genre, every other prior (v2 labels) a bag of 5 genre words, whatever the model-wide
      `max_nb_genres` says (the slots only index the label vector; no weight depends on them);
    - the 5b_lyrics lyrics encoder is causal: prior.py builds it as a ConditionalAutoregressive2D
      without `mask`, which defaults to True there (the port's JukeboxPriorConfig to False)."""
    for prior_config in config.prior_configs:
        for name in ("sampling_rate", "timing_dims", "min_duration", "max_duration", "max_nb_genres",
                     "metadata_conditioning"):
            setattr(prior_config, name, getattr(config, name))
        prior_config.max_nb_genres = V3_GENRE_SLOTS if uses_v3_labels(prior_config) else V2_GENRE_SLOTS
        if prior_config.encoder_config is not None:
            prior_config.encoder_config.mask = True
    return config


def uses_v3_labels(prior_config) -> bool:
    """The 1b_lyrics top prior: lyric tokens as a prefix, from a 79-symbol (v3) vocabulary."""
    return bool(prior_config.is_encoder_decoder) and prior_config.lyric_vocab_size == 79


def _codebook_probe_audio(samples: int, generator: torch.Generator) -> torch.Tensor:
    """Music-like and noisy clips at several loudnesses: (10, 1, samples)."""
    t = torch.arange(samples) / 44100.0
    clips = []
    for amplitude in (0.02, 0.05, 0.1, 0.3):
        clips.append(amplitude * torch.randn(samples, generator=generator))
        freqs = 80.0 * 2 ** (5 * torch.rand(4, 1, generator=generator))  # 80 Hz .. 2.5 kHz
        tones = torch.sin(2 * torch.pi * freqs * t).sum(0) / 4
        clips.append(amplitude * 3 * tones * torch.exp(-3 * t * torch.rand(1, generator=generator)))
    # A short chord made like the fixtures' prompt, so the goldens' codes use much of the codebook.
    chord = torch.from_numpy(synthetic_prompt(1, seconds=samples / 44100.0 + 0.01)[:samples])
    clips += [chord, 0.3 * chord]
    return torch.stack(clips)[:, None, :]


# Smallest gap between the best and second-best squared distance the fixtures' prompt may have.
# Float32 rounding of the distance expansion is ~1e-5 here: stay 20x away from it, so the
# goldens' codes do not depend on the CPU, BLAS or runtime that computes them.
MIN_PROMPT_GAP = 2e-4


def _widen_near_ties(codebook: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """Move the winning codebook row a little towards each prompt frame that nearly ties."""
    codebook = codebook.clone()
    for _ in range(200):
        distance = torch.cdist(latents, codebook) ** 2  # (N, K)
        two = distance.topk(2, dim=-1, largest=False)
        close = ((two.values[:, 1] - two.values[:, 0]) < MIN_PROMPT_GAP).nonzero().flatten()
        if len(close) == 0:
            return codebook
        winners = two.indices[close, 0]
        pull = torch.zeros_like(codebook).index_add_(0, winners, latents[close] - codebook[winners])
        counts = torch.zeros(len(codebook), dtype=codebook.dtype).index_add_(
            0, winners, torch.ones(len(close), dtype=codebook.dtype))
        codebook += 0.05 * pull / counts.clamp(min=1)[:, None]
    raise AssertionError("could not separate the prompt's near-tied codes")


def randomise_codebooks(vqvae: JukeboxVQVAE, generator: torch.Generator) -> None:
    """A fresh JukeboxVQVAE has all-zero codebooks (every code would be 0), and its random
    encoders output a large constant plus tiny frame-to-frame changes (float32 distances would
    then be near-ties). So, per level: rescale the encoder's last conv so latents of probe audio
    have zero mean and unit spread per channel, then draw the codebook from those latents (as
    training's init_codebook does) with a little jitter."""
    audio = _codebook_probe_audio(64 * int(vqvae.hop_lengths[-1]), generator).double()
    prompt = torch.from_numpy(synthetic_prompt(int(vqvae.hop_lengths[-1]))).double()[None, None]  # (1, 1, T)
    # In float64, then rounded to float32: the result must not depend on torch's thread count
    # (float32 reductions do, and a ULP in a codebook row can flip a golden code).
    with torch.no_grad():
        for level, block in enumerate(vqvae.bottleneck.level_blocks):
            encoder = vqvae.encoders[level].double()
            proj_out = encoder.level_blocks[-1].proj_out
            latents = encoder(audio)[-1]  # (10, D, N)
            mean, std = latents.mean(dim=(0, 2)), latents.std(dim=(0, 2))  # (D,)
            proj_out.weight.div_(std[:, None, None])
            proj_out.bias.sub_(mean).div_(std)
            latents = encoder(audio)[-1]
            latents = latents.transpose(1, 2).reshape(-1, latents.shape[1])  # (10 * N, D)
            size = block.codebook.shape[0]
            rows = torch.randint(0, latents.shape[0], (size,), generator=generator)
            jitter = 0.1 * torch.randn(size, latents.shape[1], generator=generator, dtype=torch.float64)
            codebook = latents[rows] + jitter
            prompt_latents = encoder(prompt)[-1][0].T  # (N, D)
            block.codebook.copy_(_widen_near_ties(codebook, prompt_latents).float())
            encoder.float()


class RandomWeights:
    """Source of Jukebox parts with seeded random weights."""

    def __init__(self, config_path: Path, seed: int, prior_dtype: torch.dtype = torch.float32):
        self.config = load_config(config_path)
        self.seed = seed
        self.prior_dtype = prior_dtype  # what prior(index) builds by default
        self.name = Path(config_path).stem
        self.vocab_files = None  # the manifest gets a synthetic vocabulary

    def vqvae(self) -> JukeboxVQVAE:
        torch.manual_seed(self.seed)
        vqvae = JukeboxVQVAE(self.config.vqvae_config).eval()
        vqvae.apply(vqvae._init_weights)  # what JukeboxModel's post_init does for its parts
        randomise_codebooks(vqvae, torch.Generator().manual_seed(self.seed))
        return vqvae

    def prior(self, index: int, dtype: torch.dtype | None = None) -> JukeboxPrior:
        """index is the HF prior index: 0 = top level, 1 and 2 = the upsamplers.
        dtype (default: the source's prior_dtype) float16: see prior_in_half."""
        dtype = dtype or self.prior_dtype
        if dtype == torch.float16:
            return self.prior_in_half(index)
        if dtype != torch.float32:
            raise ValueError(f"random priors are built in float32 or float16, not {dtype}")
        torch.manual_seed(self.seed + 1 + index)
        prior = JukeboxPrior(self.config.prior_configs[index], level=index)
        # A lone JukeboxPrior leaves JukeboxConv1D weights as torch.empty (garbage, often NaN):
        # initialise it as JukeboxModel's post_init would.
        prior.apply(prior._init_weights)
        # _init_weights skips start_token on modules that also have an lm_head (the 5b_lyrics
        # lyrics encoder), leaving it torch.empty too.
        scale = 0.01 * self.config.prior_configs[index].init_scale
        for module in prior.modules():
            if isinstance(getattr(module, "start_token", None), torch.nn.Parameter):
                module.start_token.data.normal_(mean=0.0, std=scale)
        # Jukebox's init (std 0.02 * init_scale) gives the tiny priors logits of ~1e-3, which a
        # 1e-4 parity bound and the sampled goldens barely tell apart: draw every weight again
        # with fan-in scaling (encore_export.prior.tiny.randomize), deterministic by seed, so
        # logits spread over several units.
        randomize(prior, self.seed + 1 + index)
        bad = [name for name, p in prior.named_parameters() if not (p.abs() < 100).all()]  # NaN fails too
        assert not bad, f"random prior {index} has uninitialised weights: {bad[:3]}"
        return prior.eval()

    def prior_in_half(self, index: int) -> JukeboxPrior:
        """The prior of `prior(index)` with its weights rounded to float16, built without ever
        holding it in float32 (a full-size 5b prior is 22.6 GB in float32, 11.3 GB in float16):
        the module is made on the meta device, given float16 storage, then filled by the same
        seeded `randomize`, whose draws are made per tensor in float32 and rounded on copy.
        The parts only the conditioning graph uses (which runs in float32) are then widened."""
        with torch.device("meta"):
            prior = JukeboxPrior(self.config.prior_configs[index], level=index)
        ties = _tied_parameter_names(prior)
        prior = prior.to(torch.float16).to_empty(device="cpu")
        _retie(prior, ties)  # moving off the meta device gives each name its own tensor
        with torch.no_grad():
            for p in prior.parameters():
                p.fill_(float("nan"))  # so that a weight randomize missed fails the check below
        randomize(prior, self.seed + 1 + index)
        bad = [name for name, p in prior.named_parameters() if not torch.isfinite(p).all()]
        assert not bad, f"random prior {index}: weights left unset: {bad[:3]}"
        widen_conditioning(prior)
        return prior.eval()


def widen_conditioning(prior: JukeboxPrior) -> None:
    """Back to float32 for what only the conditioning graph reads: label and upper-level
    conditioners, the lyrics encoder and the cross-attention layers' encoder projections."""
    for name in ("metadata_embedding", "conditioner_blocks", "encoder"):
        module = getattr(prior, name, None)
        if module is not None:
            module.float()
    for block in prior.prior.transformer._attn_mods:
        if hasattr(block.attn, "c_enc_kv"):
            block.attn.c_enc_kv.float()


def _tied_parameter_names(module: torch.nn.Module) -> list[list[str]]:
    groups = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def _retie(module: torch.nn.Module, groups: list[list[str]]) -> None:
    for first, *others in groups:
        shared = module.get_parameter(first)
        for name in others:
            owner, _, attr = name.rpartition(".")
            setattr(module.get_submodule(owner), attr, shared)
