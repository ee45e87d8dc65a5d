"""What each optimizer step logs: loss, lr, gradient norm, tokens/s, MFU and memory, as a console line and
a JSONL record (rank 0)."""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

import torch


def memory_gib(device: torch.device) -> float:
    """Peak CUDA memory allocated on the GPU, else this process's peak resident memory."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


class MetricsLog:
    """Appends one JSON record per step to `path`. A resumed run first drops the records after the step it
    resumes from, so the file holds one curve."""

    def __init__(self, path: Path, enabled: bool, resume_step: int | None = None):
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            path.write_text("")
        elif path.exists():
            kept = [line for line, r in _records(path) if r is not None and r["step"] <= resume_step]
            path.write_text("".join(f"{line}\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def _records(path: Path) -> list[tuple[str, dict[str, Any] | None]]:
    """Each line and its record; None for the last line when a killed run left it half written."""
    lines = path.read_text().splitlines()
    records = []
    for i, line in enumerate(lines):
        try:
            records.append((line, json.loads(line)))
        except json.JSONDecodeError:
            if i != len(lines) - 1:
                raise
            records.append((line, None))
    return records


def step_line(r: dict[str, Any], total_steps: int) -> str:
    mfu = "n/a" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
    return (
        f"step {r['step']}/{total_steps} epoch {r['epoch']}  loss {r['loss']:.4f}  lr {r['lr']:.3g}  "
        f"grad norm {r['grad_norm']:.3g}  {r['tokens_per_s']:,.0f} tokens/s  MFU {mfu}  "
        f"pad {100 * r['padding']:.0f}%  edits {100 * r['edit_fraction']:.0f}%  mem {r['memory_gib']:.2f} GiB"
    )
