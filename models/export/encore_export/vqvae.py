"""VQ-VAE graphs: per level an encoder (audio -> codes) and a decoder (codes -> audio).

Both mirror transformers' JukeboxVQVAE exactly for one level:
  encode: encoders[level](audio)[-1] -> nearest codebook row (squared distance, first minimum)
  decode: codebook lookup -> decoders[level](all_levels=False)
Audio in and out stays float32 at every precision; an "fp16" decoder runs its convolutions in
fp16. Encoders are always fp32 (see export_vqvae).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .onnx_graph import GraphSpec, TensorSpec, check_against_torch, export_module, manifest_entry

log = logging.getLogger(__name__)

# Largest |onnx - torch| accepted when exporting, per precision (decoder audio; codes must be identical).
DECODER_ATOL = {"fp32": 1e-4, "fp16": 5e-2}


class LevelEncoder(nn.Module):
    """audio (B, T) float32, T a multiple of hop -> codes (B, T // hop) int64."""

    def __init__(self, vqvae, level: int):
        super().__init__()
        self.encoder = vqvae.encoders[level]
        codebook = vqvae.bottleneck.level_blocks[level].codebook.detach().float().clone()
        self.register_buffer("codebook", codebook)  # (K, D)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = audio.unsqueeze(1)  # (B, 1, T)
        latent = self.encoder(x)[-1]  # (B, D, N)
        latent = latent.transpose(1, 2)  # (B, N, D)
        # Same expansion as JukeboxBottleneckBlock.quantise: |x|^2 - 2 x.c + |c|^2
        distance = (
            latent.pow(2).sum(dim=-1, keepdim=True)
            - 2 * torch.matmul(latent, self.codebook.t())
            + self.codebook.pow(2).sum(dim=-1)
        )  # (B, N, K)
        return distance.argmin(dim=-1)  # (B, N), first minimum like torch.min


class LevelDecoder(nn.Module):
    """codes (B, N) int64 -> audio (B, N * hop) float32."""

    def __init__(self, vqvae, level: int, half: bool):
        super().__init__()
        self.decoder = vqvae.decoders[level]
        self.half_convs = half
        if half:
            self.decoder = self.decoder.half()
        codebook = vqvae.bottleneck.level_blocks[level].codebook.detach().float().clone()
        self.register_buffer("codebook", codebook)  # (K, D)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        latent = F.embedding(codes, self.codebook)  # (B, N, D)
        latent = latent.transpose(1, 2)  # (B, D, N)
        if self.half_convs:
            latent = latent.half()
        audio = self.decoder([latent], all_levels=False)  # (B, 1, T)
        return audio.squeeze(1).float()  # (B, T)


def hop_lengths(vqvae) -> list[int]:
    """Samples per code at each level, finest first (8, 32, 128 for Jukebox)."""
    return [int(h) for h in vqvae.hop_lengths]


def encoder_spec(level: int, precision: str) -> GraphSpec:
    return GraphSpec(
        file=f"vqvae/encoder_level{level}.{precision}.onnx",
        kind="vqvae_encoder",
        level=level,
        precision=precision,
        inputs=(TensorSpec("audio", "float32", ("batch", "samples")),),
        outputs=(TensorSpec("codes", "int64", ("batch", "frames")),),
    )


def decoder_spec(level: int, precision: str) -> GraphSpec:
    return GraphSpec(
        file=f"vqvae/decoder_level{level}.{precision}.onnx",
        kind="vqvae_decoder",
        level=level,
        precision=precision,
        inputs=(TensorSpec("codes", "int64", ("batch", "frames")),),
        outputs=(TensorSpec("audio", "float32", ("batch", "samples")),),
    )


def export_vqvae(vqvae, out_dir: Path, precisions: list[str], seed: int = 0) -> list[dict]:
    """Export, reload and check every level's encoder and decoder; return their manifest entries.

    Encoders are exported in fp32 only, whatever `precisions` says: in fp16 a few percent of
    codes flip to a neighbouring codebook entry (measured on the fixtures), and the encoder runs
    once per prompt, so its cost does not matter. Decoders get one graph per precision."""
    vqvae = vqvae.eval().float()
    entries = []
    generator = torch.Generator().manual_seed(seed)
    codebook_size = vqvae.bottleneck.level_blocks[0].codebook.shape[0]
    hops = hop_lengths(vqvae)
    # Trace with 2 clips of 16 top-level hops; check with 3 clips of 9 (the axes must be dynamic).
    trace_samples, check_samples = 16 * hops[-1], 9 * hops[-1]
    for level, hop in enumerate(hops):
        spec = encoder_spec(level, "fp32")
        encoder = LevelEncoder(vqvae, level).eval()
        audio = 0.5 * torch.randn(2, trace_samples, generator=generator)
        path = export_module(encoder, spec, (audio,), out_dir)
        check_audio = 0.5 * torch.randn(3, check_samples, generator=generator)
        check_against_torch(path, encoder, spec, (check_audio,), atol=0.0)
        entries.append(manifest_entry(spec, out_dir))

        for precision in precisions:
            spec = decoder_spec(level, precision)
            decoder = LevelDecoder(vqvae, level, half=precision == "fp16").eval()
            codes = torch.randint(0, codebook_size, (2, trace_samples // hop), generator=generator)
            path = export_module(decoder, spec, (codes,), out_dir)
            check_codes = torch.randint(0, codebook_size, (3, check_samples // hop), generator=generator)
            err = check_against_torch(path, decoder, spec, (check_codes,), atol=DECODER_ATOL[precision])
            log.info("vqvae level %d: decoder %s exported, max |onnx - torch| %.2e", level, precision, err)
            entries.append(manifest_entry(spec, out_dir))
            vqvae.float()  # the fp16 wrapper converted the shared decoder in place
    return entries
