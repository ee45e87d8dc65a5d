"""Named recipes, one loader for every stage that has them (selection specs, training settings).

A recipe is a TOML file: one shipped in a package's `recipes/` folder (found beside the module that names
it, not through importlib.resources, which cannot read pixsift's namespace packages in an editable install on
Python 3.11), named without `.toml`, or any file
given by its path. A recipe may name another as `base = "<name or path>"`: the base is read first and the
recipe's keys replace its keys, tables merging key by key (`[optim]` in a recipe changes only the keys it
names) while other values, lists included, are replaced whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pixsift.engine.core.config import read_toml
from pixsift.engine.core.errors import BadInput, NotFound


def recipe_names(folder: Path) -> list[str]:
    """The names of the recipes shipped in `folder`."""
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def recipe_path(folder: Path, recipe: str, what: str) -> Path:
    """The file of `recipe`: a name shipped in `folder`, or a TOML file; `what` names it in errors."""
    shipped = folder / f"{recipe}.toml"
    if shipped.is_file():
        return shipped
    if Path(recipe).is_file():
        return Path(recipe)
    raise NotFound(
        recipe,
        f"no such {what}: not a TOML file, and the shipped ones are {', '.join(recipe_names(folder))}",
    )


def load_recipe(folder: Path, recipe: str, what: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The table of `recipe` merged over its `base` chain (the `base` key removed)."""
    if recipe in _seen:
        raise BadInput(recipe, f"{what}s' bases form a cycle ({' -> '.join((*_seen, recipe))})")
    table = read_toml(recipe_path(folder, recipe, what))
    base = table.pop("base", None)
    if base is None:
        return table
    if not isinstance(base, str):
        raise BadInput(recipe, f"'base' must name a recipe, got {base!r}")
    merged = load_recipe(folder, base, what, (*_seen, recipe))
    for name, value in table.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    return merged
