"""What every benchmark shares: timing, the hardware floor, the results table and the results files.

Each result row carries the device, library versions and git sha, and is appended as one JSON line
to benchmarks/results/<benchmark>.jsonl. On a machine without a GPU every timing is a CPU timing,
and the rows say so in their `device` field.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent


def parser(doc: str | None, *, device: bool = True) -> argparse.ArgumentParser:
    """The argument parser every benchmark starts from: its docstring as the help, `--device` (the GPU
    when there is one) and `--results` (the folder its rows are appended to; "" records nothing)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if device:
        p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--results", default=str(RESULTS_DIR), help='folder the result rows are appended to ("": none)'
    )
    return p


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read_lines("/proc/cpuinfo")
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return f"CPU: {model} ({os.cpu_count()} cores)"


def environment(device: torch.device, packages: Sequence[str] = ()) -> dict:
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("triton", *packages):
        versions[name] = _version(name)
    if device.type == "cuda":
        versions["cuda"] = torch.version.cuda
    return {
        "device": device_name(device),
        "versions": versions,
        "git_sha": git_sha(),
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def git_sha() -> str:
    """The checkout's commit (`-dirty` with uncommitted changes); PIXSIFT_GIT_SHA where the tree travelled
    without its git folder (the GPU machine), "unknown" where neither says."""
    if sha := os.environ.get("PIXSIFT_GIT_SHA"):
        return sha

    def git(*args: str) -> str:
        try:
            run = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        except OSError:  # no git on this machine
            return ""
        return run.stdout.strip() if run.returncode == 0 else ""

    sha = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = sha != "unknown" and git("status", "--porcelain", "--untracked-files=no")
    return sha + ("-dirty" if dirty else "")


def time_ms(fn: Callable[[], object], device: torch.device, budget_s: float = 2.0) -> float:
    """Median milliseconds per call: triton's do_bench on a GPU, a wall-clock loop on the CPU."""
    if device.type == "cuda":
        from triton.testing import do_bench

        return float(do_bench(fn, warmup=25, rep=100, return_mode="median"))
    fn()  # warm-up: JIT compiles, allocator, caches
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 50):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


@dataclass(frozen=True)
class Hardware:
    """Measured ceilings of the device at hand, in bytes/s and operations/s."""

    copy_bytes_per_s: float
    fp32_ops_per_s: float  # CUDA cores on a GPU (TF32 off): the ceiling of elementwise/stencil work
    fp16_ops_per_s: float  # tensor cores on a GPU; on a CPU the same as fp32

    def floor_ms(self, nbytes: float, ops: float, half: bool = False) -> float:
        rate = self.fp16_ops_per_s if half else self.fp32_ops_per_s
        return max(nbytes / self.copy_bytes_per_s, ops / rate) * 1e3

    def as_dict(self) -> dict:
        return {
            "copy_GBps": round(self.copy_bytes_per_s / 1e9, 1),
            "fp32_TFLOPs": round(self.fp32_ops_per_s / 1e12, 2),
            "fp16_TFLOPs": round(self.fp16_ops_per_s / 1e12, 2),
        }


def measure_hardware(device: torch.device) -> Hardware:
    gpu = device.type == "cuda"
    src = torch.ones(1024 * 2**20 if gpu else 512 * 2**20, dtype=torch.uint8, device=device)
    dst = torch.zeros_like(src)  # touched, and larger than caches, so the copy measures memory
    copy_ms = time_ms(lambda: dst.copy_(src), device, budget_s=1.0)
    copy = 2 * src.numel() / (copy_ms * 1e-3)  # bytes read plus bytes written
    fp32 = _matmul_rate(device, torch.float32, 8192 if gpu else 1024)
    fp16 = _matmul_rate(device, torch.float16, 8192) if gpu else fp32
    return Hardware(copy, fp32, fp16)


def _matmul_rate(device: torch.device, dtype: torch.dtype, n: int) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    allow_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        ms = time_ms(lambda: a @ b, device, budget_s=1.0)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = allow_tf32
    return 2 * n**3 / (ms * 1e-3)


def in_fresh_process(module: str, *args: str) -> dict:
    """Run `python -m module args` in a new process (so its peak RSS is its own) and read the JSON object
    it prints last."""
    child = [sys.executable, "-m", module, *args]
    out = subprocess.run(child, check=True, capture_output=True, text=True, cwd=REPO).stdout
    return json.loads(out.strip().splitlines()[-1])


def print_table(title: str, rows: Sequence[dict], columns: Sequence[str]) -> None:
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(col.rjust(w) for col, w in zip(columns, widths, strict=False)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=False)))


def append_results(
    benchmark: str, rows: Sequence[dict], env: dict, hardware: Hardware, folder: str | Path = RESULTS_DIR
) -> str:
    """Append the rows to <folder>/<benchmark>.jsonl; what was done, for the benchmark to print."""
    if not folder:
        return f"{len(rows)} rows not recorded (--results '')"
    path = Path(folder) / f"{benchmark}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for row in rows:
            f.write(json.dumps({**env, "hardware": hardware.as_dict(), **row}, sort_keys=True) + "\n")
    return f"appended {len(rows)} rows to {path}"


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []
