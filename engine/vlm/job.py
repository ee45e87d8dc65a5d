"""The vision-language stages as store jobs: an annotator (engine.vlm.caption, engine.vlm.judge) says what
columns its set has and how a batch of rows fills them; this runs it over the run store's units.

The driver holds the run store's lock, makes or checks the annotation set (engine.store.annotations),
then an executor runs the unfinished units. In a worker the model loads once; a background thread reads
and decodes the next batches (engine.vlm.rows) while the model runs on the current one. A row whose prompt
is longer than the model's context fails; a batch that fails (out of memory, say) is split in halves down
to the row that fails alone (engine.core.isolate). A unit is written whole, then marked done: a killed job
run again redoes only unmarked units and ends with the same values.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pixsift.engine.core.candidates import failure
from pixsift.engine.core.device import model_dtype, worker_device
from pixsift.engine.core.isolate import isolate_failures
from pixsift.engine.core.progress import StageTimes
from pixsift.engine.store.annotations import AnnotationStore
from pixsift.engine.store.lock import writing
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import Column
from pixsift.engine.store.unit_job import StoreUnitJob, UnitJobSummary, run_store_job
from pixsift.engine.store.unit_store import Unit
from pixsift.engine.vlm.config import VlmConfig
from pixsift.engine.vlm.rows import RowBatch, UnitRows


class Annotator(Protocol):
    stage: str  # "caption", "judge"
    verb: str  # "captioned", "judged"
    name: str  # the annotation set
    task: str | None  # the task of the rows it annotates; None for all

    def columns(self) -> list[Column]: ...

    def settings(self) -> dict[str, Any]: ...

    def prepare(self, model) -> None:
        """Check what it asks of `model` (answers it can read) before any row runs."""

    def annotate(self, model, batch: RowBatch, columns: dict[str, np.ndarray]) -> dict[int, str]:
        """Fill the rows of `batch` in `columns`; the positions that failed, with why."""


def annotate(cfg: VlmConfig, annotator: Annotator, progress_stream=None) -> UnitJobSummary:
    """Make or check the annotation set, then run its unfinished units; the summary of this call."""
    with writing(cfg.store, "run store") as fence:
        run = RunStore.open(cfg.store)
        run.require_scored(allow_partial=False)  # a row scored later would stay skipped in a done unit
        store = AnnotationStore.prepared(
            run, annotator.name, annotator.stage, annotator.columns(), annotator.settings(), cfg.replace
        )
        job = AnnotationJob(cfg, annotator, store.url)
        return run_store_job(
            store, job, cfg, annotator.stage, annotator.verb, annotator.name, progress_stream, fence
        )


@dataclass
class _Loaded:
    model: Any
    rows: UnitRows
    fills: dict[str, Any]  # each value column's fill, for the rows that fail


class AnnotationJob(StoreUnitJob[AnnotationStore]):
    prefetch_thread = "pixsift-read-decode"

    def __init__(self, cfg: VlmConfig, annotator: Annotator, url: str):
        super().__init__(cfg)
        self.annotator = annotator
        self.url = url

    def open_store(self, read_only: bool) -> AnnotationStore:
        return AnnotationStore.open(self.url, read_only=read_only)

    def load(self, store: AnnotationStore) -> _Loaded:
        cfg = self.cfg
        device = worker_device(cfg.device)
        model = _vision_language_model(cfg, device)
        self.annotator.prepare(model)
        print(f"{self.annotator.stage}: {model.name} on {device} ({cfg.backend})", file=sys.stderr)
        run = RunStore.open(cfg.store, read_only=True)
        rows = UnitRows(run, cfg.selection, self.annotator.task, cfg.batch_size, cfg.max_bytes)
        fills = {n: store.group[n].fill_value for n in store.unit_arrays if n not in ("status", "error")}
        return _Loaded(model, rows, fills)

    def unit_info(self, loaded: _Loaded) -> dict:
        return {"model": loaded.model.name}

    def read(self, loaded: _Loaded, store: AnnotationStore, unit: Unit) -> Iterator[RowBatch]:
        return loaded.rows.batches(unit)

    def new_columns(self, store: AnnotationStore, unit: Unit) -> dict[str, np.ndarray]:
        columns = {}
        for name in store.unit_arrays:
            array = store.group[name]
            text = array.dtype.kind in "OTU"
            columns[name] = np.full(unit.rows, array.fill_value, dtype=object if text else array.dtype)
        columns["status"][:] = "failed"  # every row is skipped, failed or annotated by the unit's end
        return columns

    def fill(
        self, loaded: _Loaded, columns: dict[str, np.ndarray], batch: RowBatch, times: StageTimes
    ) -> None:
        for position, reason in batch.skipped.items():
            columns["status"][position], columns["error"][position] = "skipped", reason
        failed = dict(batch.failed)
        if batch.positions:
            with times.stage("model"):
                failed.update(self.annotator.annotate(loaded.model, batch, columns))
            for position in batch.positions:
                columns["status"][position] = "ok"
        for position, reason in failed.items():
            for name, fill in loaded.fills.items():
                columns[name][position] = fill
            columns["status"][position], columns["error"][position] = "failed", reason


def _vision_language_model(cfg: VlmConfig, device):
    """The model of `cfg.model` on the backend `cfg` names."""
    dtype = model_dtype(cfg.dtype, device)
    if cfg.backend == "vllm":
        from pixsift.engine.vlm.vllm_model import VllmVisionLanguageModel

        return VllmVisionLanguageModel(cfg.model, device, dtype, cfg)
    from pixsift.engine.vlm.model import VisionLanguageModel

    return VisionLanguageModel(cfg.model, device, dtype)


def run_model(
    model,
    prompts: Sequence[str],
    images: Sequence[Sequence[Any]],
    extra: int,
    call: Callable[[Any], Sequence],
) -> tuple[dict[int, Any], dict[int, str]]:
    """`call` on the model's inputs for each prompt and its images: the results by index, and why each
    failed index failed (a prompt that leaves fewer than `extra` tokens of the model's context; a row that
    fails alone, engine.core.isolate)."""
    if not prompts:
        return {}, {}
    encoded = model.encode(prompts, images)
    failed = too_long(model.lengths(encoded), extra, model.context)
    todo = [i for i in range(len(prompts)) if i not in failed]
    if not todo:
        return {}, failed

    def run(items: Sequence[int]) -> dict[int, Any]:
        inputs = (
            encoded
            if len(items) == len(prompts)
            else model.encode([prompts[i] for i in items], [images[i] for i in items])
        )
        return dict(zip(items, call(inputs), strict=True))

    found, more = isolate_failures(run, todo, lambda parts: {k: v for p in parts for k, v in p.items()})
    return found or {}, {**failed, **more}


def too_long(lengths: Sequence[int], extra: int, context: int) -> dict[int, str]:
    """The rows whose prompt of `lengths` tokens, plus `extra` to come, does not fit the model's context."""
    return {
        i: failure(
            "too_long", f"the prompt is {n:,} tokens with its images; the model's context is {context:,}"
        )
        for i, n in enumerate(lengths)
        if n + extra > context
    }
