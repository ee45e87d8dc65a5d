"""DALI decoding: nvJPEG through the `mixed` backend on a CUDA device, DALI's CPU pipeline otherwise;
bad blobs isolated as engine.decode.batched describes."""

from __future__ import annotations

import numpy as np
import torch

from pixsift.engine.decode.batched import BatchedDecoder
from pixsift.engine.decode.probe import ImageLimits
from pixsift.kernels.optional import require


class DaliDecoder(BatchedDecoder):
    def __init__(
        self, device: torch.device, limits: ImageLimits, threads: int, batch_size: int, hw_decoder_load: float
    ):
        require("nvidia.dali", "DALI image decoding")
        from nvidia.dali.plugin.pytorch import feed_ndarray

        if not 0.0 <= hw_decoder_load <= 1.0:
            raise ValueError(f"DALI decoder: hw_decoder_load must be in [0, 1], got {hw_decoder_load!r}")
        self.gpu = device.type == "cuda"
        self.name = "dali-mixed" if self.gpu else "dali-cpu"
        super().__init__(device, limits, threads, batch_size)
        self.threads, self.hw_decoder_load = threads, hw_decoder_load
        self._feed_ndarray = feed_ndarray
        self._pipe = None

    def run(self, blobs: list[bytes]) -> list[torch.Tensor]:
        if self._pipe is None:
            self._pipe = self._build()
        self._pipe.feed_input("blobs", [np.frombuffer(blob, dtype=np.uint8) for blob in blobs])
        (images,) = self._pipe.run()
        return [self._to_torch(images[i]) for i in range(len(blobs))]

    def reset(self) -> None:
        self._pipe = None

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
