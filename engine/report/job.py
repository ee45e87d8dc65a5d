"""`pixsift report`: one self-contained HTML page about a selection, plus its plots as PNG files.

The page opens from disk with no server and no network: plots and thumbnails are embedded as data: URIs,
there is no script. It shows the funnel of kept and dropped counts per step (and per task when the store
holds text-to-image and editing rows), the weighted-score distribution with the cut (the lowest weighted
score kept), a histogram of every score with the spec's thresholds (the edit pair metrics among them), kept
counts per category and style, kept shares per generator and enhancer, and thumbnail grids of the kept and
dropped candidates nearest the cut, of editing pairs (source -> edit, with the instruction and pair metrics)
and of duplicate groups, each with its caption, scores and drop reason.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

from pixsift.engine.io.ownership import claim, refuse_overlap
from pixsift.engine.report.config import OUTPUT_KIND, REPORT, report_folder
from pixsift.engine.report.data import SIZE_COLUMNS, ReportData, gather
from pixsift.engine.report.plots import counts_plot, funnel_plot, histogram_plot
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import WEIGHTED_SCORE
from pixsift.engine.store.selection import (
    CAPTION,
    caption_column,
    reason_names,
    selection_group,
    with_captions,
)
from pixsift.engine.store.thumbnails import is_image, source_thumbnails, thumbnails

_CARD_FIELDS = ("clip_cosine", "ssim_roundtrip")
_PAIR_FIELDS = ("edit_ssim", "edit_clip_i", "edit_direction")
_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; } .plots img { max-width: 600px; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; }
.card { width: 172px; border: 1px solid #ddd; border-radius: 4px; padding: 5px; font-size: 11px; }
.card img { width: 160px; height: 160px; object-fit: contain; background: #f4f4f4; display: block; }
.pair { width: 340px; } .pair .images { display: flex; gap: 4px; align-items: center; }
.card .missing { width: 160px; height: 160px; background: #fee; overflow: hidden; }
.warning { color: #c00; font-weight: bold; }
.kept { border-color: #2a9d8f; } .dropped { border-color: #c8c8c8; opacity: 0.85; }
.caption { margin: 4px 0; max-height: 4.2em; overflow: hidden; }
.group { margin-bottom: 12px; } table { border-collapse: collapse; }
td, th { padding: 2px 10px; text-align: right; border-bottom: 1px solid #eee; }
td:first-child { text-align: left; }
"""


def write_report(
    store_url: str, selection: str, out: str | Path | None = None, *, allow_partial: bool = False
) -> Path:
    """Write report.html and its plots into `out` (default `<store>-report-<selection>`); the page's path.
    A store with unscored rows is refused unless `allow_partial`."""
    store = RunStore.open(store_url, read_only=True)
    store.require_scored(allow_partial)
    data = gather(store, selection)
    folder = report_folder(store.url, selection, out)
    refuse_overlap(str(folder), store.url, "the run store")
    claim(str(folder), OUTPUT_KIND, {"store": store.url, "selection": selection})
    plots = _plots(data, folder)
    pairs = data.pairs_kept + data.pairs_dropped
    shown = data.near_cut_kept + data.near_cut_dropped + [r for g in data.dup_groups for r in g] + pairs
    cards = _Cards(store, selection, shown, pairs)
    sections = [
        _header(store, selection, data),
        _section("Funnel", _funnel_table(data) + _images(*_named(plots, "funnel"))),
        *([_section("Funnel per task", _task_funnel_table(data))] if data.task_funnel else []),
        _section("Failed rows by reason", _failures_table(store)),
        _section("Weighted score and the cut", _images(*_named(plots, WEIGHTED_SCORE))),
        _section("Scores", _images(*_named(plots, "score:"))),
        _section("Kept per category, style and format", _images(*_named(plots, "count:"))),
        _section("Kept per input", _sources_table(data)),
        *([_section("Kept per generator and enhancer", _provenance_table(data))] if data.provenance else []),
        _section("Sizes: width, height, bytes", _images(*_named(plots, "size:"))),
        _section("Kept nearest the cut", cards.grid(data.near_cut_kept)),
        _section("Dropped nearest the cut", cards.grid(data.near_cut_dropped)),
        *([_section("Editing pairs kept nearest the cut: source -> edit", cards.pairs(data.pairs_kept)),
           _section("Editing pairs dropped nearest the cut: source -> edit", cards.pairs(data.pairs_dropped))]
          if pairs else []),
        _section("Duplicate groups (kept member first)", "".join(
            f'<div class="group">{cards.grid(group)}</div>' for group in data.dup_groups) or "<p>none</p>"),
    ]  # fmt: skip
    page = folder / REPORT
    page.write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>pixsift report: {html.escape(selection)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(sections)}</body></html>\n",
        encoding="utf-8",
    )
    return page


