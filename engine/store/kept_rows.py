"""The kept rows of a selection, in store order, each with its export record and its image bytes.

Streams over work units: per unit only the kept rows' values are kept, and their image bytes are re-read
from (source, offset, length) with `engine.io.sources.read_candidates`, front to back through each source.
Bytes that are not those the row was scored with (their content hash differs: the file was replaced) are
not used: the row gets a `changed` error instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pixsift.engine.core.candidates import PlanEntry, content_hash, failure
from pixsift.engine.io.sources import read_candidates
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import WEIGHTED_SCORE
from pixsift.engine.store.selection import CAPTION, caption_column, selection_group, with_captions

# What every export carries per sample besides the image, in this order.
PLAN_FIELDS = ("key", "caption", "group", "task", "category", "style", "source_key", "seed", "meta")
IMAGE_FIELDS = ("width", "height", "format")
SELECTION_FIELDS = {WEIGHTED_SCORE: "float32", "dup_group": "int64"}
_LOCATION = ("source", "offset", "length", "content_hash")


@dataclass(frozen=True)
class ExportRow:
    index: int  # position among the kept rows: names the sample and its shard
    row: int  # the row in the run store
    record: dict[str, Any]  # the fields of `record_fields`, as Python values (NaN scores as None)
    data: bytes
    error: str  # why the image bytes could not be read; "" when they were


@dataclass(frozen=True)
class RowError:
    """A kept row that is not in the export, and why."""

    row: int
    key: str
    error: str

    @classmethod
    def of(cls, row: ExportRow, error: str) -> RowError:
        return cls(row.row, row.record["key"], error)


def record_fields(store: RunStore) -> dict[str, str]:
    """Field name -> dtype ("str" or a numpy dtype name) of an export record, in record order."""
    columns = {c.name: c.dtype for c in store.columns}
    scores = [c.name for c in store.score_columns if c.dtype == "float32"]
    return {
        **{name: columns[name] for name in (*PLAN_FIELDS, *IMAGE_FIELDS, *scores)},
        **SELECTION_FIELDS,
    }


def export_rows(store: RunStore, selection: str, rows: np.ndarray) -> Iterator[ExportRow]:
    """The kept `rows` (sorted) of `selection`, as they are read."""
    fields = record_fields(store)
    chosen = selection_group(store, selection)
    captions = caption_column(chosen)
    index = 0
    for unit in store.units():
        lo, hi = np.searchsorted(rows, [unit.start, unit.stop])
        if lo == hi:
            continue
        local = rows[lo:hi] - unit.start
        values = {}
        for name in (*fields, *_LOCATION):
            array = chosen[name] if name in SELECTION_FIELDS else store.arrays[name]
            values[name] = array[unit.start : unit.stop][local].tolist()
        if captions != CAPTION:
            replaced = store.arrays[captions][unit.start : unit.stop][local]
            values[CAPTION] = with_captions(values[CAPTION], values["task"], replaced).tolist()
        records = [
            dict(zip(fields, row, strict=True)) for row in zip(*(values[f] for f in fields), strict=True)
        ]
        entries = [
            PlanEntry(record["key"], record["caption"], source, offset, length)
            for record, source, offset, length, _ in zip(
                records, *(values[f] for f in _LOCATION), strict=True
            )
        ]
        for row, record, candidate, scored in zip(
            rows[lo:hi].tolist(), records, read_candidates(entries), values["content_hash"], strict=True
        ):
            error = candidate.error or changed_since_scored(candidate, scored)
            yield ExportRow(index, row, json_safe(record), b"" if error else candidate.data, error)
            index += 1


def changed_since_scored(candidate, scored: int) -> str:
    """An error when the bytes read are not those the row was scored with (0: never read, not checked)."""
    if scored and content_hash(candidate.data) != scored:
        return failure(
            "changed", f"{candidate.source}: the image's bytes differ from those scored (content_hash)"
        )
    return ""


def json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """The record with NaN values as None (null in JSON)."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}
