"""A pool of real photographs with planted near-duplicates, and a cheap embedding that sees them.

Distinct images: eight skimage.data photographs, each whole and as the nine tiles of a 3 x 3 grid, less
the near-uniform tiles (plain sky, empty space). Planted copies of some of them: resized, re-encoded as
JPEG at another quality, or slightly cropped (1-3% off each side), each passed through JPEG as a stored
copy would be.

The embedding stands in for CLIP, whose random-weight test models see nothing: per RGB channel, the 8 x 8
lowest-frequency DCT coefficients of the 32 x 32 box-filtered thumbnail, less the DC term (pHash's
features, in colour): 189 values, deterministic and cheap. Their cosine is the correlation of the low-pass
images, which resizing, re-encoding and slight crops barely move.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image
from scipy.fft import dctn
from skimage import data

PHOTOS = (
    data.astronaut,
    data.coffee,
    data.chelsea,
    data.rocket,
    data.camera,
    data.immunohistochemistry,
    data.hubble_deep_field,
    data.retina,
)
TILE = 160  # the side each distinct image is stored at
# Tiles of plain sky or black space look alike to any embedding (and to a person): they are not distinct.
MIN_CONTRAST = 15.0  # standard deviation of the 32 x 32 gray thumbnail, in 8-bit levels
DCT_SIZE, DCT_KEEP = 32, 8


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def _distinct_images() -> list[Image.Image]:
    images = []
    for loader in PHOTOS:
        photo = Image.fromarray(np.asarray(loader())).convert("RGB")
        images.append(photo.resize((TILE, TILE), Image.BICUBIC))
        width, height = photo.size
        for row in range(3):
            for col in range(3):
                box = (col * width // 3, row * height // 3, (col + 1) * width // 3, (row + 1) * height // 3)
                images.append(photo.crop(box).resize((TILE, TILE), Image.BICUBIC))
    return [image for image in images if _contrast(image) >= MIN_CONTRAST]


def _contrast(image: Image.Image) -> float:
    return float(np.asarray(image.convert("L").resize((32, 32), Image.BOX), dtype=np.float32).std())


def _resized(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    side = int(rng.integers(64, 320))
    return _jpeg(image.resize((side, side), Image.BILINEAR), 90)


def _reencoded(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    return _jpeg(image, int(rng.integers(20, 60)))


def _cropped(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    left, top, right, bottom = (int(TILE * f) for f in rng.uniform(0.01, 0.03, size=4))
    return _jpeg(image.crop((left, top, TILE - right, TILE - bottom)), 85)


TRANSFORMS = (_resized, _reencoded, _cropped)


@functools.cache
def planted_pool(seed: int = 0) -> tuple[list[Image.Image], np.ndarray]:
    """The images, shuffled, and the distinct image each one is a copy of (its source id)."""
    rng = np.random.default_rng(seed)
    images, sources = [], []
    for source, image in enumerate(_distinct_images()):
        images.append(image)
        sources.append(source)
        for transform in rng.permutation(TRANSFORMS)[: rng.integers(0, 4)]:
            images.append(transform(image, rng))
            sources.append(source)
    order = rng.permutation(len(images))
    return [images[i] for i in order], np.asarray(sources)[order]


def dct_embedding(image: Image.Image) -> np.ndarray:
    """189 float16 values: each channel's low-frequency DCT coefficients but the DC term."""
    pixels = np.asarray(image.resize((DCT_SIZE, DCT_SIZE), Image.BOX), dtype=np.float64)
    coefficients = dctn(pixels, axes=(0, 1), norm="ortho")[:DCT_KEEP, :DCT_KEEP]
    return coefficients.reshape(DCT_KEEP * DCT_KEEP, 3)[1:].T.ravel().astype(np.float16)
