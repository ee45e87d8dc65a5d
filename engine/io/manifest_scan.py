"""Plan entries of a manifest: a Parquet, JSONL or CSV table of image paths with captions.

Columns: `image` (a path relative to the manifest's folder, an absolute path or a URL), `caption`
(or `text`, `prompt`), optionally `key` and the metadata columns of engine.records. A folder of
images is the same thing with its manifest inside, named captions.jsonl, .parquet or .csv.

The key is the `key` column when present, else the `image` value as written. A row whose image is
a local file that does not exist gets a `missing_file` error; remote images are checked when read.
A row that cannot be parsed still gets an entry (`bad_row`), keyed `<manifest name>#<row>`; rows
are numbered from 1 (JSONL: the line number).
"""

from __future__ import annotations

import csv
import io
import json
import os
import posixpath
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from engine.core.candidates import META_FIELDS, WHOLE_FILE, PlanEntry, failure
from engine.io.paths import is_local, open_binary
from engine.io.records import CAPTION_FIELDS, caption_of, decode_utf8, make_entry

MANIFEST_SUFFIXES = (".jsonl", ".parquet", ".csv")
_COLUMNS = ("key", "image", *CAPTION_FIELDS, *META_FIELDS)

Row = tuple[int, dict[str, Any], str]  # row number, record, error reading it


def is_manifest(path: str) -> bool:
    return path.endswith(MANIFEST_SUFFIXES)


def caption_file_of(directory: str) -> str:
    fs, fs_dir = url_to_fs(directory)
    found = [name for name in (f"captions{s}" for s in MANIFEST_SUFFIXES) if fs.isfile(f"{fs_dir}/{name}")]
    if len(found) != 1:
        problem = "has none of" if not found else "has more than one of"
        raise ValueError(f"image folder {directory} {problem} captions.jsonl, captions.parquet, captions.csv")
    return posixpath.join(directory, found[0])


def scan_manifest(path: str) -> Iterator[PlanEntry]:
    name = posixpath.basename(path)
    folder = posixpath.dirname(path)
    for row, record, error in _rows(path):
        where = f"{path} row {row}"
        image = record.get("image")
        key = record.get("key")
        if image in (None, ""):
            key = str(key) if key not in (None, "") else f"{name}#{row}"
            yield make_entry(
                key,
                caption_of(record),
                path,
                0,
                0,
                record,
                where,
                error or failure("bad_row", f"{where} has no image path"),
            )
            continue
        image = str(image)
        source = image if "://" in image or posixpath.isabs(image) else posixpath.join(folder, image)
        if is_local(source):
            source = os.path.normpath(source)
        if not error and is_local(source) and not os.path.isfile(source):
            error = failure("missing_file", f"{where}: image {source} does not exist")
        key = str(key) if key not in (None, "") else image
        yield make_entry(key, caption_of(record), source, 0, WHOLE_FILE, record, where, error)


def _rows(path: str) -> Iterator[Row]:
    readers = {".jsonl": _jsonl_rows, ".parquet": _parquet_rows, ".csv": _csv_rows}
    reader = readers[posixpath.splitext(path)[1]]
    with open_binary(path) as f:
        yield from reader(f, path)


def _jsonl_rows(f, path: str) -> Iterator[Row]:
    for row, raw in enumerate(f, 1):
        if not raw.strip():
            continue
        text, error = decode_utf8(raw, f"{path} row {row}")
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            yield row, {}, failure("bad_row", f"{path} row {row} is not JSON: {e}")
            continue
        if not isinstance(record, dict):
            yield row, {}, failure("bad_row", f"{path} row {row} is not a JSON object")
            continue
        yield row, record, error


def _parquet_rows(f, path: str) -> Iterator[Row]:
    parquet = pq.ParquetFile(f)
    names = parquet.schema_arrow.names
    _require_image_column(names, path)
    row = 0
    for batch in parquet.iter_batches(batch_size=4096, columns=[c for c in _COLUMNS if c in names]):
        for record in batch.to_pylist():
            row += 1
            yield row, record, ""


def _csv_rows(f, path: str) -> Iterator[Row]:
    reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8", errors="surrogateescape", newline=""))
    _require_image_column(reader.fieldnames or [], path)
    for row, record in enumerate(reader, 1):
        fields = {k: v for k, v in record.items() if isinstance(k, str) and isinstance(v, str) and v}
        errors = [error for value in fields.values() if (error := _surrogates(value, f"{path} row {row}"))]
        clean = {
            k: v.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for k, v in fields.items()
        }
        yield row, clean, errors[0] if errors else ""


def _surrogates(value: str, where: str) -> str:
    try:
        value.encode("utf-8")
        return ""
    except UnicodeEncodeError:
        return decode_utf8(value.encode("utf-8", "surrogateescape"), where)[1]


def _require_image_column(names: list[str], path: str) -> None:
    if "image" not in names:
        raise ValueError(f"manifest {path} has no 'image' column (columns: {', '.join(names)})")
