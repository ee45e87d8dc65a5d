"""Named recipes, one loader for every stage that has them (selection specs, training settings).

A recipe is a TOML file: one shipped in a package's `recipes/` folder, named without `.toml`, or any file
given by its path. A recipe may name another as `base = "<name or path>"`: the base is read first and the
recipe's keys replace its keys, tables merging key by key (`[optim]` in a recipe changes only the keys it
names) while other values, lists included, are replaced whole.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from engine.core.config import read_toml
from engine.core.errors import BadInput, NotFound


def recipe_names(package: str) -> list[str]:
    """The names of the recipes shipped in `package`'s recipes folder."""
    folder = resources.files(package) / "recipes"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def recipe_path(package: str, recipe: str, what: str) -> Path:
    """The file of `recipe`: a shipped name in `package`, or a TOML file; `what` names it in errors."""
    shipped = resources.files(package) / "recipes" / f"{recipe}.toml"
    if shipped.is_file():
        return Path(str(shipped))
    if Path(recipe).is_file():
        return Path(recipe)
    raise NotFound(
        recipe,
        f"no such {what}: not a TOML file, and the shipped ones are {', '.join(recipe_names(package))}",
    )


def load_recipe(package: str, recipe: str, what: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The table of `recipe` merged over its `base` chain (the `base` key removed)."""
    if recipe in _seen:
        raise BadInput(recipe, f"{what}s' bases form a cycle ({' -> '.join((*_seen, recipe))})")
    table = read_toml(recipe_path(package, recipe, what))
    base = table.pop("base", None)
    if base is None:
        return table
    if not isinstance(base, str):
        raise BadInput(recipe, f"'base' must name a recipe, got {base!r}")
    merged = load_recipe(package, base, what, (*_seen, recipe))
    for name, value in table.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    return merged
