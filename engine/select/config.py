"""Settings of `pixsift select`: the store, and the spec to run as a file, a shipped recipe, or flags that
build one (or change a file's or recipe's weighted score and top-k size)."""

from __future__ import annotations

from dataclasses import dataclass

from pixsift.engine.core.config import Config, SettingError, parse_override, setting
from pixsift.engine.select.spec import SelectSpec


@dataclass(kw_only=True)
class SelectConfig(Config):
    store: str = setting(positional=True, help="run store path or fsspec URL")
    spec: str | None = setting(None, help="selection spec TOML file (see engine/select/spec.py)")
    recipe: str | None = setting(
        None, help="a shipped spec (engine/select/recipes/): synthvlm, fine_t2i, datacomp, sharegpt4o"
    )
    name: str | None = setting(None, help="selection name (default: the spec's name)")
    overwrite: bool = setting(False, help="replace a selection of the same name")
    allow_partial: bool = setting(
        False,
        help="go on with a store whose scoring stopped part-way, leaving its unscored rows out (counted)",
    )
    weight: dict[str, float] = setting(
        factory=dict, metavar="COLUMN=W", help="weighted-score term (repeatable); replaces the spec's score"
    )
    min: dict[str, float] = setting(
        factory=dict, metavar="COLUMN=V", help="keep rows with COLUMN >= V (no spec)"
    )
    max: dict[str, float] = setting(
        factory=dict, metavar="COLUMN=V", help="keep rows with COLUMN <= V (no spec)"
    )
    best_of_n: bool = setting(False, help="keep the best row of each group (no spec)")
    top_k: int | None = setting(None, min=0, help="keep the best K (replaces the spec's top_k size)")
    top_fraction: float | None = setting(
        None, min=0.0, max=1.0, help="keep the best fraction (replaces the spec's top_k size)"
    )
    caption_column: str | None = setting(
        None,
        help="take text-to-image rows' captions from this column (a `pixsift caption` column, e.g. "
        "caption_vlm) in every step, the export and tokenize; replaces the spec's caption_column",
    )
    overrides: list[str] = setting(
        factory=list,
        flag="--set",
        metavar="STEP.KEY=VALUE",
        help="change one key of a step: STEP is its type where the spec has one step of that type, else its "
        "position (1 is the first); score.COLUMN=W changes a weight",
    )

    def check(self) -> None:
        if self.spec and self.recipe:
            raise SettingError("recipe", "give --spec or --recipe, not both")
        if self.top_k is not None and self.top_fraction is not None:
            raise SettingError("top_fraction", "give --top-k or --top-fraction, not both")
        if (self.spec or self.recipe) and (self.min or self.max or self.best_of_n):
            raise SettingError("min", "--min, --max and --best-of-n build a spec; not with --spec/--recipe")
        if not (self.spec or self.recipe or self.name):
            raise SettingError("name", "is required without --spec or --recipe")

    def selection_name(self) -> str:
        """The name the selection is stored under: --name, else the spec's."""
        return self.name or self.to_spec().name

    def to_spec(self) -> SelectSpec:
        """The spec to run: the file or recipe with the flags' changes, or the one the flags build."""
        size = {"k": self.top_k} if self.top_k is not None else {"fraction": self.top_fraction}
        resize = self.top_k is not None or self.top_fraction is not None
        if self.spec or self.recipe:
            spec = SelectSpec.from_toml(self.spec) if self.spec else SelectSpec.recipe(self.recipe)
            table = dict(spec.table)
            if resize:
                if not any(s.get("type") == "top_k" for s in table.get("steps", [])):
                    raise SettingError("top_k", f"spec {spec.name!r} has no top_k step to resize")
                table["steps"] = [
                    {"type": "top_k", **size} if s["type"] == "top_k" else s for s in table["steps"]
                ]
            where = f"{self.spec or 'recipe ' + self.recipe} with flags"
        else:
            steps = [
                {"type": "filter", "column": column, bound: value}
                for bound, values in (("min", self.min), ("max", self.max))
                for column, value in values.items()
            ]
            steps += [{"type": "best_of_n"}] if self.best_of_n else []
            steps += [{"type": "top_k", **size}] if resize else []
            table, where = {"name": self.name, "steps": steps}, "command line"
        if self.weight:
            table["score"] = dict(self.weight)
        if self.caption_column:
            table["caption_column"] = self.caption_column
        if self.overrides:
            table, where = _overridden(table, self.overrides), f"{where} and --set"
        return SelectSpec.from_table(table, where)


def _overridden(table: dict, overrides: list[str]) -> dict:
    """The spec table with each `--set STEP.KEY=VALUE` (or score.COLUMN=W) applied."""
    steps = [dict(step) for step in table.get("steps", [])]
    score = dict(table.get("score", {}))
    for item in overrides:
        path, value = parse_override(item)
        if len(path) != 2:
            raise SettingError("overrides", f"{item!r}: takes STEP.KEY=VALUE", "--set")
        step, key = path
        if step == "score":
            score[key] = value
            continue
        types = [s.get("type") for s in steps]
        if step.isdigit() and 1 <= int(step) <= len(steps):
            index = int(step) - 1
        elif types.count(step) == 1:
            index = types.index(step)
        else:
            problem = "more than one step is" if types.count(step) > 1 else "no step is"
            listed = ", ".join(f"{i} {t}" for i, t in enumerate(types, 1))
            raise SettingError("overrides", f"{item!r}: {problem} {step!r}; the steps are {listed}", "--set")
        if steps[index].get("type") == "top_k" and key in TOP_K_SIZES:  # the size is one or the other
            for other in TOP_K_SIZES:
                steps[index].pop(other, None)
        steps[index][key] = value
    return {**table, "steps": steps, "score": score}


TOP_K_SIZES = ("k", "fraction")
