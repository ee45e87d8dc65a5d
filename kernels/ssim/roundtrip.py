"""SynthVLM's fidelity score: SSIM of each image against itself after a round trip through a smaller size.

SynthVLM's calc_ssim.py opens each image as RGB, resizes it to 768 x 768 (the reference) and from there
to 336 x 336 and back (the round trip), with PIL's bilinear filter; converts both to grayscale ("L")
and compares them with scikit-image's default SSIM (7 x 7 uniform window, sample covariance, border
cropped, data range 255). roundtrip_ssim does exactly that: uint8 images follow PIL's 8-bit arithmetic
bit for bit, on the CPU through PIL itself (resize_cpu.py), on a GPU with the same fixed-point arithmetic
in integer ops (resize.py). Float images stay float (torch's antialiased bilinear per channel, then the
float luma weights), PIL's float mode up to float rounding.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from pixsift.kernels.checks import check_tensor
from pixsift.kernels.ssim.config import DTYPES
from pixsift.kernels.ssim.dispatch import ssim
from pixsift.kernels.ssim.reference import to_luma
from pixsift.kernels.ssim.resize import luma_8bit, resize_8bit, resize_float

# Recorded with the scores it makes: stores scored with the earlier procedure (grayscale before the
# round trip, not SynthVLM's) are refused as made with other settings.
PROCEDURE = "SynthVLM calc_ssim: RGB resized (PIL bilinear, 8-bit), then PIL L, then skimage SSIM"


def roundtrip_ssim(
    images: torch.Tensor,
    size: int = 768,
    via: int = 336,
    *,
    data_range: float | None = None,
    backend: str = "auto",
    serial: bool = False,
) -> torch.Tensor:
    """SSIM of each image (N x C x H x W, C = 1 or 3) between its size x size resize and that resize taken
    to via x via and back, both in grayscale (see the module docstring). Returns float32 (N,).

    serial: on the CPU, use the calling thread only (for callers that run images on threads of their own).
    """
    check_tensor("roundtrip_ssim", "images", images, DTYPES, 4)
    if images.shape[1] not in (1, 3):
        raise ValueError(f"roundtrip_ssim: images must have 1 or 3 channels, got shape {tuple(images.shape)}")
    for name, value in (("size", size), ("via", via)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 7:
            raise ValueError(f"roundtrip_ssim: {name} must be an integer of at least 7, got {value!r}")
    if images.dtype == torch.uint8:
        if data_range not in (None, 255, 255.0):
            raise ValueError(f"roundtrip_ssim: uint8 images have data_range 255, got {data_range!r}")
        data_range = 255.0
        reference, roundtrip = roundtrip_pair_8bit(images, size, via, serial)
    elif data_range is None:
        raise ValueError(f"roundtrip_ssim: data_range is required for {images.dtype} images")
    else:
        reference = resize_float(images.float(), size)
        roundtrip = resize_float(resize_float(reference, via), size)
        if images.shape[1] == 3:
            reference, roundtrip = to_luma(reference), to_luma(roundtrip)
    return ssim(
        reference,
        roundtrip,
        data_range,
        window="uniform",
        win_size=7,
        covariance="sample",
        padding="valid",
        backend=backend,
        serial=serial,
    )


def roundtrip_pair_8bit(
    images: torch.Tensor, size: int, via: int, serial: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference and the round trip of uint8 images, N x 1 x size x size uint8 each; on the CPU the
    images go to threads side by side unless `serial`."""
    if images.device.type == "cpu":
        from pixsift.kernels.ssim.resize_cpu import roundtrip_gray

        # N x H x W x C: a view, free for channels-last images (decoded H x W x C, as pixsift's are)
        pixels = images.permute(0, 2, 3, 1).numpy()

        def pair(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return roundtrip_gray(image[..., 0] if image.shape[-1] == 1 else image, size, via)

        threads = 1 if serial else min(len(pixels), os.cpu_count() or 1)
        if threads > 1:
            with ThreadPoolExecutor(threads, thread_name_prefix="pixsift-roundtrip") as pool:
                pairs = list(pool.map(pair, pixels))
        else:
            pairs = [pair(image) for image in pixels]
        return tuple(torch.from_numpy(np.stack(planes)[:, None]) for planes in zip(*pairs, strict=True))
    reference = resize_8bit(images, size)
    roundtrip = resize_8bit(resize_8bit(reference, via), size)
    if images.shape[1] == 3:
        reference, roundtrip = luma_8bit(reference), luma_8bit(roundtrip)
    return reference, roundtrip
