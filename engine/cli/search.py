"""`pixsift search`: the rows of a run store nearest a text or an image, by their stored embeddings."""

from __future__ import annotations

import itertools

from pixsift.engine.core.commands import add_command, config_from
from pixsift.engine.score.search_config import SearchConfig


def add(p) -> None:
    add_command(
        p,
        _run,
        config=SearchConfig,
        description="Print the rows of a run store whose image embeddings are nearest a text query (embedded "
        "by the store's own CLIP model) or an image (--image), the nearest first, as `pixsift show` prints "
        "rows, with their cosine similarity; --selection searches a selection's kept rows, --html also "
        "writes a contact sheet. Memory stays flat with the store's size.",
    )


def _run(args) -> int:
    from pixsift.engine.score.search import records, search, write_contact_sheet
    from pixsift.engine.store.show import jsonl, table

    cfg = config_from(args, SearchConfig)
    store, found = search(cfg)
    rows = records(store, found, cfg.selection)
    if cfg.format == "jsonl":
        for line in jsonl(iter(rows)):
            print(line)
    else:
        print(table(list(itertools.islice(rows, cfg.k))))
    if cfg.html:
        write_contact_sheet(cfg.html, store, found, cfg.text or f"image {cfg.image}")
        print(f"contact sheet: {cfg.html}")
    return 0
