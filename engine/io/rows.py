"""One reader of tabular input files, JSONL, Parquet or CSV, a row at a time: caption pools and editing
pairs (engine.generate) and image manifests (engine.io.manifest_scan) both read through it.

Rows are numbered from 1 (JSONL: the line number; blank lines are skipped). A row that cannot be read
still comes, with an error "kind: detail" naming the file and the row:

    bad_utf8   text that is not valid UTF-8: kept with U+FFFD in place of the bad bytes
    bad_row    a JSONL line that is not JSON, or not a JSON object (its record is empty, its text kept)

A file that cannot be read as a table at all (a column that must be there is not) is an error naming it.
"""

from __future__ import annotations

import csv
import io
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from engine.core.candidates import failure
from engine.core.errors import BadInput
from engine.io.paths import open_binary
from engine.io.text import decode_utf8, parse_json

SUFFIXES = (".jsonl", ".parquet", ".csv")
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
    path: str, *, columns: Iterable[str] | None = None, required: str | None = None, text: Iterable[str] = ()
) -> Iterator[Row]:
    """The rows of the table at `path` (local or fsspec URL), with only `columns` when given (Parquet reads
    only those), refusing a file without the column `required`; `text` names Parquet columns whose bytes
    values are UTF-8 text."""
    suffix = posixpath.splitext(path)[1]
    if suffix not in SUFFIXES:
        raise BadInput(path, f"not a {', '.join(SUFFIXES)} file")
    reader = {".jsonl": _jsonl_rows, ".parquet": _parquet_rows, ".csv": _csv_rows}[suffix]
    with open_binary(path) as f:
        yield from reader(f, path, None if columns is None else list(columns), required, tuple(text))


def _jsonl_rows(f, path: str, columns, required, text) -> Iterator[Row]:
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
        yield Row(number, _only(record, columns), error)


def _parquet_rows(f, path: str, columns, required, text) -> Iterator[Row]:
    parquet = pq.ParquetFile(f)
    names = parquet.schema_arrow.names
    _require(required, names, path)
    wanted = None if columns is None else [c for c in columns if c in names]
    number = 0
    for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH, columns=wanted):
        for record in batch.to_pylist():
            number += 1
            errors = []
            for name in text:
                if isinstance(value := record.get(name), bytes):
                    record[name], error = decode_utf8(value, f"{path} row {number} {name}")
                    errors.append(error)
            yield Row(number, record, next((e for e in errors if e), ""))


def _csv_rows(f, path: str, columns, required, text) -> Iterator[Row]:
    # utf-8-sig: Excel starts its CSV files with a byte-order mark, which would rename the first column.
    reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8-sig", errors="surrogateescape", newline=""))
    _require(required, reader.fieldnames or [], path)
    for number, record in enumerate(reader, 1):
        fields = {k: v for k, v in record.items() if isinstance(k, str) and isinstance(v, str) and v}
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


def _require(column: str | None, names: list[str], path: str) -> None:
    if column is not None and column not in names:
        raise BadInput(f"table {path}", f"has no {column!r} column (columns: {', '.join(names)})")
