"""Always the first step of a selection: rows that failed or were not scored drop as "status"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pixsift.engine.select.steps.base import RowFilter


@dataclass(frozen=True)
class StatusOk(RowFilter):
    """Always the first step: rows that failed or were not scored."""

    reason: str = "status"
    columns: tuple[str, ...] = ("status",)
    column_kind: ClassVar[str] = "any"

    def drops(self, values):
        return values["status"] != "ok"
