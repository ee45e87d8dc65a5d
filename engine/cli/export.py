"""`pixsift export`: the command-line side of engine.export."""

from __future__ import annotations

from pathlib import Path

from pixsift.engine.core.pipeline import Stage, all_fields
from pixsift.engine.export.config import MANIFEST, OUTPUT_KIND, ExportConfig


def run_export(cfg: ExportConfig) -> int:
    from pixsift.engine.export.job import export_config

    summary = export_config(cfg)
    print(summary.text())
    return 1 if summary.errors else 0


STAGE = Stage(
    "export",
    after=("select",),
    config=ExportConfig,
    description="Write the kept candidates of a selection as WebDataset shards, Parquet, JSONL in the "
    f"ShareGPT-4o-Image layout, or a Hugging Face datasets layout, with {MANIFEST} (counts, SHA-256). "
    "Exits 1 when a kept candidate could not be exported; the manifest lists it with the reason.",
    run=run_export,
    outputs=lambda cfg: [cfg.to],
    complete=lambda cfg: (Path(cfg.to) / MANIFEST).is_file(),  # written last
    settings=all_fields,
    takes={"store": "store", "selection": "selection"},
    starts_over=False,
    kind=OUTPUT_KIND,
    inputs=lambda cfg: [cfg.store],
)
