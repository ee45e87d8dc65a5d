"""Which generator, aspect ratio and prompt text each prompt gets, drawn from its id and the base seed alone
(so a resumed job, or the same pool generated again, assigns the same): the generator by `--pipeline-for`
for its category, else by `--pipeline-share`; the size from `--aspect-ratio` at the area of `--resolution`
squared; the enhanced prompt for a `--enhanced-share` of the prompts that have one."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pixsift.engine.core.candidates import parts_hash
from pixsift.engine.generate.config import GenerateConfig, aspect_ratio

SIDE_MULTIPLE = 16  # latent sides must divide by the VAE's 8 and, for transformers, by their patch of 2


@dataclass(frozen=True)
class Assignment:
    generator: str
    enhanced: bool
    width: int | None
    height: int | None


class Assigner:
    def __init__(self, cfg: GenerateConfig):
        self.cfg = cfg
        self.names = list(cfg.generators())
        shares = np.array(generator_shares(cfg, self.names))
        self.bounds = np.cumsum(shares / shares.sum())
        self.sizes = [_size(aspect_ratio(r), cfg.resolution) for r in cfg.aspect_ratios]

    def __call__(self, prompt_id: str, category: str, has_enhanced: bool) -> Assignment:
        cfg = self.cfg
        generator = cfg.pipeline_categories.get(category)
        if generator is None:
            u = _uniform(cfg.seed, prompt_id, "generator")
            generator = self.names[
                min(int(np.searchsorted(self.bounds, u, side="right")), len(self.names) - 1)
            ]
        enhanced = has_enhanced and _uniform(cfg.seed, prompt_id, "enhanced") < cfg.enhanced_share
        width, height = cfg.width, cfg.height
        if self.sizes:
            width, height = self.sizes[int(_uniform(cfg.seed, prompt_id, "aspect") * len(self.sizes))]
        return Assignment(generator, enhanced, width, height)


def generator_shares(cfg: GenerateConfig, names: list[str]) -> list[float]:
    """Each generator's share: as given by --pipeline-share, the others splitting what is left of 1."""
    given = cfg.pipeline_shares
    others = [n for n in names if n not in given]
    rest = max(0.0, 1.0 - sum(given.values())) / len(others) if others else 0.0
    return [given.get(n, rest) for n in names]


def _size(ratio: tuple[int, int], side: int) -> tuple[int, int]:
    """Width and height of `ratio` with the area of a `side` square, each a multiple of SIDE_MULTIPLE."""
    w, h = ratio
    width = side * math.sqrt(w / h)
    return tuple(
        max(SIDE_MULTIPLE, round(x / SIDE_MULTIPLE) * SIDE_MULTIPLE) for x in (width, side * side / width)
    )


def _uniform(seed: int, prompt_id: str, what: str) -> float:
    return (parts_hash(seed, prompt_id, what) & (2**64 - 1)) / 2**64
