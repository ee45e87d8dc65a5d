"""`fine_t2i`: the hf layout (engine.export.formats.hf) with Fine-T2I's columns: `image`, `prompt`,
`enhanced_prompt`, `enhancer`, `prompt_generator`, `image_generator`, `prompt_category`, `style`, `task`,
`image_generated_with_enhanced_prompt`, `image_aspect_ratio`, `aesthetic_predictor_v_2_5_score`, after the
row's `key`.

The provenance comes from what `pixsift generate` wrote into each sample (the store's `meta`, `category`,
`style`, `task`); a row made without a pool has its caption as `prompt` and nulls where nothing is known,
and its aspect ratio from its size. The aesthetic score is the store's column of that name (score with
`--scorer aesthetic_predictor_v_2_5_score=DIR`), else null."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from pixsift.engine.export.base import ExportJob
from pixsift.engine.export.files import FileEntry
from pixsift.engine.export.formats.hf import write_hf_layout
from pixsift.engine.store.kept_rows import ExportRow, RowError

AESTHETIC = "aesthetic_predictor_v_2_5_score"
FIELDS = {
    "key": "str",
    "prompt": "str",
    "enhanced_prompt": "str",
    "enhancer": "str",
    "prompt_generator": "str",
    "image_generator": "str",
    "prompt_category": "str",
    "style": "str",
    "task": "str",
    "image_generated_with_enhanced_prompt": "bool",
    "image_aspect_ratio": "str",
    AESTHETIC: "float32",
}
_FROM_META = ("enhanced_prompt", "enhancer", "prompt_generator", "image_generator")


def write(rows: Iterable[ExportRow], out: Path, job: ExportJob) -> tuple[list[FileEntry], list[RowError]]:
    laid_out = (replace(row, record=fine_t2i_record(row.record)) for row in rows)
    return write_hf_layout(laid_out, out, job, FIELDS, "fine_t2i"), []


def fine_t2i_record(record: dict) -> dict:
    meta = json.loads(record["meta"]) if record["meta"] else {}
    width, height = record["width"], record["height"]
    divisor = math.gcd(width, height) if width > 0 and height > 0 else 0
    return {
        "key": record["key"],
        "prompt": meta.get("prompt") or record["caption"],
        **{name: meta.get(name) or None for name in _FROM_META},
        "prompt_category": record["category"] or None,
        "style": record["style"] or None,
        "task": record["task"] or None,
        "image_generated_with_enhanced_prompt": bool(meta.get("image_generated_with_enhanced_prompt", False)),
        "image_aspect_ratio": meta.get("image_aspect_ratio")
        or (f"{width // divisor}:{height // divisor}" if divisor else None),
        AESTHETIC: record.get(AESTHETIC),
        "format": record["format"],  # names the image's file in the image struct
    }
