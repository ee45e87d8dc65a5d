"""Caption pools and the tiny-pipeline settings the generate tests run with."""

from __future__ import annotations

import json
from pathlib import Path

from pixsift.engine.generate.config import GenerateConfig

# One caption per shard, one image per caption: many small units.
ONE_PER_SHARD = dict(images_per_caption=1, captions_per_shard=1, batch_size=1)


def write_jsonl(path: Path, rows: list[dict], extra_lines: tuple[bytes, ...] = ()) -> Path:
    lines = [json.dumps(row).encode() for row in rows] + list(extra_lines)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def t2i_config(captions: Path, out: Path, pipeline: Path, **overrides) -> GenerateConfig:
    values = dict(
        steps=2, width=32, height=32, images_per_caption=2, captions_per_shard=2, batch_size=3, device="cpu"
    )
    return GenerateConfig(
        task="t2i", inputs=str(captions), out=str(out), pipeline=str(pipeline), **{**values, **overrides}
    )
