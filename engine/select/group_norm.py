"""Score terms normalised within their best-of-N group (`group_id`), for scorers whose values compare only
among one prompt's images: `normalize = "group_z"` (HPSv2's advice: (x - the group's mean) / its
population standard deviation; 0 when the group has one member or no spread) and `"group_softmax"`
(PickScore's: exp(x) / the sum of exp over the group, computed as exp(x - max) / sum exp(x - max)).

The statistics come from one pass over the whole store before the weighted score is computed, merged
chunk by chunk (per distinct group: count, sum, sum of squares, max, sum of exp(x - max)); rows of no
group (-1) are their own group (z 0, softmax 1); NaN values take no part and stay NaN.
"""

from __future__ import annotations

import numpy as np

NORMALIZATIONS = ("group_z", "group_softmax")
GROUP_COLUMN = "group_id"
_FIELDS = ("count", "sum", "sumsq", "max", "sumexp")


class GroupStats:
    def __init__(self) -> None:
        self._parts: list[dict[str, np.ndarray]] = []
        self.groups = np.empty(0, np.int64)
        self.stats: dict[str, np.ndarray] = {f: np.empty(0) for f in _FIELDS}

    def add(self, groups: np.ndarray, values: np.ndarray) -> None:
        use = (groups != -1) & np.isfinite(values)
        groups, values = groups[use], values[use].astype(np.float64)
        order = np.argsort(groups, kind="stable")
        groups, values = groups[order], values[order]
        if not len(groups):
            return
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        top = np.maximum.reduceat(values, starts)
        spread = np.repeat(top, np.diff(np.r_[starts, len(values)]))
        self._parts.append(
            {
                "group": groups[starts],
                "count": np.diff(np.r_[starts, len(values)]).astype(np.float64),
                "sum": np.add.reduceat(values, starts),
                "sumsq": np.add.reduceat(values**2, starts),
                "max": top,
                "sumexp": np.add.reduceat(np.exp(values - spread), starts),
            }
        )

    def finish(self) -> None:
        """Merge the chunks' statistics into one entry per group."""
        if not self._parts:
            return
        part = {name: np.concatenate([p[name] for p in self._parts]) for name in ("group", *_FIELDS)}
        self._parts = []
        order = np.argsort(part["group"], kind="stable")
        part = {name: values[order] for name, values in part.items()}
        starts = np.flatnonzero(np.r_[True, part["group"][1:] != part["group"][:-1]])
        top = np.maximum.reduceat(part["max"], starts)
        rescaled = part["sumexp"] * np.exp(part["max"] - np.repeat(top, np.diff(np.r_[starts, len(order)])))
        self.groups = part["group"][starts]
        self.stats = {name: np.add.reduceat(part[name], starts) for name in ("count", "sum", "sumsq")}
        self.stats |= {"max": top, "sumexp": np.add.reduceat(rescaled, starts)}

    def normalize(self, kind: str, groups: np.ndarray, values: np.ndarray) -> np.ndarray:
        """`values` (of rows in `groups`) normalised by `kind`, float32."""
        values = values.astype(np.float64)
        n = len(self.groups)
        at = np.minimum(np.searchsorted(self.groups, groups), max(n - 1, 0))
        known = (groups != -1) & (self.groups[at] == groups) if n else np.zeros(len(groups), bool)
        stat = {name: np.where(known, s[at], np.nan) if n else np.full(len(groups), np.nan)
                for name, s in self.stats.items()}  # fmt: skip
        with np.errstate(invalid="ignore", divide="ignore"):
            if kind == "group_z":
                mean = stat["sum"] / stat["count"]
                std = np.sqrt(np.maximum(stat["sumsq"] / stat["count"] - mean**2, 0.0))
                spread = known & (std > 1e-9 * np.maximum(1.0, np.abs(mean)))
                out = np.where(spread, (values - mean) / std, 0.0)
            else:
                out = np.where(known, np.exp(values - stat["max"]) / stat["sumexp"], 1.0)
        return np.where(np.isfinite(values), out, np.nan).astype(np.float32)
