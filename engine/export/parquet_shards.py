"""Parquet files of export rows, shared by the parquet and hf formats: a file holds the kept rows at
positions [i * shard_size, (i + 1) * shard_size), in row groups of ROW_GROUP_ROWS rows, so the same
selection gives the same bytes; the record's fields are columns, the image the last one."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pixsift.engine.core.batches import batched
from pixsift.engine.store.kept_rows import ExportRow

ROW_GROUP_ROWS = 256


def write_shards(
    rows: Iterable[ExportRow],
    shard_size: int,
    schema: pa.Schema,
    path_of: Callable[[int], Path],
    image_of: Callable[[ExportRow], Any],
) -> list[tuple[Path, int]]:
    """Write each shard's rows to `path_of(shard)`; the files and their row counts."""
    files = []
    for shard, shard_rows in itertools.groupby(rows, key=lambda r: r.index // shard_size):
        path = path_of(shard)
        samples = 0
        with pq.ParquetWriter(path, schema) as writer:
            for batch in batched(shard_rows, ROW_GROUP_ROWS):
                columns = {name: [row.record[name] for row in batch] for name in schema.names[:-1]}
                columns[schema.names[-1]] = [image_of(row) for row in batch]
                writer.write_table(pa.table(columns, schema=schema), row_group_size=ROW_GROUP_ROWS)
                samples += len(batch)
        files.append((path, samples))
    return files


def schema_of(fields: dict[str, str], image: pa.Field) -> pa.Schema:
    return pa.schema([pa.field(name, arrow_type(t)) for name, t in fields.items()] + [image])


def arrow_type(dtype: str) -> pa.DataType:
    return pa.string() if dtype == "str" else pa.from_numpy_dtype(dtype)


def hf_dtype(dtype: str) -> str:
    return "string" if dtype == "str" else dtype
