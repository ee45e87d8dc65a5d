"""Plan entries of a manifest: a Parquet, JSONL or CSV table of image paths with captions.

Columns: `image` (a path relative to the manifest's folder, an absolute path or an fsspec URL such as
s3://; or an embedded image, engine.io.parquet_images), `caption` (or `text`, `prompt`), optionally `key`
and the metadata columns of engine.io.records, matched in any case; every other column goes to `meta`.
`columns` names the file's own columns for `image` and `caption` (--image-col, --caption-col). A
Parquet or CSV manifest without an image or a caption column is refused before anything is planned, and
so is one whose images are web addresses (http, https): downloading is `pixsift download`'s job.

The key is the `key` column when present, else the `image` value as written; a key that rows share
gets `#<n>` appended from its second row on, and a `duplicate_key` error. A row whose image is a local
file outside the manifest's folder gets an `outside_input` error (unless the run allows it), one that
does not exist a `missing_file` error; remote images are checked when read.
A row that cannot be parsed still gets an entry (`bad_row`), keyed `<manifest name>#<row>`; rows
are numbered from 1 (JSONL: the line number).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator, Mapping

import numpy as np

from pixsift.engine.core.candidates import META_FIELDS, WHOLE_FILE, PlanEntry, content_hash, failure
from pixsift.engine.core.errors import BadInput
from pixsift.engine.io.parquet_images import EMBEDDED, embedded_source, rows_with_bytes
from pixsift.engine.io.paths import input_root, inside, is_local
from pixsift.engine.io.records import CAPTION_FIELDS, caption_of, make_entry
from pixsift.engine.io.rows import embedded_image_column, read_rows

_COLUMNS = ("key", "image", *CAPTION_FIELDS, *META_FIELDS)
HINT = (
    "name the columns to read with --image-col and --caption-col (a table of image URLs is downloaded "
    "first: pixsift download)"
)
_WEB = ("http://", "https://")


def scan_manifest(
    path: str, allow_outside: bool = False, columns: Mapping[str, str] | None = None
) -> Iterator[PlanEntry]:
    """The entries of the manifest at `path`. A local image that lies outside the manifest's folder (by
    an absolute path, `..`, or a link) is refused (`outside_input`) unless `allow_outside`."""
    name = table_name(path)
    folder = posixpath.dirname(path)
    roots = [input_root(path)]
    repeated = _repeated_keys(path, columns)
    seen: dict[int, int] = {}
    required = ("image", CAPTION_FIELDS)
    embedded = embedded_image_column(path, "image", _COLUMNS, columns)
    has_bytes = rows_with_bytes(path, embedded) if embedded is not None else None
    for found in read_rows(path, columns=_COLUMNS, required=required, named=columns, hint=HINT, others=True):
        row, record, error = found.number, found.record, found.error
        where = f"{path} row {row}"
        image = record.get("image")
        key = _key_of(record, name, row)
        if has_bytes is not None and has_bytes[row - 1]:  # the bytes are in the row; checked when read
            key, error = _unique(key, repeated, seen, where, error)
            source = embedded_source(path, embedded)
            yield make_entry(key, caption_of(record), source, row - 1, EMBEDDED, record, where, error)
            continue
        if isinstance(image, dict):  # an embedded image's struct with only a path: an image file
            image = image.get("path")
        if image in (None, ""):
            error = error or failure("bad_row", f"{where} has no image path")
            yield make_entry(key, caption_of(record), path, 0, 0, record, where, error)
            continue
        image = str(image)
        if image.lower().startswith(_WEB):
            raise BadInput(
                where,
                f"the image {image[:200]} is a web address, and pixsift scores images it can read",
                f"download the table's images with `pixsift download --input {path} --to DIR`, then score "
                "DIR",
            )
        source = image if "://" in image or posixpath.isabs(image) else posixpath.join(folder, image)
        if is_local(source):
            source = os.path.normpath(source)
        if not error and is_local(source) and not allow_outside and not inside(source, roots):
            error = failure("outside_input", f"{where}: image {source} is outside the manifest's folder")
        if not error and is_local(source) and not os.path.isfile(source):
            error = failure("missing_file", f"{where}: image {source} does not exist")
        key, error = _unique(key, repeated, seen, where, error)
        yield make_entry(key, caption_of(record), source, 0, WHOLE_FILE, record, where, error)


def table_name(path: str) -> str:
    """The manifest's name in keys of rows without one: its file name, and for an Arrow file its folder's
    too (`datasets.save_to_disk` names every split's files alike)."""
    name = posixpath.basename(path)
    if name.endswith(".arrow"):
        return posixpath.join(posixpath.basename(posixpath.dirname(path)), name)
    return name


def _key_of(record: dict, name: str, row: int) -> str:
    """The `key` column, else the image as written (an embedded image's path), else `<manifest>#<row>`."""
    key, image = record.get("key"), record.get("image")
    if isinstance(image, dict):
        image = image.get("path")
    for value in (key, image):
        if value not in (None, ""):
            return str(value)
    return f"{name}#{row}"


def _unique(key: str, repeated: set[int], seen: dict[int, int], where: str, error: str) -> tuple[str, str]:
    """A key that rows share gets `#<n>` from its second row on, and a duplicate_key error."""
    if (digest := _key_hash(key)) in repeated:
        seen[digest] = seen.get(digest, 0) + 1
        if seen[digest] > 1:
            return f"{key}#{seen[digest]}", error or failure(
                "duplicate_key", f"{where}: key {key!r} appears again"
            )
    return key, error


def _repeated_keys(path: str, columns: Mapping[str, str] | None) -> set[int]:
    """The hashes of the keys that more than one row of the manifest has (a first pass, 8 bytes a row)."""
    name = table_name(path)
    rows = read_rows(path, columns=("key", "image"), required=("image",), named=columns, hint=HINT)
    hashes = [_key_hash(_key_of(found.record, name, found.number)) for found in rows]
    values, counts = np.unique(np.array(hashes, dtype=np.int64), return_counts=True)
    return set(values[counts > 1].tolist())


def _key_hash(key: str) -> int:
    return content_hash(key.encode("utf-8", "replace"))
