"""`pixsift show`: the rows of a run store or a selection, with their scores and reasons."""

from __future__ import annotations

import itertools

from pixsift.engine.core.commands import add_command, config_from
from pixsift.engine.store.show import ShowConfig


def add(p) -> None:
    add_command(
        p,
        _run,
        config=ShowConfig,
        description="Print the rows of a run store in store order, as an aligned table or JSONL: key, "
        "caption, status, scores; with --selection, the weighted score and whether the row was kept, or "
        "the step that dropped it. Filter with --kept, --dropped, --reason and --failed.",
    )


def _run(args) -> int:
    from pixsift.engine.store.show import jsonl, show_rows, table

    cfg = config_from(args, ShowConfig)
    rows = show_rows(cfg)
    if cfg.format == "jsonl":
        for line in jsonl(rows):
            print(line)
    else:
        print(table(list(itertools.islice(rows, cfg.limit or None))))
    return 0
