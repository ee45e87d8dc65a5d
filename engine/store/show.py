"""The rows of a run store, for `pixsift show STORE [--selection NAME]`: key, caption, scores, and why a
row failed or was dropped, as a table or JSONL, without writing any Zarr code.

Rows stream in store order a work unit at a time, and reading stops once `limit` rows matched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pixsift.engine.core.config import Config, SettingError, setting
from pixsift.engine.core.errors import Missing
from pixsift.engine.core.terminal import printable
from pixsift.engine.store.kept_rows import json_safe
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import PAIR_PREFIX, WEIGHTED_SCORE
from pixsift.engine.store.selection import reason_names, selection_group

FORMATS = ("table", "jsonl")
_TEXT = ("key", "caption", "status", "error")
_WIDTHS = {"key": 36, "caption": 48, "error": 48, "reason": 32}  # table cells are cut to these


@dataclass(kw_only=True)
class ShowConfig(Config):
    store: str = setting(positional=True, help="run store path or fsspec URL")
    selection: str | None = setting(None, help="a selection: each row's weighted score, kept or the reason")
    kept: bool = setting(False, help="only the rows the selection kept")
    dropped: bool = setting(False, help="only the rows the selection dropped")
    reason: str | None = setting(
        None, help="only the rows dropped for this reason: its name (top_k) or kind (filter, dedup)"
    )
    failed: bool = setting(False, help="only the rows that failed to score")
    limit: int = setting(20, min=0, help="at most this many rows (0: all)")
    sort: str | None = setting(
        None, help="order the rows by this column (a score, or weighted_score with --selection); NaN last"
    )
    desc: bool = setting(False, help="with --sort: the highest first")
    format: str = setting("table", choices=FORMATS, help="an aligned table, or one JSON object per row")

    def check(self) -> None:
        if self.kept and (self.dropped or self.reason):
            raise SettingError("kept", "give --kept, or --dropped/--reason, not both")
        if (self.kept or self.dropped or self.reason) and not self.selection:
            raise SettingError("selection", "--kept, --dropped and --reason need --selection")
        if self.desc and not self.sort:
            raise SettingError("desc", "--desc orders by --sort COLUMN: give it")
        if self.sort == WEIGHTED_SCORE and not self.selection:
            raise SettingError("sort", f"{WEIGHTED_SCORE} needs --selection")


def show_rows(cfg: ShowConfig) -> Iterator[dict[str, Any]]:
    """The rows `cfg` asks for, as records: text fields, score columns, then the selection's fields."""
    store = RunStore.open(cfg.store, read_only=True)
    scores = [c.name for c in store.score_columns if c.dtype == "float32"]
    chosen = selection_group(store, cfg.selection) if cfg.selection else None
    reasons = reason_names(chosen) if chosen is not None else None
    if cfg.reason is not None and not _reason_codes(reasons, cfg.reason).any():
        named = ", ".join(r for r in reasons if r) or "none: every row was kept"
        raise Missing(f"selection {cfg.selection!r}", f"no reason {cfg.reason!r}", f"its reasons: {named}")
    if cfg.sort is not None and cfg.sort not in (*scores, WEIGHTED_SCORE):
        raise Missing(
            f"--sort {cfg.sort}", "not a score column of the store", f"columns: {', '.join(scores)}"
        )
    matching = _matching(cfg, store, chosen, reasons)
    if cfg.sort is not None:
        matching = _sorted(cfg, store, chosen, matching)
    shown = 0
    for rows in matching:
        if cfg.limit:
            rows = rows[: cfg.limit - shown]
        if not len(rows):
            continue
        yield from row_records(store, rows, chosen)
        shown += len(rows)
        if cfg.limit and shown >= cfg.limit:
            return


