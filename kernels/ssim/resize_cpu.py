"""SynthVLM's round trip of one image on the CPU: numpy in, the two L images SSIM compares out.

Each resize is PIL's own. Between squares (the round trip's 768 -> 336 -> 768) its horizontal pass is
Pillow's C (the reference itself) and its vertical pass the same fixed-point arithmetic in numba over
whole rows at a time, which the compiler vectorises (about 10x Pillow's vertical pass). A resize of a
non-square image that needs both passes is Pillow's own call: since Pillow 13 it picks which pass runs
first from the sizes (python-pillow/Pillow#9549), and the two orders round differently. Pillow and numba
release the GIL, so threads run images side by side.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from PIL import Image

from kernels.ssim.resize import PIL_LUMA, PIL_PRECISION_BITS, pil_coefficients


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
    if width != size:  # Pillow skips a pass whose size does not change
        pixels = _pil_resize(pixels, size, height)
    if height == size:
        return pixels
    out = np.empty((size, *pixels.shape[1:]), np.uint8)
    taps, weights = pil_coefficients(height, size)
    _vertical(np.ascontiguousarray(pixels).reshape(height, -1), taps, weights, out.reshape(size, -1))
    return out


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
        line = out[y]
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
