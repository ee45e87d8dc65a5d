"""Local workers: never more than there are units to run or CPU cores, and a line says so."""

from __future__ import annotations

import io
import os

from pixsift.engine.core.progress import Progress
from pixsift.engine.executors.base import UnitReport
from pixsift.engine.executors.local import run_local


class OneUnitJob:
    """A job with one pending unit of 8 rows, run in this process."""

    def __init__(self) -> None:
        self.ran: list[tuple[list[int], int]] = []

    def pending_units(self) -> list[int]:
        return [0]

    def run_units(self, units, rank, emit) -> None:
        self.ran.append((list(units), rank))
        emit(UnitReport(rank, 0, 8, 0))

    def close(self) -> None:
        pass


def test_a_hundred_thousand_workers_for_one_unit_start_one_and_say_so():
    stream, job = io.StringIO(), OneUnitJob()
    result = run_local(job, Progress("score", 8, stream=stream), workers=100_000)
    assert job.ran == [([0], 0)] and result.rows == 8
    cores = os.cpu_count()
    assert (
        f"score: 100,000 workers asked for, 1 start (1 work units to run, {cores} CPU cores)"
        in stream.getvalue()
    )
