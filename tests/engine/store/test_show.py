"""`pixsift show`: rows with key, caption, scores and reasons, filtered by kept, dropped, reason or
failure, as a table or JSONL, stopping at the limit."""

from __future__ import annotations

import json

import pytest

from pixsift.engine.cli import main
from pixsift.engine.store.show import ShowConfig, show_rows, table
from tests.helpers.cli import user_error
from tests.helpers.selection_stores import scored_pool, write_selection


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    pool = scored_pool(tmp_path_factory.mktemp("pool"))  # 12 rows in units of 4
    write_selection(pool.store, "best", [1, 5, 9], reasons={0: "dedup:exact", 4: "filter:clip_cosine>=0.2"})
    return pool.store


def rows(store, **values) -> list[dict]:
    return list(show_rows(ShowConfig(store=store.url, **values)))


def test_rows_carry_the_plan_scores_and_the_selection(store):
    [first, *_] = rows(store, selection="best", limit=1)
    assert first["row"] == 0 and first["key"] == "loose/astronaut-40"
    assert first["caption"] == "a photo of astronaut-40" and first["status"] == "ok"
    assert first["clip_cosine"] == pytest.approx(0.15) and first["aesthetic"] is None  # NaN is null
    assert first["weighted_score"] == pytest.approx(0.15 + 0.5 * 0.9)
    assert (first["kept"], first["reason"]) == (False, "dedup:exact")
    assert "kept" not in rows(store, limit=1)[0]  # no selection, no selection fields


def test_filters_and_the_limit(store):
    assert [r["row"] for r in rows(store, selection="best", kept=True)] == [1, 5, 9]
    dropped = rows(store, selection="best", dropped=True, limit=0)
    assert len(dropped) == 9 and not any(r["kept"] for r in dropped)
    assert [r["row"] for r in rows(store, selection="best", reason="filter")] == [4]  # by kind
    assert [r["row"] for r in rows(store, selection="best", reason="dedup:exact")] == [0]  # by name
    assert [r["row"] for r in rows(store, selection="best", reason="top_k", limit=3)] == [2, 3, 6]
    assert len(rows(store, limit=5)) == 5 and len(rows(store, limit=0)) == 12
    assert rows(store, failed=True) == []


def test_a_table_aligns_and_cuts_long_text(store):
    text = table(rows(store, selection="best", kept=True))
    header, *lines = text.splitlines()
    assert header.split() == [
        "row", "key", "caption", "status", "clip_cosine", "clip_score", "ssim_roundtrip", "aesthetic",
        "weighted_score", "kept", "reason",
    ]  # fmt: skip
    assert len(lines) == 3 and all(line.split()[-1] == "yes" for line in lines)
    assert len({len(line) for line in [header, *lines]}) <= 2  # aligned (trailing blanks stripped)
    assert table([]) == "(no rows)"


def test_the_command_prints_a_table_or_jsonl(store, capsys):
    assert main(["show", store.url, "--selection", "best", "--kept", "--format", "jsonl"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["key"] for r in printed] == [r["key"] for r in rows(store, selection="best", kept=True)]
    assert main(["show", store.url, "--limit", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_bad_requests_are_one_line(store, capsys):
    line = user_error(capsys, ["show", store.url, "--selection", "best", "--reason", "nope"])
    assert line == (
        "pixsift show: selection 'best': no reason 'nope'; its reasons: dedup:exact, "
        "filter:clip_cosine>=0.2, top_k"
    )
    line = user_error(capsys, ["show", store.url, "--kept"])
    assert line == "pixsift show: --selection: --kept, --dropped and --reason need --selection"
    line = user_error(capsys, ["show", store.url, "--selection", "nope"])
    assert line == f"pixsift show: {store.url}: no selection 'nope'; selections: best"


def test_sort_orders_by_a_score_across_units_and_keeps_ties_in_store_order(store, capsys):
    everything = rows(store, limit=0)
    by_clip = sorted(everything, key=lambda r: r["clip_cosine"])
    assert [r["row"] for r in rows(store, limit=0, sort="clip_cosine")] == [r["row"] for r in by_clip]
    top = rows(store, limit=3, sort="clip_cosine", desc=True)
    assert [r["row"] for r in top] == [r["row"] for r in by_clip[::-1][:3]]
    chosen = rows(store, selection="best", limit=0, sort="weighted_score", desc=True)
    weighted = [r["weighted_score"] for r in chosen]
    assert weighted == sorted(weighted, reverse=True) and len(chosen) == len(everything)
    assert main(["show", store.url, "--sort", "clip_cosine", "--desc", "--limit", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and str(top[0]["row"]) in out[1].split()[0]
    assert user_error(capsys, ["show", store.url, "--sort", "nope"]).startswith(
        "pixsift show: --sort nope: not a score column of the store; columns: "
    )
    assert user_error(capsys, ["show", store.url, "--desc"]) == (
        "pixsift show: --desc: --desc orders by --sort COLUMN: give it"
    )
