"""A store whose scoring stopped part-way is never taken for a whole one: select, export, report and
tokenize refuse it in one line unless --allow-partial, which says how many rows it leaves out."""

from __future__ import annotations

import shutil

import pytest

from pixsift.engine.cli import main
from tests.helpers.selection_stores import scored_pool, write_selection


@pytest.fixture
def half_scored(tmp_path):
    pool = scored_pool(tmp_path / "pool")  # 12 rows in 3 units of 4
    write_selection(pool.store, "best", list(range(12)))
    shutil.rmtree(tmp_path / "pool" / "run.zarr" / "progress" / "unit-000001")  # as a killed score leaves it
    return pool


def commands(pool, tmp_path, tiny_janus) -> dict[str, list[str]]:
    store = pool.store.url
    return {
        "select": ["select", store, "--name", "again", "--min", "clip_cosine=-1"],
        "export": ["export", store, "--selection", "best", "--to", str(tmp_path / "out"), "--format", "hf"],
        "report": ["report", store, "--selection", "best", "--out", str(tmp_path / "report")],
        "tokenize": ["tokenize", store, "--selection", "best", "--out", str(tmp_path / "tokens"), "--model",
                     str(tiny_janus)],
    }  # fmt: skip


def test_a_half_scored_store_is_refused_in_one_line(half_scored, tmp_path, tiny_janus, capsys):
    for name, argv in commands(half_scored, tmp_path, tiny_janus).items():
        capsys.readouterr()
        assert main(argv) == 2, name
        assert capsys.readouterr().err.strip() == (
            f"pixsift {name}: {half_scored.store.url}: 4 of 12 rows are not scored (the score job stopped "
            "part-way); run the same score command again, or pass --allow-partial to leave them out"
        )
    assert not any((tmp_path / p).exists() for p in ("out", "report", "tokens"))


@pytest.mark.parametrize("name", ["select", "export", "report"])
def test_allow_partial_goes_on_and_counts_what_it_left_out(half_scored, tmp_path, tiny_janus, capsys, name):
    argv = commands(half_scored, tmp_path, tiny_janus)[name]
    capsys.readouterr()
    assert main([*argv, "--allow-partial"]) in (0, 1)
    assert (
        f"pixsift: warning: {half_scored.store.url}: 4 of 12 rows are not scored (the score job stopped "
        "part-way); they are left out (--allow-partial)"
    ) in capsys.readouterr().err
