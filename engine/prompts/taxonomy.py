"""A prompt taxonomy (TOML) and the balanced plan drawn from it.

    name = "fine_t2i"
    count = 6000                           prompts to plan (`--count` overrides)
    [[tasks]]       name, weight = 1.0     what the prompt asks of the image (Fine-T2I's task combinations)
    [[categories]]  name, weight = 1.0     what it shows
    [[styles]]      name, weight = 1.0     how it looks
    [[templates]]   name, text, weight     the instruction the writer LLM gets, with {task}, {category},
                                           {style} (and {description}: the entry's own, "" when none)
    enhance = "..."                        the instruction the enhancer LLM gets, with {prompt}
    (each entry may add `description` and `ours = true`: a name we chose, not the source's)

The plan gives every category x style cell its quota: `count` split in proportion to the product of their
weights, by largest remainders (so the quotas sum to `count` exactly, and equal weights give cells that
differ by at most one); each row then draws its task and template by weight, seeded, and the rows are
shuffled (seeded) so that every work unit holds a mix of cells. The writer's instruction is made from a
row's names when the row is written (`Taxonomy.instruction`), not stored.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pixsift.engine.core.candidates import parts_hash
from pixsift.engine.core.config import read_toml
from pixsift.engine.core.errors import BadInput

SHIPPED = Path(__file__).with_name("taxonomies")
AXES = ("tasks", "categories", "styles", "templates")
_ENTRY_KEYS = {"name", "weight", "description", "ours", "text"}
_PLACEHOLDERS = {"task", "category", "style", "description"}


@dataclass(frozen=True)
class Entry:
    name: str
    weight: float = 1.0
    description: str = ""
    text: str = ""  # templates: the writer's instruction


@dataclass(frozen=True)
class Taxonomy:
    name: str
    count: int
    tasks: tuple[Entry, ...]
    categories: tuple[Entry, ...]
    styles: tuple[Entry, ...]
    templates: tuple[Entry, ...]
    enhance: str

    def as_settings(self) -> dict[str, Any]:
        return asdict(self)

    def instruction(self, row: Mapping[str, str]) -> str:
        """What the writer is asked for one row of the plan: its template's text filled in."""
        task, category, style = row["task"], row["prompt_category"], row["style"]
        entries = {e.name: e for axis in ("tasks", "categories", "styles") for e in getattr(self, axis)}
        described = "; ".join(
            entries[n].description for n in (task, category, style) if entries[n].description
        )
        text = next(t.text for t in self.templates if t.name == row["template"])
        return text.format(task=task, category=category, style=style, description=described)


def load_taxonomy(name_or_path: str) -> Taxonomy:
    """A shipped taxonomy by name (engine/prompts/taxonomies/NAME.toml) or a TOML file."""
    path = (
        SHIPPED / f"{name_or_path}.toml"
        if "/" not in name_or_path and not name_or_path.endswith(".toml")
        else Path(name_or_path)
    )
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in SHIPPED.glob("*.toml")))
        raise BadInput(name_or_path, f"no such taxonomy file (shipped taxonomies: {shipped})")
    table = read_toml(path)
    where = str(path)
    if unknown := sorted(table.keys() - {"name", "count", "enhance", "source", *AXES}):
        raise BadInput(where, f"unknown keys {', '.join(unknown)}")
    axes = {axis: _entries(table.get(axis), axis, where) for axis in AXES}
    for template in axes["templates"]:
        _check_placeholders(template.text, _PLACEHOLDERS, f"{where}: template {template.name!r}")
    enhance = table.get("enhance", "")
    if not isinstance(enhance, str):
        raise BadInput(where, "enhance must be text with {prompt}")
    _check_placeholders(enhance, {"prompt"}, f"{where}: enhance")
    count = table.get("count", 0)
    if not isinstance(count, int) or count < 0:
        raise BadInput(where, f"count must be a whole number >= 0, got {count!r}")
    return Taxonomy(str(table.get("name", path.stem)), count, **axes, enhance=enhance)


def _entries(value: Any, axis: str, where: str) -> tuple[Entry, ...]:
    if not isinstance(value, list) or not value:
        raise BadInput(where, f"[[{axis}]] needs at least one entry")
    entries, names = [], set()
    for i, item in enumerate(value):
        at = f"{where}: {axis}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise BadInput(at, "each entry needs a name")
        if unknown := sorted(item.keys() - _ENTRY_KEYS):
            raise BadInput(at, f"unknown keys {', '.join(unknown)}")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            raise BadInput(at, f"weight must be a number > 0, got {weight!r}")
        if item["name"] in names:
            raise BadInput(at, f"{item['name']!r} is named twice")
        if axis == "templates" and not isinstance(item.get("text"), str):
            raise BadInput(at, "a template needs its text")
        names.add(item["name"])
        entries.append(
            Entry(item["name"], float(weight), str(item.get("description", "")), item.get("text", ""))
        )
    return tuple(entries)


def _check_placeholders(text: str, allowed: set[str], where: str) -> None:
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as e:
        raise BadInput(where, f"bad placeholder: {e}") from None
    if unknown := sorted(used - allowed):
        raise BadInput(
            where, f"unknown placeholders {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )


def cell_quotas(taxonomy: Taxonomy, count: int) -> dict[tuple[str, str], int]:
    """Prompts per (category, style): `count` in proportion to the weights, by largest remainders (ties
    to the earlier cell)."""
    cells = [(c, s) for c in taxonomy.categories for s in taxonomy.styles]
    weights = np.array([c.weight * s.weight for c, s in cells])
    exact = count * weights / weights.sum()
    quotas = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[: count - int(quotas.sum())]] += 1
    return {(c.name, s.name): int(q) for (c, s), q in zip(cells, quotas, strict=True)}


def draw_plan(taxonomy: Taxonomy, count: int, seed: int) -> pa.Table:
    """The balanced plan, one row per prompt in shuffled order: `index`, `id` (p000000000, ...), `task`,
    `prompt_category`, `style`, `template` (dictionary-encoded: a plan of millions of rows stays small)."""
    rng = np.random.default_rng(_seed(seed, taxonomy.name))
    quotas = cell_quotas(taxonomy, count)
    cells = np.repeat(np.arange(len(quotas)), list(quotas.values()))
    tasks = _draw(rng, taxonomy.tasks, len(cells))
    templates = _draw(rng, taxonomy.templates, len(cells))
    order = rng.permutation(len(cells))
    cells, tasks, templates = cells[order], tasks[order], templates[order]
    n_styles = len(taxonomy.styles)
    index = np.arange(len(cells))
    return pa.table(
        {
            "index": index,
            "id": np.char.add("p", np.char.zfill(index.astype(str), 9)) if len(index) else [],
            "task": _names(tasks, taxonomy.tasks),
            "prompt_category": _names(cells // n_styles, taxonomy.categories),
            "style": _names(cells % n_styles, taxonomy.styles),
            "template": _names(templates, taxonomy.templates),
        }
    )


def _names(codes: np.ndarray, entries: tuple[Entry, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array([e.name for e in entries]))


def _draw(rng: np.random.Generator, entries: tuple[Entry, ...], n: int) -> np.ndarray:
    weights = np.array([e.weight for e in entries])
    return rng.choice(len(entries), size=n, p=weights / weights.sum())


def _seed(seed: int, name: str) -> int:
    return parts_hash(seed, name) & (2**64 - 1)
