"""The shards of a generate job: `shard-NNNNNN.tar` per work unit, WebDataset samples `<key>.png|jpg` and
`<key>.json`. A shard is written under a hidden temporary name of its own (two attempts at a unit, a retry
on Ray and the lost worker it replaces, never share one) and renamed when complete, so a reader (or a
resumed job) only ever sees one attempt's whole shard; a shard's existence is the unit's "done" mark.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from pixsift.engine.io.paths import remove_partials as remove_partial_files
from pixsift.engine.io.paths import write_through_partial
from pixsift.engine.io.tar_writer import DeterministicTar

EXTENSIONS = {"png": "png", "jpeg": "jpg"}


def shard_path(out: Path, unit: int) -> Path:
    return out / f"shard-{unit:06d}.tar"


def sample_key(prompt_index: int, image_index: int) -> str:
    return f"{prompt_index:09d}_{image_index:03d}"


def encode_image(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    if image_format == "jpeg":
        image.convert("RGB").save(buffer, "JPEG", quality=95)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def write_shard(path: Path, samples: list[tuple[str, bytes, str, dict]]) -> None:
    """Write (key, image bytes, image format, record) samples to `path`, atomically."""

    def write(partial: Path) -> None:
        with DeterministicTar(partial) as tar:
            for key, data, image_format, record in samples:
                tar.add(f"{key}.{EXTENSIONS[image_format]}", data)
                tar.add(f"{key}.json", json.dumps(record, ensure_ascii=False, sort_keys=True).encode())

    write_through_partial(path, write)


def remove_partials(out: Path) -> int:
    """Delete the temporary shards a killed job left; how many there were."""
    return remove_partial_files(out, "shard-*.tar")
