"""What the run store and the token store share: a versioned Zarr group of per-row arrays, written in
work units, each unit marked done when it is complete.

    <store>/zarr.json                group attributes: <VERSION_ATTRIBUTE>, plan_complete, ... (subclass)
    <store>/<array>                  per-row arrays; unit arrays are sharded so that a unit owns whole shards
    <store>/progress/unit-000012     an empty group per finished unit; attributes: start, stop, and its
                                     counts per status and per error kind

Work unit i covers rows [i * unit_rows, min(N, (i + 1) * unit_rows)): exactly one shard of every unit
array, so units never share a stored object and any number of processes can write them at once. A unit
writes all of its arrays, then its marker; a unit without a marker is redone whole. Only the planning
process creates arrays and changes group attributes.

A store whose plan grows (new inputs: engine.store.run_store) records the row count it grew from in the
group attribute `appends`. The unit that count fell inside was done up to it: its marker's `stop` says
so, and only its new rows are work (`work_unit`), written into the same shard and counted into the
same marker; every row scored before stays as it is.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import zarr
from fsspec.core import url_to_fs

from pixsift.engine.core.candidates import error_kind
from pixsift.engine.core.errors import BadInput, NotFound
from pixsift.engine.core.settings import check_settings
from pixsift.engine.io.ownership import MARKER, claim, clear
from pixsift.engine.io.paths import absolute

# Zarr lists every object of a group's folder; the ownership marker beside the arrays is ours, not Zarr's.
warnings.filterwarnings("ignore", message=rf"Object at {re.escape(MARKER)} is not recognized")


@dataclass(frozen=True)
class Unit:
    index: int
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


def units_of(n_rows: int, unit_rows: int) -> list[Unit]:
    """The work units of `n_rows` rows in blocks of `unit_rows`."""
    return [
        Unit(i, start, min(n_rows, start + unit_rows)) for i, start in enumerate(range(0, n_rows, unit_rows))
    ]


class UnitStore:
    """A store of rows written in work units (see the module docstring). Subclasses name their kind,
    version, unit arrays and status values."""

    KIND: ClassVar[str]  # "run store", "token store": how errors name it
    VERSION_ATTRIBUTE: ClassVar[str]
    VERSION: ClassVar[int]
    STATUS: ClassVar[Mapping[Any, str]]  # stored status value of a finished row -> "ok" or "failed"
    UNIT_ARRAYS_NAME: ClassVar[str] = "unit arrays"  # how errors name the arrays a unit writes

    def __init__(self, url: str, group: zarr.Group):
        self.url = url
        self.group = group

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, read_only: bool = False) -> Self:
        url = absolute(url)
        return cls(url, cls._group(url, read_only))

    @classmethod
    def _group(cls, url: str, read_only: bool) -> zarr.Group:
        """The store's Zarr group, checked to be of this kind and version."""
        try:
            group = zarr.open_group(url, mode="r" if read_only else "r+")
        except (FileNotFoundError, zarr.errors.GroupNotFoundError, zarr.errors.NodeTypeValidationError):
            raise NotFound(url, f"not a pixsift {cls.KIND} (no Zarr group there)") from None
        found = group.attrs.get(cls.VERSION_ATTRIBUTE)
        if found != cls.VERSION:
            raise BadInput(url, f"not a pixsift {cls.KIND} of version {cls.VERSION} (found {found!r})")
        return group

    @classmethod
    def create(cls, url: str, **spec) -> Self:
        """A new, unplanned store at `url` made to `spec`, replacing a store of this kind there."""
        raise NotImplementedError

    @classmethod
    def wanted_settings(cls, **spec) -> dict[str, Any]:
        """The settings a store made to `spec` records: what its values depend on."""
        raise NotImplementedError

    def stored_settings(self) -> dict[str, Any]:
        """The settings this store was made with (as `wanted_settings` gives them)."""
        raise NotImplementedError

    @classmethod
    def open_or_create(cls, url: str, **spec) -> Self:
        """The store to run a job in: the planned store at `url`, refused (SettingsMismatch, naming every
        difference) when it was made to another `spec`, or a new one when there is none or its planning was
        interrupted. Plan it when it is not `planned`."""
        return cls.checked_or_created(cls.planned_at(url), url, **spec)

    @classmethod
    def checked_or_created(cls, planned: Self | None, url: str, **spec) -> Self:
        """`planned` (what `planned_at(url)` gave) checked against `spec`, or a new store at `url`."""
        if planned is not None:
            check_settings(
                f"{cls.KIND} {planned.url}", planned.stored_settings(), cls.wanted_settings(**spec)
            )
            return planned
        return cls.create(absolute(url), **spec)

    @classmethod
    def _new_group(cls, url: str, attributes: Mapping[str, Any]) -> zarr.Group:
        """A new group at `url` with `attributes` and an empty progress group, replacing a store of this
        kind there (never anything else: engine.io.ownership)."""
        claim(url, cls.KIND)
        clear(url, cls.KIND)
        group = zarr.open_group(url, mode="a", attributes={cls.VERSION_ATTRIBUTE: cls.VERSION, **attributes})
        group.create_group("progress", attributes={"doc": "one group per finished work unit"})
        return group

    @classmethod
    def planned_at(cls, url: str) -> Self | None:
        """The store at `url`, opened once, if its planning finished; None if there is none or it was
        interrupted (a store killed while it was created or planned is made again from scratch)."""
        url = absolute(url)
        fs, path = url_to_fs(url)
        if not fs.exists(f"{path.rstrip('/')}/zarr.json"):
            return None
        try:
            group = cls._group(url, read_only=False)
        except NotFound:
            return None
        # Only a planned store has all its arrays: an interrupted one is made again from scratch.
        return cls(url, group) if group.attrs.get("plan_complete") else None

    # -- what it holds ---------------------------------------------------------------------------

    @property
    def planned(self) -> bool:
        return bool(self.group.attrs["plan_complete"])

    @property
    def n_rows(self) -> int:
        return self.group.attrs["n_rows"]

    @property
    def unit_rows(self) -> int:
        raise NotImplementedError

    @property
    def unit_arrays(self) -> tuple[str, ...]:
        raise NotImplementedError

    def units(self) -> list[Unit]:
        return units_of(self.n_rows, self.unit_rows)

    def done_units(self) -> set[int]:
        """The units whose progress marker is written and covers all of their rows."""
        marked = self.marked_units()
        units = self.units()
        return {i for i in marked if i < len(units) and self.covered_stop(units[i], marked) == units[i].stop}

    def marked_units(self) -> set[int]:
        """The units with a progress marker (done, or done up to the rows added after: `work_unit`)."""
        fs, root = url_to_fs(self.url)
        # A marker is complete once its zarr.json exists (written whole); its folder alone is not enough.
        markers = fs.glob(f"{root.rstrip('/')}/progress/unit-*/zarr.json")
        return {int(m.rsplit("/", 2)[-2].removeprefix("unit-")) for m in markers}

    def marker(self, index: int) -> dict[str, Any]:
        return dict(self.group["progress"][_marker_name(index)].attrs)

    def pending_units(self) -> list[int]:
        done = self.done_units()
        return [u.index for u in self.units() if u.index not in done]

    def work_unit(self, index: int) -> Unit:
        """The rows of unit `index` that are still to do: all of them, or those added to it after it was
        done (see the module docstring)."""
        unit = self.units()[index]
        return Unit(index, self.covered_stop(unit), unit.stop)

    def pending_rows(self) -> int:
        return sum(self.work_unit(i).rows for i in self.pending_units())

    def covered_stop(self, unit: Unit, marked: set[int] | None = None) -> int:
        """The row up to which `unit` is done: its start when it has no marker, the end of its rows when
        its marker covers them all, else the row count the plan grew from."""
        index = unit.index
        if marked is not None and index not in marked:
            return unit.start
        grown = [a for a in self.group.attrs.get("appends", []) if unit.start < a < unit.stop]
        if not grown and marked is not None:
            return unit.stop
        try:
            return min(int(self.marker(index)["stop"]), unit.stop)
        except KeyError:
            return unit.start

    def unit_reports(self) -> dict[int, dict[str, Any]]:
        """The attributes of each finished unit's marker: start, stop, status and error counts."""
        return {i: self.marker(i) for i in sorted(self.done_units())}

    def totals(self) -> tuple[Counter, Counter]:
        """Rows per status and failed rows per error kind, over the finished units."""
        statuses, errors = Counter(), Counter()
        for report in self.unit_reports().values():
            statuses.update(report["status"])
            errors.update(report["errors"])
        return statuses, errors

    # -- writing units ---------------------------------------------------------------------------

    def write_unit(
        self,
        unit: Unit,
        columns: Mapping[str, np.ndarray],
        info: Mapping[str, Any] | None = None,
        check: Callable[[], None] = lambda: None,
    ) -> None:
        """Write every unit array for all rows of `unit` (each one whole shard), then its marker, which also
        records `info` (how the unit was made); `check` runs before each (it raises to stop the commit: a
        lost lease). A store removed while the job ran is not written again piece by piece: the job stops,
        saying so."""
        fs, root = url_to_fs(self.url)
        if not fs.exists(f"{root.rstrip('/')}/zarr.json"):
            raise NotFound(self.url, f"the {self.KIND} was removed while the job ran", "run the job again")
        checked = self._checked(unit, columns)
        check()
        for name, values in checked.items():
            self.group[name][unit.start : unit.stop] = values
        status = Counter(self.STATUS[s] for s in checked["status"].tolist())
        errors = Counter(error_kind(e) for e in checked["error"].tolist() if e)
        start = unit.index * self.unit_rows
        if unit.start > start:  # the rows the unit grew by: counted into the counts of the rows before
            before = self.marker(unit.index)
            status.update(before["status"])
            errors.update(before["errors"])
        check()
        self.write_marker(unit.index, {"start": start, "stop": unit.stop, "status": dict(status),
                                       "errors": dict(errors), **(info or {})})  # fmt: skip

    def write_marker(self, index: int, attributes: Mapping[str, Any]) -> None:
        self.group["progress"].create_group(_marker_name(index), overwrite=True, attributes=dict(attributes))

    def failed(self, columns: Mapping[str, np.ndarray]) -> int:
        """How many rows of a unit's `columns` failed."""
        return sum(self.STATUS[s] == "failed" for s in np.asarray(columns["status"]).tolist())

    def _checked(self, unit: Unit, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = list(self.unit_arrays)
        if missing := set(names) - columns.keys():
            raise ValueError(
                f"unit {unit.index}: {self.UNIT_ARRAYS_NAME} missing: {', '.join(sorted(missing))}"
            )
        if unexpected := columns.keys() - set(names):
            extra = ", ".join(sorted(unexpected))
            raise ValueError(f"unit {unit.index}: not {self.UNIT_ARRAYS_NAME} of this store: {extra}")
        checked = {}
        for name in names:
            array = self.group[name]
            values = np.asarray(columns[name]).astype(array.dtype, copy=False)
            expected = (unit.rows, *array.shape[1:])
            if values.shape != expected:
                raise ValueError(f"unit {unit.index}: {name} has shape {values.shape}, expected {expected}")
            checked[name] = values
        if bad := set(checked["status"].tolist()) - set(self.STATUS):
            raise ValueError(
                f"unit {unit.index}: status must be one of {list(self.STATUS)}, got {sorted(bad)}"
            )
        return checked


def _marker_name(index: int) -> str:
    return f"unit-{index:06d}"
