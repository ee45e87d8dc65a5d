"""Training checkpoints: DeepSpeed's (weights, optimizer, schedule; under ZeRO-2/3 also the frozen
weights' partitions, which DeepSpeed saves when gradients are partitioned and restores on load), with the
step and data position as client state, and each rank's RNG states beside them.

A checkpoint is a folder `step-NNNNNNNN` under the checkpoint directory. It is complete or it is not used:
every rank writes its part (DeepSpeed's files, then its RNG states), then rank 0 writes the folder's
`pixsift-complete.json` (its files and their sizes, written whole under a temporary name and renamed) and
only then names the folder in `latest`. A job killed at any moment of a save leaves either the previous
checkpoint in `latest`, or a folder without its marker: `--resume` takes the newest complete checkpoint
and says when it passes over an incomplete one. Only the newest `keep_last` folders are kept.

Loading never runs code from a file: DeepSpeed asks torch.load for full unpickling, but every load here is
forced to `weights_only=True` and may rebuild only tensors, containers and DEEPSPEED_CLASSES; a file that
holds anything else (a planted pickle) is refused, naming it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pickle
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from pixsift.engine.core.errors import BadInput
from pixsift.engine.io.paths import write_whole

PREFIX = "step-"
MARKER = "pixsift-complete.json"
# The objects besides tensors and containers that DeepSpeed's checkpoints hold (ZeRO 1-3, fp32 and bf16).
DEEPSPEED_CLASSES = (
    "deepspeed.runtime.fp16.loss_scaler.LossScaler",
    "deepspeed.runtime.zero.config.ZeroStageEnum",
    "deepspeed.utils.tensor_fragment.fragment_address",
)


@dataclass
class Position:
    step: int  # optimizer steps done
    data: dict[str, Any]  # the batch sampler's state_dict


def tag(step: int) -> str:
    return f"{PREFIX}{step:08d}"


def save(engine, folder: Path, position: Position, keep_last: int) -> None:
    """Save on every rank (a collective), mark the checkpoint complete, name it in `latest`; then drop old
    checkpoints."""
    name = tag(position.step)
    client = {"step": position.step, "data": position.data}
    engine.save_checkpoint(str(folder), tag=name, client_state=client, save_latest=False)
    torch.save(rng_states(), folder / name / f"rng_rank{dist.get_rank()}.pt")
    dist.barrier()
    if dist.get_rank() == 0:
        files = {p.name: p.stat().st_size for p in sorted((folder / name).iterdir()) if p.name != MARKER}
        write_whole(folder / name / MARKER, json.dumps({"step": position.step, "files": files}, indent=1))
        write_whole(folder / "latest", name)
        if keep_last > 0:
            for old in sorted(folder.glob(f"{PREFIX}*"))[:-keep_last]:
                shutil.rmtree(old)
    dist.barrier()


def latest(folder: Path) -> str | None:
    path = folder / "latest"
    return path.read_text().strip() if path.is_file() else None


def newest_complete(folder: Path) -> tuple[str | None, list[str]]:
    """The newest checkpoint whose marker says it is whole (and whose files are all there), and the newer
    ones passed over because they are not."""
    skipped = []
    for path in sorted(folder.glob(f"{PREFIX}*"), reverse=True):
        if _complete(path):
            return path.name, skipped
        skipped.append(path.name)
    return None, skipped


def load(engine, folder: Path, say=print) -> Position | None:
    """Restore the newest complete checkpoint in `folder` into `engine` and this rank's RNGs; None if there
    is none."""
    name, skipped = newest_complete(folder)
    if skipped:
        say(f"checkpoints {', '.join(skipped)} in {folder} are incomplete (a save was interrupted): not used")
    if name is None:
        return None
    with weights_only_loads(folder / name):
        _, client = engine.load_checkpoint(
            str(folder), tag=name, load_optimizer_states=True, load_lr_scheduler_states=True
        )
        if client is None:
            raise RuntimeError(f"checkpoint {folder / name} could not be loaded")
        set_rng_states(torch.load(folder / name / f"rng_rank{dist.get_rank()}.pt", weights_only=True))
    return Position(step=client["step"], data=client["data"])


@contextlib.contextmanager
def weights_only_loads(where: Path) -> Iterator[None]:
    """Every torch.load inside loads with weights_only=True (DeepSpeed's too, which asks for the opposite),
    allowing only DEEPSPEED_CLASSES besides tensors and containers."""
    classes = [
        getattr(importlib.import_module(m), c) for m, _, c in (n.rpartition(".") for n in DEEPSPEED_CLASSES)
    ]
    before = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        with torch.serialization.safe_globals(classes):
            yield
    except pickle.UnpicklingError as e:
        first = next((line for line in str(e).splitlines() if "Unsupported global" in line), "")
        raise BadInput(
            str(where),
            f"refusing to load a checkpoint file that holds objects pixsift does not load ({first.strip()})",
            "a checkpoint must come from pixsift train; delete this one to resume from the one before",
        ) from None
    finally:
        if before is None:
            os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = before


def rng_states() -> dict[str, Any]:
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        "python": [version, list(mt), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    version, mt, gauss = states["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])


def _complete(path: Path) -> bool:
    try:
        files = json.loads((path / MARKER).read_text())["files"]
    except (OSError, ValueError, KeyError):
        return False
    return all(
        (path / name).is_file() and (path / name).stat().st_size == size for name, size in files.items()
    )
