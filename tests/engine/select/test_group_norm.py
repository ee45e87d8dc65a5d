"""Score terms normalised within their group: the statistics merged chunk by chunk equal a numpy
computation per group, and a selection's weighted score and best-of-N use them as documented."""

from __future__ import annotations

import numpy as np
import pytest

from pixsift.engine.select.group_norm import GroupStats
from pixsift.engine.select.spec import SelectSpec
from pixsift.engine.select.steps.base import SpecError
from tests.engine.select.test_select import best_first, build_store, columns, run


def reference(kind: str, groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each group's values normalised on their own, in float64 (HPSv2's z, PickScore's softmax)."""
    out = np.full(len(values), np.nan)
    for group in np.unique(groups):
        members = np.flatnonzero((groups == group) & np.isfinite(values))
        if not len(members):
            continue
        if group == -1:
            out[members] = 0.0 if kind == "group_z" else 1.0
            continue
        x = values[members].astype(np.float64)
        if kind == "group_z":
            out[members] = (x - x.mean()) / x.std() if x.std() > 1e-9 * max(1, abs(x.mean())) else 0.0
        else:
            out[members] = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    return out


@pytest.mark.parametrize("kind", ["group_z", "group_softmax"])
def test_statistics_merged_over_chunks_equal_each_group_computed_alone(kind):
    rng = np.random.default_rng(0)
    n = 997
    groups = rng.integers(-1, 120, n)  # scattered over the chunks, some rows of no group
    values = (rng.normal(5, 3, n) * rng.choice([1, 100], n)).astype(np.float32)  # scales apart
    values[rng.random(n) < 0.05] = np.nan
    values[groups == 7] = 2.5  # a group with no spread
    groups[[3, 500, 996]] = [1000, 1001, 1002]  # groups of one member
    stats = GroupStats()
    for start in range(0, n, 61):
        stats.add(groups[start : start + 61], values[start : start + 61])
    stats.finish()
    got = stats.normalize(kind, groups, values)
    expected = reference(kind, groups, values)
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-6, equal_nan=True)
    alone = np.isin(groups, [1000, 1001, 1002]) & np.isfinite(values)
    assert alone.any() and (got[alone] == (0 if kind == "group_z" else 1)).all()


def test_a_normalised_term_changes_best_of_n_as_documented(tmp_path):
    """clip_cosine + ssim_roundtrip z-scored within the group: the ssim term counts by its rank in the
    group, not its raw size, so the winners of best-of-N change, to the reference's."""
    store = build_store(tmp_path / "store.zarr")
    ref = columns(store)
    z = reference("group_z", ref["group_id"], ref["ssim_roundtrip"])
    score = (np.clip(ref["clip_cosine"], 0, None) + 0.5 * z).astype(np.float32)
    winners, seen = [], set()
    for row in best_first(np.flatnonzero(ref["ok"]), score):
        group = ref["group_id"][row]
        if group == -1 or group not in seen:
            winners.append(row)
            seen.add(group)
    terms = {
        "clip_cosine": {"weight": 1.0, "min": 0.0},
        "ssim_roundtrip": {"weight": 0.5, "normalize": "group_z"},
    }
    got = run(store, [{"type": "best_of_n"}], name="z", score=terms)
    assert sorted(np.flatnonzero(got["kept"]).tolist()) == sorted(winners)
    raw = run(store, [{"type": "best_of_n"}], name="raw")
    assert not np.array_equal(got["kept"], raw["kept"])
    np.testing.assert_allclose(got["weighted_score"][ref["ok"]], score[ref["ok"]], rtol=1e-5, atol=1e-6)


def test_an_unknown_normalisation_is_refused():
    table = {"score": {"clip_cosine": {"weight": 1.0, "normalize": "softmax"}}}
    with pytest.raises(
        SpecError, match=r"clip_cosine: normalize must be one of group_z, group_softmax, got 'softmax'"
    ):
        SelectSpec.from_table(table, "spec.toml")
