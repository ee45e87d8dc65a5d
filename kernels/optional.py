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
    "img2dataset": "download",
    "datasketch": "prompts",
    "emoji": "prompts",
    "vllm": "vllm",
    # fsspec's file systems for s3://, gs:// and http(s):// inputs and stores
    "s3fs": "cloud",
    "gcsfs": "cloud",
    "aiohttp": "cloud",
    "requests": "cloud",
}


def extra_of(package: str) -> str | None:
    """The pixsift extra that installs `package` (a module or its top-level name); None if none does."""
    return EXTRAS.get(package, EXTRAS.get(package.split(".")[0]))


class MissingDependency(ImportError):
    pass


def require(module: str, purpose: str) -> ModuleType:
    """Import `module` or raise an error that says which pixsift extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = extra_of(module) or "dev"
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
