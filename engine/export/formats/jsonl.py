"""`jsonl`: JSONL in the ShareGPT-4o-Image layout, the one Janus-4o's training script reads.

That script (train_janus.py in FreedomIntelligence/ShareGPT-4o-Image) loads one JSON array of samples and
opens every image path relative to the JSON file's folder; a text-to-image sample is
`{"input_prompt", "output_image"}` and a text-and-image-to-image (editing) sample adds
`"input_image": [paths]`, and pixsift adds `meta` (the input's other fields, as JSON text) where there is
any. So the export writes the samples twice from one pass, as `train.jsonl` (one per
line) and `train.json` (the array that script takes as `--data_path`), with a `key` field naming the
candidate, output images under `images/<shard>/` and editing sources under `images/inputs/`, named by the
SHA-256 of their bytes so a source shared by many edits is written once. An edit whose source cannot be
found or read is left out and reported. A README.md names `train.jsonl` to `datasets.load_dataset(folder)`,
which would otherwise read both files and the images.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from pixsift.engine.export.base import ExportJob
from pixsift.engine.export.files import (
    FileEntry,
    ImageFolder,
    dataset_card,
    extension,
    file_entry,
    folder_entry,
)
from pixsift.engine.store.edit_sources import EditSources
from pixsift.engine.store.kept_rows import ExportRow, RowError
from pixsift.engine.store.schema import EDIT_TASK

_INPUTS = Path("images") / "inputs"


def write(rows: Iterable[ExportRow], out: Path, job: ExportJob) -> tuple[list[FileEntry], list[RowError]]:
    sources = EditSources.find(job.store, job.kept)
    outputs = ImageFolder(out, job.shard_size)
    inputs: dict[str, str] = {}  # source_key -> its image's path in the export
    errors, samples = [], 0
    jsonl_path, json_path = out / "train.jsonl", out / "train.json"
    with jsonl_path.open("w", encoding="utf-8") as jsonl, json_path.open("w", encoding="utf-8") as array:
        array.write("[")
        for row in rows:
            sample = {"key": row.record["key"], "input_prompt": row.record["caption"]}
            if row.record["meta"]:  # the input's other fields, as JSON text
                sample["meta"] = row.record["meta"]
            if row.record["task"] == EDIT_TASK:
                source_key = row.record["source_key"]
                try:
                    if source_key not in inputs:
                        inputs[source_key] = _write_input(out, sources, source_key)
                except LookupError as e:
                    errors.append(RowError.of(row, str(e)))
                    continue
                sample["input_image"] = [inputs[source_key]]
            sample["output_image"] = outputs.write(row.index, row.record["format"], row.data)
            line = json.dumps(sample, ensure_ascii=False)
            jsonl.write(line + "\n")
            array.write(("," if samples else "") + "\n" + line)
            samples += 1
        array.write("\n]\n")
    files = [file_entry(out, jsonl_path, samples), file_entry(out, json_path, samples), *outputs.entries()]
    files.append(dataset_card(out, "train.jsonl", "jsonl"))
    if inputs:
        files.append(folder_entry(out, out / _INPUTS, len(set(inputs.values()))))
    return files, errors


def _write_input(out: Path, sources: EditSources, source_key: str) -> str:
    image = sources.read(source_key)
    digest = hashlib.sha256(image.data).hexdigest()
    relative = _INPUTS / digest[:2] / f"{digest[:32]}.{extension(image.format)}"
    (out / relative).parent.mkdir(parents=True, exist_ok=True)
    (out / relative).write_bytes(image.data)
    return str(relative)
