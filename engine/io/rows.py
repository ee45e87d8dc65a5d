"""One reader of tabular input files, JSONL, Parquet, CSV or Arrow IPC (`datasets.save_to_disk`), a row at
a time: caption pools and editing pairs (engine.generate) and image manifests (engine.io.manifest_scan)
both read through it.

Rows are numbered from 1 (JSONL: the line number; blank lines are skipped). A row that cannot be read
still comes, with an error "kind: detail" naming the file and the row:

    bad_utf8   text that is not valid UTF-8: kept with U+FFFD in place of the bad bytes
    bad_row    a JSONL line that is not JSON, or not a JSON object (its record is empty, its text kept)

Columns are matched by name ignoring case (`Caption`, `TEXT`) when the file has none of the exact name;
`named` maps a name the caller reads to the file's own column (`--caption-col description`). A file
that cannot be read as a table at all (a column that must be there is not) is an error naming it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import posixpath
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pixsift.engine.core.candidates import failure
from pixsift.engine.core.errors import BadInput
from pixsift.engine.io.parquet_images import arrow_batches, is_image_struct, open_arrow
from pixsift.engine.io.paths import open_binary
from pixsift.engine.io.text import decode_utf8, parse_json

SUFFIXES = (".jsonl", ".parquet", ".csv", ".arrow")
_PARQUET_BATCH = 4096


@dataclass(frozen=True)
class Row:
    number: int
    record: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # the first problem reading it; "" when there is none
    text: str = ""  # a JSONL line that did not parse, as text


def is_table(path: str) -> bool:
    return path.endswith(SUFFIXES)


def read_rows(
    path: str,
    *,
    columns: Iterable[str] | None = None,
    required: str | Iterable[str | tuple[str, ...]] = (),
    text: Iterable[str] = (),
    named: Mapping[str, str] | None = None,
    hint: str = "",
    others: bool = False,
) -> Iterator[Row]:
    """The rows of the table at `path` (local or fsspec URL), with only `columns` when given (Parquet reads
    only those) unless `others` keeps every other column too, under its own name; refusing a file with a
    schema (Parquet, CSV) that lacks a `required` column (a tuple: one of them; `hint` says what to do);
    `text` names Parquet columns whose bytes values are UTF-8 text. Records are keyed by the names asked
    for (see the module docstring for `named`). Images embedded as {bytes, path} structs are read without
    their bytes (engine.io.parquet_images)."""
    suffix = posixpath.splitext(path)[1]
    if suffix not in SUFFIXES:
        raise BadInput(path, f"not a {', '.join(SUFFIXES)} file")
    reader = {".jsonl": _jsonl_rows, ".parquet": _parquet_rows, ".csv": _csv_rows, ".arrow": _arrow_rows}[
        suffix
    ]
    columns = None if columns is None else list(columns)
    required = (required,) if isinstance(required, str) else tuple(required)
    names = _Names(columns if columns is not None else [*text, *_flat(required)], named or {})
    with _unreadable_as_bad_input(path), open_binary(path) as f:
        yield from reader(f, path, None if others else columns, names, required, tuple(text), hint)


def column_names(path: str) -> list[str]:
    """The columns of the table at `path`: its schema's, a CSV's header, a JSONL file's first record's
    keys ([] for an empty one). A .tsv is read as CSV with tabs."""
    suffix = posixpath.splitext(path)[1]
    with _unreadable_as_bad_input(path), open_binary(path) as f:
        if suffix == ".parquet":
            return pq.ParquetFile(f).schema_arrow.names
        if suffix == ".arrow":
            return open_arrow(f).schema.names
        if suffix in (".csv", ".tsv"):
            text = io.TextIOWrapper(f, encoding="utf-8-sig", errors="replace", newline="")
            return next(csv.reader(text, delimiter="\t" if suffix == ".tsv" else ","), [])
    return next((list(row.record) for row in read_rows(path) if not row.error), [])


def embedded_image_column(
    path: str, name: str, columns: Iterable[str], named: Mapping[str, str] | None = None
) -> str | None:
    """The Parquet or Arrow column read as `name` (among `columns`, as read_rows matches them) when it
    holds images embedded as {bytes, path} structs (engine.io.parquet_images); else None."""
    suffix = posixpath.splitext(path)[1]
    if suffix not in (".parquet", ".arrow"):
        return None
    with _unreadable_as_bad_input(path), open_binary(path) as f:
        schema = pq.ParquetFile(f).schema_arrow if suffix == ".parquet" else open_arrow(f).schema
    mapping = _Names(list(columns), named or {}).mapping(schema.names)
    found = [k for k, read_as in mapping.items() if read_as == name and is_image_struct(schema.field(k).type)]
    return found[0] if found else None


@contextlib.contextmanager
def _unreadable_as_bad_input(path: str) -> Iterator[None]:
    """A Parquet or Arrow file that is not one (or is damaged) is one line naming it, not a traceback."""
    try:
        yield
    except pa.ArrowException as e:
        kind = "Arrow" if path.endswith(".arrow") else "Parquet"
        raise BadInput(path, f"not a readable {kind} file ({str(e).splitlines()[0]})") from None


class _Names:
    """The name a caller reads each of a file's columns by: the name `named` gives it; else the wanted
    name it spells in another case, unless the file also has that name as written; else its own. A
    column whose name `named` gives to another column is not read (None)."""

    def __init__(self, wanted: list[str], named: Mapping[str, str]):
        self._alias = {column: name for name, column in named.items()}
        self._folded = {name.casefold(): name for name in wanted}
        self._cache: dict[tuple[str, ...], dict[str, str | None]] = {}

    def mapping(self, keys: Iterable[str]) -> dict[str, str | None]:
        keys = tuple(keys)
        if (found := self._cache.get(keys)) is None:
            present = set(keys)
            taken = set(self._alias.values())  # a name given to a column is never read from another
            found = {}
            for key in keys:
                if key in self._alias:
                    found[key] = self._alias[key]
                    continue
                name = self._folded.get(key.casefold(), key)
                if name != key and name in present:
                    name = key
                found[key] = None if name in taken else name
            if len(self._cache) < 64:  # JSONL records mostly share a few key sets
                self._cache[keys] = found
        return found

    def check_named(self, keys: Iterable[str], path: str) -> None:
        """Refuse (BadInput, naming the flag and the value) a named column that the file does not have."""
        keys = list(keys)
        for column, name in self._alias.items():
            if column not in keys:
                raise BadInput(
                    f"--{name.replace('_', '-')}-col {column}",
                    f"table {path} has no column {column!r} (columns: {', '.join(keys)})",
                )

    def rename(self, record: dict[str, Any]) -> dict[str, Any]:
        mapping = self.mapping(record)
        return {mapping[k]: v for k, v in record.items() if mapping[k] is not None}


def _jsonl_rows(f, path: str, columns, names, required, text, hint) -> Iterator[Row]:
    checked = False
    for number, raw in enumerate(f, 1):
        if not raw.strip():
            continue
        where = f"{path} row {number}"
        line, error = decode_utf8(raw, where)
        record, json_error = parse_json(line, where)
        if json_error:
            yield Row(number, {}, json_error.replace("bad_json", "bad_row", 1), line.rstrip("\n"))
            continue
        if not isinstance(record, dict):
            yield Row(number, {}, failure("bad_row", f"{where} is not a JSON object"), line.rstrip("\n"))
            continue
        if not checked:  # JSONL has no schema: its first record stands for it
            names.check_named(record, path)
            checked = True
        yield Row(number, _only(names.rename(record), columns), error)


def _parquet_rows(f, path: str, columns, names, required, text, hint) -> Iterator[Row]:
    parquet = pq.ParquetFile(f)
    schema = parquet.schema_arrow
    names.check_named(schema.names, path)
    mapping = names.mapping(schema.names)
    _require(required, mapping, path, hint)
    wanted = [k for k, name in mapping.items() if name is not None and (columns is None or name in columns)]
    # images embedded as {bytes, path}: only their paths (engine.io.parquet_images)
    wanted = [f"{k}.path" if is_image_struct(schema.field(k).type) else k for k in wanted]
    yield from _records(parquet.iter_batches(batch_size=_PARQUET_BATCH, columns=wanted), mapping, text, path)


def _arrow_rows(f, path: str, columns, names, required, text, hint) -> Iterator[Row]:
    reader = open_arrow(f)
    names.check_named(reader.schema.names, path)
    mapping = names.mapping(reader.schema.names)
    _require(required, mapping, path, hint)
    wanted = [k for k, name in mapping.items() if name is not None and (columns is None or name in columns)]
    images = {k for k in wanted if is_image_struct(reader.schema.field(k).type)}

    def selected(batch: pa.RecordBatch) -> pa.RecordBatch:
        # As Parquet reads `image.path`: the image structs without their bytes.
        arrays = [
            pa.StructArray.from_arrays([batch.column(k).field("path")], ["path"])
            if k in images
            else batch.column(k)
            for k in wanted
        ]
        return pa.RecordBatch.from_arrays(arrays, wanted)

    yield from _records(map(selected, arrow_batches(reader)), mapping, text, path)


def _records(batches: Iterable[pa.RecordBatch], mapping, text, path: str) -> Iterator[Row]:
    """The rows of a Parquet or Arrow table's record batches, renamed; `text` columns' bytes decoded."""
    number = 0
    for batch in batches:
        for record in batch.to_pylist():
            number += 1
            record = {mapping[k]: v for k, v in record.items() if mapping[k] is not None}
            errors = []
            for name in text:
                if isinstance(value := record.get(name), bytes):
                    record[name], error = decode_utf8(value, f"{path} row {number} {name}")
                    errors.append(error)
            yield Row(number, record, next((e for e in errors if e), ""))


def _csv_rows(f, path: str, columns, names, required, text, hint) -> Iterator[Row]:
    # utf-8-sig: Excel starts its CSV files with a byte-order mark, which would rename the first column.
    reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8-sig", errors="surrogateescape", newline=""))
    names.check_named(reader.fieldnames or [], path)
    mapping = names.mapping(reader.fieldnames or [])
    _require(required, mapping, path, hint)
    for number, record in enumerate(reader, 1):
        fields = {
            mapping[k]: v
            for k, v in record.items()
            if isinstance(k, str) and isinstance(v, str) and v and mapping[k] is not None
        }
        where = f"{path} row {number}"
        errors = [error for value in fields.values() if (error := _surrogates(value, where))]
        clean = {
            k: v.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for k, v in fields.items()
        }
        yield Row(number, _only(clean, columns), errors[0] if errors else "")


def _surrogates(value: str, where: str) -> str:
    try:
        value.encode("utf-8")
        return ""
    except UnicodeEncodeError:
        return decode_utf8(value.encode("utf-8", "surrogateescape"), where)[1]


def _only(record: dict[str, Any], columns: list[str] | None) -> dict[str, Any]:
    return record if columns is None else {k: v for k, v in record.items() if k in columns}


def _flat(required: Iterable[str | tuple[str, ...]]) -> list[str]:
    return [name for need in required for name in ((need,) if isinstance(need, str) else need)]


def _require(required, mapping: dict[str, str | None], path: str, hint: str) -> None:
    present = set(mapping.values())
    for need in required:
        options = (need,) if isinstance(need, str) else need
        if not present & set(options):
            either = f" (nor {', '.join(repr(o) for o in options[1:])})" if len(options) > 1 else ""
            raise BadInput(
                f"table {path}",
                f"has no {options[0]!r} column{either}, in any case (columns: {', '.join(mapping)})",
                hint,
            )
