"""Small candidate pools for the source and store tests, made from real photographs (skimage.data)."""

from __future__ import annotations

import functools
import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

# name -> (skimage.data loader, format); small sizes keep the tests fast.
_PHOTOS = {
    "astronaut": (data.astronaut, "JPEG"),
    "chelsea": (data.chelsea, "JPEG"),
    "coffee": (data.coffee, "PNG"),
    "camera": (data.camera, "JPEG"),
}


@functools.cache
def photo(name: str, side: int = 64) -> bytes:
    loader, fmt = _PHOTOS[name]
    image = Image.fromarray(np.asarray(loader())).resize((side, side), Image.BICUBIC)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def photo_names() -> list[str]:
    return list(_PHOTOS)


def tar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    path.write_bytes(tar_bytes(members))
    return path


def caption_json(caption: str, **meta) -> bytes:
    return json.dumps({"caption": caption, **meta}).encode()
