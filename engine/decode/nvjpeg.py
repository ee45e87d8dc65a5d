"""nvJPEG decoding without DALI: torchvision.io.decode_jpeg(..., device="cuda"), a batch per call, bad
blobs isolated as engine.decode.batched describes. JPEGs only: PNG, WebP and the JPEGs nvJPEG would not
show as PIL does (alpha-less CMYK, EXIF-rotated) decode with PIL on the CPU pool.

torchvision marks its image decoders deprecated from 0.29 in favour of TorchCodec; they still decode,
and they are what the GPU images these runs borrow ship (torchvision 0.26). On a CPU `device` the same
calls decode with libjpeg-turbo, which is how the tests run this path without a GPU.
"""

from __future__ import annotations

import warnings

import torch

from pixsift.engine.decode.batched import BatchedDecoder
from pixsift.engine.decode.probe import ImageProbe


class NvjpegDecoder(BatchedDecoder):
    name = "nvjpeg"

    def takes(self, blob: bytes, found: ImageProbe) -> bool:
        return found.format == "jpeg" and found.orientation == 1 and super().takes(blob, found)

    def run(self, blobs: list[bytes]) -> list[torch.Tensor]:
        from torchvision.io import ImageReadMode, decode_jpeg

        data = [torch.frombuffer(bytearray(blob), dtype=torch.uint8) for blob in blobs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29+, once per call
            return decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device)
