"""`pixsift search STORE "a red bicycle"` or `--image FILE`: the rows whose stored image embeddings are
nearest a query by cosine (kernels.topk_cosine), read a work unit at a time and merged into a running
top k, so memory stays flat with the store's size. The query is embedded by the store's own CLIP model
(its recorded settings: model, weights, config file, text prefix): a text by the text tower, an image,
decoded and prepared as score prepares images, by the image tower. Failed rows (no embedding) are never
returned; `--selection` searches the rows a selection kept.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixsift.engine.core.device import worker_device
from pixsift.engine.core.errors import BadInput, Exists, Missing
from pixsift.engine.decode.pil import rgb_or_reason
from pixsift.engine.decode.probe import probe
from pixsift.engine.io.paths import write_whole
from pixsift.engine.score.embed import ClipEmbedder
from pixsift.engine.score.preprocess import clip_pixels
from pixsift.engine.score.search_config import SearchConfig
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.selection import selection_group
from pixsift.engine.store.show import row_records
from pixsift.engine.store.thumbnails import is_image, thumbnails
from pixsift.kernels.similarity import topk_cosine

SIMILARITY = "similarity"  # the column search adds to the rows it prints
HTML_MARK = "<!-- pixsift search -->"  # a contact sheet search wrote, which a later search may replace


@dataclass(frozen=True)
class Found:
    rows: np.ndarray  # store rows, the nearest first (ties: the lower row)
    similarity: np.ndarray  # their cosines with the query


def search(cfg: SearchConfig) -> tuple[RunStore, Found]:
    store = RunStore.open(cfg.store, read_only=True)
    chosen = selection_group(store, cfg.selection) if cfg.selection else None
    device = worker_device(cfg.device)
    embedder = stored_embedder(store, device)
    query = _query(cfg, embedder)
    return store, nearest(store, query, cfg.k, chosen)


def stored_embedder(store: RunStore, device: torch.device) -> ClipEmbedder:
    """The CLIP model the store was scored with, as its settings record it."""
    settings = store.config
    embedder = settings.get("embedder") or {}
    if not embedder:
        raise Missing(store.url, "records no CLIP model (a store from before pixsift recorded it)")
    return ClipEmbedder(
        None if settings.get("clip_config") else embedder["model"],
        pretrained=settings.get("clip_pretrained"),
        random_init=bool(settings.get("clip_random_init")),
        config_file=settings.get("clip_config"),
        device=device,
        text_prefix=settings.get("text_prefix") or "",
    )


def nearest(store: RunStore, query: torch.Tensor, k: int, chosen=None) -> Found:
    """The k scored rows (of `chosen`'s kept rows, when given) of highest cosine with `query` (1 x D)."""
    best_rows, best_values = np.empty(0, np.int64), np.empty(0, np.float32)
    embeddings = store.arrays["image_embedding"]
    for unit in store.units():
        span = slice(unit.start, unit.stop)
        usable = store.arrays["status"][span] == "ok"
        if chosen is not None:
            usable &= chosen["kept"][span]
        rows = np.flatnonzero(usable)
        if not len(rows):
            continue
        keys = torch.from_numpy(np.asarray(embeddings[span])).to(query.device)  # float16 until there
        if len(rows) < len(usable):
            keys = keys[torch.from_numpy(rows).to(query.device)]
        keys = keys.to(query.dtype)
        values, index = topk_cosine(query, keys, min(k, len(rows)))
        best_rows = np.concatenate([best_rows, rows[index[0].cpu().numpy()] + unit.start])
        best_values = np.concatenate([best_values, values[0].float().cpu().numpy()])
        order = np.lexsort((best_rows, -best_values))[:k]
        best_rows, best_values = best_rows[order], best_values[order]
    return Found(best_rows, best_values)


def records(store: RunStore, found: Found, selection: str | None) -> list[dict[str, Any]]:
    """The rows found as `pixsift show` prints them, with their similarity first."""
    chosen = selection_group(store, selection) if selection else None
    return row_records(store, found.rows, chosen, {SIMILARITY: found.similarity.tolist()})


def write_contact_sheet(path: str, store: RunStore, found: Found, title: str) -> None:
    """A self-contained HTML page of the rows found: thumbnail, key, caption and similarity. A file there
    that an earlier search did not write is refused, never replaced."""
    target = Path(path)
    if target.exists() and not target.read_text(errors="replace").startswith(HTML_MARK):
        raise Exists(path, "exists and was not written by pixsift search; refusing to replace it")
    pictures = thumbnails(store, found.rows.tolist())
    rows = row_records(store, found.rows, None, {SIMILARITY: found.similarity.tolist()})
    cards = "".join(_card(row, pictures[row["row"]]) for row in rows)
    style = (
        "body{font:14px system-ui,sans-serif;margin:24px}.grid{display:flex;flex-wrap:wrap;gap:10px}"
        ".card{width:172px;border:1px solid #ddd;padding:5px;font-size:11px}"
        ".card img{width:160px;height:160px;object-fit:contain;background:#f4f4f4}"
    )
    write_whole(
        target,
        f'{HTML_MARK}\n<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>pixsift search'
        f"</title><style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{len(rows)} rows of <code>{html.escape(store.url)}</code>, the nearest first</p>"
        f'<div class="grid">{cards}</div></body></html>\n',
    )


def _card(row: dict[str, Any], picture: str) -> str:
    image = (
        f'<img src="{picture}" alt="{html.escape(row["key"])}">'
        if is_image(picture)
        else f"<div>{html.escape(picture)}</div>"
    )
    return (
        f'<div class="card">{image}<div>{html.escape(row["caption"])}</div>'
        f"<div>{SIMILARITY} {row[SIMILARITY]:.4f} · row {row['row']}</div></div>"
    )


def _query(cfg: SearchConfig, embedder: ClipEmbedder) -> torch.Tensor:
    """The query's embedding, 1 x D float32."""
    if cfg.text is not None:
        return embedder.encode_texts([cfg.text])
    try:
        data = Path(cfg.image).read_bytes()
    except OSError as e:
        raise BadInput(f"--image {cfg.image}", f"cannot be read ({e.strerror or e})") from None
    rgb, error = rgb_or_reason(data, probe(data))
    if error:
        raise BadInput(f"--image {cfg.image}", error)
    pixels = clip_pixels(torch.from_numpy(rgb).permute(2, 0, 1).contiguous(), embedder.preprocess)
    return embedder.encode_images(pixels[None])
