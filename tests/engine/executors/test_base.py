"""The driver's collection of unit reports: partial reports move progress, units count once."""

from __future__ import annotations

import io

from pixsift.engine.core.progress import Progress
from pixsift.engine.executors import base
from pixsift.engine.executors.base import ReportCollector, UnitProgress, UnitReport


def test_partial_reports_count_rows_but_not_units(monkeypatch):
    monkeypatch.setattr(base, "PARTIAL_SECONDS", 0.0)
    stream = io.StringIO()
    collect = ReportCollector(Progress("score", 10, interval=0.0, stream=stream))
    reports = []
    progress = UnitProgress(reports.append, 0, 3)
    progress.done_so_far(4)
    progress.done_so_far(4)  # nothing new: no report
    progress.done_so_far(7)
    progress.finished(10, 2, {"embed": 1.0})
    assert [(r.rows, r.partial) for r in reports] == [(4, True), (3, True), (3, False)]
    for report in reports:
        report.worker = "process 0"
        collect(report)
    result = collect.result()
    assert (result.rows, result.units, result.stage_seconds) == (10, 1, {"embed": 1.0})
    assert (result.workers["process 0"].units, result.workers["process 0"].rows) == (1, 10)
    assert [line.split()[1] for line in stream.getvalue().splitlines()] == ["4/10", "7/10", "10/10"]


def test_partial_reports_wait_for_the_interval():
    reports = []
    progress = UnitProgress(reports.append, 0, 0)
    progress.done_so_far(5)  # within PARTIAL_SECONDS of the start
    progress.finished(8, 0, {})
    assert [(r.rows, r.partial) for r in reports] == [(8, False)]


def test_a_unit_run_alone_reports_every_row():
    class Job:
        def run_units(self, units, rank, emit):
            emit(UnitReport(rank, units[0], 3, 0, partial=True))
            emit(UnitReport(rank, units[0], 5, 1, {"embed": 2.0}))

    report = base.run_unit(Job(), 7, 0)
    assert (report.unit, report.rows, report.failed, report.partial) == (7, 8, 1, False)
