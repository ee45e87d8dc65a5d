"""The tokenize stage: a selection of a run store -> a token store (trainer.common.token_store) for Janus
training.

The driver plans the store once, from the captions alone: the selection's kept rows in store order, their
task, and their prompt in the Janus format as token ids. Then an executor (engine.executors, or
engine.executors.ray_cluster) runs the unfinished units: a worker reads each row's image (and an edit
row's source image) through engine.store.kept_rows and engine.store.edit_sources in a background thread,
prepares them (trainer.common.image_prep) and computes their VQ codes on the device in batches
(trainer.common.vq). A row whose image or source cannot be read or decoded gets status failed and the
reason; a batch that runs out of memory (or fails) is encoded in halves, and a row whose image alone does
not fit fails with reason `oom`. A unit is written whole, then marked done: a killed job rerun with the
same command does only the unmarked units; a rerun with other settings is refused, naming them.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from pixsift.engine.core.batches import timed_batches
from pixsift.engine.core.candidates import failure
from pixsift.engine.core.config import setting
from pixsift.engine.core.device import worker_device
from pixsift.engine.core.isolate import isolate_failures
from pixsift.engine.core.progress import StageTimes
from pixsift.engine.core.settings import SettingsMismatch
from pixsift.engine.executors.config import ExecutorConfig
from pixsift.engine.io.ownership import remove
from pixsift.engine.store.edit_sources import EditSources
from pixsift.engine.store.kept_rows import ExportRow, export_rows
from pixsift.engine.store.lock import writing
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import EDIT_TASK
from pixsift.engine.store.selection import CAPTION, caption_column, kept_rows, selection_group, with_captions
from pixsift.engine.store.unit_job import Batch, StoreUnitJob, UnitJobSummary, run_store_job
from pixsift.engine.store.unit_store import Unit
from pixsift.trainer.common.image_prep import FITS, ImageError, ImageFit, SiglipNorm, prepare, vq_input
from pixsift.trainer.common.model_folder import model_info, require_model_folder
from pixsift.trainer.common.prompt_format import prompt_text
from pixsift.trainer.common.token_store import EDIT, FAILED, OK, T2I, UNIT_ARRAYS, TokenStore
from pixsift.trainer.common.vq import encode_codes, load_vqmodel

PAD_RECIPES = {"sharegpt4o"}  # selections tokenized with `pad` by default
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(kw_only=True)
class TokenizeConfig(ExecutorConfig):
    store: str = setting(positional=True, affects_values=True, help="run store path or fsspec URL")
    selection: str = setting(affects_values=True, help="name of the selection to tokenize")
    out: str = setting(help="token store path or fsspec URL")
    model: str = setting(affects_values=True, help="local Janus-Pro checkpoint folder (transformers format)")
    batch_size: int = setting(
        32, min=1, max=1 << 14, help="rows per batch on the device; an edit row adds its source image"
    )
    unit_rows: int = setting(
        1024, min=1, max=1 << 20, affects_values=True, help="rows per work unit (one shard of every array)"
    )
    image_fit: str = setting(
        "auto",
        choices=("auto", *FITS),
        affects_values=True,
        help="how an image becomes the model's square: crop (the short side fills it, center crop) or pad "
        "(the whole image, padded as Janus's processor does); auto: pad for a sharegpt4o selection (as "
        "Janus-4o trained), else crop",
    )
    dtype: str = setting(
        "float32",
        affects_values=True,
        choices=tuple(DTYPES),
        help="the VQ encoder's dtype; the nearest-code search is fp32 either way",
    )
    prefetch_batches: int = setting(
        2, min=1, max=64, help="batches read and prepared ahead of the VQ encoder"
    )
    overwrite: bool = setting(
        False, help="start the token store over when it was made with other settings (another model, say)"
    )
    allow_partial: bool = setting(
        False,
        help="go on with a store whose scoring stopped part-way, leaving its unscored rows out (counted)",
    )

    def check(self) -> None:
        require_model_folder(self.model)


def tokenize(cfg: TokenizeConfig, progress_stream=None) -> UnitJobSummary:
    """Plan the token store (once) and run its unfinished units on the configured executor; the summary
    of this call."""
    if cfg.image_fit == "auto":
        cfg = replace(cfg, image_fit=default_fit(cfg.store, cfg.selection))
    with writing(cfg.out, "token store") as fence:
        tokens = planned_store(cfg)
        return run_store_job(
            tokens, TokenizeJob(cfg), cfg, "tokenize", "tokenized", "token store", progress_stream, fence
        )


def default_fit(store: str, selection: str) -> str:
    """`pad` for a selection made by the sharegpt4o recipe (Janus-4o padded every image through Janus's
    processor), else `crop`."""
    spec = selection_group(RunStore.open(store, read_only=True), selection).attrs.get("spec", {})
    return "pad" if PAD_RECIPES & {selection, spec.get("name")} else "crop"


def planned_store(cfg: TokenizeConfig) -> TokenStore:
    """The token store of `cfg`: the existing one, checked against its settings, or a new one, planned."""
    from transformers import AutoTokenizer

    run = RunStore.open(cfg.store, read_only=True)
    run.require_scored(cfg.allow_partial)
    rows = kept_rows(run, cfg.selection)
    source = {
        "store": run.url,
        "selection": cfg.selection,
        "kept_rows": len(rows),
        "kept_rows_hash": hashlib.blake2b(rows.tobytes(), digest_size=8).hexdigest(),
    }
    spec = dict(
        model=model_info(cfg.model),
        source=source,
        unit_rows=cfg.unit_rows,
        settings={"image_prep": FITS[cfg.image_fit], "dtype": cfg.dtype},
    )
    try:
        tokens = TokenStore.open_or_create(cfg.out, **spec)
    except SettingsMismatch as e:
        if not cfg.overwrite:
            e.hint = "pass --overwrite to start it over, or use another --out"
            raise
        print(f"tokenize: {e.input}: {e.problem}; starting it over (--overwrite)", file=sys.stderr)
        remove(cfg.out, TokenStore.KIND)
        tokens = TokenStore.open_or_create(cfg.out, **spec)
    if not tokens.planned:
        tokenizer = AutoTokenizer.from_pretrained(cfg.model)
        keys, tasks, captions = _plan_fields(run, rows, caption_column(selection_group(run, cfg.selection)))
        edit = tasks == EDIT
        tokens.plan(rows, keys, tasks, encode_prompts(tokenizer, captions, edit))
    return tokens


def encode_prompts(tokenizer, captions: list[str], edit: np.ndarray) -> list[list[int]]:
    """BOS + the tokens of `prompt_text(caption, edit)` for each caption."""
    texts = [prompt_text(c, bool(e)) for c, e in zip(captions, edit, strict=True)]
    ids = tokenizer(texts, add_special_tokens=False).input_ids if texts else []
    return [[tokenizer.bos_token_id, *i] for i in ids]


def _plan_fields(
    run: RunStore, rows: np.ndarray, captions_from: str
) -> tuple[list[str], np.ndarray, list[str]]:
    """key, task code and caption of the kept `rows` (a text-to-image row's from `captions_from`), read a
    shard at a time."""
    keys, tasks, captions = [], [], []
    for unit in run.units():
        lo, hi = np.searchsorted(rows, [unit.start, unit.stop])
        local = rows[lo:hi] - unit.start
        if not len(local):
            continue
        keys += run.arrays["key"][unit.start : unit.stop][local].tolist()
        task = run.arrays["task"][unit.start : unit.stop][local]
        caption = run.arrays["caption"][unit.start : unit.stop][local]
        if captions_from != CAPTION:
            caption = with_captions(caption, task, run.arrays[captions_from][unit.start : unit.stop][local])
        captions += caption.tolist()
        tasks += task.tolist()
    codes = np.array([EDIT if t == EDIT_TASK else T2I for t in tasks], np.uint8)
    return keys, codes, captions


class TokenizeJob(StoreUnitJob[TokenStore]):
    """The tokenize stage as an executor job: the VQ model loads where it runs."""

    prefetch_thread = "pixsift-tokenize-read"

    def open_store(self, read_only: bool) -> TokenStore:
        return TokenStore.open(self.cfg.out, read_only=read_only)

    def load(self, store: TokenStore) -> _Loaded:
        cfg = self.cfg
        device = worker_device(cfg.device)
        run = RunStore.open(store.source["store"], read_only=True)
        return _Loaded(
            run,
            store.source["selection"],
            EditSources.find(run, store.arrays["row"][:]),
            load_vqmodel(cfg.model, device, DTYPES[cfg.dtype]),
            device,
            ImageFit.of(cfg.image_fit, SiglipNorm.of(cfg.model).mean),
        )

    def read(self, loaded: _Loaded, store: TokenStore, unit: Unit) -> Iterator[_Batch]:
        """The unit's rows, read and prepared for the VQ encoder in batches."""
        size = store.image_size
        rows = store.arrays["row"][unit.start : unit.stop]
        is_edit = store.arrays["task"][unit.start : unit.stop] == EDIT
        for first, batch, times in timed_batches(
            export_rows(loaded.run, loaded.selection, rows), self.cfg.batch_size
        ):
            prepared = _Batch(first, {}, [], {}, {})
            for i, row in enumerate(batch):
                error, image, source = _prepare_row(loaded, row, is_edit[first + i], size, times)
                prepared.errors.append(error)
                if not error:
                    prepared.images[i] = image
                    if source is not None:
                        prepared.sources[i] = source
            prepared.seconds = dict(times.seconds)
            yield prepared

    def new_columns(self, store: TokenStore, unit: Unit) -> dict[str, np.ndarray]:
        """The unit arrays of `unit`, every row failed until its codes are in."""
        shapes = {name: (unit.rows, *store.arrays[name].shape[1:]) for name in UNIT_ARRAYS}
        return {
            "status": np.full(shapes["status"], FAILED, np.uint8),
            "error": np.full(shapes["error"], "", dtype=object),
            "image_codes": np.full(shapes["image_codes"], -1, np.int16),
            "source_codes": np.full(shapes["source_codes"], -1, np.int16),
            "source_pixels": np.zeros(shapes["source_pixels"], np.uint8),
        }

    def fill(self, loaded: _Loaded, columns: dict[str, np.ndarray], batch: _Batch, times: StageTimes):
        batch.encode(loaded, columns, times)


@dataclass
class _Loaded:
    """What a worker opens and loads once and keeps for all the units it runs."""

    run: RunStore
    selection: str
    sources: EditSources
    vqmodel: torch.nn.Module
    device: torch.device
    fit: ImageFit


@dataclass
class _Batch(Batch):
    """Prepared images of consecutive rows of a unit."""

    errors: list[str]  # per row; "" when its images are prepared
    images: dict[int, np.ndarray]  # row in batch -> target image, uint8 [S, S, 3]
    sources: dict[int, np.ndarray]  # row in batch -> edit source image

    def encode(self, loaded: _Loaded, columns: dict[str, np.ndarray], times: StageTimes) -> None:
        rows = np.arange(len(self.errors)) + self.first
        columns["error"][rows] = self.errors
        good = [i for i, e in enumerate(self.errors) if not e]
        if not good:
            return
        edits = [i for i in good if i in self.sources]
        with times.stage("vq"):
            images = [self.images[i] for i in good] + [self.sources[i] for i in edits]
            pixels = torch.from_numpy(np.stack(images))
            fitted, failed = isolate_failures(
                lambda idx: encode_codes(loaded.vqmodel, vq_input(pixels[list(idx)].to(loaded.device))).cpu(),
                range(len(pixels)),
                torch.cat,
            )
        codes = np.full((len(pixels), columns["image_codes"].shape[1]), -1, np.int16)
        if fitted is not None:
            codes[np.setdiff1d(np.arange(len(pixels)), list(failed))] = fitted.numpy()
        columns["image_codes"][rows[good]] = codes[: len(good)]
        if edits:
            columns["source_codes"][rows[edits]] = codes[len(good) :]
            columns["source_pixels"][rows[edits]] = np.stack([self.sources[i] for i in edits])
        owners = [*good, *edits]  # the row of each encoded image
        for j, reason in failed.items():
            columns["error"][rows[owners[j]]] = reason
        broken = {owners[j] for j in failed}
        columns["status"][rows[[i for i in good if i not in broken]]] = OK


def _prepare_row(loaded: _Loaded, row: ExportRow, edit: bool, size: int, times: StageTimes) -> tuple:
    """(error, target image, edit source image) of `row`: ("", image, source or None) when it is
    prepared, else the error and Nones."""
    key = row.record["key"]
    if row.error:
        return row.error, None, None
    with times.stage("decode"):
        try:
            image = prepare(row.data, size, f"image of {key!r}", loaded.fit)
        except ImageError as e:
            return failure("decode", str(e)), None, None
    if not edit:
        return "", image, None
    source_key = row.record["source_key"]
    with times.stage("read"):
        try:
            data = loaded.sources.read(source_key).data
        except LookupError as e:
            return failure("source", str(e)), None, None
    with times.stage("decode"):
        try:
            return "", image, prepare(data, size, f"edit source {source_key!r} of {key!r}", loaded.fit)
        except ImageError as e:
            return failure("source", str(e)), None, None
