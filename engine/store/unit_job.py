"""The store-backed unit job that `pixsift score` and `pixsift tokenize` share.

A stage fills a UnitStore's unit arrays, a work unit at a time, as an executor job (engine.executors):
its `run_units` reads and prepares batches on a background thread, ahead of the device and across unit
boundaries, fills the unit's arrays batch by batch on the device, writes the unit whole, then marks it
done and reports it. A stage says how to open its store, what a worker loads once (models, decoders),
how a unit's rows are read into batches, and how a batch fills the arrays; `run_store_job` runs the
pending units on the configured executor and sums up the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Self, TypeVar

import numpy as np

from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.prefetch import prefetch
from pixsift.engine.core.progress import Progress, StageTimes, format_seconds, stage_line
from pixsift.engine.executors.base import RunResult, UnitProgress, WorkerCounts, worker_lines
from pixsift.engine.executors.config import ExecutorConfig
from pixsift.engine.store.lease import Fence
from pixsift.engine.store.unit_store import Unit, UnitStore

Store = TypeVar("Store", bound=UnitStore)


@dataclass
class Batch:
    """Rows of one unit read and prepared for the device: `first` is the first row's index in the unit."""

    first: int
    seconds: dict[str, float]  # spent reading and preparing it, per stage


class StoreUnitJob(Generic[Store]):
    """A stage as an executor job over its store's units; picklable: what a worker loads is dropped when
    the job is pickled and loaded again where it runs."""

    prefetch_thread: ClassVar[str] = "pixsift-read"

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.fence: Fence | None = None  # checked before each commit (engine.store.lease)
        self._loaded: Any = None

    def __getstate__(self):
        return {**self.__dict__, "_loaded": None}

    # -- what a stage says -----------------------------------------------------------------------

    def open_store(self, read_only: bool) -> Store:
        raise NotImplementedError

    def load(self, store: Store) -> Any:
        """What a worker loads once and keeps for all the units it runs."""
        raise NotImplementedError

    def release(self, loaded: Any) -> None:
        """Free what `load` returned."""

    def read(self, loaded: Any, store: Store, unit: Unit) -> Iterator[Batch]:
        """The unit's rows in batches, read and prepared (this runs on the background thread)."""
        raise NotImplementedError

    def new_columns(self, store: Store, unit: Unit) -> dict[str, np.ndarray]:
        """The unit's arrays before any batch fills them (every row failed until it is done)."""
        raise NotImplementedError

    def fill(self, loaded: Any, columns: dict[str, np.ndarray], batch: Batch, times: StageTimes) -> None:
        """Fill the rows of `batch` in `columns`, on the device."""
        raise NotImplementedError

    def unit_info(self, loaded: Any) -> dict[str, Any]:
        """What the unit's done marker records about how it was made (the decoder, say)."""
        return {}

    def stage_device(self, loaded: Any) -> Any:
        """The device `fill` times its stages on (CUDA events there), or None for the wall clock."""
        return None

    # -- the job ---------------------------------------------------------------------------------

    def pending_units(self) -> list[int]:
        return self.open_store(read_only=True).pending_units()

    def run_units(self, units: Iterable[int], rank: int, emit) -> None:
        """Run `units` in order, each written whole then marked done and reported."""
        store = self.open_store(read_only=False)
        units = [store.work_unit(i) for i in units]
        if not units:
            return
        if self._loaded is None:
            self._loaded = self.load(store)
        loaded = self._loaded
        columns, times, progress = None, StageTimes(self.stage_device(loaded)), None
        for unit, batch in prefetch(
            self._batches(loaded, store, units), self.cfg.prefetch_batches, self.prefetch_thread
        ):
            columns = columns or self.new_columns(store, unit)
            progress = progress or UnitProgress(emit, rank, unit.index)
            if batch is not None:
                progress.done_so_far(batch.first)  # the batches before this one are filled
                times.merge(batch.seconds)
                self.fill(loaded, columns, batch, times)
                continue
            with times.stage("write", host=True):
                info, fence = self.unit_info(loaded), self.fence
                if fence is not None:  # a job that lost its store's lease commits nothing more
                    info = {**info, "lease": fence.token}
                store.write_unit(unit, columns, info, fence.check if fence is not None else lambda: None)
            progress.finished(unit.rows, store.failed(columns), dict(times.seconds))
            columns, times, progress = None, StageTimes(self.stage_device(loaded)), None

    def close(self) -> None:
        if self._loaded is not None:
            self.release(self._loaded)
            self._loaded = None

    def _batches(self, loaded: Any, store: Store, units: list[Unit]) -> Iterator[tuple[Unit, Batch | None]]:
        """(unit, batch) for each batch of each unit, then (unit, None) when the unit is complete."""
        for unit in units:
            for batch in self.read(loaded, store, unit):
                yield unit, batch
            yield unit, None


@dataclass
class UnitJobSummary:
    """What one call of a store-backed job did, and its store's totals."""

    verb: str  # "scored", "tokenized"
    store_name: str  # "store", "token store"
    rows: int  # processed by this call
    wall_seconds: float
    stage_seconds: dict[str, float]
    units_run: int
    units_total: int
    statuses: Counter = field(default_factory=Counter)  # over the whole store
    errors: Counter = field(default_factory=Counter)  # over the whole store, by kind
    workers: dict[str, WorkerCounts] = field(default_factory=dict)  # by this call

    @classmethod
    def of(cls, verb: str, store_name: str, result: RunResult, store: UnitStore) -> Self:
        statuses, errors = store.totals()
        return cls(
            verb,
            store_name,
            result.rows,
            result.wall_seconds,
            result.stage_seconds,
            result.units,
            len(store.units()),
            statuses,
            errors,
            result.workers,
        )

    def report(self, url: str) -> None:
        """Print the summary; then a store in which every row it worked on failed is a failed job
        (BadInput: the CLI's one line, exit 2). Rows an annotation set skipped are not worked on."""
        print(self.text())
        failed = self.statuses.get("failed", 0)
        if failed and not self.statuses.get("ok"):
            kinds = ", ".join(f"{k} {v:,}" for k, v in self.errors.most_common(3))
            raise BadInput(
                url, f"every one of its {failed:,} rows failed ({kinds})", "the errors by kind above say why"
            )

    def text(self) -> str:
        rate = self.rows / self.wall_seconds if self.wall_seconds > 0 else 0.0
        lines = [
            f"{self.verb} {self.rows:,} rows in {format_seconds(self.wall_seconds)} ({rate:,.1f} rows/s); "
            f"{self.units_run} of {self.units_total} work units run now, the rest were done before",
            f"{self.store_name}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.statuses.items())),
        ]
        if self.errors:
            lines.append("errors by kind: " + ", ".join(f"{k} {v:,}" for k, v in self.errors.most_common()))
        lines += worker_lines(self.workers)
        lines.append(stage_line(self.stage_seconds, "threads and workers"))
        return "\n".join(lines)


def run_store_job(
    store: UnitStore,
    job: StoreUnitJob,
    executor: ExecutorConfig,
    label: str,
    verb: str,
    store_name: str,
    progress_stream=None,
    fence: Fence | None = None,
) -> UnitJobSummary:
    """Run `job`'s pending units of `store` on `executor`, with progress lines labelled `label`; each
    commit first checks `fence`, the lease the driver holds (None: a local lock)."""
    job.fence = fence
    progress = Progress(label, store.pending_rows(), stream=progress_stream)
    result = executor.run(job, progress)
    return UnitJobSummary.of(verb, store_name, result, store)
