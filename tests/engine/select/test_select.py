"""pixsift select: every ranking and filter against a plain numpy reference on the same store."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import zarr

import pixsift.engine.select.job
from pixsift.engine.cli import main
from pixsift.engine.core.candidates import PlanEntry
from pixsift.engine.core.recipes import recipe_names
from pixsift.engine.select import ranking
from pixsift.engine.select.job import select
from pixsift.engine.select.spec import RECIPES, SelectSpec
from pixsift.engine.select.steps.base import SpecError
from pixsift.engine.select.steps.quota import balanced_quotas
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.selection import kept_rows, list_selections
from tests.helpers.cli import user_error
from tests.helpers.scoring import without_edits
from tests.helpers.selection_stores import read_selection, store_selection

CATEGORIES = ("animals", "food", "people", "")
STYLES = ("photo", "anime", "")
GENERATORS = ("sd-a", "sd-b", "flux", "")  # a generated sample's provenance, in meta ("": a row without)
N = 300


def build_store(path, n: int = N, shard_rows: int = 64, seed: int = 0) -> RunStore:
    """Rounded scores (many ties), NaN scores on ok rows, failed rows, an unscored last unit (selected with
    allow_partial: its rows drop as status), groups of 1-5 rows, rows with no group, and planted exact
    duplicates."""
    rng = np.random.default_rng(seed)
    group_of = np.repeat(np.arange(n), rng.integers(1, 6, n))[:n]
    entries = [
        PlanEntry(
            f"k{i}",
            " ".join(["word"] * (1 + i % 7)),
            "/pool/x.tar",
            group=f"g{group_of[i]}" if i % 11 else "",
            category=CATEGORIES[rng.integers(len(CATEGORIES))],
            style=STYLES[rng.integers(len(STYLES))],
            task="edit" if i % 3 == 0 else "t2i",
            meta=json.dumps({"image_generator": g, "seed": i}) if (g := GENERATORS[i % 4]) else "",
        )
        for i in range(n)
    ]
    store = RunStore.create(str(path), shard_rows=shard_rows, image_dim=2, text_dim=2, config={"test": seed})
    store.plan(entries)
    units = store.units()
    for unit in units[:-1] if len(units) > 1 else units:
        m = unit.rows
        ok = rng.random(m) > 0.1
        clip = np.where(ok, np.round(rng.normal(0.2, 0.1, m), 2), np.nan).astype(np.float32)
        clip[ok & (rng.random(m) < 0.05)] = np.nan
        ssim = np.where(ok, np.round(rng.random(m), 1), np.nan).astype(np.float32)
        duplicate = rng.random(m) < 0.2  # these share one of 5 hashes; the others are unique
        store.write_unit(
            unit,
            {
                "status": np.where(ok, "ok", "failed"),
                "error": np.where(ok, "", "decode: bad"),
                "image_embedding": np.zeros((m, 2)),
                "text_embedding": np.zeros((m, 2)),
                "clip_cosine": clip,
                "clip_score": 2.5 * np.maximum(clip, 0),
                "ssim_roundtrip": ssim,
                "width": rng.choice([256, 512, 1024], m),
                "height": rng.choice([256, 512, 1024], m),
                "byte_size": np.full(m, 1000),
                "format": np.full(m, "jpeg"),
                "content_hash": np.where(duplicate, rng.integers(1, 6, m), 100 + unit.start + np.arange(m)),
                **without_edits(m),
                # the edit rows' pairs, most within the sharegpt4o recipe's bounds (the draws above stay as
                # they were: this takes none)
                "edit_ssim": np.where(
                    np.arange(unit.start, unit.stop) % 3 == 0,
                    0.3 + (np.arange(unit.start, unit.stop) * 37 % 70) / 100,
                    np.nan,
                ).astype(np.float32),
            },
        )
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("select") / "run.zarr")


@pytest.fixture(autouse=True)
def blocks_of_two_shards(monkeypatch):
    """Blocks of 2 shards of 64 rows: several blocks per store, and a short last one."""
    monkeypatch.setattr(pixsift.engine.select.job, "BLOCK_ROWS", 128)


@pytest.fixture(params=[False, True], ids=["buffered", "reducing"])
def small_buffers(request, monkeypatch):
    """With True, the running rankings reduce after every few keys, exercising their merges."""
    if request.param:
        monkeypatch.setattr(ranking, "_MIN_BUFFER", 3)


def columns(store: RunStore) -> dict[str, np.ndarray]:
    group = zarr.open_group(store.url, mode="r")
    names = (
        "status",
        "clip_cosine",
        "ssim_roundtrip",
        "width",
        "height",
        "group_id",
        "category_id",
        "style_id",
    )
    values = {name: group[name][:] for name in (*names, "caption", "content_hash")}
    values["ok"] = values["status"] == "ok"
    clip, ssim = np.clip(values["clip_cosine"], 0, None), values["ssim_roundtrip"]
    values["score"] = np.float32(0) + np.float32(1) * clip + np.float32(0.5) * ssim
    return values


def best_first(rows: np.ndarray, score: np.ndarray) -> np.ndarray:
    """`rows` without NaN scores, best score first, ties by the lower row: the numpy reference order."""
    rows = rows[~np.isnan(score[rows])]
    return rows[np.lexsort((rows, -score[rows].astype(np.float64)))]


def run(store, steps, name="t", score=None):
    table = {"name": name, "steps": steps, **({"score": score} if score else {})}
    select(store, SelectSpec.from_table(table, "test"), overwrite=True, allow_partial=True)
    return read_selection(store, name)


def test_weighted_score_and_top_k_equal_the_argsort_reference(store, small_buffers):
    ref = columns(store)
    order = best_first(np.flatnonzero(ref["ok"]), ref["score"])
    assert len(order) < ref["ok"].sum() < N  # NaN scores, failed and unscored rows are all present
    scores = ref["score"][order]
    assert (scores[1:] == scores[:-1]).sum() > 20  # and many ties
    for k in (0, 1, 17, 64, 150, len(order), N):
        got = run(store, [{"type": "top_k", "k": k}])
        np.testing.assert_array_equal(got["weighted_score"], ref["score"])
        assert kept_rows(store, "t").tolist() == sorted(order[:k].tolist()), k
        expected_reason = np.where(ref["ok"], "top_k", "status")
        expected_reason[order[:k]] = ""
        assert got["reason"].tolist() == expected_reason.tolist()


def test_top_fraction_is_the_floor_of_the_fraction_of_alive_rows(store):
    ref = columns(store)
    alive = np.flatnonzero(ref["ok"])
    ranked = best_first(alive, ref["score"])
    for percent in (0, 29, 30, 100):
        got = run(store, [{"type": "top_k", "fraction": percent / 100}])
        k = percent * len(alive) // 100
        assert kept_rows(store, "t").tolist() == sorted(ranked[:k].tolist())
        assert got["attrs"]["n_kept"] == min(k, len(ranked))


def test_best_of_n_then_top_k_equal_the_reference(store, small_buffers):
    ref = columns(store)
    winners, seen = [], set()
    for row in best_first(np.flatnonzero(ref["ok"]), ref["score"]):  # the first met of a group wins
        group = ref["group_id"][row]
        if group == -1 or group not in seen:  # no group: a group of its own
            winners.append(row)
            seen.add(group)
    assert (ref["group_id"] == -1).any() and len(set(ref["group_id"][ref["group_id"] >= 0])) < N / 2
    got = run(store, [{"type": "best_of_n"}, {"type": "top_k", "k": 40}])
    assert kept_rows(store, "t").tolist() == sorted(winners[:40])
    assert set(np.flatnonzero(got["reason"] == "top_k")) == set(winners[40:])
    assert (got["reason"] == "best_of_n").sum() == ref["ok"].sum() - len(winners)


def quota_reference(ref, rows, cells, quota_of) -> list[int]:
    kept = []
    for cell in np.unique(cells[rows]):
        in_cell = rows[cells[rows] == cell]
        kept += best_first(in_cell, ref["score"])[: quota_of(cell, len(in_cell))].tolist()
    return sorted(kept)


def test_quotas_per_value_fraction_and_balanced_equal_the_reference(store, small_buffers):
    ref = columns(store)
    alive = np.flatnonzero(ref["ok"])
    category = ref["category_id"]
    vocabulary = store.vocabulary("category")

    run(store, [{"type": "quota", "by": "category", "k": 7, "per_value": {"food": 2}}])
    food = vocabulary.index("food")
    assert kept_rows(store, "t").tolist() == quota_reference(
        ref, alive, category, lambda c, n: 2 if c == food else 7
    )

    got = run(store, [{"type": "quota", "by": "category", "fraction": 0.25}])
    assert kept_rows(store, "t").tolist() == quota_reference(ref, alive, category, lambda c, n: n // 4)
    assert set(got["reason"][alive]) == {"", "quota:category"}

    cells = (category + 1) * 10 + ref["style_id"] + 1
    counts = Counter(cells[alive].tolist())
    quotas = dict(
        zip(sorted(counts), balanced_quotas(np.array([counts[c] for c in sorted(counts)]), 60), strict=True)
    )
    got = run(store, [{"type": "quota", "by": ["category", "style"], "total": 60}])
    assert kept_rows(store, "t").tolist() == quota_reference(ref, alive, cells, lambda c, n: quotas[c])
    assert got["attrs"]["n_kept"] == 60
    kept_labels = [vocabulary[c] if c >= 0 else "" for c in category[got["kept"]]]
    assert got["attrs"]["counts"]["category"] == dict(Counter(kept_labels))


def test_quotas_by_a_generated_samples_provenance_equal_the_reference(store, small_buffers):
    ref = columns(store)
    alive = np.flatnonzero(ref["ok"])
    generator = np.array([GENERATORS.index(GENERATORS[i % 4]) for i in range(N)])  # "" is the last
    run(store, [{"type": "quota", "by": "image_generator", "k": 5, "per_value": {"flux": 2}}])
    flux = GENERATORS.index("flux")
    assert kept_rows(store, "t").tolist() == quota_reference(
        ref, alive, generator, lambda c, n: 2 if c == flux else 5
    )
    cells = generator * 10 + ref["category_id"] + 1
    run(store, [{"type": "quota", "by": ["image_generator", "category"], "k": 2}])
    assert kept_rows(store, "t").tolist() == quota_reference(ref, alive, cells, lambda c, n: 2)
    with pytest.raises(SpecError, match="'by' must be one or more of category, style, image_generator"):
        run(store, [{"type": "quota", "by": "seed", "k": 2}])


def test_balanced_quotas_fill_evenly():
    assert balanced_quotas(np.array([10, 2, 10, 0]), 13).tolist() == [6, 2, 5, 0]
    assert balanced_quotas(np.array([3, 3]), 100).tolist() == [3, 3]
    assert balanced_quotas(np.array([5, 5, 5]), 0).tolist() == [0, 0, 0]


def test_each_dropped_row_names_the_first_step_that_dropped_it(store):
    ref = columns(store)
    long, short = np.maximum(ref["width"], ref["height"]), np.minimum(ref["width"], ref["height"])
    filters = {
        "filter:clip_cosine>=0.15": ({"column": "clip_cosine", "min": 0.15}, ~(ref["clip_cosine"] >= 0.15)),
        "filter:ssim_roundtrip<=0.8": (
            {"column": "ssim_roundtrip", "max": 0.8},
            ~(ref["ssim_roundtrip"] <= 0.8),
        ),
        "filter:aspect<=2": ({"column": "aspect", "max": 2}, ~(long / short <= 2)),
        "filter:weighted_score>=0.3": ({"column": "weighted_score", "min": 0.3}, ~(ref["score"] >= 0.3)),
    }
    steps = [{"type": "filter", **table} for table, _ in filters.values()] + [{"type": "top_k", "k": 25}]
    got = run(store, steps)

    expected = np.where(ref["ok"], "", "status").astype(object)
    for reason, (_, drops) in filters.items():
        expected[(expected == "") & drops] = reason
    top = best_first(np.flatnonzero(expected == ""), ref["score"])[:25]
    expected[(expected == "") & ~np.isin(np.arange(N), top)] = "top_k"
    assert got["reason"].tolist() == expected.tolist()

    funnel = got["attrs"]["funnel"]
    assert [f["step"] for f in funnel] == ["status", *filters, "top_k"]
    assert [f["dropped"] for f in funnel] == [(expected == f["step"]).sum() for f in funnel]
    assert [f["remaining"] for f in funnel] == (N - np.cumsum([f["dropped"] for f in funnel])).tolist()
    assert funnel[-1]["remaining"] == got["attrs"]["n_kept"] == 25


def test_prompt_filter_and_exact_dedup_plug_in(store):
    ref = columns(store)
    hashes = ref["content_hash"]
    steps = [{"type": "prompt", "name": "length", "min_words": 3}, {"type": "dedup", "name": "exact"}]
    got = run(store, steps)
    short = ref["ok"] & (np.array([len(c.split()) for c in ref["caption"]]) < 3)
    assert (got["reason"] == "prompt:length").tolist() == short.tolist()
    alive = np.flatnonzero(ref["ok"] & ~short)
    duplicated = [h for h, n in Counter(hashes[alive].tolist()).items() if n > 1]
    assert duplicated
    for h in duplicated:
        members = alive[hashes[alive] == h]
        assert len(set(got["dup_group"][members])) == 1 and got["dup_group"][members[0]] != -1
        assert (got["reason"][members] == "").sum() == 1
    assert (got["reason"] == "dedup:exact").sum() == sum((hashes[alive] == h).sum() - 1 for h in duplicated)


def test_shipped_recipes_parse_and_run(store):
    assert set(recipe_names(RECIPES)) >= {"synthvlm", "fine_t2i", "datacomp", "sharegpt4o"}
    for name in recipe_names(RECIPES):
        select(store, SelectSpec.recipe(name), overwrite=True, allow_partial=True)
        selection = read_selection(store, name)
        assert selection["attrs"]["n_kept"] == selection["kept"].sum() > 0, name
    kept_tasks = Counter(store.arrays["task"][:][read_selection(store, "sharegpt4o")["kept"]].tolist())
    assert kept_tasks["edit"] and kept_tasks["t2i"]  # both tasks, through the same checks
    synthvlm = SelectSpec.recipe("synthvlm")
    assert [(t.column, t.weight, t.min) for t in synthvlm.score] == [
        ("clip_cosine", 1.0, 0.0),
        ("ssim_roundtrip", 0.5, None),
    ]
    assert synthvlm.steps[-1].k == 100_000
    assert set(list_selections(store)) >= set(recipe_names(RECIPES))


def test_selection_arrays_are_sharded_like_the_store_and_round_trip(tmp_path):
    store = build_store(tmp_path / "small.zarr", n=10, shard_rows=4)
    reason = np.array(["", "status", "top_k", "", "top_k", "", "", "status", "", "top_k"], dtype=object)
    kept, dup = reason == "", np.arange(10) - 5
    store_selection(store, "hand", kept, reason, np.arange(10, dtype=np.float32), dup, {"spec": {}})
    got = read_selection(store, "hand")
    assert got["reason"].tolist() == reason.tolist() and got["dup_group"].tolist() == dup.tolist()
    assert kept_rows(store, "hand").tolist() == np.flatnonzero(kept).tolist()
    group = zarr.open_group(store.url, mode="r")["selections/hand"]
    assert all(group[a].shards == (4,) for a in ("kept", "reason_code", "weighted_score", "dup_group"))
    assert [group.attrs["reasons"][c] for c in group["reason_code"][:]] == reason.tolist()
    with pytest.raises(FileExistsError, match="--overwrite"):
        store_selection(store, "hand", kept, reason, np.zeros(10, np.float32), dup, {})
    zarr.open_group(store.url)["selections/hand"].attrs.put({})  # as if interrupted before `complete`
    assert list_selections(store) == []
    with pytest.raises(KeyError, match="no selection 'hand'"):
        read_selection(store, "hand")
    store_selection(store, "hand", kept, reason, np.zeros(10, np.float32), dup, {})  # replaced, no overwrite


def test_spec_errors_name_the_input_and_the_problem(store, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[steps]]\ntype = "top_k"\nk = 5\nsize = 3\n')
    with pytest.raises(SpecError, match=r"bad.toml step 1: unknown keys size"):
        SelectSpec.from_toml(bad)
    with pytest.raises(SpecError, match="no numeric column 'clip_cos'"):
        run(store, [{"type": "filter", "column": "clip_cos", "min": 0}])
    with pytest.raises(SpecError, match="'type' must be one of"):
        SelectSpec.from_table({"steps": [{"type": "sample"}]}, "x")
    with pytest.raises(SpecError, match="two steps drop rows as top_k"):
        SelectSpec.from_table({"steps": [{"type": "top_k", "k": 1}, {"type": "top_k", "k": 2}]}, "x")
    with pytest.raises(SpecError, match="'fraction' must be a fraction"):
        SelectSpec.from_table({"steps": [{"type": "top_k", "fraction": 3}]}, "x")
    with pytest.raises(SpecError, match="x step 1: unknown keys window"):
        SelectSpec.from_table({"steps": [{"type": "prompt", "name": "length", "window": 3}]}, "x")


NAN = float("nan")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"score": {"clip_cosine": NAN}}, r"x \[score\] clip_cosine: 'weight' must be a number, got nan"),
        ({"steps": [{"type": "filter", "column": "clip_cosine", "min": NAN}]}, "'min' must be a number"),
        ({"steps": [{"type": "filter", "column": "cos", "min": 0.5, "max": 0.2}]}, "min 0.5 is above max"),
        ({"score": {"clip_cosine": {"weight": 1, "min": 1, "max": 0}}}, "min 1.0 is above max 0.0"),
        ({"steps": 5}, "'steps' must be a list of"),
        ({"steps": [5]}, "x step 1: 'type' must be one of"),
        ({"steps": [{"type": "filter", "column": "clip_cosine", "min": i / 1000} for i in range(255)]},
         "255 steps; a selection records at most 254"),
    ],
)  # fmt: skip
def test_specs_that_cannot_mean_anything_are_refused_before_running(table, message):
    with pytest.raises(SpecError, match=message):
        SelectSpec.from_table(table, "x")


def test_a_selection_that_keeps_nothing_warns(store, capsys):
    assert main(["select", store.url, "--allow-partial", "--name", "none", "--min", "clip_cosine=2"]) == 0
    out, err = capsys.readouterr()
    assert "kept 0 of 300 rows" in out
    assert err.splitlines() == [
        f"pixsift: warning: {store.url}: 44 of 300 rows are not scored (the score job stopped "
        "part-way); they are left out (--allow-partial)",
        "pixsift select: warning: selection 'none' keeps none of the 300 rows; "
        "step 'filter:clip_cosine>=2.0' dropped the last 231",
    ]
    assert main(["inspect", store.url]) == 0
    assert "  none: kept 0 of 300 (status -69, filter:clip_cosine>=2.0 -231)" in capsys.readouterr().out


def test_set_changes_one_key_of_a_recipe_step(store, capsys):
    synthvlm = ["select", store.url, "--allow-partial", "--recipe", "synthvlm"]
    assert main([*synthvlm, "--name", "set", "--set", "top_k.k=7", "score.ssim_roundtrip=0.25"]) == 0
    assert "kept 7 of 300 rows" in capsys.readouterr().out
    spec = read_selection(store, "set")["attrs"]["spec"]
    assert spec["steps"][1] == {"type": "top_k", "k": 7} and spec["score"]["ssim_roundtrip"] == 0.25
    assert main([*synthvlm, "--name", "x", "--set", "2.k=3"]) == 0
    assert "kept 3 of 300 rows" in capsys.readouterr().out
    line = user_error(capsys, [*synthvlm, "--name", "y", "--set", "filter.min=1"])
    assert line == (
        "pixsift select: --set: 'filter.min=1': no step is 'filter'; the steps are 1 best_of_n, 2 top_k"
    )
    assert main([*synthvlm, "--name", "f", "--set", "top_k.fraction=0.1"]) == 0
    assert "kept 9 of 300 rows" in capsys.readouterr().out  # a tenth of 98 best-of-n rows, not k
    for bad in ("nan", "inf", "1.5"):
        line = user_error(capsys, [*synthvlm, "--set", f"top_k.fraction={bad}"])
        assert line.endswith(f"step 2: 'fraction' must be a fraction, got {float(bad)!r}"), line


def test_cli_select_with_a_recipe_flags_and_overwrite(store, capsys):
    argv = [
        "select",
        store.url,
        "--allow-partial",
        "--recipe",
        "synthvlm",
        "--top-k",
        "5",
        "--name",
        "cli",
        "--overwrite",
    ]
    assert main(argv) == 0
    assert "kept 5 of 300 rows" in capsys.readouterr().out
    assert main(["select", store.url, "--allow-partial", "--recipe", "datacomp", "--name", "cli"]) == 2
    assert capsys.readouterr().err == (
        f"pixsift select: selection 'cli': exists in {store.url}; pass --overwrite to replace it\n"
    )
    flags = ["--min", "clip_cosine=0.2", "--best-of-n", "--top-fraction", "0.5", "--weight", "clip_cosine=1"]
    assert main(["select", store.url, "--allow-partial", "--name", "flags", *flags]) == 0
    selection = read_selection(store, "flags")
    assert [f["step"] for f in selection["attrs"]["funnel"]] == [
        "status",
        "filter:clip_cosine>=0.2",
        "best_of_n",
        "top_k",
    ]
    assert selection["attrs"]["spec"]["score"] == {"clip_cosine": 1.0}
    cuts = {f["step"]: f["thresholds"] for f in selection["attrs"]["funnel"]}
    assert cuts["filter:clip_cosine>=0.2"] == [{"column": "clip_cosine", "op": ">=", "value": 0.2}]
    assert cuts["status"] == cuts["best_of_n"] == cuts["top_k"] == []
