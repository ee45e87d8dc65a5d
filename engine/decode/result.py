"""What a decoder gives for each blob, and what a decoder is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from pixsift.engine.decode.probe import ImageProbe


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
    name: str  # "dali-mixed", "dali-cpu", "nvjpeg" or "pil": recorded in the run store
    device: torch.device  # where the decoded images are

    def decode(self, blobs: list[bytes]) -> list[DecodeResult]: ...

    def close(self) -> None: ...


def decoded(blob: bytes, found: ImageProbe, image: torch.Tensor) -> DecodeResult:
    return DecodeResult(image, "", found.format, image.shape[2], image.shape[1], len(blob))


def failed(blob: bytes, found: ImageProbe, error: str) -> DecodeResult:
    return DecodeResult(None, error, found.format, found.width, found.height, len(blob))
