"""The step types a selection spec may name (`type = "..."` in a [[steps]] table), and for the prompt and
dedup types the steps by `name`; each builds its steps with `from_table(table, where)`."""

from __future__ import annotations

from typing import Any

from pixsift.engine.select.dedup.steps import ExactDedup, SemanticDedup
from pixsift.engine.select.steps.base import SpecError, Step
from pixsift.engine.select.steps.filters import Bound
from pixsift.engine.select.steps.prompt import (
    BlocklistFilter,
    CharsetFilter,
    LanguageFilter,
    LengthFilter,
    NearDuplicateCaptions,
)
from pixsift.engine.select.steps.ranked import BestOfN, Quota, TopK

STEP_TYPES: dict[str, Any] = {"filter": Bound, "best_of_n": BestOfN, "top_k": TopK, "quota": Quota}
NAMED_STEPS: dict[str, dict[str, Any]] = {
    "prompt": {
        "length": LengthFilter,
        "charset": CharsetFilter,
        "language": LanguageFilter,
        "blocklist": BlocklistFilter,
        "near_duplicate": NearDuplicateCaptions,
    },
    "dedup": {"exact": ExactDedup, "semantic": SemanticDedup},
}


def step_types() -> list[str]:
    return [*STEP_TYPES, *NAMED_STEPS]


def steps_from_table(table: Any, where: str) -> tuple[Step, ...]:
    """The steps of one [[steps]] table (a filter with both bounds is two steps)."""
    kind = table.get("type") if isinstance(table, dict) else None
    if kind in STEP_TYPES:
        return STEP_TYPES[kind].from_table(table, where)
    if kind in NAMED_STEPS:
        names = NAMED_STEPS[kind]
        if table.get("name") not in names:
            raise SpecError(f"{where}: 'name' must be one of {', '.join(names)}, got {table.get('name')!r}")
        return names[table["name"]].from_table(table, where)
    raise SpecError(f"{where}: 'type' must be one of {', '.join(step_types())}")
