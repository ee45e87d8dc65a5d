"""What the batched device decoders (DALI, nvJPEG) share: one bad blob must not cost the batch.

A batched decode fails whole when one blob in it is bad (DALI: "Current pipeline object is no longer
valid"; nvJPEG: one error for the call), so:
1. every blob is screened from its header on the CPU (engine.decode.probe); rejected blobs never reach
   the batch, and what the decoder does not take (alpha, 16-bit and CMYK images, and for nvJPEG every
   format but JPEG) goes to PIL under the same conversion rules (engine.decode.pil);
2. the rest decode in one batched run;
3. if that run fails, the batch is bisected (the decoder reset between runs) until each failing blob
   is alone: k bad blobs in a batch of n cost about k * log2(n) extra runs;
4. each blob the batch refused goes to PIL, which either decodes it or names what is wrong with it
   (the batched decoders' own messages, "Failed to decode sample #0", do not).
PIL work runs on a thread pool while the batch decodes.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import nvtx
import torch

from pixsift.engine.core.device import worker_device
from pixsift.engine.decode.pil import decode_with_pil
from pixsift.engine.decode.probe import ImageLimits, ImageProbe, jpeg_data_error, probe
from pixsift.engine.decode.result import DecodeResult, decoded, failed

# What a failed batched run raises: DALI and torchvision's nvJPEG both raise RuntimeError.
BATCH_ERRORS = (RuntimeError,)


class BatchedDecoder:
    """A decoder of whole batches on `device`; subclasses say what they take and how a batch runs."""

    name: str

    def __init__(self, device: torch.device, limits: ImageLimits, threads: int, batch_size: int):
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(
                f"{self.name} decoder: batch_size must be a positive integer, got {batch_size!r}"
            )
        # A bare "cuda" becomes the current GPU, so that the images and their consumers agree on the index.
        self.device, self.limits, self.batch_size = worker_device(str(device)), limits, batch_size
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="pil-decode")

    # -- what a decoder says ---------------------------------------------------------------------

    def takes(self, blob: bytes, found: ImageProbe) -> bool:
        """Whether this blob goes to the batch (else to PIL). PIL names what is wrong with JPEG data
        that a batched decoder would accept, or patch over."""
        return not found.needs_pil and not (found.format == "jpeg" and jpeg_data_error(blob))

    def run(self, blobs: list[bytes]) -> list[torch.Tensor]:
        """uint8 3 x H x W images on the device, one per blob; raises one of BATCH_ERRORS if any fails."""
        raise NotImplementedError

    def reset(self) -> None:
        """Called after a failed run, before the next."""

    # -- decoding --------------------------------------------------------------------------------

    @nvtx.annotate("decode")
    def decode(self, blobs: list[bytes]) -> list[DecodeResult]:
        with nvtx.annotate("decode:probe"):
            probes = [probe(blob, self.limits) for blob in blobs]
        results: list[DecodeResult | None] = [
            failed(b, p, p.error) if p.error else None for b, p in zip(blobs, probes, strict=True)
        ]
        to_pil: dict[int, Future] = {}
        to_batch = []
        for i, found in enumerate(probes):
            if found.error:
                continue
            if self.takes(blobs[i], found):
                to_batch.append(i)
            else:
                to_pil[i] = self._pool.submit(decode_with_pil, blobs[i], found, self.device)
        with nvtx.annotate(f"decode:{self.name}"):
            images = self._decode_isolating([blobs[i] for i in to_batch])
        for i, image in zip(to_batch, images, strict=True):
            if image is None:
                to_pil[i] = self._pool.submit(decode_with_pil, blobs[i], probes[i], self.device)
            else:
                results[i] = decoded(blobs[i], probes[i], image)
        with nvtx.annotate("decode:pil"):
            for i, future in to_pil.items():
                results[i] = future.result()
        return results

    def close(self) -> None:
        self._pool.shutdown()
        self.reset()

    def _decode_isolating(self, blobs: list[bytes]) -> list[torch.Tensor | None]:
        """Decoded images, None where the batch failed on that blob."""
        images = []
        for start in range(0, len(blobs), self.batch_size):
            images.extend(self._bisect(blobs[start : start + self.batch_size]))
        return images

    def _bisect(self, blobs: list[bytes]) -> list[torch.Tensor | None]:
        try:
            return self.run(blobs)
        except BATCH_ERRORS:
            self.reset()
            if len(blobs) == 1:
                return [None]
            middle = len(blobs) // 2
            return self._bisect(blobs[:middle]) + self._bisect(blobs[middle:])
