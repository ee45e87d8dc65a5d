"""SynthVLM's round trip of one image on the CPU: numpy in, the two L images SSIM compares out.

Each resize is PIL's, bit for bit (tests/kernels/test_resize.py compares every path with Pillow). Into a
square (the round trip's 768 -> 336 -> 768) both passes are Pillow's fixed-point arithmetic in numba:
the vertical pass over whole rows, which the compiler vectorises (about 10x Pillow's), the horizontal
pass four rows at a time, sharing each tap's index and weight (about 1.7x Pillow's). A resize of a
non-square image that needs both passes is Pillow's own call: since Pillow 13 it picks which pass runs
first from the sizes (python-pillow/Pillow#9549), and the two orders round differently. Pillow and numba
release the GIL, so threads run images side by side.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit
from PIL import Image

from pixsift.kernels.ssim.resize import PIL_LUMA, PIL_PRECISION_BITS, pil_coefficients


def roundtrip_gray(pixels: np.ndarray, size: int, via: int) -> tuple[np.ndarray, np.ndarray]:
    """(reference, round trip), size x size uint8 each, of an H x W x 3 (or H x W) uint8 image: resized to
    size, to via and back to size with PIL's bilinear, then each converted to L, as SynthVLM's calc_ssim."""
    reference = resize(pixels, size)
    roundtrip = resize(resize(reference, via), size)
    return luma(reference), luma(roundtrip)


def resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """PIL's Image.resize((size, size), BILINEAR) of an H x W x C or H x W uint8 array, bit for bit."""
    height, width = pixels.shape[:2]
    if height != width and size not in (height, width):
        return _pil_resize(pixels, size, size)
    pixels = np.ascontiguousarray(pixels)
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    if width != size:  # Pillow skips a pass whose size does not change
        wide = np.empty((height, size, *pixels.shape[2:]), np.uint8)
        taps, weights = _flat_coefficients(width, size, channels)
        _horizontal(pixels.reshape(height, -1), taps, weights, wide.reshape(height, -1))
        pixels = wide
    if height == size:
        return pixels
    out = np.empty((size, *pixels.shape[1:]), np.uint8)
    taps, weights = pil_coefficients(height, size)
    _vertical(pixels.reshape(height, -1), taps, weights, out.reshape(size, -1))
    return out


@functools.lru_cache(maxsize=64)
def _flat_coefficients(in_size: int, out_size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """pil_coefficients for rows of interleaved channels, taps x (out_size * channels): the index into
    the input row and the weight of each output value."""
    taps, weights = pil_coefficients(in_size, out_size)
    offsets = np.arange(channels, dtype=np.int64)
    flat = (taps.T[:, :, None] * channels + offsets).reshape(taps.shape[1], -1)
    return np.ascontiguousarray(flat), np.ascontiguousarray(np.repeat(weights.T, channels, axis=1))


def _pil_resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR))


def luma(pixels: np.ndarray) -> np.ndarray:
    """PIL's convert("L") of an H x W x 3 uint8 array (an H x W one is returned as it is)."""
    if pixels.ndim == 2:
        return pixels
    out = np.empty(pixels.shape[:2], np.uint8)
    _luma(pixels, out)
    return out


@njit(nogil=True, cache=True)
def _vertical(src, taps, weights, out):
    half = np.int32(1 << (PIL_PRECISION_BITS - 1))
    acc = np.empty(src.shape[1], np.int32)
    for y in range(out.shape[0]):
        acc[:] = half
        for k in range(taps.shape[1]):
            w = weights[y, k]
            if w == 0:
                continue
            row = src[taps[y, k]]
            for x in range(acc.size):
                acc[x] += np.int32(row[x]) * w
        _store(acc, out[y])


@njit(nogil=True, cache=True)
def _horizontal(src, taps, weights, out):
    half = np.int32(1 << (PIL_PRECISION_BITS - 1))
    rows, n = src.shape[0], out.shape[1]
    acc = np.empty((4, n), np.int32)
    for first in range(0, rows, 4):
        last = min(first + 4, rows) - 1
        r0, r1, r2, r3 = src[first], src[min(first + 1, last)], src[min(first + 2, last)], src[last]
        a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
        acc[:] = half
        for k in range(taps.shape[0]):
            tap, weight = taps[k], weights[k]
            for j in range(n):
                i, w = tap[j], weight[j]
                a0[j] += np.int32(r0[i]) * w
                a1[j] += np.int32(r1[i]) * w
                a2[j] += np.int32(r2[i]) * w
                a3[j] += np.int32(r3[i]) * w
        for r in range(last - first + 1):
            _store(acc[r], out[first + r])


@njit(nogil=True, cache=True)
def _store(acc, line):
    """PIL's rounding of fixed-point sums to 8 bits."""
    for x in range(acc.size):
        value = acc[x] >> PIL_PRECISION_BITS
        line[x] = 0 if value < 0 else (255 if value > 255 else value)


@njit(nogil=True, cache=True)
def _luma(rgb, out):
    r_weight, g_weight, b_weight = PIL_LUMA
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            r, g, b = np.int32(rgb[i, j, 0]), np.int32(rgb[i, j, 1]), np.int32(rgb[i, j, 2])
            out[i, j] = (r_weight * r + g_weight * g + b_weight * b + 32768) >> 16