def _plots(data: ReportData, folder: Path) -> dict[str, Path]:
    plots = {"funnel": funnel_plot(data.funnel, folder / "funnel.png")} if data.funnel else {}
    for histogram in data.histograms:
        kind = "size" if histogram.column in SIZE_COLUMNS else "score"
        name = WEIGHTED_SCORE if histogram.column == WEIGHTED_SCORE else f"{kind}:{histogram.column}"
        plots[name] = histogram_plot(histogram, data.cut, folder / f"hist-{histogram.column}.png")
    for name, counts in data.counts.items():
        plots[f"count:{name}"] = counts_plot(name, counts, folder / f"counts-{name}.png")
    return plots


def _named(plots: dict[str, Path], prefix: str) -> list[Path]:
    return [path for name, path in plots.items() if name.startswith(prefix)]


def _header(store: RunStore, selection: str, data: ReportData) -> str:
    spec = html.escape(json.dumps(data.spec, indent=1, default=str))
    return (
        f"<h1>Selection {html.escape(selection)}</h1>"
        f"<p>{data.n_kept:,} of {data.n_rows:,} candidates kept; cut (lowest weighted score kept): "
        f"{_number(data.cut)}. Store: <code>{html.escape(store.url)}</code></p>"
        f"{_model_line(store)}"
        f"<details><summary>spec</summary><pre>{spec}</pre></details>"
    )


def _model_line(store: RunStore) -> str:
    """The CLIP model the store was scored with, and a warning in red when its weights were random."""
    embedder = store.config.get("embedder") or {}
    if not embedder:
        return "<p>Scored by: not recorded in the store.</p>"
    model, weights = html.escape(str(embedder.get("model"))), html.escape(str(embedder.get("pretrained")))
    line = f"<p>Scored by: CLIP <code>{model}</code>, weights <code>{weights}</code>.</p>"
    if embedder.get("pretrained") == "random":
        line += (
            '<p class="warning">Random weights: the CLIP scores rank nothing but noise (a test or benchmark '
            "store); score with trained weights (--clip-pretrained) before selecting for real.</p>"
        )
    return line


def _failures_table(store: RunStore) -> str:
    """Every failed row counted by the kind of its error (engine.core.candidates)."""
    _, errors = store.totals()
    if not errors:
        return "<p>none</p>"
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{n:,}</td></tr>" for k, n in errors.most_common())
    return f"<table><tr><th>reason</th><th>rows</th></tr>{rows}</table>"


def _sources_table(data: ReportData, shown: int = 50) -> str:
    """Rows and kept rows of each input file (the largest `shown`, the rest summed)."""
    largest = sorted(data.sources, key=lambda s: -s[1])
    rest = largest[shown:]
    if rest:
        largest = [
            *largest[:shown],
            (f"{len(rest):,} more inputs", sum(s[1] for s in rest), sum(s[2] for s in rest)),
        ]
    rows = "".join(
        f"<tr><td><code>{html.escape(path)}</code></td><td>{n:,}</td><td>{kept:,}</td>"
        f"<td>{kept / n:.1%}</td></tr>"
        for path, n, kept in largest
    )
    header = "<tr><th>input</th><th>rows</th><th>kept</th><th>kept share</th></tr>"
    return f"<table>{header}{rows}</table>" if rows else "<p>the store records no inputs</p>"


def _provenance_table(data: ReportData) -> str:
    """Rows, kept rows and kept share per image generator, prompt generator and enhancer."""
    rows = "".join(
        f"<tr><td>{html.escape(field)}</td><td><code>{html.escape(value)}</code></td><td>{n:,}</td>"
        f"<td>{kept:,}</td><td>{kept / n:.1%}</td></tr>"
        for field, values in data.provenance.items()
        for value, (n, kept) in values.items()
    )
    header = "<tr><th>field</th><th>value</th><th>rows</th><th>kept</th><th>kept share</th></tr>"
    return f"<table>{header}{rows}</table>"


