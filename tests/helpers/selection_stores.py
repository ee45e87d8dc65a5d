"""Small scored run stores with a stored selection, for the export and report tests; no model needed.

Images are real photographs (skimage.data) at a few sizes, some loose files and some members of a tar
shard, so reading them back exercises both (source, offset, length) kinds.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixsift.engine.core.candidates import PlanEntry, content_hash
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.selection import SelectionWriter, reason_names, selection_group
from tests.helpers.candidate_pools import photo, photo_names, write_tar

CATEGORIES = ("animals", "people", "objects")
SIDES = (40, 56, 72)


@dataclass(frozen=True)
class Pool:
    store: RunStore
    images: dict[str, bytes]  # key -> the image bytes planned for it
    tmp: Path


def scored_pool(tmp: Path, *, shard_rows: int = 4, edits: dict[int, str] | None = None) -> Pool:
    """12 candidates (4 photographs x 3 sizes), half in a tar shard; rows in `edits` get task "edit" and
    that source_key. Scores grow with the row; nothing failed."""
    tmp.mkdir(parents=True, exist_ok=True)
    blobs = [(f"{name}-{side}", photo(name, side)) for side in SIDES for name in photo_names()]
    images, entries, members = {}, [], []
    for i, (stem, blob) in enumerate(blobs):
        fmt = "png" if stem.startswith("coffee") else "jpg"
        task, source_key = ("edit", edits[i]) if edits and i in edits else ("t2i", "")
        meta = dict(group=f"g{i // 3}", task=task, category=CATEGORIES[i % 3], style="photo", seed=i)
        if i % 2:
            members.append((f"{stem}.{fmt}", blob))
            entries.append((f"shard/{stem}", f"a photo of {stem}", len(members) - 1, meta, source_key))
        else:
            path = tmp / f"{stem}.{fmt}"
            path.write_bytes(blob)
            entries.append((f"loose/{stem}", f"a photo of {stem}", str(path), meta, source_key))
        images[entries[-1][0]] = blob
    tar = write_tar(tmp / "shard.tar", members)
    offsets = _member_offsets(tar)
    plan = [
        PlanEntry(
            key,
            caption,
            str(tar) if isinstance(where, int) else where,
            offsets[where][0] if isinstance(where, int) else 0,
            offsets[where][1] if isinstance(where, int) else -1,
            source_key=source_key,
            meta=json.dumps({"url": f"https://example.com/{key}", "similarity": 0.3}),
            **meta,
        )
        for key, caption, where, meta, source_key in entries
    ]
    store = RunStore.create(
        str(tmp / "run.zarr"),
        shard_rows=shard_rows,
        image_dim=4,
        text_dim=4,
        extra_columns=["aesthetic"],
        config={"test": "selection_stores"},
    )
    store.plan(plan, lambda: [{"path": str(tar), "rows": [0, len(plan)]}])
    for unit in store.units():
        store.write_unit(unit, _scores(store, unit, [images[e.key] for e in plan[unit.start : unit.stop]]))
    return Pool(store, images, tmp)


def _member_offsets(tar: Path) -> list[tuple[int, int]]:
    with tarfile.open(tar) as t:
        return [(m.offset_data, m.size) for m in t.getmembers()]


def _scores(store: RunStore, unit, blobs: list[bytes]) -> dict[str, np.ndarray]:
    rows = np.arange(unit.start, unit.stop)
    n = len(rows)
    cosine = (0.15 + rows * 0.01).astype(np.float32)
    columns = {
        "status": np.full(n, "ok"),
        "error": np.full(n, ""),
        "image_embedding": np.ones((n, 4)),
        "text_embedding": np.ones((n, 4)),
        "clip_cosine": cosine,
        "clip_score": 2.5 * cosine,
        "ssim_roundtrip": (0.9 - rows * 0.015).astype(np.float32),
        "aesthetic": np.where(rows % 5 == 0, np.nan, rows / 10).astype(np.float32),
        "width": np.full(n, 64),
        "height": np.full(n, 64),
        "byte_size": np.array([len(b) for b in blobs]),
        "format": np.array(["png" if b.startswith(b"\x89PNG") else "jpeg" for b in blobs]),
        "content_hash": np.array([content_hash(b) for b in blobs]),
    }
    # the pair columns of engine.score.edit_pairs: NaN, as a store without edit sources scored gives them
    return {c.name: columns.get(c.name, np.full(n, np.nan, np.float32)) for c in store.score_columns}


def write_selection(
    store: RunStore,
    name: str,
    kept_rows: list[int],
    *,
    reasons: dict[int, str] | None = None,
    dup_group: dict[int, int] | None = None,
    funnel: list[dict] | None = None,
) -> None:
    """A selection stored by engine.store.selection; dropped rows not in `reasons` get "top_k", and the
    weighted score is SynthVLM's clip_cosine + 0.5 * ssim_roundtrip."""
    n = store.n_rows
    kept = np.zeros(n, bool)
    kept[kept_rows] = True
    reason = np.array(["" if kept[r] else (reasons or {}).get(r, "top_k") for r in range(n)], dtype=object)
    weighted = store.arrays["clip_cosine"][:] + 0.5 * store.arrays["ssim_roundtrip"][:]
    groups = np.full(n, -1, np.int64)
    for row, group in (dup_group or {}).items():
        groups[row] = group
    attrs = {
        "spec": {"score": {"clip_cosine": 1.0, "ssim_roundtrip": 0.5}, "steps": [{"type": "top_k"}]},
        "funnel": funnel or [{"step": "top_k", "dropped": n - len(kept_rows), "remaining": len(kept_rows)}],
        "n_kept": len(kept_rows),
    }
    store_selection(store, name, kept, reason, weighted.astype(np.float32), groups, attrs, overwrite=True)


