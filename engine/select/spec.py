"""A selection spec: the weighted score and the ordered steps of `pixsift select`, read from TOML.

    name = "synthvlm"                 # the selection's default name
    description = "..."
    caption_column = "caption_vlm"    # optional: text-to-image rows take their caption from this
                                      # column (`pixsift caption`) in every step, the export and
                                      # tokenize; rows without one drop as "caption:<column>"

    [score]                           # weighted score = sum of weight * column, each term clipped
    clip_cosine = { weight = 1.0, min = 0.0 }   # to [min, max] when given; `column = 0.5` is
    ssim_roundtrip = 0.5                         # shorthand for { weight = 0.5 }

    [[steps]]                         # run in this order over the rows still alive, after status ok
    type = "filter"                   # filter | best_of_n | top_k | quota | prompt | dedup
    column = "clip_cosine"
    min = 0.2

The keys of each step type are in its module (engine.select.steps, a module each). Shipped recipes
live in engine/select/recipes/; a recipe or spec file may name a `base` (engine.core.recipes).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixsift.engine.core.recipes import load_recipe
from pixsift.engine.select.columns import ScoreTerm
from pixsift.engine.select.registry import steps_from_table
from pixsift.engine.select.steps.base import SpecError, Step, check_keys
from pixsift.engine.select.steps.status import CaptionPresent, StatusOk
from pixsift.engine.store.selection import CAPTION

RECIPES = Path(__file__).with_name("recipes")  # the shipped specs
MAX_STEPS = 254  # reason codes are uint8: 0 is kept, 1 is status, then one per step

DEFAULT_SCORE = {"clip_cosine": {"weight": 1.0, "min": 0.0}, "ssim_roundtrip": {"weight": 0.5}}  # SynthVLM


@dataclass(frozen=True)
class SelectSpec:
    name: str
    description: str
    score: tuple[ScoreTerm, ...]
    steps: tuple[Step, ...]
    table: dict[str, Any]  # the spec as read, with the default score filled in
    caption_column: str = CAPTION

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> SelectSpec:
        """The spec in `table` (parsed TOML); errors name `where` (the file or recipe) and the key."""
        table = copy.deepcopy(table)
        check_keys(table, {"name", "description", "score", "steps", "caption_column"}, where)
        caption = table.get("caption_column", CAPTION)
        if not isinstance(caption, str) or not caption:
            raise SpecError(f"{where}: caption_column must name a column, got {caption!r}")
        table.setdefault("score", copy.deepcopy(DEFAULT_SCORE))
        if not isinstance(table["score"], dict) or not table["score"]:
            raise SpecError(f"{where}: [score] must name at least one column")
        score = tuple(
            ScoreTerm.from_value(column, v, f"{where} [score]") for column, v in table["score"].items()
        )
        steps = []
        if not isinstance(table.get("steps", []), list):
            raise SpecError(f"{where}: 'steps' must be a list of [[steps]] tables")
        for i, step in enumerate(table.get("steps", []), start=1):
            steps.extend(steps_from_table(step, f"{where} step {i}"))
        if len(steps) > MAX_STEPS:
            raise SpecError(
                f"{where}: {len(steps)} steps; a selection records at most {MAX_STEPS} (uint8 reasons)"
            )
        reasons = [s.reason for s in implicit_steps(caption)] + [s.reason for s in steps]
        if repeated := sorted({r for r in reasons if reasons.count(r) > 1}):
            raise SpecError(f"{where}: two steps drop rows as {', '.join(repeated)}; merge or remove one")
        name, description = str(table.get("name", "")), str(table.get("description", ""))
        return cls(name, description, score, tuple(steps), table, caption)

    @property
    def all_steps(self) -> tuple[Step, ...]:
        """The steps every selection runs first (status; a caption when the captions come from a column),
        then the spec's."""
        return (*implicit_steps(self.caption_column), *self.steps)

    @classmethod
    def from_toml(cls, path: str | Path) -> SelectSpec:
        """The spec in a TOML file (which may name a `base` recipe)."""
        return cls.from_table(load_recipe(RECIPES, str(path), "selection spec"), str(path))

    @classmethod
    def recipe(cls, name: str) -> SelectSpec:
        """A shipped recipe (engine/select/recipes/), or a spec file."""
        return cls.from_table(load_recipe(RECIPES, name, "selection recipe"), f"recipe {name}")


def implicit_steps(caption_column: str) -> tuple[Step, ...]:
    return (StatusOk(),) if caption_column == CAPTION else (StatusOk(), CaptionPresent(caption_column))