def _funnel_table(data: ReportData) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(str(s['step']))}</td><td>{s['dropped']:,}</td><td>{s['remaining']:,}</td></tr>"
        for s in data.funnel
    )
    return f"<table><tr><th>step</th><th>dropped</th><th>remaining</th></tr>{rows}</table>"


def _task_funnel_table(data: ReportData) -> str:
    tasks = list(data.task_funnel)
    header = "<tr><th>step</th>" + "".join(
        f"<th>{html.escape(t)} dropped</th><th>{html.escape(t)} remaining</th>" for t in tasks
    )
    steps = zip(*data.task_funnel.values(), strict=True)
    rows = "".join(
        f"<tr><td>{html.escape(cells[0][0])}</td>"
        + "".join(f"<td>{dropped:,}</td><td>{remaining:,}</td>" for _, dropped, remaining in cells)
        + "</tr>"
        for cells in steps
    )
    return f"<table>{header}</tr>{rows}</table>"


def _section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>{body}"


def _images(*paths: Path) -> str:
    if not paths:
        return "<p>none</p>"
    tags = (
        f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}" alt="{p.stem}">'
        for p in paths
    )
    return f'<div class="plots">{"".join(tags)}</div>'


def _number(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "n/a"


class _Cards:
    """Thumbnail cards of the rows shown: caption, scores and reason, read for those rows only; editing
    pairs (`pairs`) with their source's thumbnail and pair metrics too."""

    def __init__(self, store: RunStore, selection: str, rows: list[int], pairs: list[int]):
        rows = sorted(set(rows))
        chosen = selection_group(store, selection)
        self._images = thumbnails(store, rows) if rows else {}
        self._sources = source_thumbnails(store, pairs)
        fields = [f for f in _PAIR_FIELDS if f in store.arrays] if pairs else []
        columns = {name: store.arrays[name] for name in ("key", "caption", *_CARD_FIELDS, *fields)}
        columns |= {name: chosen[name] for name in ("reason_code", WEIGHTED_SCORE)}
        read = {name: array.oindex[rows].tolist() if rows else [] for name, array in columns.items()}
        read["reason"] = reason_names(chosen)[read.pop("reason_code")].tolist()
        if (captions := caption_column(chosen)) != CAPTION and rows:
            tasks, replaced = store.arrays["task"].oindex[rows], store.arrays[captions].oindex[rows]
            read[CAPTION] = with_captions(read[CAPTION], tasks, replaced).tolist()
        self._fields = {row: {name: read[name][i] for name in read} for i, row in enumerate(rows)}

    def grid(self, rows: list[int]) -> str:
        return f'<div class="grid">{"".join(self._card(r) for r in rows)}</div>' if rows else "<p>none</p>"

    def pairs(self, rows: list[int]) -> str:
        if not rows:
            return "<p>none</p>"
        return f'<div class="grid">{"".join(self._card(r, pair=True) for r in rows)}</div>'

    def _card(self, row: int, pair: bool = False) -> str:
        f = self._fields[row]
        picture = _picture(self._images[row], f["key"])
        names = (WEIGHTED_SCORE, *_CARD_FIELDS)
        if pair:
            picture = f'<div class="images">{_picture(self._sources[row], "source")}&rarr;{picture}</div>'
            names = (WEIGHTED_SCORE, *(n for n in _PAIR_FIELDS if n in f))
        scores = " · ".join(f"{name} {_number(f[name])}" for name in names)
        reason = html.escape(f["reason"]) if f["reason"] else "kept"
        kind = ("dropped" if f["reason"] else "kept") + (" pair" if pair else "")
        return (
            f'<div class="card {kind}">{picture}'
            f'<div class="caption" title="{html.escape(f["caption"])}">{html.escape(f["caption"])}</div>'
            f"<div>{scores}</div><div><b>{reason}</b> · row {row}</div></div>"
        )


def _picture(image: str, name: str) -> str:
    """An image's thumbnail (a data: URI), or the reason it has none."""
    if is_image(image):
        return f'<img src="{image}" alt="{html.escape(name)}">'
    return f'<div class="missing">{html.escape(image)}</div>'
