"""Settings of `pixsift report`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pixsift.engine.core.config import Config, setting

OUTPUT_KIND = "report"  # engine.io.ownership
REPORT = "report.html"


@dataclass(kw_only=True)
class ReportConfig(Config):
    store: str = setting(positional=True, help="run store path or fsspec URL")
    selection: str = setting(help="name of the selection in the store")
    out: str | None = setting(
        None, help="folder for report.html and the plots (default: <store>-report-<selection>)"
    )
    allow_partial: bool = setting(
        False,
        help="go on with a store whose scoring stopped part-way, leaving its unscored rows out (counted)",
    )


def report_folder(store: str, selection: str, out: str | None) -> Path:
    """Where the report of `selection` in `store` goes: `out`, else beside the store."""
    return Path(out) if out else Path(f"{store.rstrip('/')}-report-{selection}")
