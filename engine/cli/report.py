"""`pixsift report`: the command-line side of engine.report."""

from __future__ import annotations

from pixsift.engine.core.pipeline import Stage, all_fields
from pixsift.engine.report.config import OUTPUT_KIND, REPORT, ReportConfig, report_folder


def run_report(cfg: ReportConfig) -> int:
    from pixsift.engine.report.job import write_report

    print(write_report(cfg.store, cfg.selection, cfg.out, allow_partial=cfg.allow_partial))
    return 0


STAGE = Stage(
    "report",
    after=("select",),
    config=ReportConfig,
    description="Write report.html (self-contained: opens from disk, images embedded) and its PNG plots.",
    run=run_report,
    outputs=lambda cfg: [str(report_folder(cfg.store, cfg.selection, cfg.out))],
    complete=lambda cfg: (report_folder(cfg.store, cfg.selection, cfg.out) / REPORT).is_file(),
    settings=all_fields,
    takes={"store": "store", "selection": "selection"},
    starts_over=False,
    kind=OUTPUT_KIND,
    inputs=lambda cfg: [cfg.store],
)
