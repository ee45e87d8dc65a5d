"""The steps every selection runs before its spec's: rows that failed or were not scored drop as "status";
with a caption column, text-to-image rows that have no caption there (not captioned, or its captioning
failed) drop as "caption:<column>"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pixsift.engine.select.steps.base import RowFilter
from pixsift.engine.store.schema import EDIT_TASK


@dataclass(frozen=True)
class StatusOk(RowFilter):
    """Always the first step: rows that failed or were not scored."""

    reason: str = "status"
    columns: tuple[str, ...] = ("status",)
    column_kind: ClassVar[str] = "any"

    def drops(self, values):
        return values["status"] != "ok"


@dataclass(frozen=True)
class CaptionPresent(RowFilter):
    """Text-to-image rows whose caption column is empty."""

    column: str = ""
    column_kind: ClassVar[str] = "any"

    @property
    def reason(self) -> str:
        return f"caption:{self.column}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column, "task")

    def drops(self, values):
        return (values["task"] != EDIT_TASK) & (values[self.column] == "")
