"""The score stage: candidates -> decode -> CLIP embeddings and our kernels -> the run store.

`from pixsift.engine.score import score, ScoreConfig`; the entry point loads its libraries when first used."""

from pixsift.engine.core.lazy import lazy_names
from pixsift.engine.score.config import ScoreConfig

__all__ = ["ScoreConfig"]  # and the entry point, loaded by __getattr__

__getattr__ = lazy_names(__name__, {"score": "pixsift.engine.score.job"})
