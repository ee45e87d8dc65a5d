"""The run store: one Zarr v3 group per scoring job, one row per candidate, readable with plain zarr-python.

Layout (N rows, S = `shard_rows`, C = inner chunk rows, a divisor of S; columns in engine.store.schema):

    <store>/zarr.json        group attributes:
                               pixsift_schema_version  3
                               layout   {shard_rows, chunk_rows, image_dim, text_dim, extra_columns}
                               config   what the values depend on: models, versions, options
                               plan_complete, n_rows
                               inputs   the files planned: [{path, size, mtime or etag, rows: [start, stop]}]
                               appends  the row counts the plan grew from (engine.store.unit_store)
                               vocabularies  {"category": [...], "style": [...]}: code i is the i-th value
    <store>/<column>         one array per column: shape (N,) or (N, D), shards of S rows,
                             inner chunks of C rows, zstd; attributes {"doc", "part": "plan"|"score"}
    <store>/selections/<name>  a named selection (engine.store.selection)
    <store>/annotations/<name> columns added by caption and judge (engine.store.annotations)
    <store>/progress/unit-000012
                             an empty group per finished work unit (engine.store.unit_store)

A work unit is one shard of S rows: the score columns are its unit arrays.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from typing import Any

import numpy as np
import zarr

from pixsift.engine.core.batches import batched
from pixsift.engine.core.candidates import PlanEntry, content_hash, error_kind
from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.settings import as_json
from pixsift.engine.io.paths import absolute
from pixsift.engine.store.annotations import FOLDER as ANNOTATIONS
from pixsift.engine.store.annotations import annotation_arrays
from pixsift.engine.store.schema import (
    PLAN_COLUMNS,
    SCORE_COLUMNS,
    STATUSES,
    VOCABULARY_COLUMNS,
    Column,
    extra_column,
)
from pixsift.engine.store.unit_store import Unit, UnitStore

SCHEMA_VERSION = 3
_MAX_CHUNK_ROWS = 4096
_MIN_CHUNK_ROWS = 256
# PlanEntry field -> plan column; the field `error` is stored as `plan_error`.
_PLAN_FIELDS = {f.name: "plan_error" if f.name == "error" else f.name for f in fields(PlanEntry)}


class RunStore(UnitStore):
    """A run store at a local path or fsspec URL; see the module docstring for the layout."""

    KIND = "run store"
    VERSION_ATTRIBUTE = "pixsift_schema_version"
    VERSION = SCHEMA_VERSION
    STATUS = {status: status for status in STATUSES}
    UNIT_ARRAYS_NAME = "score columns"

    def __init__(self, url: str, group: zarr.Group):
        super().__init__(url, group)
        found = dict(group.arrays())
        self.arrays: dict[str, zarr.Array] = {c.name: found[c.name] for c in self.columns}
        self.arrays.update(annotation_arrays(group))

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        url: str,
        *,
        shard_rows: int,
        image_dim: int,
        text_dim: int,
        extra_columns: Iterable[str] = (),
        config: Mapping[str, Any],
        chunk_rows: int | None = None,
    ) -> RunStore:
        """A new, empty store at `url`, replacing a run store there (never anything else)."""
        layout = _layout(shard_rows, image_dim, text_dim, extra_columns, chunk_rows)
        return cls._create(absolute(url), layout, config)

    @classmethod
    def wanted_settings(cls, *, config: Mapping[str, Any], **layout) -> dict[str, Any]:
        return {"layout": _layout(**layout), "config": as_json(config)}

    def stored_settings(self) -> dict[str, Any]:
        return {"layout": self.layout, "config": self.config}

    @classmethod
    def _create(cls, url: str, layout: dict[str, Any], config: Mapping[str, Any]) -> RunStore:
        group = cls._new_group(
            url,
            {
                "layout": layout,
                "config": as_json(config),
                "plan_complete": False,
                "n_rows": 0,
                "vocabularies": {name: [] for name in VOCABULARY_COLUMNS},
            },
        )
        for column in (*PLAN_COLUMNS, *_score_columns(layout)):
            width = (layout[column.width],) if column.width else ()
            group.create_array(
                column.name,
                shape=(0, *width),
                dtype=str if column.dtype == "str" else column.dtype,
                shards=(layout["shard_rows"], *width),
                chunks=(layout["chunk_rows"], *width),
                fill_value=column.fill,
                dimension_names=("row", "dim")[: 1 + len(width)],
                attributes={"doc": column.doc, "part": "plan" if column in PLAN_COLUMNS else "score"},
            )
        return cls(url, group)

    # -- what the store holds ------------------------------------------------------------------

    @property
    def layout(self) -> dict[str, Any]:
        return self.group.attrs["layout"]

    @property
    def config(self) -> dict[str, Any]:
        return self.group.attrs["config"]

    @property
    def shard_rows(self) -> int:
        return self.layout["shard_rows"]

    @property
    def unit_rows(self) -> int:
        return self.shard_rows

    @property
    def unit_arrays(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.score_columns)

    def vocabulary(self, column: str) -> list[str]:
        """The values of `column` (category or style) in code order: `<column>_id` i means the i-th."""
        return self.group.attrs["vocabularies"][column]

    @property
    def score_columns(self) -> tuple[Column, ...]:
        return _score_columns(self.layout)

    @property
    def columns(self) -> tuple[Column, ...]:
        return (*PLAN_COLUMNS, *self.score_columns)

    def require_scored(self, allow_partial: bool) -> int:
        """The number of rows not scored yet (their units unfinished): refused (BadInput) when there are
        any, unless `allow_partial`, which says on stderr how many are left out."""
        if not self.planned:
            raise BadInput(self.url, "its planning did not finish", "run the same score command again")
        missing = self.pending_rows()
        counted = f"{missing:,} of {self.n_rows:,} rows are not scored (the score job stopped part-way)"
        if missing and not allow_partial:
            raise BadInput(
                self.url,
                counted,
                "run the same score command again, or pass --allow-partial to leave them out",
            )
        if missing:
            print(
                f"pixsift: warning: {self.url}: {counted}; they are left out (--allow-partial)",
                file=sys.stderr,
            )
        return missing

    # -- planning ------------------------------------------------------------------------------

    def plan(self, entries: Iterable[PlanEntry], inputs: Callable[[], list[dict]] = list) -> int:
        """Write the plan columns, a shard at a time, then mark the plan complete, recording what `inputs`
        gives once the entries are written (the files planned: engine.store.input_record); the row count."""
        if self.planned:
            raise ValueError(f"run store {self.url} is already planned")
        codes: dict[str, dict[str, int]] = {name: {} for name in VOCABULARY_COLUMNS}
        n_rows = self._write_plan(entries, 0, codes)
        vocabularies = {name: list(code) for name, code in codes.items()}
        self.group.update_attributes(
            {"plan_complete": True, "n_rows": n_rows, "vocabularies": vocabularies, "inputs": inputs()}
        )
        return n_rows

    def extend(
        self,
        entries: Iterable[PlanEntry],
        inputs: Callable[[], list[dict]],
        retired: Iterable[tuple[int, int, str]] = (),
    ) -> int:
        """Add rows for `entries` after the planned ones, mark the rows of each (start, stop, error) of
        `retired` failed with that error (their input changed or is gone), and record what `inputs` then
        gives as the store's inputs; the rows added. Rows planned before keep their values. Killed
        part-way, the store reads as before and the same call does it again."""
        old = self.group.attrs["n_rows"]
        self._resize_rows(old)  # what a killed extension left
        codes = {name: {v: i for i, v in enumerate(self.vocabulary(name))} for name in VOCABULARY_COLUMNS}
        n_rows = self._write_plan(entries, old, codes)
        for start, stop, error in retired:
            self._retire(start, stop, error)
        appends = [*self.group.attrs.get("appends", []), *([old] if n_rows > old else [])]
        vocabularies = {name: list(code) for name, code in codes.items()}
        self.group.update_attributes(
            {"n_rows": n_rows, "vocabularies": vocabularies, "inputs": inputs(), "appends": appends}
        )
        return n_rows - old

    @property
    def inputs(self) -> list[dict]:
        """The input files planned, each {path, size, ..., rows: [start, stop]}: engine.store.input_record."""
        return self.group.attrs.get("inputs", [])

    def _write_plan(self, entries: Iterable[PlanEntry], start: int, codes: dict[str, dict[str, int]]) -> int:
        """Write the plan columns of `entries` from row `start`, a shard at a time, and size the score
        columns to match, their new rows unscored; the row count after them."""
        n_rows = start
        for block in batched(entries, self.shard_rows):
            stop = n_rows + len(block)
            values = {
                column: [getattr(entry, field) for entry in block] for field, column in _PLAN_FIELDS.items()
            }
            values["group_id"] = [group_hash(group) for group in values["group"]]
            for name, code in codes.items():
                values[f"{name}_id"] = [code.setdefault(v, len(code)) if v else -1 for v in values[name]]
            for column in PLAN_COLUMNS:
                array = self.arrays[column.name]
                array.resize((stop,))
                array[n_rows:stop] = np.array(values[column.name], dtype=array.dtype)
            n_rows = stop
        for column in self.score_columns:
            array = self.arrays[column.name]
            array.resize((n_rows, *array.shape[1:]))
            if n_rows > start:  # a shard cut short before may hold values past its old end
                array[start:n_rows] = column.fill
        return n_rows

    def _resize_rows(self, n_rows: int) -> None:
        for column in self.columns:
            array = self.arrays[column.name]
            array.resize((n_rows, *array.shape[1:]))

    def _retire(self, start: int, stop: int, error: str) -> None:
        """Rows [start, stop) fail with `error`: in the plan (so scoring fails them), and where they were
        scored, in the score columns and their units' counts."""
        self.arrays["plan_error"][start:stop] = error
        marked = self.marked_units()
        for unit in self.units():
            done_to = self.covered_stop(unit, marked)
            lo, hi = max(start, unit.start), min(stop, done_to)
            if lo >= hi:
                continue
            for column in self.score_columns:
                self.arrays[column.name][lo:hi] = column.fill
            self.arrays["status"][lo:hi] = "failed"
            self.arrays["error"][lo:hi] = error
            status = self.arrays["status"][unit.start : done_to].tolist()
            errors = self.arrays["error"][unit.start : done_to].tolist()
            marker = self.marker(unit.index)
            marker["status"] = dict(Counter(status))
            marker["errors"] = dict(Counter(error_kind(e) for e in errors if e))
            self.write_marker(unit.index, marker)

    def read_plan(self, unit: Unit) -> list[PlanEntry]:
        columns = {f: self.arrays[c][unit.start : unit.stop].tolist() for f, c in _PLAN_FIELDS.items()}
        return [
            PlanEntry(**dict(zip(columns, row, strict=True))) for row in zip(*columns.values(), strict=True)
        ]


