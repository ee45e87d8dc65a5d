"""Images embedded in tables, as Hugging Face `datasets` writes its `Image` feature: a struct column
{bytes, path} per row, in Parquet files (the Hub's layout) or Arrow IPC streams (`save_to_disk`).

A manifest whose image column is such a struct plans each row that has bytes as an embedded image:
source "<table>#<column>", offset the row's index in the file, length EMBEDDED. The scan reads only the
structs' paths (engine.io.rows) and which rows have bytes (`rows_with_bytes`); the bytes are read when a
candidate is read: a Parquet row group at a time, or from the memory-mapped Arrow file. A row with only
a path (`datasets` writes those for images cast from files, as `to_parquet` keeps them) names an image
file, as a manifest's path does.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pixsift.engine.io.paths import is_local, open_binary

EMBEDDED = -2  # a PlanEntry length: the bytes are inside a Parquet row, not a byte range of a file


def is_image_struct(kind: pa.DataType) -> bool:
    """Whether a Parquet column holds images as {bytes, path} structs."""
    if not pa.types.is_struct(kind) or kind.get_field_index("bytes") < 0:
        return False
    return pa.types.is_binary(kind.field("bytes").type) or pa.types.is_large_binary(kind.field("bytes").type)


def embedded_source(table: str, column: str) -> str:
    return f"{table}#{column}"


def embedded_parts(source: str) -> tuple[str, str]:
    """(table, column) of an `embedded_source`: split at the first `#` after the table's .parquet or
    .arrow, so that a `#` in the column name (or in a folder name before it) stays where it is."""
    match = _EMBEDDED_SOURCE.match(source)
    if match is None:
        raise ValueError(f"{source}: not a table#column source")
    return match[1], match[2]


_EMBEDDED_SOURCE = re.compile(r"(.*?\.(?:parquet|arrow))#(.*)", re.DOTALL)


def open_arrow(f) -> pa.RecordBatchReader | pa.ipc.RecordBatchFileReader:
    """A reader of an Arrow IPC file object: of the stream format `datasets` writes, or the file format."""
    try:
        return pa.ipc.open_stream(f)
    except pa.ArrowInvalid:
        f.seek(0)
        return pa.ipc.open_file(f)


def arrow_batches(reader: pa.RecordBatchReader | pa.ipc.RecordBatchFileReader) -> Iterator[pa.RecordBatch]:
    if isinstance(reader, pa.ipc.RecordBatchFileReader):
        return (reader.get_batch(i) for i in range(reader.num_record_batches))
    return iter(reader)


def rows_with_bytes(table: str, column: str) -> np.ndarray:
    """Which rows of the table's image struct `column` hold bytes: for Parquet from each row group's
    statistics where they settle it (no image is read), else from the column's null bitmap."""
    if table.endswith(".arrow"):
        chunks = _arrow_table(table).column(column).chunks
        return np.concatenate([chunk.field("bytes").is_valid().to_numpy(zero_copy_only=False)
                               for chunk in chunks] or [np.zeros(0, bool)])  # fmt: skip
    with pq.ParquetFile(open_binary(table)) as parquet:
        meta = parquet.metadata
        path = f"{column}.bytes"
        index = next(i for i in range(meta.num_columns) if meta.schema.column(i).path == path)
        parts = []
        for group in range(meta.num_row_groups):
            rows, stats = meta.row_group(group).num_rows, meta.row_group(group).column(index).statistics
            if stats is not None and stats.has_null_count and stats.null_count in (0, rows):
                parts.append(np.full(rows, stats.null_count == 0))
            else:
                read = parquet.read_row_group(group, columns=[path]).column(column)
                parts.append(read.combine_chunks().field("bytes").is_valid().to_numpy(zero_copy_only=False))
    return np.concatenate(parts or [np.zeros(0, bool)])


def _arrow_table(path: str) -> pa.Table:
    """A whole Arrow IPC file as a table: memory-mapped when local (nothing is read until used)."""
    if is_local(path):
        source = pa.memory_map(path)
    else:
        with open_binary(path) as f:
            source = pa.BufferReader(f.read())
    return open_arrow(source).read_all()


class EmbeddedReader:
    """The embedded bytes of one row at a time, keeping the last table open: of a Parquet file, the last
    row group's column in memory; of an Arrow file, its memory map."""

    def __init__(self) -> None:
        self._source: str | None = None
        self._file: pq.ParquetFile | None = None
        self._chunks: list[pa.Array] | None = None  # an Arrow file's image bytes, chunk by chunk
        self._starts: list[int] = []  # the first row of each row group or chunk, then the row count
        self._group: tuple[int, pa.Array] | None = None

    def read(self, source: str, row: int) -> bytes | None:
        """Row `row`'s image bytes (None when the row has none: only a path)."""
        if source != self._source:
            self._open(source)
        if not 0 <= row < self._starts[-1]:
            raise IndexError(f"row {row + 1} is past the table's {self._starts[-1]:,} rows")
        part = bisect.bisect_right(self._starts, row) - 1
        if self._chunks is not None:
            return self._chunks[part][row - self._starts[part]].as_py()
        if self._group is None or self._group[0] != part:
            column = self._file.read_row_group(part, columns=[f"{self._column}.bytes"]).column(self._column)
            self._group = (part, column.combine_chunks().field("bytes"))
        return self._group[1][row - self._starts[part]].as_py()

    def _open(self, source: str) -> None:
        self.close()
        table, self._column = embedded_parts(source)
        if table.endswith(".arrow"):
            self._chunks = [chunk.field("bytes") for chunk in _arrow_table(table).column(self._column).chunks]
            sizes = [len(chunk) for chunk in self._chunks]
        else:
            self._file = pq.ParquetFile(open_binary(table))
            sizes = [
                self._file.metadata.row_group(i).num_rows for i in range(self._file.metadata.num_row_groups)
            ]
        self._starts = [0, *itertools.accumulate(sizes)]
        self._source = source

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._source, self._file, self._chunks, self._group = None, None, None, None
