"""The score stage: candidates -> decode -> CLIP embeddings and our kernels -> the run store.

`from engine.score import score, ScoreConfig`; the entry point loads its libraries when first used."""

from engine.core.lazy import lazy_names
from engine.score.config import ScoreConfig

__all__ = ["ScoreConfig"]  # and the entry point, loaded by __getattr__

__getattr__ = lazy_names(__name__, {"score": "engine.score.job"})
