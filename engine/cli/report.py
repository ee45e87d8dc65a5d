"""`pixsift report`: the command-line side of engine.report."""

from __future__ import annotations

from engine.core.commands import add_command, config_from
from engine.report.config import ReportConfig


def add(sub) -> None:
    add_command(
        sub,
        "report",
        _run,
        config=ReportConfig,
        help="write an HTML report of a selection: score histograms, funnel, thumbnails near the cut",
        description="Write report.html (self-contained: opens from disk, images embedded) and its PNG plots.",
    )


def _run(args) -> int:
    from engine.report.page import write_report

    cfg = config_from(args, ReportConfig)
    print(write_report(cfg.store, cfg.selection, cfg.out))
    return 0
