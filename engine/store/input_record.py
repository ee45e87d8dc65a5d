"""The inputs a run store was planned from, file by file, and how today's inputs differ from them.

A store records each file it planned (a shard, a table: engine.io.input_files) with its fingerprint (size,
and modification time or ETag) and the rows its candidates took. Scoring the same store again with the
inputs resolved anew plans only the files it has not seen: a new shard under the glob, a new table. A
file whose fingerprint differs, or that is gone from the inputs, is a change the user confirms
(--allow-changed-inputs): the rows of a changed file fail as `input_changed` and its candidates are
planned again as new rows; the rows of a removed one fail as `input_removed`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pixsift.engine.core.candidates import PlanEntry, failure
from pixsift.engine.core.errors import BadInput
from pixsift.engine.io.input_files import InputFile, fingerprint
from pixsift.engine.store.run_store import RunStore


@dataclass
class InputChanges:
    new: list[InputFile] = field(default_factory=list)  # files the store has not planned
    changed: list[tuple[dict, InputFile]] = field(default_factory=list)  # (its record, the file now)
    removed: list[dict] = field(default_factory=list)  # records of files no longer among the inputs
    fingerprints: dict[str, dict] = field(default_factory=dict)  # path -> fingerprint, of today's files

    def __bool__(self) -> bool:
        return bool(self.new or self.changed or self.removed)

    def text(self) -> str:
        """`1 new (a.tar), 1 changed (b.tar: size 10 -> 12), 1 removed (c.tar)`: what the plan says."""
        parts = []
        for what, paths in (
            ("new", [f.path for f in self.new]),
            (
                "changed",
                [f"{r['path']}: {_difference(r, self.fingerprints[f.path])}" for r, f in self.changed],
            ),
            ("removed", [r["path"] for r in self.removed]),
        ):
            if paths:
                more = f" and {len(paths) - 2:,} more" if len(paths) > 2 else ""
                parts.append(f"{len(paths):,} {what} ({', '.join(paths[:2])}{more})")
        return ", ".join(parts)


def input_changes(store: RunStore, files: list[InputFile]) -> InputChanges:
    """How the input `files` differ from those `store` was planned from."""
    recorded = {record["path"]: record for record in store.inputs}
    changes = InputChanges(fingerprints={f.path: fingerprint(f.path) for f in files})
    for file in files:
        record = recorded.pop(file.path, None)
        if record is None:
            changes.new.append(file)
        elif _difference(record, changes.fingerprints[file.path]):
            changes.changed.append((record, file))
    changes.removed = list(recorded.values())
    return changes


def refuse_unconfirmed(changes: InputChanges, allowed: bool) -> None:
    """One line naming the inputs that changed or went away, unless the user allowed it."""
    if (changes.changed or changes.removed) and not allowed:
        kept = InputChanges(
            changed=changes.changed, removed=changes.removed, fingerprints=changes.fingerprints
        )
        raise BadInput(
            "inputs",
            f"since the store was planned, {kept.text()}",
            "pass --allow-changed-inputs to rescore the changed ones and mark the rows of removed ones, "
            "or score into a new store",
        )


class PlannedFiles:
    """The entries of input files in order, from row `start`, at most up to row `limit`; each file's record
    (its fingerprint and the rows it took) is kept once its entries are planned, those of files past the
    limit with no rows, so that they are not new the next time."""

    def __init__(self, fingerprints: dict[str, dict], start: int, limit: int | None = None):
        self.fingerprints = fingerprints
        self.records: list[dict] = []
        self._row, self._limit = start, limit

    def entries(
        self, files: list[InputFile], scan: Callable[[InputFile], Iterator[PlanEntry]]
    ) -> Iterator[PlanEntry]:
        for file in files:
            first = self._row
            if self._limit is None or self._row < self._limit:
                for entry in scan(file):
                    self._row += 1
                    yield entry
                    if self._limit is not None and self._row >= self._limit:
                        break
            self.records.append(
                {"path": file.path, **self.fingerprints[file.path], "rows": [first, self._row]}
            )


def retired_rows(changes: InputChanges) -> list[tuple[int, int, str]]:
    """(start, stop, error) for the rows of every changed and removed input."""
    retired = []
    for record, file in changes.changed:
        why = _difference(record, changes.fingerprints[file.path])
        retired.append((*record["rows"], failure("input_changed", f"{file.path} changed ({why}); its "
                                                 "candidates are planned again as new rows")))  # fmt: skip
    for record in changes.removed:
        retired.append((*record["rows"], failure("input_removed", f"{record['path']} is no longer an input")))
    return retired


def kept_records(store: RunStore, changes: InputChanges) -> list[dict]:
    """The store's input records that stay: neither changed nor removed."""
    gone = {r["path"] for r in changes.removed} | {r["path"] for r, _ in changes.changed}
    return [record for record in store.inputs if record["path"] not in gone]


def _difference(record: dict, now: dict) -> str:
    """What differs between a recorded fingerprint and today's ("" when nothing does)."""
    keys = sorted((set(record) | set(now)) - {"path", "rows"})
    return "; ".join(f"{k} {record.get(k)} -> {now.get(k)}" for k in keys if record.get(k) != now.get(k))
