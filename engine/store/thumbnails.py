"""Small JPEG thumbnails of chosen store rows (or of their edit sources) as data: URIs; only these rows'
images are read and decoded."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageOps

from pixsift.engine.core.candidates import PlanEntry
from pixsift.engine.io.sources import read_candidates
from pixsift.engine.store.edit_sources import EditSources
from pixsift.engine.store.run_store import RunStore

SIDE = 160
QUALITY = 80


def thumbnails(store: RunStore, rows: list[int]) -> dict[int, str]:
    """Row -> data: URI of its thumbnail; a row whose image cannot be read or decoded maps to its error."""
    rows = sorted(set(rows))
    where = {name: store.arrays[name].oindex[rows].tolist() for name in ("key", "source", "offset", "length")}
    entries = [PlanEntry(key, "", *location) for key, *location in zip(*where.values(), strict=True)]
    found = {}
    for row, candidate in zip(rows, read_candidates(entries), strict=True):
        found[row] = candidate.error or _data_uri(candidate.data)
    return found


def source_thumbnails(store: RunStore, rows: list[int]) -> dict[int, str]:
    """Edit row -> data: URI of its source image's thumbnail (engine.store.edit_sources), or why none."""
    rows = sorted(set(rows))
    if not rows:
        return {}
    sources = EditSources.find(store, np.asarray(rows, np.int64))
    found = {}
    for row, key in zip(rows, store.arrays["source_key"].oindex[rows].tolist(), strict=True):
        try:
            found[row] = _data_uri(sources.read(key).data)
        except LookupError as e:
            found[row] = str(e)
    return found


def is_image(uri: str) -> bool:
    return uri.startswith("data:image/")


def _data_uri(blob: bytes) -> str:
    try:
        with Image.open(io.BytesIO(blob)) as image:
            image.draft("RGB", (SIDE, SIDE))  # JPEG: decode at a reduced scale, not full size
            image = ImageOps.exif_transpose(image).convert("RGB")
            image.thumbnail((SIDE, SIDE))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=QUALITY)
    except Exception as e:  # noqa: BLE001 -- any undecodable image is shown as its error
        return f"decode: {type(e).__name__}: {e}"
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()
