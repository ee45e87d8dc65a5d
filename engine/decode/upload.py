"""Images decoded on the CPU to a CUDA device: one pinned buffer and one copy per batch, on a copy stream.

    uploader = Uploader(torch.device("cuda"))
    batch = uploader.upload(images)   # on a thread ahead of the device; returns once the copy is queued
    batch.wait()                      # on the thread that computes: its stream waits for the copy
    batch.images                      # uint8 3 x H x W views of the device buffer, in order

The copy runs while the device computes the batch before: the compute stream waits for it on the
device, and the host never waits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Uploaded:
    images: list[torch.Tensor]
    _buffer: torch.Tensor  # the device memory the images view
    _host: torch.Tensor  # the pinned staging buffer, kept until the copy is done
    _copied: torch.cuda.Event

    def wait(self) -> None:
        """Make the current stream wait for the copy; the device buffer is then in use on that stream."""
        stream = torch.cuda.current_stream(self._buffer.device)
        stream.wait_event(self._copied)
        self._buffer.record_stream(stream)


class Uploader:
    def __init__(self, device: torch.device):
        self.device = device
        self._stream = torch.cuda.Stream(device)

    def upload(self, images: list[torch.Tensor]) -> Uploaded:
        """Queue the copy of uint8 3 x H x W CPU images (views of H x W x 3 memory, as decoders give them)."""
        sizes = [image.numel() for image in images]
        host = torch.empty(sum(sizes), dtype=torch.uint8, pin_memory=True)
        offset = 0
        for image, size in zip(images, sizes, strict=True):
            host[offset : offset + size].view(*image.shape[1:], 3).copy_(image.permute(1, 2, 0))
            offset += size
        with torch.cuda.stream(self._stream):
            buffer = host.to(self.device, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record(self._stream)
        views, offset = [], 0
        for image, size in zip(images, sizes, strict=True):
            views.append(buffer[offset : offset + size].view(*image.shape[1:], 3).permute(2, 0, 1))
            offset += size
        return Uploaded(views, buffer, host, copied)
