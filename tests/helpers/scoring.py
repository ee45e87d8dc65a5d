"""A pool of real photographs in tar shards, and the tiny-model settings the score tests run with."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import zarr
from PIL import Image
from skimage import data

from pixsift.engine.score.config import ScoreConfig
from pixsift.engine.store.schema import EDIT_COLUMNS
from tests.helpers.candidate_pools import write_tar

# (loader, size, format): real photographs in the formats and modes a pool holds
PHOTOS = {
    "astronaut": (data.astronaut, (160, 160), "JPEG"),
    "coffee": (data.coffee, (180, 120), "PNG"),
    "chelsea": (data.chelsea, (150, 100), "WEBP"),
    "camera": (data.camera, (128, 128), "JPEG"),
    "rocket": (data.rocket, (200, 133), "JPEG"),
}
SCORE_COLUMNS = (
    "status",
    "error",
    "image_embedding",
    "text_embedding",
    "clip_cosine",
    "clip_score",
    "ssim_roundtrip",
    "width",
    "height",
    "byte_size",
    "format",
    "content_hash",
    *EDIT_COLUMNS,
)


def without_edits(rows: int) -> dict[str, np.ndarray]:
    """The pair columns of `rows` rows that are no edits (engine.score.edit_pairs): NaN."""
    return {name: np.full(rows, np.nan, np.float32) for name in EDIT_COLUMNS}


def encoded(name: str) -> bytes:
    loader, size, fmt = PHOTOS[name]
    out = io.BytesIO()
    Image.fromarray(loader()).resize(size, Image.BICUBIC).save(out, fmt)
    return out.getvalue()


def good_pool(folder: Path, copies: int = 1) -> list[str]:
    """Two tar shards of webdataset samples: each photograph `copies` times (flipped after the first)."""
    folder.mkdir(parents=True, exist_ok=True)
    members = []
    for i in range(copies):
        for name in PHOTOS:
            blob = encoded(name)
            if i:
                flipped = io.BytesIO()
                Image.open(io.BytesIO(blob)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(flipped, "PNG")
                blob = flipped.getvalue()
            ext = "png" if i else PHOTOS[name][2].lower().replace("jpeg", "jpg")
            members += [(f"{name}-{i}.{ext}", blob), (f"{name}-{i}.txt", f"a photograph of {name}".encode())]
    half = len(members) // 4 * 2
    return [
        str(write_tar(folder / "pool-00000.tar", members[:half])),
        str(write_tar(folder / "pool-00001.tar", members[half:])),
    ]


def score_config(inputs, store, tiny_config, **overrides) -> ScoreConfig:
    """Settings for the tiny random CLIP model on the CPU, in small units and batches."""
    values = dict(
        inputs=inputs,
        store=str(store),
        clip_config=str(tiny_config),
        clip_random_init=True,
        shard_rows=4,
        batch_size=3,
        decode_threads=2,
    )
    return ScoreConfig(**{**values, **overrides})


def read_store(path) -> dict[str, np.ndarray]:
    group = zarr.open_group(str(path), mode="r")
    return {name: array[:] for name, array in group.arrays()}


def score_command(inputs, store, tiny_config) -> list[str]:
    return [
        sys.executable, "-m", "pixsift.engine.cli", "score", "--input", *inputs, "--store", str(store),
        "--clip-config", str(tiny_config), "--clip-random-init", "--shard-rows", "3", "--batch-size", "2",
    ]  # fmt: skip


def markers(store: Path) -> int:
    return len(list((store / "progress").glob("unit-*/zarr.json")))
