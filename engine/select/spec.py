"""A selection spec: the weighted score and the ordered steps of `pixsift select`, read from TOML.

    name = "synthvlm"                 # the selection's default name
    description = "..."

    [score]                           # weighted score = sum of weight * column, each term clipped
    clip_cosine = { weight = 1.0, min = 0.0 }   # to [min, max] when given; `column = 0.5` is
    ssim_roundtrip = 0.5                         # shorthand for { weight = 0.5 }

    [[steps]]                         # run in this order over the rows still alive, after status ok
    type = "filter"                   # filter | best_of_n | top_k | quota | prompt | dedup
    column = "clip_cosine"
    min = 0.2

The keys of each step type are in engine.select_steps. Shipped recipes live in engine/recipes/.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from engine.select.steps import STEP_TYPES, ScoreTerm, SpecError, StatusOk, Step, check_keys

DEFAULT_SCORE = {"clip_cosine": {"weight": 1.0, "min": 0.0}, "ssim_roundtrip": {"weight": 0.5}}  # SynthVLM


@dataclass(frozen=True)
class SelectSpec:
    name: str
    description: str
    score: tuple[ScoreTerm, ...]
    steps: tuple[Step, ...]
    table: dict[str, Any]  # the spec as read, with the default score filled in

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> SelectSpec:
        """The spec in `table` (parsed TOML); errors name `where` (the file or recipe) and the key."""
        table = copy.deepcopy(table)
        check_keys(table, {"name", "description", "score", "steps"}, where)
        table.setdefault("score", copy.deepcopy(DEFAULT_SCORE))
        if not isinstance(table["score"], dict) or not table["score"]:
            raise SpecError(f"{where}: [score] must name at least one column")
        score = tuple(
            ScoreTerm.from_value(column, v, f"{where} [score]") for column, v in table["score"].items()
        )
        steps = []
        for i, step in enumerate(table.get("steps", []), start=1):
            here = f"{where} step {i}"
            if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
                raise SpecError(f"{here}: 'type' must be one of {', '.join(STEP_TYPES)}")
            steps.extend(STEP_TYPES[step["type"]].from_table(step, here))
        reasons = [StatusOk().reason] + [s.reason for s in steps]
        if repeated := sorted({r for r in reasons if reasons.count(r) > 1}):
            raise SpecError(f"{where}: two steps drop rows as {', '.join(repeated)}; merge or remove one")
        return cls(str(table.get("name", "")), str(table.get("description", "")), score, tuple(steps), table)

    @classmethod
    def from_toml(cls, path: str | Path) -> SelectSpec:
        try:
            table = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise SpecError(f"selection spec {path}: {e}") from e
        return cls.from_table(table, str(path))

    @classmethod
    def recipe(cls, name: str) -> SelectSpec:
        """A shipped recipe from engine/recipes/."""
        path = resources.files("engine.select") / "recipes" / f"{name}.toml"
        if not path.is_file():
            raise SpecError(f"no recipe named {name!r}; shipped recipes: {', '.join(recipe_names())}")
        return cls.from_table(tomllib.loads(path.read_text()), f"recipe {name}")


def recipe_names() -> list[str]:
    folder = resources.files("engine.select") / "recipes"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))
