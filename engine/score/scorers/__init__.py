"""Extra scorers: one module per kind, each with the file suffixes it loads (`SUFFIXES`), or a
`claims(folder)` test, and a `Scorer` class built as `Scorer(path, name, device)` (engine.score.scorers.base);
`--scorer NAME=PATH` loads PATH with the kind that claims it, `--scorer-kind NAME=KIND` names the kind.
Adding a kind of scorer is adding a module here."""

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


def load_scorer(
    path: str | Path, name: str, device: torch.device | str, kind: str | None = None
) -> EmbeddingScorer:
    """The scorer at `path` as the column `name`: by `kind` when given, else by the kind that claims the
    folder (its `claims(path)`) or loads the file's suffix (its SUFFIXES)."""
    path = Path(path)
    modules = kinds()
    if kind is not None:
        if kind not in modules:
            raise BadInput(f"--scorer-kind {name}={kind}", f"no kind {kind!r}; kinds: {', '.join(modules)}")
        return modules[kind].Scorer(path, name, device)
    for module in modules.values():
        if path.suffix in module.SUFFIXES or (hasattr(module, "claims") and module.claims(path)):
            return module.Scorer(path, name, device)
    known = sorted(s for module in modules.values() for s in module.SUFFIXES)
    raise BadInput(
        f"scorer {name}={path}",
        f"no kind of scorer loads {path.suffix or 'a file without a suffix'}",
        f"the scorers load {', '.join(known)}, an open_clip CLIP checkpoint (hpsv2), a transformers "
        "CLIPModel folder (pickscore), a SigLIP folder with the v2.5 head (aesthetic_v25) and a folder with "
        "ImageReward.pt (image_reward)",
    )
