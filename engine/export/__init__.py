"""The export stage: a selection's kept candidates as training data (WebDataset, Parquet, ShareGPT-4o-Image
JSONL, Hugging Face datasets).

`from pixsift.engine.export import export, ExportConfig`; the entry point loads its libraries when first
used."""

from pixsift.engine.core.lazy import lazy_names
from pixsift.engine.export.config import ExportConfig

__all__ = ["ExportConfig"]  # and the entry point, loaded by __getattr__

__getattr__ = lazy_names(__name__, {"export": "pixsift.engine.export.job"})
