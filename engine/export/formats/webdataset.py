"""`webdataset`: WebDataset shards: `<sample>.<ext>` (the original image bytes), `<sample>.txt` (the
caption, UTF-8: what img2dataset writes and open_clip's and webdataset's loaders read) and
`<sample>.json` (the record) per sample.

Shard i holds the kept rows at positions [i * shard_size, (i + 1) * shard_size); a row that could not be
read is missing from its shard (and listed in the manifest), so every other sample keeps its shard. A
README.md declares the samples' fields to `datasets.load_dataset(folder)`, which otherwise refuses
samples whose images differ in format (.jpg here, .png there).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path

from pixsift.engine.export.base import ExportJob
from pixsift.engine.export.files import (
    FileEntry,
    dataset_card,
    extension,
    file_entry,
    sample_name,
    shard_name,
)
from pixsift.engine.export.parquet_shards import hf_dtype
from pixsift.engine.io.tar_writer import DeterministicTar
from pixsift.engine.store.kept_rows import ExportRow, RowError, record_fields


def write(rows: Iterable[ExportRow], out: Path, job: ExportJob) -> tuple[list[FileEntry], list[RowError]]:
    files, extensions = [], set()
    for shard, shard_rows in itertools.groupby(rows, key=lambda r: r.index // job.shard_size):
        path = out / f"shard-{shard_name(shard)}.tar"
        samples = 0
        with DeterministicTar(path) as tar:
            for row in shard_rows:
                name = sample_name(row.index)
                extensions.add(extension(row.record["format"]))
                members = {
                    f"{name}.{extension(row.record['format'])}": row.data,
                    f"{name}.json": json.dumps(row.record, ensure_ascii=False).encode(),
                    f"{name}.txt": row.record["caption"].encode(),
                }
                for member in sorted(members):
                    tar.add(member, members[member])
                samples += 1
        files.append(file_entry(out, path, samples))
    record = {name: hf_dtype(dtype) for name, dtype in record_fields(job.store).items()}
    fields = {**dict.fromkeys(sorted(extensions), "image"), "json": record, "txt": "string"}
    features = {**fields, "__key__": "string", "__url__": "string"}
    return [*files, dataset_card(out, "*.tar", "webdataset", features)], []
