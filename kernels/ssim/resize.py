"""PIL's resampling as the round trip needs it, bit for bit: 8-bit bilinear in fixed point (horizontal pass,
uint8, vertical pass, uint8, as Pillow's Resample.c) and RGB -> L, on tensors of any device with integer
ops; torch's antialiased bilinear for float images. The CPU round trip of numpy images is in resize_cpu.py.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

PIL_PRECISION_BITS = 22  # Pillow's Resample.c: 32 - 8 bits of pixel - 2 bits of headroom
PIL_LUMA = (19595, 38470, 7471)  # Pillow's RGB -> L in 16-bit fixed point (ITU-R 601-2), rounded half up


def resize_float(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def resize_8bit(x: torch.Tensor, size: int) -> torch.Tensor:
    """PIL's bilinear resize of uint8 N x C x H x W images to size x size: width first, then height, each
    pass rounded to uint8. Every product and sum fits int32 (255 * 2**22 < 2**31).

    This is Pillow's order up to Pillow 12 (SynthVLM's), and Pillow 13's for squares and most other
    images; Pillow 13 runs the height first when the height shrinks much more than the width
    (python-pillow/Pillow#9549), which rounds a few pixels of such images differently, by 1 level."""
    x = _pass(x, *device_coefficients(x.shape[-1], size, x.device))
    return _pass(x.transpose(-1, -2), *device_coefficients(x.shape[-2], size, x.device)).transpose(-1, -2)


def luma_8bit(rgb: torch.Tensor) -> torch.Tensor:
    """PIL's RGB -> L of uint8 N x 3 x H x W images: N x 1 x H x W uint8."""
    r, g, b = rgb.to(torch.int32).unbind(1)
    return ((PIL_LUMA[0] * r + PIL_LUMA[1] * g + PIL_LUMA[2] * b + 32768) >> 16).to(torch.uint8).unsqueeze(1)


def _pass(x: torch.Tensor, taps: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Resample the last dimension: out[j] = sum_k weights[j, k] * x[taps[j, k]], then round as PIL."""
    total = (x[..., taps] * weights).sum(dim=-1, dtype=torch.int32)
    return ((total + (1 << (PIL_PRECISION_BITS - 1))) >> PIL_PRECISION_BITS).clamp_(0, 255).to(torch.uint8)


@functools.lru_cache(maxsize=64)
def device_coefficients(
    in_size: int, out_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """pil_coefficients as int64 taps and int32 weights on `device`, copied there once."""
    taps, weights = pil_coefficients(in_size, out_size)
    return torch.from_numpy(taps).to(device), torch.from_numpy(weights).to(device)


@functools.lru_cache(maxsize=64)
def pil_coefficients(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
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
    indices = np.array([[min(first + k, in_size - 1) for k in range(width)] for first, _ in rows], np.int64)
    weights = np.array([w + [0] * (width - len(w)) for _, w in rows], dtype=np.int32)
    return indices, weights
