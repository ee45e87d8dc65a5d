"""`pixsift export`: the command-line side of engine.export."""

from __future__ import annotations

from engine.core.commands import add_command, config_from
from engine.export.config import ExportConfig


def add(sub) -> None:
    add_command(
        sub,
        "export",
        _run,
        config=ExportConfig,
        help="write a selection's kept candidates as training data",
        description="Write the kept candidates of a selection as WebDataset shards, Parquet, JSONL in the "
        "ShareGPT-4o-Image layout, or a Hugging Face datasets layout, with manifest.json (counts, SHA-256). "
        "Exits 1 when a kept candidate could not be exported; the manifest lists it with the reason.",
    )


def _run(args) -> int:
    from engine.export.run import export

    cfg = config_from(args, ExportConfig)
    summary = export(
        cfg.store, cfg.selection, cfg.to, cfg.format, shard_size=cfg.shard_size, images=cfg.images
    )
    print(summary.text())
    return 1 if summary.errors else 0
