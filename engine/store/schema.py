"""The columns of a run store and the names every stage shares: one definition of each.

A run store is one Zarr v3 group, one row per candidate (engine.store.run_store):

Plan columns, written once when the job is planned (engine.io.sources gives the entries):

    key          str      stable candidate key
    caption      str      the caption
    source       str      the tar shard or image file holding the image, absolute path or URL
    offset       int64    byte offset of the image in `source`
    length       int64    byte length of the image; -1 = the whole file
    group        str      candidates of one prompt (best-of-N); "" when absent
    task, category, style, source_key   str   metadata carried through; "" when absent
    seed         int64    generation seed; -1 when absent
    meta         str      the sample's other metadata as a JSON object (img2dataset's url, ...); "" when none
    plan_error   str      why the candidate is known bad from the scan alone; "" when it is not
    group_id     int64    stable 64-bit hash of `group` (BLAKE2b); -1 when `group` is ""
    category_id, style_id   int32   codes of `category` and `style` in the vocabularies; -1 for ""

The integer columns let selection group 100M rows without decoding 100M strings.

Score columns, created with the plan (filled with their fill value) and written by work units:

    status           str          "ok" or "failed"; "" = not scored yet
    error            str          "kind: detail" when failed, "" when ok
    image_embedding  float16      N x image_dim, NaN where there is none
    text_embedding   float16      N x text_dim, NaN where there is none
    clip_cosine      float32      cosine of the two embeddings; NaN when failed
    clip_score       float32      CLIPScore; NaN when failed
    ssim_roundtrip   float32      round-trip SSIM fidelity; NaN when failed
    width, height    int32        image size in pixels; -1 when unknown
    byte_size        int64        encoded image size in bytes; -1 when unknown
    format           str          image format ("jpeg", "png", ...); "" when unknown
    content_hash     int64        64-bit BLAKE2b of the image bytes, the exact-duplicate key; 0 when unread
    edit_clip_i, edit_direction, edit_ssim, edit_l1
                     float32      an edit against its source (engine.score.edit_pairs); NaN but for edits
    <extra>          float32      one column per extra scorer named at creation; NaN when failed
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # a numpy dtype name, or "str" for variable-length UTF-8
    fill: Any
    doc: str
    width: str = ""  # the layout key giving the second dimension; "" for one value per row


PLAN_COLUMNS = (
    Column("key", "str", "", "stable candidate key"),
    Column("caption", "str", "", "the caption"),
    Column("source", "str", "", "tar shard or image file holding the image, absolute path or URL"),
    Column("offset", "int64", 0, "byte offset of the image in source"),
    Column("length", "int64", -1, "byte length of the image; -1 = the whole file"),
    Column("group", "str", "", "candidates of one prompt (best-of-N)"),
    Column("task", "str", "", "task, carried from the input"),
    Column("category", "str", "", "prompt category, carried from the input"),
    Column("style", "str", "", "style, carried from the input"),
    Column("source_key", "str", "", "the candidate's id in the dataset it came from"),
    Column("seed", "int64", -1, "generation seed; -1 when absent"),
    Column("meta", "str", "", "the sample's other metadata as a JSON object; '' when none"),
    Column("plan_error", "str", "", "why the candidate is known bad from the scan; '' when it is not"),
    Column("group_id", "int64", -1, "stable 64-bit hash (BLAKE2b) of group; -1 when group is ''"),
    Column("category_id", "int32", -1, "code of category in the vocabulary attribute; -1 for ''"),
    Column("style_id", "int32", -1, "code of style in the vocabulary attribute; -1 for ''"),
)
# Plan columns coded into vocabularies (group attribute `vocabularies`) as <name>_id.
VOCABULARY_COLUMNS = ("category", "style")
SCORE_COLUMNS = (
    Column("status", "str", "", "'ok' or 'failed'; '' = not scored yet"),
    Column("error", "str", "", "'kind: detail' when failed, '' when ok"),
    Column("image_embedding", "float16", math.nan, "CLIP image embedding", width="image_dim"),
    Column("text_embedding", "float16", math.nan, "CLIP text embedding", width="text_dim"),
    Column("clip_cosine", "float32", math.nan, "cosine of the image and text embeddings"),
    Column("clip_score", "float32", math.nan, "CLIPScore"),
    Column("ssim_roundtrip", "float32", math.nan, "round-trip SSIM fidelity"),
    Column("width", "int32", -1, "image width in pixels; -1 when unknown"),
    Column("height", "int32", -1, "image height in pixels; -1 when unknown"),
    Column("byte_size", "int64", -1, "encoded image size in bytes; -1 when unknown"),
    Column("format", "str", "", "image format; '' when unknown"),
    Column(
        "content_hash", "int64", 0, "64-bit BLAKE2b of the image bytes (exact-duplicate key); 0 when unread"
    ),
    Column("edit_clip_i", "float32", math.nan, "edits: CLIP image cosine of source and edit"),
    Column("edit_direction", "float32", math.nan, "edits: CLIP directional similarity"),
    Column("edit_ssim", "float32", math.nan, "edits: SSIM of source and edit"),
    Column("edit_l1", "float32", math.nan, "edits: mean absolute difference of source and edit"),
)
STATUSES = ("ok", "failed")
# The columns of an edit against its source (engine.score.edit_pairs): NaN on the other rows. Every
# column named edit_* is one (an extra scorer may not take the prefix); edit_dino is made on request.
PAIR_PREFIX = "edit_"
EDIT_COLUMNS = tuple(c.name for c in SCORE_COLUMNS if c.name.startswith(PAIR_PREFIX))
EDIT_DINO = "edit_dino"  # --edit-dino (engine.score.dino)

# The task value of an editing candidate: its source image is named by `source_key`.
EDIT_TASK = "edit"
# The selection's weighted score, a column every selection step and the report can read.
WEIGHTED_SCORE = "weighted_score"


def extra_column(name: str) -> Column:
    return Column(name, "float32", math.nan, "extra scorer")
