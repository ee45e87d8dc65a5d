"""Images as the token store keeps them: RGB, fitted to the model's square image size (`crop`: the short
side resized to it, bicubic, then center-cropped; `pad`: as Janus's image processor does, the long side
resized to it, bicubic, then padded to a square with its background colour, image_mean x 255); and from
there the VQ model's input ([-1, 1]) and SigLIP's ((x / 255 - mean) / std with the processor's image_mean
and image_std)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from pixsift.engine.decode.pil import rgb_or_reason
from pixsift.engine.decode.probe import probe


class ImageError(ValueError):
    """An image that cannot be decoded or prepared; the message names it."""


# How an image becomes the model's square, as a token store records it (part of its settings).
FITS = {
    "crop": "RGB, short side to image_size (PIL bicubic), center crop; VQ input x/127.5-1",
    "pad": "RGB, long side to image_size (PIL bicubic), centered on image_mean x 255; VQ input x/127.5-1",
}
_MIN_SIDE = 14  # the short side of a padded image is never resized below this (Janus's min_size)


@dataclass(frozen=True)
class ImageFit:
    """How an image becomes a size x size square: `crop` or `pad` (with `background`, RGB)."""

    mode: str = "crop"
    background: tuple[int, int, int] = (127, 127, 127)

    @classmethod
    def of(cls, mode: str, image_mean: tuple[float, ...]) -> ImageFit:
        """`mode` with the background Janus's processor pads with: its image_mean x 255, truncated."""
        return cls(mode, tuple(int(m * 255) for m in image_mean))

    def __call__(self, image: Image.Image, size: int) -> np.ndarray:
        return square(image, size) if self.mode == "crop" else padded(image, size, self.background)


def prepare(data: bytes, size: int, name: str, fit: ImageFit = ImageFit()) -> np.ndarray:
    """The encoded image `data` as uint8 [size, size, 3] RGB, decoded under pixsift's rules
    (engine.decode.pil: EXIF orientation, alpha on white, ...) and fitted to the square by `fit`;
    ImageError naming `name` if it is bad."""
    rgb, error = rgb_or_reason(data, probe(data))
    if error:
        raise ImageError(f"{name}: {error}")
    return fit(Image.fromarray(rgb), size)


def square(image: Image.Image, size: int) -> np.ndarray:
    """`image` (RGB) resized so its short side is `size` (bicubic), center-cropped to size x size."""
    width, height = image.size
    scale = size / min(width, height)
    resized = (max(size, round(width * scale)), max(size, round(height * scale)))
    image = image.resize(resized, Image.Resampling.BICUBIC)
    left, top = (resized[0] - size) // 2, (resized[1] - size) // 2
    return np.array(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def padded(image: Image.Image, size: int, background: tuple[int, int, int]) -> np.ndarray:
    """`image` (RGB) resized so its long side is `size` (bicubic), centered on a size x size square of
    `background`, as Janus's image processor pads."""
    width, height = image.size
    scale = size / max(width, height)
    resized = (max(round(width * scale), _MIN_SIDE), max(round(height * scale), _MIN_SIDE))
    canvas = np.empty((size, size, 3), np.uint8)
    canvas[:] = background
    pixels = np.asarray(image.resize(resized, Image.Resampling.BICUBIC), dtype=np.uint8)
    top, left = (size - resized[1]) // 2, (size - resized[0]) // 2
    canvas[top : top + resized[1], left : left + resized[0]] = pixels
    return canvas


def vq_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, S, S, 3] (on any device) -> float [B, 3, S, S] in [-1, 1], the VQ encoder's input."""
    return images.permute(0, 3, 1, 2).float() / 127.5 - 1.0


@dataclass(frozen=True)
class SiglipNorm:
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def of(cls, model_dir: str) -> SiglipNorm:
        """The image_mean and image_std of the image processor saved with the model."""
        from transformers import AutoImageProcessor

        processor = AutoImageProcessor.from_pretrained(model_dir)
        return cls(tuple(processor.image_mean), tuple(processor.image_std))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [B, S, S, 3] (a tensor on any device) -> SigLIP pixel values float [B, 3, S, S]."""
        mean = torch.tensor(self.mean, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, 3, 1, 1)
        return (images.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
