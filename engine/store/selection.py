"""Named selections in a run store: `selections/<name>`, a Zarr group written by one selecting process.

Arrays over all N store rows, sharded like the store's (shards of `shard_rows` rows):

    kept            bool      the row is in the selection
    reason_code     uint8     0 when kept, else the first step that dropped it: attrs["reasons"][code]
    weighted_score  float32   the spec's weighted score; NaN where a column it needs is NaN
    dup_group       int64     -1 in no duplicate group, else an id shared by its members (the kept one too)

Attributes: spec, reasons ("" for kept, then the steps' reasons in step order: "status",
"filter:clip_cosine>=0.2", "top_k", ...), funnel ([{step, dropped, remaining}] in
step order), counts ({"category": {value: kept}, "style": {...}}), n_kept, n_rows, versions, and
`complete`, written last: a selection without it was interrupted and reads as absent.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

import numpy as np
import zarr

from pixsift.engine.core.errors import BadInput, Exists, Missing
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import EDIT_TASK, WEIGHTED_SCORE

SELECTIONS = "selections"
SELECTION_VERSION = 1
_ARRAYS = {
    "kept": ("bool", False),
    "reason_code": ("uint8", 0),  # codes, not strings: 100M strings cost half a minute to write
    WEIGHTED_SCORE: ("float32", np.nan),
    "dup_group": ("int64", -1),
}


class SelectionWriter:
    """Creates `selections/<name>` and writes it shard by shard; `finish` marks it complete.

    Rows come with reason codes: code i is reasons[i], and reasons[0] is "" (kept)."""

    def __init__(self, store: RunStore, name: str, reasons: list[str], *, overwrite: bool = False):
        check_writable(store, name, overwrite)
        if reasons[0] != "":
            raise ValueError(f"reasons must start with '' (kept), got {reasons[:3]}")
        self.store, self.reasons = store, reasons
        selections = store.group.require_group(SELECTIONS)
        if name in selections:
            del selections[name]
        self.group = selections.create_group(name)
        for array, (dtype, fill) in _ARRAYS.items():
            self.group.create_array(
                array,
                shape=(store.n_rows,),
                dtype=dtype,
                shards=(store.shard_rows,),
                chunks=(store.layout["chunk_rows"],),
                fill_value=fill,
                dimension_names=("row",),
            )

    def write(
        self,
        start: int,
        kept: np.ndarray,
        reason_code: np.ndarray,
        weighted_score: np.ndarray,
        dup_group: np.ndarray,
    ) -> None:
        """Rows [start, start + len): `start` begins a shard, so that every write is whole shards."""
        rows = slice(start, start + len(kept))
        self.group["kept"][rows] = kept
        self.group["reason_code"][rows] = reason_code
        self.group[WEIGHTED_SCORE][rows] = weighted_score
        self.group["dup_group"][rows] = dup_group

    def finish(self, attrs: Mapping[str, Any]) -> None:
        versions = {
            "selection": SELECTION_VERSION,
            **{p: importlib.metadata.version(p) for p in ("numpy", "zarr")},
        }
        self.group.update_attributes(
            {
                **attrs,
                "reasons": self.reasons,
                "n_rows": self.store.n_rows,
                "versions": versions,
                "complete": True,
            }
        )


def check_writable(store: RunStore, name: str, overwrite: bool) -> None:
    """Refuse a bad name, or a complete selection of this name unless `overwrite` (an interrupted one
    is always replaced)."""
    if not name or "/" in name or name.startswith("."):
        raise BadInput(f"selection name {name!r}", "must be non-empty, without '/', not starting with '.'")
    if not overwrite and name in list_selections(store):
        raise Exists(f"selection {name!r}", f"exists in {store.url}", "pass --overwrite to replace it")


def list_selections(store: RunStore) -> list[str]:
    """The names of the complete selections in the store."""
    if SELECTIONS not in store.group:
        return []
    return sorted(name for name, group in store.group[SELECTIONS].groups() if group.attrs.get("complete"))


def selection_group(store: RunStore, name: str) -> zarr.Group:
    """The complete selection `name`, as its Zarr group (for reading slices of its arrays)."""
    if name not in list_selections(store):
        raise Missing(
            store.url, f"no selection {name!r}", f"selections: {', '.join(list_selections(store)) or 'none'}"
        )
    return store.group[SELECTIONS][name]


CAPTION = "caption"


def caption_column(group: zarr.Group) -> str:
    """The column the selection takes its text-to-image rows' captions from (its spec's caption_column:
    a `pixsift caption` column), or "caption"."""
    return group.attrs.get("spec", {}).get("caption_column", CAPTION)


def with_captions(captions: np.ndarray, tasks: np.ndarray, replacements: np.ndarray) -> np.ndarray:
    """`captions` with each text-to-image row's replaced: an edit keeps its instruction."""
    return np.where(np.asarray(tasks) == EDIT_TASK, np.asarray(captions), np.asarray(replacements))


def reason_names(group: zarr.Group) -> np.ndarray:
    """code -> reason ("" for kept), for indexing with `reason_code` values."""
    return np.array(group.attrs["reasons"], dtype=object)


def kept_rows(store: RunStore, name: str) -> np.ndarray:
    """The kept row indices, ascending (read shard by shard)."""
    kept = selection_group(store, name)["kept"]
    parts = [np.flatnonzero(kept[u.start : u.stop]) + u.start for u in store.units()]
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)
