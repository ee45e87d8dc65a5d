"""The report stage: one self-contained HTML page about a selection.

`from engine.report import write_report, ReportConfig`;
the entry point loads its libraries when first used."""

from engine.core.lazy import lazy_names
from engine.report.config import ReportConfig

__all__ = ["ReportConfig"]  # and the entry point, loaded by __getattr__

__getattr__ = lazy_names(__name__, {"write_report": "engine.report.page"})
