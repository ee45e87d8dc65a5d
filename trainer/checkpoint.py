"""Training checkpoints: DeepSpeed's (weights, optimizer, schedule; under ZeRO-2/3 also the frozen
weights' partitions, which DeepSpeed saves when gradients are partitioned and restores on load), with the
step and data position as client state, and each rank's RNG states beside them.

A checkpoint is a folder `step-NNNNNNNN` under the checkpoint directory; DeepSpeed's `latest` file names
the newest complete one (it is written after the folder), so a job killed while saving resumes from the one
before. Only the newest `keep_last` folders are kept.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

PREFIX = "step-"


@dataclass
class Position:
    step: int  # optimizer steps done
    data: dict[str, Any]  # the batch sampler's state_dict


def tag(step: int) -> str:
    return f"{PREFIX}{step:08d}"


def save(engine, folder: Path, position: Position, keep_last: int) -> None:
    """Save on every rank (a collective); then drop old checkpoints."""
    name = tag(position.step)
    engine.save_checkpoint(str(folder), tag=name, client_state={"step": position.step, "data": position.data})
    torch.save(rng_states(), folder / name / f"rng_rank{dist.get_rank()}.pt")
    dist.barrier()
    if dist.get_rank() == 0 and keep_last > 0:
        for old in sorted(folder.glob(f"{PREFIX}*"))[:-keep_last]:
            shutil.rmtree(old)
    dist.barrier()


def latest(folder: Path) -> str | None:
    path = folder / "latest"
    return path.read_text().strip() if path.is_file() else None


def load(engine, folder: Path) -> Position | None:
    """Restore the newest checkpoint in `folder` into `engine` and this rank's RNGs; None if there is none."""
    name = latest(folder)
    if name is None:
        return None
    _, client = engine.load_checkpoint(
        str(folder), tag=name, load_optimizer_states=True, load_lr_scheduler_states=True
    )
    if client is None:
        raise RuntimeError(f"checkpoint {folder / name} could not be loaded")
    set_rng_states(torch.load(folder / name / f"rng_rank{dist.get_rank()}.pt", weights_only=True))
    return Position(step=client["step"], data=client["data"])


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
