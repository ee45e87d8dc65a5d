"""Candidate sources: scanning inputs into plan entries, and reading the entries' image bytes.

Inputs, in any mix: WebDataset tar shards (engine.io.tar_scan), tables of images with captions
(engine.io.manifest_scan: manifests, folders of images with a captions file, Hugging Face imagefolders
and Parquet with embedded images), img2dataset output folders (their failed URLs too), and folders of
shards or tables (engine.io.input_files); local paths or fsspec URLs, with brace patterns and globs
(engine.io.paths). A missing input, or one of no known kind, stops the scan with an error naming it; a
bad candidate inside an input never does: it gets an entry with its error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from pixsift.engine.core.candidates import WHOLE_FILE, Candidate, PlanEntry, error_kind, failure
from pixsift.engine.core.errors import BadInput
from pixsift.engine.io.input_files import InputFile, input_files
from pixsift.engine.io.manifest_scan import scan_manifest
from pixsift.engine.io.parquet_images import EMBEDDED, EmbeddedReader
from pixsift.engine.io.paths import expand_inputs, open_binary
from pixsift.engine.io.tar_scan import scan_tar, shard_name
from pixsift.engine.io.url_status import scan_failed_urls

MAX_BYTES = 1 << 28  # 256 MiB: larger than any image of a pool; a larger file is not read
# Failed downloads are known rows of the inputs, not a sign of a wrong input: the failure limit skips them.
_NOT_SCAN_FAILURES = frozenset({"download"})


def scan(
    inputs: list[str], allow_outside: bool = False, columns: Mapping[str, str] | None = None
) -> Iterator[PlanEntry]:
    """Every candidate of the inputs: inputs in the given order after expansion, members in file order."""
    return scan_files(input_files(expand_inputs(inputs), allow_outside), allow_outside, columns)


def scan_files(
    files: Iterable[InputFile], allow_outside: bool = False, columns: Mapping[str, str] | None = None
) -> Iterator[PlanEntry]:
    """Every candidate of the input `files` (engine.io.input_files), in order; manifests may name images
    outside their folder only when `allow_outside`, and `columns` names their image and caption columns
    (engine.io.manifest_scan)."""
    shards: dict[str, str] = {}
    for file in files:
        yield from scan_file(file, shards, allow_outside, columns)


def scan_file(
    file: InputFile,
    shards: dict[str, str],
    allow_outside: bool = False,
    columns: Mapping[str, str] | None = None,
) -> Iterator[PlanEntry]:
    """The candidates of one input file; `shards` maps the shard names seen so far to their paths (two
    shards of one name would give their samples the same keys)."""
    path = file.path
    if file.refused:
        yield PlanEntry(path, "", path, 0, 0, error=failure("outside_input", file.refused))
    elif path.endswith(".tar"):
        if (other := shards.setdefault(shard_name(path), path)) != path:
            raise BadInput(f"inputs {other} and {path}", "they share the shard name that prefixes their keys")
        yield from scan_tar(path)
        if file.status_table:
            yield from scan_failed_urls(file.status_table, shard_name(path))
    else:
        if file.image_column and "image" not in (columns or {}):
            columns = {**(columns or {}), "image": file.image_column}
        yield from scan_manifest(path, allow_outside, columns)


def within_failure_limit(entries: Iterable[PlanEntry], max_fraction: float, what: str) -> Iterator[PlanEntry]:
    """`entries`; after the last, BadInput (naming `what`) when more than `max_fraction` of them failed the
    scan: a wrong column or folder is one line before any scoring, not a store of failed rows. Failed
    downloads (img2dataset's status) are not scan failures."""
    total, failed, first = 0, Counter(), ""
    for entry in entries:
        yield entry
        if error_kind(entry.error) in _NOT_SCAN_FAILURES:
            continue
        total += 1
        if entry.error:
            failed[error_kind(entry.error)] += 1
            first = first or entry.error
    n_failed = sum(failed.values())
    if total and n_failed / total > max_fraction:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in failed.most_common(3))
        raise BadInput(
            what,
            f"{n_failed:,} of {total:,} candidates ({n_failed / total:.0%}) cannot be read ({kinds}; first: "
            f"{first})",
            f"fix the inputs, or raise --max-scan-failures (now {max_fraction:g}) to score them anyway",
        )


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
