"""DALI decoding: nvJPEG through the `mixed` backend on a CUDA device, DALI's CPU pipeline otherwise.

One bad sample stops a whole DALI pipeline run ("Current pipeline object is no longer valid"), so:
1. every blob is screened from its header on the CPU (engine.decode.probe); rejected blobs never
   reach DALI, and alpha, 16-bit and CMYK images go to PIL (their conversion rules, engine.decode.pil);
2. the rest decode in one batched pipeline run;
3. if that run fails, the pipeline is rebuilt and the batch bisected until each failing blob is
   alone: k bad blobs in a batch of n cost about k * log2(n) extra runs;
4. each blob DALI refused goes to PIL, which either decodes it or names what is wrong with it
   (DALI's own messages, "Failed to decode sample #0" or "nvImageCodec failure: '#4'", do not).
PIL work runs on a thread pool while DALI decodes.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import nvtx
import torch

from engine.decode.pil import decode_with_pil
from engine.decode.probe import ImageLimits, jpeg_data_error, probe
from engine.decode.result import DecodeResult, decoded, failed
from kernels.optional import require


class DaliDecoder:
    def __init__(
        self, device: torch.device, limits: ImageLimits, threads: int, batch_size: int, hw_decoder_load: float
    ):
        require("nvidia.dali", "DALI image decoding")
        from nvidia.dali.plugin.pytorch import feed_ndarray

        if not (isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(f"DALI decoder: batch_size must be a positive integer, got {batch_size!r}")
        if not 0.0 <= hw_decoder_load <= 1.0:
            raise ValueError(f"DALI decoder: hw_decoder_load must be in [0, 1], got {hw_decoder_load!r}")
        self.gpu = device.type == "cuda"
        if self.gpu and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        self.device, self.limits, self.threads, self.batch_size = device, limits, threads, batch_size
        self.hw_decoder_load = hw_decoder_load
        self.name = "dali-mixed" if self.gpu else "dali-cpu"
        self._feed_ndarray = feed_ndarray
        self._pipe = None
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="pil-decode")

    @nvtx.annotate("decode")
    def decode(self, blobs: list[bytes]) -> list[DecodeResult]:
        with nvtx.annotate("decode:probe"):
            probes = [probe(blob, self.limits) for blob in blobs]
        results: list[DecodeResult | None] = [
            failed(b, p, p.error) if p.error else None for b, p in zip(blobs, probes, strict=True)
        ]
        to_pil: dict[int, Future] = {}
        to_dali = []
        for i, found in enumerate(probes):
            if found.error:
                continue
            # PIL decodes what DALI would not, and names what is wrong with JPEG data DALI would accept.
            if found.needs_pil or (found.format == "jpeg" and jpeg_data_error(blobs[i])):
                to_pil[i] = self._pool.submit(decode_with_pil, blobs[i], found, self.device)
            else:
                to_dali.append(i)
        with nvtx.annotate("decode:dali"):
            images = self._decode_isolating([blobs[i] for i in to_dali])
        for i, image in zip(to_dali, images, strict=True):
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
        self._pipe = None

    def _decode_isolating(self, blobs: list[bytes]) -> list[torch.Tensor | None]:
        """Decoded images, None where DALI failed on that blob."""
        images = []
        for start in range(0, len(blobs), self.batch_size):
            images.extend(self._bisect(blobs[start : start + self.batch_size]))
        return images

    def _bisect(self, blobs: list[bytes]) -> list[torch.Tensor | None]:
        try:
            return self._run(blobs)
        except RuntimeError:
            self._pipe = None
            if len(blobs) == 1:
                return [None]
            middle = len(blobs) // 2
            return self._bisect(blobs[:middle]) + self._bisect(blobs[middle:])

    def _run(self, blobs: list[bytes]) -> list[torch.Tensor]:
        if self._pipe is None:
            self._pipe = self._build()
        self._pipe.feed_input("blobs", [np.frombuffer(blob, dtype=np.uint8) for blob in blobs])
        (images,) = self._pipe.run()
        return [self._to_torch(images[i]) for i in range(len(blobs))]

    def _to_torch(self, image) -> torch.Tensor:
        # A copy: DALI reuses its output buffers on the next run.
        out = torch.empty(image.shape(), dtype=torch.uint8, device=self.device)
        stream = torch.cuda.current_stream(self.device) if self.gpu else None
        self._feed_ndarray(image, out, cuda_stream=stream)
        return out.permute(2, 0, 1)

    def _build(self):
        import nvidia.dali.fn as fn
        import nvidia.dali.types as types
        from nvidia.dali import Pipeline

        if self.gpu:
            # Fancy upsampling: nvJPEG upsamples chroma as libjpeg-turbo (DALI's CPU path and PIL) does.
            backend = {
                "device": "mixed",
                "hw_decoder_load": self.hw_decoder_load,
                "jpeg_fancy_upsampling": True,
            }
        else:
            backend = {"device": "cpu"}
        pipe = Pipeline(
            batch_size=self.batch_size,
            num_threads=self.threads,
            device_id=self.device.index if self.gpu else None,
            prefetch_queue_depth=1,
        )
        with pipe:
            blobs = fn.external_source(name="blobs", dtype=types.UINT8, ndim=1)
            pipe.set_outputs(fn.decoders.image(blobs, output_type=types.RGB, **backend))
        pipe.build()
        return pipe
