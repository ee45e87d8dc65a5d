"""One PNG with every sampled image: a grid of tiles, each the image (an edit's source beside it) over its
prompt id."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

COLUMNS = 6
_LABEL = 14  # pixels of text under each tile


def contact_sheet(items: list[tuple[Image.Image, str, np.ndarray | None]]) -> Image.Image:
    """`items` of (image, label, edit source or None) as a grid, row by row."""
    if not items:
        return Image.new("RGB", (1, 1), "white")
    side = max(image.width for image, _, _ in items)
    wide = 2 if any(source is not None for _, _, source in items) else 1
    tile = (side * wide, side + _LABEL)
    columns = min(COLUMNS, len(items))
    rows = -(-len(items) // columns)
    sheet = Image.new("RGB", (tile[0] * columns, tile[1] * rows), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (image, label, source) in enumerate(items):
        x, y = (i % columns) * tile[0], (i // columns) * tile[1]
        if source is not None:
            sheet.paste(Image.fromarray(source).resize((side, side)), (x, y))
            sheet.paste(image.resize((side, side)), (x + side, y))
        else:
            sheet.paste(image.resize((side, side)), (x, y))
        draw.text((x + 2, y + side + 1), label[: tile[0] // 6], fill="black")
    return sheet
