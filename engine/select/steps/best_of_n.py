"""`type = "best_of_n"`, `by = "group"`: the best weighted score per group (ties: lowest row); rows with
no group (-1) are their own group. `by` may name another int column, or `edit_pair`: an edit's group is
its source and instruction (every edit made of the same pair competes, whatever its `group`), a
text-to-image row's its group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pixsift.engine.core.candidates import parts_hash
from pixsift.engine.select.ranking import RunningBestPerGroup, rank_keys
from pixsift.engine.select.steps.base import Run, check_keys
from pixsift.engine.select.steps.ranked import RankingStep, drop_alive, revive
from pixsift.engine.store.schema import EDIT_TASK

EDIT_PAIR = "edit_pair"
_ALONE, _GROUP, _PAIR = 0, 1, 2  # how a row competes: alone, within its group, within its edit pair
_PAIR_COLUMNS = ("group_id", "task", "source_key", "caption")


@dataclass(frozen=True)
class BestOfN(RankingStep, type="best_of_n"):
    column_kind: ClassVar[str] = "integer"  # the groups: group_id, or another int column
    by: str = "group"

    @property
    def reason(self) -> str:
        return "best_of_n" if self.by == "group" else f"best_of_n:{self.by}"

    @property
    def columns(self) -> tuple[str, ...]:
        if self.by == EDIT_PAIR:
            return _PAIR_COLUMNS
        return ("group_id" if self.by == "group" else self.by,)

    def column_kinds(self) -> list[tuple[str, str]]:
        if self.by == EDIT_PAIR:
            return [("group_id", "integer")] + [(c, "any") for c in _PAIR_COLUMNS[1:]]
        return super().column_kinds()

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> tuple[BestOfN]:
        check_keys(table, {"type", "by"}, where)
        return (cls(str(table.get("by", "group"))),)

    def apply(self, run: Run, code: int) -> None:
        best = {_GROUP: RunningBestPerGroup(), _PAIR: RunningBestPerGroup()}
        alone = []
        for start, stop, values in run.chunks(self.columns):
            alive = run.reason[start:stop] == 0
            groups, kinds = self._groups({name: v[alive] for name, v in values.items()})
            rows, scores = drop_alive(run, start, stop, code)
            ranked = ~np.isnan(scores)
            keys, groups, kinds = rank_keys(scores[ranked], rows[ranked]), groups[ranked], kinds[ranked]
            alone.append(keys[kinds == _ALONE])
            for kind, tracker in best.items():
                tracker.add(groups[kinds == kind], keys[kinds == kind])
        for tracker in best.values():
            revive(run, tracker.result())
        for keys in alone:
            revive(run, keys)

    def _groups(self, values: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Each row's group id and how it competes (_ALONE, _GROUP or _PAIR)."""
        groups = np.asarray(values[self.columns[0]], np.int64).copy()
        kinds = np.where(groups == -1, _ALONE, _GROUP).astype(np.uint8)
        if self.by == EDIT_PAIR:
            edits = np.flatnonzero(values["task"] == EDIT_TASK)
            pairs = zip(values["source_key"][edits], values["caption"][edits], strict=True)
            groups[edits] = [_pair_id(source, caption) for source, caption in pairs]
            kinds[edits] = _PAIR
        return groups, kinds


def _pair_id(source_key: str, instruction: str) -> int:
    return parts_hash(source_key, instruction)
