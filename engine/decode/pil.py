"""Decode one blob to 8-bit RGB with PIL, under the conversion rules every pixsift decoder follows.

- EXIF orientation is applied (as DALI does by default), so H x W is the image as displayed.
- JPEG data that libjpeg flags (corrupt, or cut short and patched with an end marker) is an error.
- Grayscale, 1-bit and palette images: PIL's convert("RGB").
- CMYK (and YCCK) JPEG: PIL's CMYK -> RGB conversion.
- 16-bit PNG: the high byte of each sample (v >> 8), which is how PIL reads 16-bit RGB PNGs.
- Alpha (RGBA, LA, or a palette or gray PNG with a transparent colour): composited on white,
  (c * a + 255 * (255 - a) + 127) // 255, as a viewer shows the image (img2dataset does the same).

DALI gives the same pixels on the images it is handed; alpha, 16-bit and CMYK images are not handed
to it (engine.decode.probe marks them `needs_pil`): it drops alpha and rounds 16-bit samples.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import nvtx
import simplejpeg
import torch
from PIL import ImageOps

from pixsift.engine.decode.probe import OPENERS, ImageLimits, ImageProbe, failure_reason, has_alpha, probe
from pixsift.engine.decode.result import DecodeResult, decoded, failed

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError)


def pil_rgb(blob: bytes, probe: ImageProbe) -> np.ndarray:
    """H x W x 3 uint8 of a blob that `probe` accepted; raises one of DECODE_ERRORS.

    RGB and gray JPEGs decode with libjpeg-turbo through simplejpeg, strictly (data libjpeg flags as
    corrupt is an error, not a gray patch) and bit for bit as PIL decodes them."""
    if probe.format == "jpeg" and probe.mode in ("RGB", "L"):
        return oriented(simplejpeg.decode_jpeg(blob, colorspace="RGB", strict=True), probe.orientation)
    image = ImageOps.exif_transpose(OPENERS[probe.format](io.BytesIO(blob)))
    if image.mode in SIXTEEN_BIT_MODES:
        gray = (np.asarray(image) >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if has_alpha(image):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.uint16)
        color, alpha = rgba[..., :3], rgba[..., 3:]
        return ((color * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    return np.array(image.convert("RGB"))  # a writable copy, for torch.from_numpy


def oriented(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """H x W x C pixels as an EXIF `orientation` (1-8) displays them, as PIL's exif_transpose turns them."""
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }.get(orientation)
    return np.ascontiguousarray(turned(pixels)) if turned else pixels


class PilDecoder:
    """PIL on a thread pool; the images stay on the CPU (a view of the decoded H x W x 3 memory)."""

    name = "pil"
    device = torch.device("cpu")

    def __init__(self, limits: ImageLimits, threads: int):
        self.limits = limits
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="pil-decode")

    @nvtx.annotate("decode")
    def decode(self, blobs: list[bytes]) -> list[DecodeResult]:
        return list(self._pool.map(self._decode_one, blobs))

    def _decode_one(self, blob: bytes) -> DecodeResult:
        return decode_with_pil(blob, probe(blob, self.limits), self.device)

    def close(self) -> None:
        self._pool.shutdown()


def decode_with_pil(blob: bytes, found: ImageProbe, device: torch.device) -> DecodeResult:
    pixels, error = rgb_or_reason(blob, found)
    if error:
        return failed(blob, found, error)
    return decoded(blob, found, torch.from_numpy(pixels).to(device).permute(2, 0, 1))


def rgb_or_reason(blob: bytes, found: ImageProbe) -> tuple[np.ndarray | None, str]:
    """H x W x 3 uint8 of a blob `probe` looked at, or (None, why it cannot be decoded)."""
    if found.error:
        return None, found.error
    try:
        return pil_rgb(blob, found), ""
    except DECODE_ERRORS as exc:
        return None, failure_reason(found.format, exc, in_header=False)
