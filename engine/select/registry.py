"""The step types a selection spec may name (`type = "..."` in a [[steps]] table), and for the prompt and
dedup types the steps by `name`: every step registers itself where it is defined (engine.select.steps)."""

from __future__ import annotations

from typing import Any

from pixsift.engine.select import steps as _all_steps  # noqa: F401 -- importing it registers every step
from pixsift.engine.select.steps.base import NAMED, TYPES, SpecError, Step


def step_types() -> list[str]:
    return sorted([*TYPES, *NAMED])


def steps_from_table(table: Any, where: str) -> tuple[Step, ...]:
    """The steps of one [[steps]] table (a filter with both bounds is two steps)."""
    kind = table.get("type") if isinstance(table, dict) else None
    if kind in TYPES:
        return TYPES[kind].from_table(table, where)
    if kind in NAMED:
        names = NAMED[kind]
        if table.get("name") not in names:
            listed = ", ".join(sorted(names))
            raise SpecError(f"{where}: 'name' must be one of {listed}, got {table.get('name')!r}")
        return names[table["name"]].from_table(table, where)
    raise SpecError(f"{where}: 'type' must be one of {', '.join(step_types())}")
