"""Images embedded in Parquet tables, as Hugging Face `datasets` writes its `Image` feature: a struct column
{bytes, path} per row.

A manifest whose image column is such a struct plans each row as an embedded image: source
"<table>#<column>", offset the row's index in the file, length EMBEDDED. The scan reads only the
structs' paths (engine.io.rows); the bytes are read a row group at a time when a candidate of it is read.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from engine.io.paths import open_binary

EMBEDDED = -2  # a PlanEntry length: the bytes are inside a Parquet row, not a byte range of a file


def is_image_struct(kind: pa.DataType) -> bool:
    """Whether a Parquet column holds images as {bytes, path} structs."""
    if not pa.types.is_struct(kind) or kind.get_field_index("bytes") < 0:
        return False
    return pa.types.is_binary(kind.field("bytes").type) or pa.types.is_large_binary(kind.field("bytes").type)


def embedded_source(table: str, column: str) -> str:
    return f"{table}#{column}"


class EmbeddedReader:
    """The embedded bytes of one row at a time, keeping the last row group's column in memory."""

    def __init__(self) -> None:
        self._source: str | None = None
        self._file = None
        self._starts: list[int] = []
        self._group: tuple[int, pa.Array] | None = None

    def read(self, source: str, row: int) -> bytes | None:
        """Row `row`'s image bytes (None when the row has none: only a path)."""
        if source != self._source:
            self.close()
            table, _, self._column = source.rpartition("#")
            self._file = pq.ParquetFile(open_binary(table))
            meta = self._file.metadata
            self._starts = [0]
            for i in range(meta.num_row_groups):
                self._starts.append(self._starts[-1] + meta.row_group(i).num_rows)
            self._source = source
        if not 0 <= row < self._starts[-1]:
            raise IndexError(f"row {row + 1} is past the table's {self._starts[-1]:,} rows")
        group = next(i for i in range(len(self._starts) - 1) if row < self._starts[i + 1])
        if self._group is None or self._group[0] != group:
            column = self._file.read_row_group(group, columns=[f"{self._column}.bytes"]).column(self._column)
            self._group = (group, column.combine_chunks().field("bytes"))
        value = self._group[1][row - self._starts[group]]
        return value.as_py()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._source, self._file, self._group = None, None, None
