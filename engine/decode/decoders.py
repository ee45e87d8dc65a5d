"""Image decoding: blobs in, 8-bit RGB tensors on the scoring device out, one result per blob.

    decoder = make_decoder("auto", torch.device("cuda"))
    results = decoder.decode(blobs)   # list[DecodeResult], same length and order as blobs

"auto" is DALI when it is installed (nvJPEG through DALI's `mixed` backend on a CUDA device, DALI's
CPU pipeline otherwise), else PIL. A bad blob never fails the batch: it gets `image=None` and a
specific `error`. Every decoder screens headers first (engine.image_probe) and follows the same
conversion rules (engine.pil_decode), so a blob gives the same pixels and the same reason on every
path; JPEG pixels differ by the decoder's IDCT only (none between DALI's CPU path and PIL, which
share libjpeg-turbo).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import nvtx
import torch

from engine.decode.pil import DECODE_ERRORS, pil_rgb
from engine.decode.probe import MAX_PIXELS, ImageProbe, failure_reason, probe
from kernels.optional import available

KINDS = ("auto", "dali", "pil")


@dataclass
class DecodeResult:
    image: torch.Tensor | None  # uint8 3 x H x W RGB on the decoder's device (a view of H x W x 3 memory)
    error: str  # "" when decoded
    format: str  # "jpeg", "png", "webp", another recognised format, or "" when unrecognised
    width: int  # of the decoded image (after EXIF rotation); from the header, or 0, when it failed
    height: int
    byte_size: int

    @property
    def ok(self) -> bool:
        return self.image is not None


class Decoder(Protocol):
    name: str  # "dali-mixed", "dali-cpu" or "pil": recorded in the run store

    def decode(self, blobs: list[bytes]) -> list[DecodeResult]: ...

    def close(self) -> None: ...


def make_decoder(
    kind: str = "auto",
    device: torch.device | str = "cpu",
    *,
    max_pixels: int = MAX_PIXELS,
    threads: int = 4,
    batch_size: int = 256,
    hw_decoder_load: float = 0.65,
) -> Decoder:
    """A decoder of `kind` writing images to `device`.

    max_pixels: width * height above which a blob is rejected from its header as a decompression bomb.
    threads: CPU decode threads (DALI's pipeline threads; PIL's thread pool).
    batch_size, hw_decoder_load: DALI only; the most blobs per pipeline run, and the share of JPEG
    work nvJPEG gives the hardware decoder (A100, H100 and later) on the `mixed` backend.
    """
    if kind not in KINDS:
        raise ValueError(f"make_decoder: kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if not (isinstance(max_pixels, int) and max_pixels > 0):
        raise ValueError(f"make_decoder: max_pixels must be a positive integer, got {max_pixels!r}")
    if not (isinstance(threads, int) and threads > 0):
        raise ValueError(f"make_decoder: threads must be a positive integer, got {threads!r}")
    device = torch.device(device)
    if kind == "dali" or (kind == "auto" and available("nvidia.dali")):
        from engine.decode.dali import DaliDecoder

        return DaliDecoder(device, max_pixels, threads, batch_size, hw_decoder_load)
    return PilDecoder(device, max_pixels, threads)


class PilDecoder:
    name = "pil"

    def __init__(self, device: torch.device, max_pixels: int, threads: int):
        self.device, self.max_pixels = device, max_pixels
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="pil-decode")

    @nvtx.annotate("decode")
    def decode(self, blobs: list[bytes]) -> list[DecodeResult]:
        return list(self._pool.map(self._decode_one, blobs))

    def _decode_one(self, blob: bytes) -> DecodeResult:
        return decode_with_pil(blob, probe(blob, self.max_pixels), self.device)

    def close(self) -> None:
        self._pool.shutdown()


def decode_with_pil(blob: bytes, found: ImageProbe, device: torch.device) -> DecodeResult:
    if found.error:
        return failed(blob, found, found.error)
    try:
        pixels = pil_rgb(blob, found)
    except DECODE_ERRORS as exc:
        return failed(blob, found, failure_reason(found.format, exc, in_header=False))
    return decoded(blob, found, torch.from_numpy(pixels).to(device).permute(2, 0, 1))


def decoded(blob: bytes, found: ImageProbe, image: torch.Tensor) -> DecodeResult:
    return DecodeResult(image, "", found.format, image.shape[2], image.shape[1], len(blob))


def failed(blob: bytes, found: ImageProbe, error: str) -> DecodeResult:
    return DecodeResult(None, error, found.format, found.width, found.height, len(blob))