def group_hash(group: str) -> int:
    """The group's stable id: its 64-bit BLAKE2b digest as a signed int64, or -1 for no group ("")."""
    return content_hash(group.encode()) if group else -1


def _layout(
    shard_rows: int,
    image_dim: int,
    text_dim: int,
    extra_columns: Iterable[str] = (),
    chunk_rows: int | None = None,
) -> dict[str, Any]:
    chunk_rows = chunk_rows or _default_chunk_rows(shard_rows)
    if shard_rows < 1 or chunk_rows < 1 or shard_rows % chunk_rows:
        raise ValueError(
            f"shard_rows ({shard_rows}) must be a positive multiple of chunk_rows ({chunk_rows})"
        )
    extra_columns = list(extra_columns)
    taken = {c.name for c in (*PLAN_COLUMNS, *SCORE_COLUMNS)} | {"progress", "selections", ANNOTATIONS}
    if taken.intersection(extra_columns) or len(set(extra_columns)) != len(extra_columns):
        raise ValueError(f"extra score columns {extra_columns} must be distinct and not reuse a store name")
    return {
        "shard_rows": shard_rows,
        "chunk_rows": chunk_rows,
        "image_dim": image_dim,
        "text_dim": text_dim,
        "extra_columns": extra_columns,
    }


def _default_chunk_rows(shard_rows: int) -> int:
    """The largest power-of-two divisor of shard_rows up to 4096, or the whole shard if that is tiny."""
    chunk_rows = math.gcd(shard_rows, _MAX_CHUNK_ROWS)
    return chunk_rows if chunk_rows >= _MIN_CHUNK_ROWS else shard_rows


def _score_columns(layout: Mapping[str, Any]) -> tuple[Column, ...]:
    return (*SCORE_COLUMNS, *(extra_column(name) for name in layout["extra_columns"]))
