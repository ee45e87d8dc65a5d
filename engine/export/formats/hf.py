"""`hf`: the layout Hugging Face `datasets` loads with `load_dataset(folder)`: `data/train-<i>-of-<n>.parquet`
with `image` as the `datasets.Image` struct {bytes, path} declared in the schema's `huggingface` metadata
(what `datasets` itself writes), and a README.md whose `configs` section names the files as the train
split (engine.export.parquet_shards). pandas reads the `data` folder."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from pixsift.engine.export.base import ExportJob
from pixsift.engine.export.files import FileEntry, dataset_card, extension, file_entry, sample_name
from pixsift.engine.export.parquet_shards import hf_dtype, schema_of, write_shards
from pixsift.engine.store.kept_rows import ExportRow, RowError, record_fields


def write(rows: Iterable[ExportRow], out: Path, job: ExportJob) -> tuple[list[FileEntry], list[RowError]]:
    return write_hf_layout(rows, out, job, record_fields(job.store), "hf"), []


def write_hf_layout(
    rows: Iterable[ExportRow], out: Path, job: ExportJob, fields: dict[str, str], format: str
) -> list[FileEntry]:
    """The rows' `fields` (name -> dtype, each a key of every row's record) and image, in the hf layout."""
    n_files = max(1, math.ceil(len(job.kept) / job.shard_size))
    image = pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    schema = schema_of(fields, image)
    features = {name: {"dtype": hf_dtype(t), "_type": "Value"} for name, t in fields.items()}
    schema = schema.with_metadata(
        {"huggingface": json.dumps({"info": {"features": {**features, "image": {"_type": "Image"}}}})}
    )
    (out / "data").mkdir()
    files = write_shards(
        rows,
        job.shard_size,
        schema,
        lambda shard: out / "data" / f"train-{shard:05d}-of-{n_files:05d}.parquet",
        lambda row: {
            "bytes": row.data,
            "path": f"{sample_name(row.index)}.{extension(row.record['format'])}",
        },
    )
    return [file_entry(out, p, n) for p, n in files] + [dataset_card(out, "data/train-*.parquet", format)]
