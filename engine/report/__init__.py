"""The report stage: one self-contained HTML page about a selection.

`from pixsift.engine.report import write_report, ReportConfig`;
the entry point loads its libraries when first used."""

from pixsift.engine.core.lazy import lazy_names
from pixsift.engine.report.config import ReportConfig

__all__ = ["ReportConfig"]  # and the entry point, loaded by __getattr__

__getattr__ = lazy_names(__name__, {"write_report": "pixsift.engine.report.job"})
