"""The run store: one Zarr v3 group per scoring job, one row per candidate, readable with plain zarr-python.

Layout (N rows, S = `shard_rows`, C = inner chunk rows, a divisor of S):

    <store>/zarr.json        group attributes:
                               pixsift_schema_version  2
                               layout   {shard_rows, chunk_rows, image_dim, text_dim, extra_columns}
                               config   what the values depend on: models, versions, options
                               plan_complete, n_rows
                               vocabularies  {"category": [...], "style": [...]}: code i is the i-th value
    <store>/<column>         one array per column below: shape (N,) or (N, D), shards of S rows,
                             inner chunks of C rows, zstd; attributes {"doc", "part": "plan"|"score"}
    <store>/selections/<name>  a named selection (engine.selection)
    <store>/progress/unit-000012
                             an empty group per finished work unit; its attributes are the
                             unit's rows [start, stop) and its counts per status and error kind

Plan columns, written once when the job is planned (engine.sources gives the entries):

    key          str      stable candidate key
    caption      str      the caption
    source       str      the tar shard or image file holding the image, absolute path or URL
    offset       int64    byte offset of the image in `source`
    length       int64    byte length of the image; -1 = the whole file
    group        str      candidates of one prompt (best-of-N); "" when absent
    task, category, style, source_key   str   metadata carried through; "" when absent
    seed         int64    generation seed; -1 when absent
    plan_error   str      why the candidate is known bad from the scan alone; "" when it is not
    group_id     int64    stable 64-bit hash of `group` (BLAKE2b); -1 when `group` is ""
    category_id, style_id   int32   codes of `category` and `style` in the vocabularies; -1 for ""

The integer columns let selection group 100M rows without decoding 100M strings.

Score columns, created with the plan (filled with their fill value) and written by work units:

    status           str          "ok" or "failed"; "" = not scored yet
    error            str          "kind: detail" when failed, "" when ok
    image_embedding  float16      N x image_dim, NaN where there is none
    text_embedding   float16      N x text_dim, NaN where there is none
    clip_cosine      float32      cosine of the two embeddings; NaN when failed
    clip_score       float32      CLIPScore; NaN when failed
    ssim_roundtrip   float32      round-trip SSIM fidelity; NaN when failed
    width, height    int32        image size in pixels; -1 when unknown
    byte_size        int64        encoded image size in bytes; -1 when unknown
    format           str          image format ("jpeg", "png", ...); "" when unknown
    content_hash     int64        64-bit BLAKE2b of the image bytes, the exact-duplicate key; 0 when unread
    <extra>          float32      one column per extra scorer named at creation; NaN when failed

Work unit i covers rows [i*S, min(N, (i+1)*S)): exactly one shard of every array, so units never
share a stored object and can be written by any number of processes at once. A unit writes all of its
score columns, then its progress marker; a unit without a marker is redone whole. Only the planning
process changes array shapes and group attributes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from itertools import islice
from typing import Any

import numpy as np
import zarr
from fsspec.core import url_to_fs

from engine.core.candidates import PlanEntry, error_kind
from engine.io.paths import absolute

SCHEMA_VERSION = 2
STATUSES = ("ok", "failed")
_MAX_CHUNK_ROWS = 4096
_MIN_CHUNK_ROWS = 256


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # a numpy dtype name, or "str" for variable-length UTF-8
    fill: Any
    doc: str
    width: str = ""  # the layout key giving the second dimension; "" for one value per row


PLAN_COLUMNS = (
    Column("key", "str", "", "stable candidate key"),
    Column("caption", "str", "", "the caption"),
    Column("source", "str", "", "tar shard or image file holding the image, absolute path or URL"),
    Column("offset", "int64", 0, "byte offset of the image in source"),
    Column("length", "int64", -1, "byte length of the image; -1 = the whole file"),
    Column("group", "str", "", "candidates of one prompt (best-of-N)"),
    Column("task", "str", "", "task, carried from the input"),
    Column("category", "str", "", "prompt category, carried from the input"),
    Column("style", "str", "", "style, carried from the input"),
    Column("source_key", "str", "", "the candidate's id in the dataset it came from"),
    Column("seed", "int64", -1, "generation seed; -1 when absent"),
    Column("plan_error", "str", "", "why the candidate is known bad from the scan; '' when it is not"),
    Column("group_id", "int64", -1, "stable 64-bit hash (BLAKE2b) of group; -1 when group is ''"),
    Column("category_id", "int32", -1, "code of category in the vocabulary attribute; -1 for ''"),
    Column("style_id", "int32", -1, "code of style in the vocabulary attribute; -1 for ''"),
)
# Plan columns coded into vocabularies (group attribute `vocabularies`) as <name>_id.
VOCABULARY_COLUMNS = ("category", "style")
SCORE_COLUMNS = (
    Column("status", "str", "", "'ok' or 'failed'; '' = not scored yet"),
    Column("error", "str", "", "'kind: detail' when failed, '' when ok"),
    Column("image_embedding", "float16", math.nan, "CLIP image embedding", width="image_dim"),
    Column("text_embedding", "float16", math.nan, "CLIP text embedding", width="text_dim"),
    Column("clip_cosine", "float32", math.nan, "cosine of the image and text embeddings"),
    Column("clip_score", "float32", math.nan, "CLIPScore"),
    Column("ssim_roundtrip", "float32", math.nan, "round-trip SSIM fidelity"),
    Column("width", "int32", -1, "image width in pixels; -1 when unknown"),
    Column("height", "int32", -1, "image height in pixels; -1 when unknown"),
    Column("byte_size", "int64", -1, "encoded image size in bytes; -1 when unknown"),
    Column("format", "str", "", "image format; '' when unknown"),
    Column(
        "content_hash", "int64", 0, "64-bit BLAKE2b of the image bytes (exact-duplicate key); 0 when unread"
    ),
)
# PlanEntry field -> plan column; the field `error` is stored as `plan_error`.
_PLAN_FIELDS = {f.name: "plan_error" if f.name == "error" else f.name for f in fields(PlanEntry)}


@dataclass(frozen=True)
class Unit:
    index: int
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


class ConfigMismatch(ValueError):
    """An existing run store was made with settings that change its values."""


class RunStore:
    """A run store at a local path or fsspec URL; see the module docstring for the schema."""

    def __init__(self, url: str, group: zarr.Group):
        self.url = url
        self.group = group
        found = dict(group.arrays())
        self.arrays: dict[str, zarr.Array] = {c.name: found[c.name] for c in self.columns}

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
        layout = _layout(shard_rows, chunk_rows, image_dim, text_dim, extra_columns)
        return cls._create(absolute(url), layout, config)

    @classmethod
    def _create(cls, url: str, layout: dict[str, Any], config: Mapping[str, Any]) -> RunStore:
        refuse_to_replace_other_data(url, "pixsift_schema_version", "a pixsift run store")
        group = zarr.open_group(
            url,
            mode="w",
            attributes={
                "pixsift_schema_version": SCHEMA_VERSION,
                "layout": layout,
                "config": _as_json(config),
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
        group.create_group("progress", attributes={"doc": "one group per finished work unit"})
        return cls(url, group)

    @classmethod
    def open(cls, url: str, *, read_only: bool = False) -> RunStore:
        url = absolute(url)
        group = open_versioned_group(url, read_only, "pixsift_schema_version", SCHEMA_VERSION, "run store")
        return cls(url, group)

    @classmethod
    def open_or_create(
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
        """The store to run a job in: the planned store at `url`, checked against these settings, or
        a new one when there is none or its planning was interrupted. Plan it when not `planned`."""
        url = absolute(url)
        layout = _layout(shard_rows, chunk_rows, image_dim, text_dim, extra_columns)
        # A store killed while it was created or planned is made again from scratch.
        if _exists(f"{url.rstrip('/')}/zarr.json") and zarr.open_group(url, mode="r").attrs.get(
            "plan_complete"
        ):
            store = cls.open(url)
            store.check_settings(layout, config)
            return store
        return cls._create(url, layout, config)

    def check_settings(self, layout: Mapping[str, Any], config: Mapping[str, Any]) -> None:
        """Raise `ConfigMismatch` naming every setting that differs from the store's."""
        check_settings(
            f"run store {self.url}",
            {"layout": self.layout, "config": self.config},
            {"layout": layout, "config": config},
        )

    # -- what the store holds ------------------------------------------------------------------

    @property
    def layout(self) -> dict[str, Any]:
        return self.group.attrs["layout"]

    @property
    def config(self) -> dict[str, Any]:
        return self.group.attrs["config"]

    @property
    def planned(self) -> bool:
        return bool(self.group.attrs["plan_complete"])

    @property
    def n_rows(self) -> int:
        return self.arrays["key"].shape[0]

    @property
    def shard_rows(self) -> int:
        return self.layout["shard_rows"]

    def vocabulary(self, column: str) -> list[str]:
        """The values of `column` (category or style) in code order: `<column>_id` i means the i-th."""
        return self.group.attrs["vocabularies"][column]

    @property
    def score_columns(self) -> tuple[Column, ...]:
        return _score_columns(self.layout)

    @property
    def columns(self) -> tuple[Column, ...]:
        return (*PLAN_COLUMNS, *self.score_columns)

    # -- planning ------------------------------------------------------------------------------

    def plan(self, entries: Iterable[PlanEntry]) -> int:
        """Write the plan columns, a shard at a time, then mark the plan complete; the row count."""
        if self.planned:
            raise ValueError(f"run store {self.url} is already planned")
        n_rows = 0
        codes: dict[str, dict[str, int]] = {name: {} for name in VOCABULARY_COLUMNS}
        for block in _blocks(entries, self.shard_rows):
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
        vocabularies = {name: list(code) for name, code in codes.items()}
        self.group.update_attributes({"plan_complete": True, "n_rows": n_rows, "vocabularies": vocabularies})
        return n_rows

    def units(self) -> list[Unit]:
        return units_of(self.n_rows, self.shard_rows)

    def read_plan(self, unit: Unit) -> list[PlanEntry]:
        columns = {f: self.arrays[c][unit.start : unit.stop].tolist() for f, c in _PLAN_FIELDS.items()}
        return [
            PlanEntry(**dict(zip(columns, row, strict=True))) for row in zip(*columns.values(), strict=True)
        ]

    # -- scoring -------------------------------------------------------------------------------

    def write_unit(self, unit: Unit, columns: Mapping[str, np.ndarray]) -> None:
        """Write every score column for all rows of `unit`, then its progress marker."""
        checked = self._checked_unit_columns(unit, columns)
        for name, values in checked.items():
            self.arrays[name][unit.start : unit.stop] = values
        status = Counter(checked["status"].tolist())
        errors = Counter(error_kind(e) for e in checked["error"].tolist() if e)
        mark_done(
            self.group,
            unit,
            {"status": dict(status), "errors": dict(errors)},
        )

    def done_units(self) -> set[int]:
        return done_units(self.url)

    def unit_reports(self) -> dict[int, dict[str, Any]]:
        """The attributes of each finished unit's marker: start, stop, status and errors counts."""
        return unit_reports(self.url, self.group)

    def _checked_unit_columns(self, unit: Unit, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [c.name for c in self.score_columns]
        return checked_unit_columns(unit, self.arrays, names, columns, STATUSES, "score columns")


def open_versioned_group(url: str, read_only: bool, attribute: str, version: int, what: str) -> zarr.Group:
    """The Zarr group at `url` when its `attribute` is `version`; an error naming `what` otherwise."""
    try:
        group = zarr.open_group(url, mode="r" if read_only else "r+")
    except FileNotFoundError as e:
        raise FileNotFoundError(f"no {what} at {url}") from e
    found = group.attrs.get(attribute)
    if found != version:
        raise ValueError(f"{url} is not a pixsift {what} of version {version} (found {found!r})")
    return group


def checked_unit_columns(
    unit: Unit,
    arrays: Mapping[str, zarr.Array],
    names: Iterable[str],
    columns: Mapping[str, np.ndarray],
    statuses: Iterable,
    what: str,
) -> dict[str, np.ndarray]:
    """`columns` as `unit`'s values of the arrays `names` (`what` they are, for errors): each one present,
    of the unit's shape, cast to its array's dtype, and a "status" column holding only `statuses`."""
    names, statuses = list(names), list(statuses)
    if missing := set(names) - columns.keys():
        raise ValueError(f"unit {unit.index}: {what} missing: {', '.join(sorted(missing))}")
    if unexpected := columns.keys() - set(names):
        raise ValueError(f"unit {unit.index}: not {what} of this store: {', '.join(sorted(unexpected))}")
    checked = {}
    for name in names:
        array = arrays[name]
        values = np.asarray(columns[name]).astype(array.dtype, copy=False)
        expected = (unit.rows, *array.shape[1:])
        if values.shape != expected:
            raise ValueError(f"unit {unit.index}: {name} has shape {values.shape}, expected {expected}")
        checked[name] = values
    if bad := set(checked["status"].tolist()) - set(statuses):
        raise ValueError(f"unit {unit.index}: status must be one of {statuses}, got {sorted(bad)}")
    return checked


def check_settings(what: str, stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    """Raise `ConfigMismatch` naming every setting in `wanted` that differs from `stored` (nested mappings
    compared key by key, as they read back from the attributes); `what` names the store."""
    ours = _flatten(_as_json(stored))
    theirs = _flatten(_as_json(wanted))
    ours, theirs = defaultdict(lambda: "<absent>", ours), defaultdict(lambda: "<absent>", theirs)
    differing = sorted(k for k in ours.keys() | theirs.keys() if ours[k] != theirs[k])
    if differing:
        lines = [f"  {k}: {ours[k]!r} before, {theirs[k]!r} now" for k in differing]
        raise ConfigMismatch(
            f"{what} was made with different settings:\n"
            + "\n".join(lines)
            + "\nuse another path, or delete this one to start over"
        )


def mark_done(group: zarr.Group, unit: Unit, attributes: Mapping[str, Any]) -> None:
    """Write `unit`'s progress marker (after all of its arrays): `progress/unit-NNNNNN` in `group`."""
    group["progress"].create_group(
        _marker_name(unit.index),
        overwrite=True,
        attributes={"start": unit.start, "stop": unit.stop, **attributes},
    )


def done_units(url: str) -> set[int]:
    """The units of the store at `url` whose progress marker is written."""
    fs, root = url_to_fs(url)
    # A marker is complete once its zarr.json exists (written whole); its folder alone is not enough.
    markers = fs.glob(f"{root.rstrip('/')}/progress/unit-*/zarr.json")
    return {int(m.rsplit("/", 2)[-2].removeprefix("unit-")) for m in markers}


def unit_reports(url: str, group: zarr.Group) -> dict[int, dict[str, Any]]:
    """The attributes of each progress marker of the store `group` at `url`, by unit."""
    progress = group["progress"]
    return {i: dict(progress[_marker_name(i)].attrs) for i in sorted(done_units(url))}


def units_of(n_rows: int, unit_rows: int) -> list[Unit]:
    """The work units of `n_rows` rows in blocks of `unit_rows`."""
    return [
        Unit(i, start, min(n_rows, start + unit_rows)) for i, start in enumerate(range(0, n_rows, unit_rows))
    ]


def group_hash(group: str) -> int:
    """The group's stable id: its 64-bit BLAKE2b digest as a signed int64, or -1 for no group ("")."""
    if not group:
        return -1
    return int.from_bytes(hashlib.blake2b(group.encode(), digest_size=8).digest(), "little", signed=True)


def _layout(shard_rows, chunk_rows, image_dim, text_dim, extra_columns) -> dict[str, Any]:
    chunk_rows = chunk_rows or _default_chunk_rows(shard_rows)
    if shard_rows < 1 or chunk_rows < 1 or shard_rows % chunk_rows:
        raise ValueError(
            f"shard_rows ({shard_rows}) must be a positive multiple of chunk_rows ({chunk_rows})"
        )
    extra_columns = list(extra_columns)
    taken = {c.name for c in (*PLAN_COLUMNS, *SCORE_COLUMNS)} | {"progress"}
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
    extras = (Column(name, "float32", math.nan, "extra scorer") for name in layout["extra_columns"])
    return (*SCORE_COLUMNS, *extras)


def _marker_name(index: int) -> str:
    return f"unit-{index:06d}"


def _blocks(entries: Iterable[PlanEntry], size: int) -> Iterator[list[PlanEntry]]:
    iterator = iter(entries)
    while block := list(islice(iterator, size)):
        yield block


def _exists(url: str) -> bool:
    fs, path = url_to_fs(url)
    return fs.exists(path)


def refuse_to_replace_other_data(url: str, version_attribute: str, what: str) -> None:
    """Raise FileExistsError unless `url` is absent, an empty folder, or a group with `version_attribute`
    (a store of the kind `what` names, which may be replaced)."""
    fs, path = url_to_fs(url)
    if not fs.exists(path) or (fs.isdir(path) and not fs.ls(path)):
        return
    try:
        zarr.open_group(url, mode="r").attrs[version_attribute]
    except (FileNotFoundError, KeyError, ValueError, TypeError) as e:
        raise FileExistsError(f"{url} exists and is not {what}; refusing to replace it") from e


def _as_json(value: Any) -> Any:
    """`value` as it reads back from the attributes (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, sort_keys=True))


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
