"""`parquet`: `part-<shard>.parquet` files with the image bytes in an `image` column, or with `--images
paths` an `image_path` column naming image files written under `images/` (engine.export.parquet_shards).
With bytes the folder holds only the tables; with paths a README.md names them to `datasets`, and pandas
reads the `part-*.parquet` files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from pixsift.engine.export.base import ExportJob
from pixsift.engine.export.files import FileEntry, ImageFolder, dataset_card, file_entry, shard_name
from pixsift.engine.export.parquet_shards import schema_of, write_shards
from pixsift.engine.store.kept_rows import ExportRow, RowError, record_fields


def write(rows: Iterable[ExportRow], out: Path, job: ExportJob) -> tuple[list[FileEntry], list[RowError]]:
    shard_size, fields, images = job.shard_size, record_fields(job.store), job.images
    folder = ImageFolder(out, shard_size)
    image, image_of = (
        (pa.field("image_path", pa.string()), lambda r: folder.write(r.index, r.record["format"], r.data))
        if images == "paths"
        else (pa.field("image", pa.binary()), lambda r: r.data)
    )
    files = write_shards(
        rows,
        shard_size,
        schema_of(fields, image),
        lambda shard: out / f"part-{shard_name(shard)}.parquet",
        image_of,
    )
    card = [dataset_card(out, "part-*.parquet", "parquet")] if images == "paths" else []
    return [file_entry(out, p, n) for p, n in files] + folder.entries() + card, []
