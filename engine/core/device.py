"""Which device a stage runs on: "auto" is the GPU when there is one, else the CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads when a device is asked for, not when a command's flags are built
    import torch

DEVICES = ("auto", "cpu", "cuda")
# A model's dtype: "auto" is bfloat16 on a GPU, float32 on the CPU.
DTYPES = ("auto", "bfloat16", "float16", "float32")


def resolve_device(device: str = "auto") -> str:
    """ "auto" -> "cuda" when a GPU is visible, else "cpu"; anything else as given."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def model_dtype(name: str, device: torch.device | str) -> torch.dtype:
    """The torch dtype `name` (one of DTYPES) means for a model on `device`."""
    import torch

    if name == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    return getattr(torch, name)


def worker_device(device: str = "auto") -> torch.device:
    """The device this process computes on: a bare "cuda" becomes the current GPU (a worker process is
    pinned to its own one), so tensors and decoders agree on the index."""
    import torch

    resolved = torch.device(resolve_device(device))
    if resolved.type == "cuda" and resolved.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return resolved
