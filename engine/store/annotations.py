"""Annotations: columns a stage after score adds to a run store's rows (`pixsift caption`, `pixsift judge`),
each set in its own Zarr group inside the store, written in the store's work units:

    <store>/annotations/<name>/zarr.json    attributes: pixsift_annotation_version, stage, settings,
                                            columns [{name, dtype, doc}], n_rows, shard_rows, appends
    <store>/annotations/<name>/<column>     one array per column; shards of the store's shard_rows
    <store>/annotations/<name>/status, error
                                            per row: "ok", "failed" (the error says why: the image could
                                            not be read, the prompt is longer than the model's context) or
                                            "skipped" (not in the selection asked for, or not scored)
    <store>/annotations/<name>/progress/unit-000012

A set is made whole before its first unit runs. When the run store grows (new inputs), the set grows with
it on its next run: the rows added are its work, every row annotated before keeps its values
(engine.store.unit_store). The run store lists every annotation column beside its own (RunStore.arrays),
so that select, show and export read them as they read a score; a set's status and error there are
`<name>_status` and `<name>_error`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

import zarr
from fsspec.core import url_to_fs

from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.settings import SettingsMismatch, as_json, check_settings
from pixsift.engine.io import ownership
from pixsift.engine.store.schema import Column
from pixsift.engine.store.unit_store import UnitStore

FOLDER = "annotations"
_REPLACE = "pass --replace to make it again, or name another set"


class AnnotationStore(UnitStore):
    """One annotation set of a run store (see the module docstring)."""

    KIND = "annotation set"
    VERSION_ATTRIBUTE = "pixsift_annotation_version"
    VERSION = 1
    STATUS = {"ok": "ok", "failed": "failed", "skipped": "skipped"}
    UNIT_ARRAYS_NAME = "annotation columns"

    @staticmethod
    def url_of(store_url: str, name: str) -> str:
        return f"{store_url.rstrip('/')}/{FOLDER}/{name}"

    @classmethod
    def prepared(
        cls,
        run_store,
        name: str,
        stage: str,
        columns: Iterable[Column],
        settings: Mapping[str, Any],
        replace: bool = False,
    ) -> AnnotationStore:
        """The set `name` of `run_store`, made by `stage` to `settings` with `columns`: the one there, grown
        to the store's rows; a new one when there is none, or when the one there was made otherwise and
        `replace` (else that is refused, naming the differences)."""
        columns = [*columns, *STATUS_COLUMNS]
        url = cls.url_of(run_store.url, name)
        wanted = {"stage": stage, "settings": as_json(settings), "columns": _described(columns)}
        fs, path = url_to_fs(url)
        if fs.exists(f"{path}/zarr.json"):
            found = cls.open(url)
            if found.group.attrs.get("plan_complete"):
                made = {k: found.group.attrs[k] for k in wanted}
                try:
                    check_settings(f"annotation set {name!r} of {run_store.url}", made, wanted, _REPLACE)
                    found.grow(run_store.n_rows)
                    return found
                except SettingsMismatch as e:
                    if not replace:
                        raise
                    print(f"{stage}: {e.input}: {e.problem}; making it again (--replace)", file=sys.stderr)
                    ownership.remove(url, cls.KIND)
                    run_store = type(run_store).open(run_store.url)  # without the removed set's columns
        _check_names(run_store, name, columns)
        run_store.group.require_group(FOLDER)
        return cls._made(url, run_store, columns, wanted)

    @classmethod
    def _made(cls, url: str, run_store, columns: list[Column], attributes: dict[str, Any]) -> AnnotationStore:
        group = cls._new_group(
            url,
            {
                **attributes,
                "plan_complete": False,
                "n_rows": run_store.n_rows,
                "shard_rows": run_store.shard_rows,
            },
        )
        chunk_rows = run_store.layout["chunk_rows"]
        for column in columns:
            group.create_array(
                column.name,
                shape=(run_store.n_rows,),
                dtype=str if column.dtype == "str" else column.dtype,
                shards=(run_store.shard_rows,),
                chunks=(chunk_rows,),
                fill_value=column.fill,
                dimension_names=("row",),
                attributes={"doc": column.doc, "part": "annotation"},
            )
        group.update_attributes({"plan_complete": True})
        return cls(url, group)

    def grow(self, n_rows: int) -> None:
        """Size every column to the run store's `n_rows`, the rows added to do (engine.store.unit_store)."""
        old = self.n_rows
        if n_rows == old:
            return
        if n_rows < old:
            raise BadInput(self.url, f"has {old:,} rows, more than its run store's {n_rows:,}")
        for _, array in self.group.arrays():
            array.resize((n_rows,))
            array[old:n_rows] = array.fill_value  # a shard cut short before may hold values past its end
        self.group.update_attributes(
            {"n_rows": n_rows, "appends": [*self.group.attrs.get("appends", []), old]}
        )

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def unit_rows(self) -> int:
        return self.group.attrs["shard_rows"]

    @property
    def unit_arrays(self) -> tuple[str, ...]:
        return tuple(c["name"] for c in self.group.attrs["columns"])


STATUS_COLUMNS = (
    Column("status", "str", "", "'ok', 'failed' or 'skipped'; '' = not annotated yet"),
    Column("error", "str", "", "'kind: detail' when failed or skipped, '' when ok"),
)


def annotation_sets(store_url: str, group: zarr.Group) -> list[AnnotationStore]:
    """The finished annotation sets of the run store at `store_url` (its Zarr `group`), by name."""
    return [
        AnnotationStore(AnnotationStore.url_of(store_url, name), found) for name, found in _finished(group)
    ]


def annotation_arrays(group: zarr.Group) -> dict[str, zarr.Array]:
    """The columns of every finished annotation set in a run store's `group`, by name: a set's status and
    error as `<set>_status` and `<set>_error`."""
    return {
        _public_name(name, column): array
        for name, found in _finished(group)
        for column, array in found.arrays()
    }


def _finished(group: zarr.Group) -> list[tuple[str, zarr.Group]]:
    """(name, group) of each annotation set of a run store's `group` whose making finished, by name."""
    if FOLDER not in group:
        return []
    return [
        (name, found) for name, found in sorted(group[FOLDER].groups()) if found.attrs.get("plan_complete")
    ]


def _public_name(name: str, column: str) -> str:
    return f"{name}_{column}" if column in {c.name for c in STATUS_COLUMNS} else column


def _described(columns: list[Column]) -> list[dict[str, Any]]:
    return [{"name": c.name, "dtype": c.dtype, "doc": c.doc} for c in columns]


def _check_names(run_store, name: str, columns: list[Column]) -> None:
    taken = set(run_store.arrays) | {"progress", "selections", FOLDER}
    if clash := sorted({_public_name(name, c.name) for c in columns} & taken):
        raise BadInput(
            run_store.url,
            f"annotation set {name!r}: its columns {', '.join(clash)} are already columns of the store",
            "name the set otherwise",
        )
