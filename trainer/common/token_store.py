"""The token store: a selection tokenized for Janus training, one Zarr v3 group, one row per kept row of the
selection in run-store order, readable with plain zarr-python.

    <tokens>/zarr.json     group attributes:
                             pixsift_token_store_version  2
                             model    {path, n_image_tokens, image_size, codebook_size, fingerprint}
                             source   {store, selection, kept_rows, kept_rows_hash}
                             settings what else the values depend on (image preparation, VQ dtype)
                             unit_rows, n_rows, plan_complete
    <tokens>/progress/unit-000012   an empty group per finished unit (engine.store.unit_store)

Arrays (N rows, T = n_image_tokens, S = image_size). Per-row arrays are sharded by unit (one shard of
`unit_rows` rows), so units never share a stored object and any number of processes can write them.

  plan part, written by the driver before any unit runs, from the captions alone:
    row             int64  [N]        the run-store row
    key             str    [N]
    task            uint8  [N]        0 = text-to-image, 1 = edit
    prompt_offsets  int64  [N+1]      the prompt of row i is prompt_ids[offsets[i]:offsets[i+1]]
    prompt_ids      int32  [total]    BOS + tokens of prompt_text(caption, edit); an edit's one
                                      <image_placeholder> stands for its source-image block
  unit part, written by the unit's worker, then its marker:
    status          uint8  [N]        0 = not done, 1 = ok, 2 = failed
    error           str    [N]        why the row failed; "" when ok
    image_codes     int16  [N, T]     VQ codes of the target image
    source_codes    int16  [N, T]     VQ codes of the edit source; -1 for text-to-image rows
    source_pixels   uint8  [N, S, S, 3]  the edit source as prepared (RGB); zeros for text-to-image rows.
                                      SigLIP pixels are (x / 255 - mean) / std with the processor's
                                      image_mean and image_std (trainer.common.image_prep).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import zarr

from pixsift.engine.io.paths import absolute
from pixsift.engine.store.unit_store import UnitStore
from pixsift.trainer.common.image_prep import FITS

T2I, EDIT = 0, 1
NOT_DONE, OK, FAILED = 0, 1, 2
PLAN_ARRAYS = ("row", "key", "task", "prompt_offsets", "prompt_ids")
UNIT_ARRAYS = ("status", "error", "image_codes", "source_codes", "source_pixels")
_CODE_CHUNK_ROWS = 64  # inner chunk rows of the small per-row arrays (a divisor of unit_rows is used)
_PROMPT_CHUNK = 1 << 16


class TokenStore(UnitStore):
    """A token store at a local path or fsspec URL; see the module docstring for the schema."""

    KIND = "token store"
    VERSION_ATTRIBUTE = "pixsift_token_store_version"
    VERSION = 2  # 2: unit markers count rows by status, as the run store's do
    STATUS = {OK: "ok", FAILED: "failed"}

    def __init__(self, url: str, group: zarr.Group):
        super().__init__(url, group)
        self.arrays: dict[str, zarr.Array] = dict(group.arrays())

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        url: str,
        *,
        model: Mapping[str, Any],
        source: Mapping[str, Any],
        unit_rows: int,
        settings: Mapping[str, Any] | None = None,
    ) -> TokenStore:
        """A new, unplanned store at `url`, replacing a token store there (never anything else). `model`
        needs n_image_tokens and image_size."""
        if unit_rows < 1:
            raise ValueError(f"unit_rows must be positive, got {unit_rows}")
        url = absolute(url)
        group = cls._new_group(
            url,
            {
                "model": dict(model),
                "source": dict(source),
                "settings": dict(settings or {}),
                "unit_rows": unit_rows,
                "n_rows": 0,
                "plan_complete": False,
            },
        )
        return cls(url, group)

    @classmethod
    def open(cls, url: str, *, read_only: bool = True) -> TokenStore:
        return super().open(url, read_only=read_only)

    @classmethod
    def wanted_settings(cls, *, model, source, unit_rows, settings=None) -> dict[str, Any]:
        return _value_settings(model, source, unit_rows, settings or {})

    def stored_settings(self) -> dict[str, Any]:
        attrs = self.group.attrs
        return _value_settings(attrs["model"], attrs["source"], attrs["unit_rows"], attrs["settings"])

    # -- what the store holds ------------------------------------------------------------------

    @property
    def model_info(self) -> dict[str, Any]:
        return self.group.attrs["model"]

    @property
    def image_fit(self) -> str | None:
        """crop or pad: how the store's images became the model's square (None: not a fit pixsift knows)."""
        prep = self.group.attrs["settings"].get("image_prep")
        return next((fit for fit, described in FITS.items() if described == prep), None)

    @property
    def source(self) -> dict[str, Any]:
        return self.group.attrs["source"]

    @property
    def unit_rows(self) -> int:
        return self.group.attrs["unit_rows"]

    @property
    def unit_arrays(self) -> tuple[str, ...]:
        return UNIT_ARRAYS

    @property
    def n_image_tokens(self) -> int:
        return self.model_info["n_image_tokens"]

    @property
    def image_size(self) -> int:
        return self.model_info["image_size"]

    def prompt(self, i: int) -> np.ndarray:
        """The prompt token ids (int32) of row `i`."""
        start, stop = self.arrays["prompt_offsets"][i : i + 2]
        return self.arrays["prompt_ids"][int(start) : int(stop)]

    def ok_rows(self) -> np.ndarray:
        """The rows whose status is ok, ascending."""
        return np.flatnonzero(self.arrays["status"][:] == OK).astype(np.int64)

    # -- planning ------------------------------------------------------------------------------

    def plan(self, rows: np.ndarray, keys: list[str], tasks: np.ndarray, prompts: list[list[int]]) -> int:
        """Write the plan arrays and create the unit arrays (N rows), then mark the plan complete."""
        if self.planned:
            raise ValueError(f"token store {self.url} is already planned")
        n = len(rows)
        if not (len(keys) == len(tasks) == len(prompts) == n):
            raise ValueError("plan: rows, keys, tasks and prompts must have one value per row")
        offsets = np.zeros(n + 1, np.int64)
        offsets[1:] = np.cumsum([len(p) for p in prompts])
        ids = np.fromiter((t for p in prompts for t in p), np.int32, count=int(offsets[-1]))
        t, s, u = self.n_image_tokens, self.image_size, self.unit_rows
        chunk = math.gcd(u, _CODE_CHUNK_ROWS)
        per_row = {
            "row": ("int64", -1, ()),
            "key": (str, "", ()),
            "task": ("uint8", 0, ()),
            "status": ("uint8", NOT_DONE, ()),
            "error": (str, "", ()),
            "image_codes": ("int16", -1, (t,)),
            "source_codes": ("int16", -1, (t,)),
        }
        for name, (dtype, fill, width) in per_row.items():
            self._array(name, (n, *width), dtype, fill, (u, *width), (chunk, *width))
        # One source image per inner chunk: training reads them one sample at a time.
        self._array("source_pixels", (n, s, s, 3), "uint8", 0, (u, s, s, 3), (1, s, s, 3))
        for name, values in (("prompt_offsets", offsets), ("prompt_ids", ids)):
            size = max(1, min(len(values), _PROMPT_CHUNK))
            self._array(name, values.shape, values.dtype, 0, None, (size,))
        self.arrays["row"][:] = np.asarray(rows, np.int64)
        self.arrays["key"][:] = np.asarray(keys, dtype=str)
        self.arrays["task"][:] = np.asarray(tasks, np.uint8)
        self.arrays["prompt_offsets"][:] = offsets
        self.arrays["prompt_ids"][:] = ids
        self.group.update_attributes({"n_rows": n, "plan_complete": True})
        return n

    def _array(self, name, shape, dtype, fill, shards, chunks) -> None:
        self.arrays[name] = self.group.create_array(
            name,
            shape=shape,
            dtype=dtype,
            shards=shards,
            chunks=chunks,
            fill_value=fill,
            dimension_names=("row", "token", "x", "channel")[: len(shape)],
            overwrite=True,
        )


def _value_settings(model, source, unit_rows, settings) -> dict[str, Any]:
    """What a store is checked against on resume: all but the model's path (its fingerprint counts)."""
    model = {k: v for k, v in model.items() if k != "path"}
    return {"model": model, "source": dict(source), "unit_rows": unit_rows, "settings": dict(settings)}
