"""Janus-Pro checkpoints load from local folders only (nothing downloads): a path that is not one is
refused up front, naming it, instead of being taken for a hub repository id."""

from __future__ import annotations

from pathlib import Path

from engine.core.errors import NotFound


def require_model_folder(path: str) -> str:
    """`path` when it is a folder with a config.json and safetensors weights; NotFound otherwise."""
    folder = Path(path)
    if not (folder / "config.json").is_file() or not any(folder.glob("*.safetensors")):
        raise NotFound(
            f"model {path!r}",
            "is not a local Janus-Pro checkpoint folder (config.json and *.safetensors, transformers format)",
            "models load from local folders only",
        )
    return path
