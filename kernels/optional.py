"""One place that imports heavy optional dependencies and names the extra that provides them."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {
    "nvidia.dali": "gpu",  # or "dali" for the CPU pipeline only
    "pycuda": "gpu",
    "deepspeed": "train",
    "peft": "train",
    "ray": "dist",
}


class MissingDependency(ImportError):
    pass


def require(module: str, purpose: str) -> ModuleType:
    """Import `module` or raise an error that says which pixsift extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module, "dev")
        raise MissingDependency(
            f"{purpose} needs the Python package '{module}', which is not importable here ({exc}). "
            f"Install it with: pip install 'pixsift[{extra}]'"
        ) from exc


def available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
