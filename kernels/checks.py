"""Input checks shared by the kernels' public functions; each error names the op, the input, the problem."""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch


def check_tensor(op: str, name: str, t, dtypes: Iterable[torch.dtype], ndim: int) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    dtypes = tuple(dtypes)
    if t.dtype not in dtypes:
        names = ", ".join(str(d).removeprefix("torch.") for d in dtypes)
        raise TypeError(f"{op}: {name} has unsupported dtype {t.dtype}; supported: {names}")
    if t.dim() != ndim:
        raise ValueError(f"{op}: {name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{op}: {name} is an empty batch (shape {tuple(t.shape)})")


def check_pair(op: str, x: torch.Tensor, y: torch.Tensor, xname: str = "x", yname: str = "y") -> None:
    if x.device != y.device:
        raise ValueError(f"{op}: {xname} is on {x.device} but {yname} is on {y.device}")
    if x.dtype != y.dtype:
        raise TypeError(f"{op}: {xname} has dtype {x.dtype} but {yname} has dtype {y.dtype}")


def check_triton_device(op: str, t: torch.Tensor) -> None:
    """Triton kernels run on CUDA tensors, or on CPU tensors in Triton's interpreter."""
    if not t.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError(
            f"{op}: backend='triton' needs CUDA tensors (got {t.device}), or TRITON_INTERPRET=1 set "
            "before triton is imported to run the kernel in Triton's CPU interpreter"
        )


def nonfinite_rows(t: torch.Tensor) -> list[int]:
    """Indices along dim 0 of the rows holding NaN or inf (empty for integer tensors)."""
    if not t.is_floating_point():
        return []
    bad = ~torch.isfinite(t.reshape(t.shape[0], -1)).all(dim=1)
    return bad.nonzero().flatten().tolist()


def raise_nonfinite(op: str, inputs: dict[str, torch.Tensor]) -> None:
    """Raise naming each input and the rows of it that hold NaN or inf; return if there are none."""
    found = {name: rows for name, t in inputs.items() if (rows := nonfinite_rows(t))}
    if found:
        parts = "; ".join(f"{name} at index {_short(rows)}" for name, rows in found.items())
        raise ValueError(f"{op}: input contains NaN or inf ({parts})")


def _short(rows: list[int], limit: int = 8) -> str:
    shown = ", ".join(map(str, rows[:limit]))
    return f"[{shown}{', ...' if len(rows) > limit else ''}]"
