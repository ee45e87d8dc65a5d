"""The generate stage: caption pools or editing pairs -> images from a diffusers pipeline -> WebDataset
shards.

`from pixsift.engine.generate import generate, GenerateConfig`;
the entry point loads its libraries when first used."""

from pixsift.engine.core.lazy import lazy_names
from pixsift.engine.generate.config import GenerateConfig

__all__ = ["GenerateConfig"]  # and the entry point, loaded by __getattr__

__getattr__ = lazy_names(__name__, {"generate": "pixsift.engine.generate.job"})
