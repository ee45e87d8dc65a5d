"""`pixsift select`: the command-line face of engine.select (a spec file, a shipped recipe, or flags)."""

from __future__ import annotations

import argparse


def add_select(sub) -> None:
    p = sub.add_parser(
        "select",
        help="choose rows of a run store by a selection spec and store them as a named selection",
        description="Run a selection spec (a TOML file, a shipped recipe, or the flags below) over a run "
        "store: status ok, filters, the weighted score, best-of-N, top-k and quotas, in spec order. "
        "The kept rows and, for every dropped row, the step that dropped it are written into the store "
        "as selections/NAME.",
    )
    p.add_argument("store", help="run store path or fsspec URL")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--spec", help="selection spec TOML file (see engine/select_spec.py)")
    source.add_argument("--recipe", help="a shipped spec: " + ", ".join(_recipe_names()))
    p.add_argument("--name", help="selection name (default: the spec's name)")
    p.add_argument("--overwrite", action="store_true", help="replace a selection of the same name")
    p.add_argument(
        "--weight",
        action="append",
        metavar="COLUMN=W",
        help="weighted-score term (repeatable); replaces the spec's score (default SynthVLM's)",
    )
    p.add_argument("--min", action="append", metavar="COLUMN=V", help="keep rows with COLUMN >= V (no spec)")
    p.add_argument("--max", action="append", metavar="COLUMN=V", help="keep rows with COLUMN <= V (no spec)")
    p.add_argument("--best-of-n", action="store_true", help="keep the best row of each group (no spec)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--top-k", type=int, help="keep the best K (replaces the spec's top_k size)")
    size.add_argument("--top-fraction", type=float, help="keep the best fraction (replaces the spec's top_k)")
    p.set_defaults(func=run_select)


def _recipe_names() -> list[str]:
    from engine.select.spec import recipe_names

    return recipe_names()


def run_select(args: argparse.Namespace) -> int:
    from engine.select.run import select
    from engine.select.steps import SpecError

    try:
        result = select(args.store, spec_from_args(args), args.name, overwrite=args.overwrite)
    except (SpecError, FileExistsError, FileNotFoundError) as e:
        raise SystemExit(f"pixsift select: {e}") from e
    print(result.text())
    return 0


def spec_from_args(args: argparse.Namespace):
    from engine.select.spec import SelectSpec

    size = {"k": args.top_k} if args.top_k is not None else {"fraction": args.top_fraction}
    resize = args.top_k is not None or args.top_fraction is not None
    if args.spec or args.recipe:
        if args.min or args.max or args.best_of_n:
            raise SystemExit(
                "pixsift select: --min, --max and --best-of-n build a spec; not with --spec/--recipe"
            )
        spec = SelectSpec.from_toml(args.spec) if args.spec else SelectSpec.recipe(args.recipe)
        table = dict(spec.table)
        if resize:
            if not any(s.get("type") == "top_k" for s in table.get("steps", [])):
                raise SystemExit(f"pixsift select: spec {spec.name!r} has no top_k step to resize")
            table["steps"] = [
                {"type": "top_k", **size} if s["type"] == "top_k" else s for s in table["steps"]
            ]
        where = f"{args.spec or 'recipe ' + args.recipe} with flags"
    else:
        if not args.name:
            raise SystemExit("pixsift select: --name is required without --spec or --recipe")
        steps = [
            {"type": "filter", "column": column, bound: value}
            for bound, flags in (("min", args.min), ("max", args.max))
            for column, value in _numbers(flags or [], f"--{bound}").items()
        ]
        steps += [{"type": "best_of_n"}] if args.best_of_n else []
        steps += [{"type": "top_k", **size}] if resize else []
        table, where = {"name": args.name, "steps": steps}, "command line"
    if args.weight:
        table["score"] = _numbers(args.weight, "--weight")
    return SelectSpec.from_table(table, where)


def _numbers(values: list[str], flag: str) -> dict[str, float]:
    numbers = {}
    for value in values:
        column, _, number = value.partition("=")
        try:
            numbers[column] = float(number)
        except ValueError:
            column = ""
        if not column:
            raise SystemExit(f"pixsift select: {flag} takes COLUMN=NUMBER, got {value!r}")
    return numbers