def store_selection(
    store: RunStore,
    name: str,
    kept: np.ndarray,
    reason: np.ndarray,
    weighted_score: np.ndarray,
    dup_group: np.ndarray,
    attrs: Mapping[str, Any],
    *,
    overwrite: bool = False,
) -> None:
    """Write a whole selection from in-memory arrays over all rows, through engine.store.selection's
    writer (`reason` as strings, "" = kept)."""
    reason = np.asarray(reason, dtype=object)
    if not np.array_equal(np.asarray(kept, dtype=bool), reason == ""):
        raise ValueError(f"selection {name!r}: kept must be exactly the rows whose reason is ''")
    reasons = sorted(set(reason.tolist()) | {""})  # "" sorts first: code 0 = kept
    codes = np.searchsorted(np.array(reasons, dtype=object), reason).astype(np.uint8)
    writer = SelectionWriter(store, name, reasons, overwrite=overwrite)
    for unit in store.units():
        rows = slice(unit.start, unit.stop)
        writer.write(unit.start, kept[rows], codes[rows], weighted_score[rows], dup_group[rows])
    writer.finish(attrs)


def read_selection(store: RunStore, name: str) -> dict[str, Any]:
    """Every array over all rows, `reason` as strings ("" when kept), and `attrs`."""
    group = selection_group(store, name)
    arrays = {array: group[array][:] for array in group.array_keys()}
    return {**arrays, "reason": reason_names(group)[arrays["reason_code"]], "attrs": dict(group.attrs)}


def write_captions(store: RunStore, column: str, captions: Mapping[int, str]) -> None:
    """An annotation set `column` as `pixsift caption` makes it (engine.store.annotations), with `captions`
    by row; the other rows skipped, as rows outside a selection are."""
    from pixsift.engine.store.annotations import AnnotationStore
    from pixsift.engine.store.schema import Column

    columns = [Column(column, "str", "", "caption")]
    annotation = AnnotationStore.prepared(store, column, "caption", columns, {"test": "selection_stores"})
    for unit in annotation.units():
        rows = range(unit.start, unit.stop)
        annotation.write_unit(unit, {
            column: np.array([captions.get(r, "") for r in rows], dtype=object),
            "status": np.array(["ok" if r in captions else "skipped" for r in rows], dtype=object),
            "error": np.array(["" if r in captions else "not_selected: test" for r in rows], dtype=object),
        })  # fmt: skip


def grow_pool(pool: Pool, rows: int) -> None:
    """Plan `rows` more candidates (loose copies of the pool's first photograph) after the store's rows, as
    a new input would, and score them."""
    store = pool.store
    first = store.n_rows
    path = pool.tmp / "more.jpg"
    path.write_bytes(pool.images["loose/astronaut-40"])
    entries = [PlanEntry(f"more/{i}", f"another photo {i}", str(path), task="t2i") for i in range(rows)]
    store.extend(entries, lambda: [*store.inputs, {"path": str(path), "rows": [first, first + rows]}])
    blob = path.read_bytes()
    for index in store.pending_units():
        unit = store.work_unit(index)
        store.write_unit(unit, _scores(store, unit, [blob] * unit.rows))
