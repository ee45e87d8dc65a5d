"""Extra scorers: one module per kind, each with the file suffixes it loads (`SUFFIXES`) and a `Scorer`
class built as `Scorer(path, name, device)` (engine.score.scorers.base); `--scorer NAME=FILE` loads FILE
with the kind that claims its suffix. Adding a kind of scorer is adding a module here."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import torch

from pixsift.engine.core.errors import BadInput
from pixsift.engine.score.scorers.base import EmbeddingScorer


def kinds() -> dict[str, ModuleType]:
    """Every scorer module of this package, by name."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base")
    return {name: importlib.import_module(f"{__name__}.{name}") for name in names}


def load_scorer(path: str | Path, name: str, device: torch.device | str) -> EmbeddingScorer:
    """The scorer in the file `path`, by the kind that loads its suffix, as the column `name`."""
    suffix = Path(path).suffix
    for module in kinds().values():
        if suffix in module.SUFFIXES:
            return module.Scorer(path, name, device)
    known = sorted(s for module in kinds().values() for s in module.SUFFIXES)
    raise BadInput(
        f"scorer {name}={path}",
        f"no kind of scorer loads {suffix or 'a file without a suffix'}",
        f"the scorers load {', '.join(known)}",
    )
