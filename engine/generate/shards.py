"""The shards of a generate job: `shard-NNNNNN.tar` per work unit, WebDataset samples `<key>.png|jpg` and
`<key>.json`. A shard is written under a hidden temporary name of its own (two attempts at a unit, a retry
on Ray and the lost worker it replaces, never share one) and renamed when complete, so a reader (or a
resumed job) only ever sees one attempt's whole shard; a shard's existence is the unit's "done" mark.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from pathlib import Path

from PIL import Image

from pixsift.engine.io.tar_writer import DeterministicTar

EXTENSIONS = {"png": "png", "jpeg": "jpg"}
_PARTIAL_SUFFIX = ".partial"


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
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}{_PARTIAL_SUFFIX}")
    with DeterministicTar(partial) as tar:
        for key, data, image_format, record in samples:
            tar.add(f"{key}.{EXTENSIONS[image_format]}", data)
            tar.add(f"{key}.json", json.dumps(record, ensure_ascii=False, sort_keys=True).encode())
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, path)


def remove_partials(out: Path) -> int:
    """Delete the temporary files a killed job left; how many there were."""
    partials = list(out.glob(f".shard-*.tar.*{_PARTIAL_SUFFIX}"))
    for path in partials:
        path.unlink()
    return len(partials)
