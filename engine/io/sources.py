"""Candidate sources: scanning inputs into plan entries, and reading the entries' image bytes.

Inputs, in any mix: WebDataset tar shards (engine.io.tar_scan), folders of images with a captions file
and manifests (engine.io.manifest_scan, Hugging Face Parquet with embedded images included), and folders
of shards or Parquet tables without a captions file; local paths or fsspec URLs, with brace patterns and
globs (engine.io.paths). A missing input, or one of no known kind, stops the scan with an error naming
it; a bad candidate inside an input never does: it gets an entry with its error.
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from fsspec.core import url_to_fs

from pixsift.engine.core.candidates import WHOLE_FILE, Candidate, PlanEntry, error_kind, failure
from pixsift.engine.core.errors import BadInput
from pixsift.engine.io.manifest_scan import CAPTION_FILES, caption_file_of, scan_manifest
from pixsift.engine.io.parquet_images import EMBEDDED, EmbeddedReader
from pixsift.engine.io.paths import expand_inputs, input_root, inside, is_local, open_binary
from pixsift.engine.io.rows import is_table
from pixsift.engine.io.tar_scan import scan_tar, shard_name

MAX_BYTES = 1 << 28  # 256 MiB: larger than any image of a pool; a larger file is not read


def scan(
    inputs: list[str], allow_outside: bool = False, columns: Mapping[str, str] | None = None
) -> Iterator[PlanEntry]:
    """Every candidate of the inputs: inputs in the given order after expansion, members in file order."""
    return scan_paths(expand_inputs(inputs), allow_outside, columns)


def scan_paths(
    paths: list[str], allow_outside: bool = False, columns: Mapping[str, str] | None = None
) -> Iterator[PlanEntry]:
    """Every candidate of the expanded input `paths`, in order; manifests may name images outside their
    folder only when `allow_outside`, and `columns` names their image and caption columns
    (engine.io.manifest_scan)."""
    shards: dict[str, str] = {}
    for path, outside in _files_of(paths, allow_outside):
        if outside:
            yield PlanEntry(path, "", path, 0, 0, error=failure("outside_input", outside))
        elif path.endswith(".tar"):
            if (other := shards.setdefault(shard_name(path), path)) != path:
                raise BadInput(
                    f"inputs {other} and {path}", "they share the shard name that prefixes their keys"
                )
            yield from scan_tar(path)
        elif is_table(path):
            yield from scan_manifest(path, allow_outside, columns)
        elif _is_folder(path):
            yield from scan_manifest(caption_file_of(path), allow_outside, columns)
        else:
            raise BadInput(path, "not a .tar shard, a folder or a .jsonl/.parquet/.csv/.arrow manifest")


def within_failure_limit(entries: Iterable[PlanEntry], max_fraction: float, what: str) -> Iterator[PlanEntry]:
    """`entries`; after the last, BadInput (naming `what`) when more than `max_fraction` of them failed the
    scan: a wrong column or folder is one line before any scoring, not a store of failed rows."""
    total, failed, first = 0, Counter(), ""
    for entry in entries:
        total += 1
        if entry.error:
            failed[error_kind(entry.error)] += 1
            first = first or entry.error
        yield entry
    n_failed = sum(failed.values())
    if total and n_failed / total > max_fraction:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in failed.most_common(3))
        raise BadInput(
            what,
            f"{n_failed:,} of {total:,} candidates ({n_failed / total:.0%}) cannot be read ({kinds}; first: "
            f"{first})",
            f"fix the inputs, or raise --max-scan-failures (now {max_fraction:g}) to score them anyway",
        )


def _files_of(paths: list[str], allow_outside: bool) -> Iterator[tuple[str, str]]:
    """(file, why it is refused or "") for each input path and each file of an input folder. A file that
    a folder's metadata names (`state.json`, `dataset_dict.json` splits), or a link in it (its captions
    file included), must lie inside that folder (links followed), as manifest rows must, unless
    `allow_outside`."""
    for given in paths:
        files = _folder_of_shards(given)
        named = files or ([caption_file_of(given)] if _is_folder(given) else [])
        roots = [input_root(given)]
        outside = [p for p in named if is_local(p) and not allow_outside and not inside(p, roots)]
        for path in files or [given]:
            if path in outside or (not files and outside):
                refused = path if files else outside[0]
                yield refused, f"{refused}: named by the input folder {given}, but lies outside it"
            else:
                yield path, ""


def _is_folder(path: str) -> bool:
    fs, fs_path = url_to_fs(path)
    return fs.isdir(fs_path)


def _folder_of_shards(path: str) -> list[str]:
    """The files of a folder that holds no captions file: a `datasets.save_to_disk` folder's Arrow files
    in its order (a DatasetDict's splits in theirs), else its .tar shards and .parquet and .arrow tables
    (a Hugging Face dataset's files) in name order; [] for anything else."""
    if path.endswith(".tar") or is_table(path) or not _is_folder(path):
        return []
    fs, fs_path = url_to_fs(path)
    names = {posixpath.basename(p) for p in fs.ls(fs_path, detail=False)}
    if any(name in names for name in CAPTION_FILES):
        return []
    if "dataset_dict.json" in names:
        splits = _json_key(path, "dataset_dict.json", "splits")
        return [file for split in splits for file in _folder_of_shards(posixpath.join(path, str(split)))]
    if "state.json" in names and "dataset_info.json" in names:
        files = _json_key(path, "state.json", "_data_files")
        return [posixpath.join(path, str(f.get("filename"))) for f in files if isinstance(f, dict)]
    return [posixpath.join(path, n) for n in sorted(names) if n.endswith((".tar", ".parquet", ".arrow"))]


def _json_key(folder: str, name: str, key: str) -> list:
    """The list under `key` in the JSON file `name` of a `datasets.save_to_disk` folder."""
    where = posixpath.join(folder, name)
    try:
        with open_binary(where) as f:
            value = json.loads(f.read())[key]
    except (ValueError, KeyError, TypeError, OSError):
        raise BadInput(where, f"not a datasets file with a {key!r} list") from None
    if not isinstance(value, list):
        raise BadInput(where, f"not a datasets file with a {key!r} list")
    return value


def read_candidates(entries: Iterable[PlanEntry], max_bytes: int = MAX_BYTES) -> Iterator[Candidate]:
    """Each entry with its bytes, in the given order; a failed read gives the candidate a `read` error, and
    an image of more than `max_bytes` is not read (`too_large`).

    A source is opened once for a run of consecutive entries in it, so a plan's order (tar members
    in offset order) reads each shard front to back.
    """
    reader, embedded = _RangeReader(), EmbeddedReader()
    try:
        for entry in entries:
            if entry.error:
                yield Candidate.of(entry)
                continue
            if entry.length == EMBEDDED:
                yield _embedded(entry, embedded, max_bytes)
                continue
            try:
                size = reader.size(entry.source, entry.offset, entry.length)
                if size > max_bytes:
                    too_large = f"{entry.source}: {size:,} bytes, more than max_bytes {max_bytes:,}"
                    yield Candidate.of(entry, error=failure("too_large", too_large))
                    continue
                data = reader.read(entry.source, entry.offset, entry.length)
            except Exception as e:  # noqa: BLE001 -- any failure reading one candidate is that candidate's error
                yield Candidate.of(entry, error=failure("read", f"{entry.source}: {type(e).__name__}: {e}"))
                continue
            if entry.length != WHOLE_FILE and len(data) != entry.length:
                short = f"{entry.source}: {len(data)} of {entry.length} bytes at offset {entry.offset}"
                yield Candidate.of(entry, error=failure("short_read", short))
                continue
            yield Candidate.of(entry, data)
    finally:
        reader.close()
        embedded.close()


def _embedded(entry: PlanEntry, reader: EmbeddedReader, max_bytes: int) -> Candidate:
    """The candidate of an image embedded in a Parquet row (engine.io.parquet_images)."""
    where = f"{entry.source} row {entry.offset + 1}"
    try:
        data = reader.read(entry.source, entry.offset)
    except Exception as e:  # noqa: BLE001 -- any failure reading one candidate is that candidate's error
        return Candidate.of(entry, error=failure("read", f"{where}: {type(e).__name__}: {e}"))
    if data is None:
        return Candidate.of(entry, error=failure("missing_file", f"{where}: the image has no embedded bytes"))
    if len(data) > max_bytes:
        too_large = f"{where}: {len(data):,} bytes, more than max_bytes {max_bytes:,}"
        return Candidate.of(entry, error=failure("too_large", too_large))
    return Candidate.of(entry, data)


class _RangeReader:
    """Range reads that keep the last source open (or its failure to open, so it is tried once)."""

    def __init__(self) -> None:
        self._source: str | None = None
        self._file = None
        self._open_error: Exception | None = None

    def size(self, source: str, offset: int, length: int) -> int:
        """The bytes a read would return: `length`, or the rest of the file."""
        if length != WHOLE_FILE:
            return length
        self._open(source)
        return self._file.size - offset

    def read(self, source: str, offset: int, length: int) -> bytes:
        self._open(source)
        self._file.seek(offset)
        return self._file.read(length)

    def _open(self, source: str) -> None:
        if source != self._source:
            self.close()
            self._source = source
            try:
                self._file = open_binary(source)
            except Exception as e:  # noqa: BLE001 -- kept, and raised for each entry of this source
                self._open_error = e
        if self._open_error is not None:
            raise self._open_error

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._source, self._file, self._open_error = None, None, None
