"""PIL's resampling as the round trip needs it: 8-bit bilinear bit for bit (fixed point, uint8 after each
pass), RGB -> L, and torch's antialiased bilinear for float images."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F


def resize_float(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def pil_luma(rgb: torch.Tensor) -> torch.Tensor:
    """PIL's RGB -> L of integer-valued float64 pixels: fixed-point LUMA weights, rounded half up."""
    r, g, b = rgb.unbind(1)
    return torch.floor((19595 * r + 38470 * g + 7471 * b + 32768) / 65536).unsqueeze(1)


def pil_resize_8bit(x: torch.Tensor, size: int) -> torch.Tensor:
    """PIL's bilinear resize of 8-bit images, on integer-valued float64 (exact: every product and sum
    is an integer below 2**53): horizontal pass, stored as uint8, then vertical pass."""
    x = _pil_pass(x, *_pil_coefficients(x.shape[-1], size))
    return _pil_pass(x.transpose(-1, -2), *_pil_coefficients(x.shape[-2], size)).transpose(-1, -2)


PIL_PRECISION_BITS = 22  # Pillow's Resample.c: 32 - 8 bits of pixel - 2 bits of headroom


def _pil_pass(x: torch.Tensor, taps: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Resample the last dimension: out[j] = sum_k weights[j, k] * x[taps[j, k]], then round as PIL."""
    half = float(1 << (PIL_PRECISION_BITS - 1))
    taps, weights = taps.to(x.device), weights.to(x.device)
    total = (x[..., taps] * weights).sum(dim=-1)
    return torch.floor((total + half) / (1 << PIL_PRECISION_BITS)).clamp_(0, 255)


@functools.lru_cache(maxsize=64)
def _pil_coefficients(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pillow's bilinear resampling (precompute_coeffs and normalize_coeffs_8bpc in Resample.c) as
    (input index, fixed-point weight) pairs, out_size x taps: a triangle widened by the downscale
    factor, normalized per output pixel, then rounded to PIL_PRECISION_BITS; unused taps weigh 0."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    rows = []
    for out in range(out_size):
        center = (out + 0.5) * scale
        first = max(int(center - filter_scale + 0.5), 0)
        stop = min(int(center + filter_scale + 0.5), in_size)
        taps = [max(0.0, 1.0 - abs((i - center + 0.5) / filter_scale)) for i in range(first, stop)]
        total = sum(taps)
        rows.append((first, [math.floor(0.5 + t / total * (1 << PIL_PRECISION_BITS)) for t in taps]))
    width = max(len(w) for _, w in rows)
    indices = torch.tensor([[min(first + k, in_size - 1) for k in range(width)] for first, _ in rows])
    weights = torch.tensor([w + [0] * (width - len(w)) for _, w in rows], dtype=torch.float64)
    return indices, weights
