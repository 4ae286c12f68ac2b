"""Weights in 8 or 4 bits for ONNX Runtime's `com.microsoft.MatMulNBits` (CPU and CUDA).

Round-to-nearest, symmetric, one fp scale per block of `block_size` consecutive input features
of one output column (the operator's layout): w ~= (q - 2**(bits-1)) * scale with q unsigned
and no zero-point tensor (the operator's default zero point is 2**(bits-1)). Each block's scale
is searched near its largest magnitude for the least squared error (SCALE_FRACTIONS).

Random weights understate the error trained ones get: trained matrices have outlier columns
that stretch a block's scale (docs/performance.md, "Weights in 8 and 4 bits").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MIN_BLOCK = 16  # MatMulNBits' smallest block


@dataclass(frozen=True)
class WeightFormat:
    """How a graph stores its layers' matrices: floats of the compute dtype (bits None) or N bits."""

    bits: int | None = None
    block_size: int = 32
    # MatMulNBits' accuracy_level: 4 lets the CPU quantise the activations to int8 (CUDA
    # ignores it and computes in fp16): an 8-bit step at full size takes 80 ms there against
    # 1 289 ms at level 0 (fp32: 159 ms). ONNX Runtime 1.31.1's CPU kernel is only right at
    # ORT_ENABLE_ALL (below it, tiny-5b int8 logits are off by 4.8), which the engine uses on
    # the CPU.
    accuracy_level: int = 4

    @property
    def quantised(self) -> bool:
        return self.bits is not None


FLOAT = WeightFormat()
PRECISION_WEIGHTS = {"fp32": FLOAT, "fp16": FLOAT, "int8": WeightFormat(8), "int4": WeightFormat(4)}


@dataclass(frozen=True)
class QuantisedWeight:
    """One (K, N) matrix as MatMulNBits takes it."""

    packed: np.ndarray  # uint8 (N, k_blocks, block_size * bits / 8)
    scales: np.ndarray  # float32 (N, k_blocks)
    k: int
    n: int
    bits: int
    block_size: int

    def dequantised(self) -> np.ndarray:
        """(K, N) float32: what the operator multiplies by."""
        q = self._levels().astype(np.float32) - 2 ** (self.bits - 1)  # (N, k_blocks, block)
        w = (q * self.scales[..., None]).reshape(self.n, -1)[:, : self.k]
        return np.ascontiguousarray(w.T)

    def _levels(self) -> np.ndarray:
        if self.bits == 8:
            return self.packed
        low, high = self.packed & 0x0F, self.packed >> 4
        return np.stack([low, high], axis=-1).reshape(*self.packed.shape[:2], -1)


def block_size_for(k: int, preferred: int) -> int:
    """The preferred block when it divides K (no padding; what CUDA's fast kernels want), else
    the largest smaller power of two >= 16 that does, else the preferred one with the last block
    zero-padded."""
    size = preferred
    while size >= MIN_BLOCK:
        if k % size == 0:
            return size
        size //= 2
    return max(preferred, MIN_BLOCK)


# Scales tried per block, as fractions of the block's largest magnitude over the top level: at 4
# bits a smaller one clips the extreme weight but rounds the many small ones finer (the best is
# usually 0.8-0.9: on the tiny 1b_lyrics prior it cut the KL divergence from fp32 fourfold). At
# 8 bits clipping never pays.
SCALE_FRACTIONS = {4: np.linspace(0.70, 1.0, 16), 8: np.array([1.0])}


def quantise(weight: np.ndarray, fmt: WeightFormat) -> QuantisedWeight:
    """weight (K, N) float -> its N-bit form, each block's scale the one of SCALE_FRACTIONS with
    the least squared error."""
    assert fmt.bits in (4, 8), fmt
    k, n = weight.shape
    block = block_size_for(k, fmt.block_size)
    k_blocks = -(-k // block)
    w = torch.zeros((n, k_blocks * block), dtype=torch.float32)
    w[:, :k] = torch.as_tensor(np.asarray(weight, np.float32)).t()
    w = w.reshape(n, k_blocks, block)
    qmax = 2 ** (fmt.bits - 1) - 1
    top = w.abs().amax(dim=-1) / qmax  # (N, k_blocks)
    top = torch.where(top == 0, torch.ones_like(top), top)
    best_scale, best_err = top, None
    for fraction in SCALE_FRACTIONS[fmt.bits]:
        scale = top * float(fraction)
        q = torch.clamp(torch.round(w / scale[..., None]), -qmax - 1, qmax)
        err = ((q * scale[..., None] - w) ** 2).sum(dim=-1)
        if best_err is None:
            best_scale, best_err = scale, err
        else:
            better = err < best_err
            best_scale, best_err = torch.where(better, scale, best_scale), torch.minimum(err, best_err)
    q = torch.clamp(torch.round(w / best_scale[..., None]), -qmax - 1, qmax).to(torch.int16) + 2 ** (fmt.bits - 1)
    q = q.to(torch.uint8).numpy()
    packed = q if fmt.bits == 8 else (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
    return QuantisedWeight(np.ascontiguousarray(packed), best_scale.numpy().astype(np.float32), k, n, fmt.bits, block)


class MatMulNBits(torch.autograd.Function):
    """x @ W + b with W in N bits: traced as com.microsoft.MatMulNBits, computed in torch with the
    dequantised matrix (the operator's own numbers, up to its accumulation order)."""

    @staticmethod
    def forward(ctx, x, packed, scales, bias, k: int, n: int, bits: int, block_size: int, accuracy_level: int):
        if bits == 8:
            levels = packed.to(torch.float32)
        else:
            levels = torch.stack([packed & 0x0F, packed >> 4], dim=-1).reshape(*packed.shape[:2], -1).to(torch.float32)
        w = (levels - 2 ** (bits - 1)) * scales.to(torch.float32)[..., None]  # (N, k_blocks, block)
        w = w.reshape(n, -1)[:, :k].t()  # (K, N)
        y = torch.matmul(x, w.to(x.dtype))
        return y if bias is None else y + bias

    @staticmethod
    def symbolic(g, x, packed, scales, bias, k: int, n: int, bits: int, block_size: int, accuracy_level: int):
        from torch.onnx import symbolic_helper

        inputs = [x, packed, scales]
        if bias is not None and not symbolic_helper._is_none(bias):
            absent = symbolic_helper._optional_input_placeholder_tensor(g)
            inputs += [absent, absent, bias]  # (zero points, g_idx, bias)
        out = g.op("com.microsoft::MatMulNBits", *inputs, K_i=k, N_i=n, bits_i=bits, block_size_i=block_size,
                   accuracy_level_i=accuracy_level)
        sizes = symbolic_helper._get_tensor_sizes(x)
        out.setType(x.type().with_sizes(None if sizes is None else [*sizes[:-1], n]))
        return out
