"""Parquet exports: one row per kept candidate, its record's fields as columns plus the image.

`parquet`: `part-<shard>.parquet` files with the image bytes in an `image` column, or with `--images
paths` an `image_path` column naming image files written under `images/`. `hf`: the layout Hugging Face
`datasets` loads with `load_dataset(folder)`: `data/train-<i>-of-<n>.parquet` with `image` as the
`datasets.Image` struct {bytes, path} declared in the schema's `huggingface` metadata (what `datasets`
itself writes), and a README.md whose `configs` section names the files as the train split.

A file holds the kept rows at positions [i * shard_size, (i + 1) * shard_size), in row groups of
`ROW_GROUP_ROWS` rows, so the same selection gives the same bytes.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pixsift.engine.core.batches import batched
from pixsift.engine.export.base import ExportJob
from pixsift.engine.export.files import FileEntry, ImageFolder, extension, file_entry, sample_name, shard_name
from pixsift.engine.store.kept_rows import ExportRow, RowError, record_fields

ROW_GROUP_ROWS = 256
_HF_README = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
---
Exported by `pixsift export --format hf`; `manifest.json` lists the files with their checksums.
"""


def write_parquet(
    rows: Iterable[ExportRow], out: Path, job: ExportJob
) -> tuple[list[FileEntry], list[RowError]]:
    shard_size, fields, images = job.shard_size, record_fields(job.store), job.images
    folder = ImageFolder(out, shard_size)
    image, image_of = (
        (pa.field("image_path", pa.string()), lambda r: folder.write(r.index, r.record["format"], r.data))
        if images == "paths"
        else (pa.field("image", pa.binary()), lambda r: r.data)
    )
    files = _write_shards(
        rows,
        shard_size,
        _schema(fields, image),
        lambda shard: out / f"part-{shard_name(shard)}.parquet",
        image_of,
    )
    return [file_entry(out, p, n) for p, n in files] + folder.entries(), []


def write_hf(rows: Iterable[ExportRow], out: Path, job: ExportJob) -> tuple[list[FileEntry], list[RowError]]:
    shard_size, fields = job.shard_size, record_fields(job.store)
    n_files = max(1, math.ceil(len(job.kept) / shard_size))
    image = pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    schema = _schema(fields, image)
    features = {name: {"dtype": _hf_dtype(t), "_type": "Value"} for name, t in fields.items()}
    schema = schema.with_metadata(
        {"huggingface": json.dumps({"info": {"features": {**features, "image": {"_type": "Image"}}}})}
    )
    (out / "data").mkdir()
    files = _write_shards(
        rows,
        shard_size,
        schema,
        lambda shard: out / "data" / f"train-{shard:05d}-of-{n_files:05d}.parquet",
        lambda row: {
            "bytes": row.data,
            "path": f"{sample_name(row.index)}.{extension(row.record['format'])}",
        },
    )
    readme = out / "README.md"
    readme.write_text(_HF_README)
    return [file_entry(out, p, n) for p, n in files] + [file_entry(out, readme, 0)], []


def _write_shards(
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


def _schema(fields: dict[str, str], image: pa.Field) -> pa.Schema:
    return pa.schema([pa.field(name, _arrow_type(t)) for name, t in fields.items()] + [image])


def _arrow_type(dtype: str) -> pa.DataType:
    return pa.string() if dtype == "str" else pa.from_numpy_dtype(dtype)


def _hf_dtype(dtype: str) -> str:
    return "string" if dtype == "str" else dtype