def row_records(
    store: RunStore, rows: np.ndarray, chosen=None, first: dict[str, list] | None = None
) -> list[dict[str, Any]]:
    """The records of `rows` (store rows, any order): row, the `first` columns given (one value per row),
    text fields, score columns, then the selection's fields when `chosen` (a selection group) is given."""
    scores = [c.name for c in store.score_columns if c.dtype == "float32"]
    ascending = np.sort(rows)
    back = np.searchsorted(ascending, rows)  # read in store order, give in the order asked

    def read(array) -> np.ndarray:
        return np.asarray(array.oindex[ascending])[back]

    values = dict(first or {})
    values |= {name: read(store.arrays[name]).tolist() for name in (*_TEXT, *scores)}
    if chosen is not None:
        values[WEIGHTED_SCORE] = read(chosen[WEIGHTED_SCORE]).tolist()
        values["kept"] = read(chosen["kept"]).tolist()
        values["reason"] = reason_names(chosen)[read(chosen["reason_code"])].tolist()
    return [
        json_safe({"row": row, **{name: column[i] for name, column in values.items()}})
        for i, row in enumerate(rows.tolist())
    ]


def _matching(cfg: ShowConfig, store: RunStore, chosen, reasons) -> Iterator[np.ndarray]:
    """The store rows that pass the filters, unit by unit, in store order."""
    for unit in store.units():
        span = slice(unit.start, unit.stop)
        match = np.ones(unit.stop - unit.start, bool)
        if cfg.failed:
            match &= store.arrays["status"][span] == "failed"
        if chosen is not None:
            kept, codes = chosen["kept"][span], chosen["reason_code"][span]
            match &= kept if cfg.kept else (~kept if cfg.dropped or cfg.reason else True)
            if cfg.reason is not None:
                match &= _reason_codes(reasons, cfg.reason)[codes]
        yield np.flatnonzero(match) + unit.start


def _sorted(cfg: ShowConfig, store: RunStore, chosen, matching: Iterator[np.ndarray]) -> list[np.ndarray]:
    """All the matching rows in the order of `cfg.sort` (stable: ties in store order; NaN last)."""
    rows = np.concatenate([*matching, np.empty(0, np.int64)])
    column = chosen[WEIGHTED_SCORE] if cfg.sort == WEIGHTED_SCORE else store.arrays[cfg.sort]
    values = np.asarray(column.oindex[rows], dtype=np.float64) if len(rows) else np.empty(0)
    key = -values if cfg.desc else values
    order = np.lexsort((np.arange(len(rows)), key, np.isnan(values)))
    return [rows[order]]


def _reason_codes(reasons: np.ndarray, wanted: str) -> np.ndarray:
    """code -> whether the reason is `wanted`, by name or by kind (the part before ':')."""
    return np.array([bool(r) and (r == wanted or r.split(":", 1)[0] == wanted) for r in reasons], bool)


def jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield printable(json.dumps(row, ensure_ascii=False))


def table(rows: list[dict[str, Any]]) -> str:
    """An aligned table: long text cut with an ellipsis, scores to 4 places, empty cells for null; the
    edit pair columns only when a row shown has them (text-to-image rows have none)."""
    if not rows:
        return "(no rows)"
    names = [
        n
        for n in rows[0]
        if (n not in ("error", "kept") or any(r[n] for r in rows))
        and (not n.startswith(PAIR_PREFIX) or any(r[n] is not None for r in rows))
    ]
    cells = [[_cell(name, row[name]) for name in names] for row in rows]
    widths = [max(len(name), *(len(c[i]) for c in cells)) for i, name in enumerate(names)]
    numeric = [all(_is_number(r[n]) for r in rows if r[n] is not None) for n in names]
    lines = [_line(names, widths, [False] * len(names))]
    lines += [_line(c, widths, numeric) for c in cells]
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    text = printable(str(value).replace("\n", " "))
    width = _WIDTHS.get(name)
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def _line(cells: list[str], widths: list[int], right: list[bool]) -> str:
    padded = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True))
    return "  ".join(padded).rstrip()
