import hashlib
import math
import os
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest
import zarr

from pixsift.engine.core.candidates import PlanEntry
from pixsift.engine.core.settings import SettingsMismatch
from pixsift.engine.io.sources import read_candidates, scan
from pixsift.engine.store.inspect import PERCENTILES, inspect, summarize
from pixsift.engine.store.run_store import RunStore, group_hash
from pixsift.engine.store.schema import PLAN_COLUMNS
from tests.helpers.candidate_pools import photo, write_tar
from tests.helpers.processes import kill_when
from tests.helpers.scoring import without_edits

CONFIG = {
    "clip": {"model": "ViT-B-32", "pretrained": "random"},
    "ssim": {"sizes": [768, 336]},
    "versions": {"open_clip": "2.32"},
}
SETTINGS = dict(
    shard_rows=8, chunk_rows=4, image_dim=6, text_dim=5, extra_columns=["aesthetic"], config=CONFIG
)


def entries(n: int) -> list[PlanEntry]:
    return [
        PlanEntry(
            f"k{i}",
            f"caption {i} é",
            f"/data/s-{i // 10}.tar",
            i * 1000,
            900 + i,
            group=f"g{i // 3}",
            task="t2i",
            category="animals" if i % 2 else "",
            style="photo",
            source_key=f"src{i}",
            seed=i if i % 4 else -1,
            error="missing_image: x" if i == 5 else "",
        )
        for i in range(n)
    ]


def scores(store: RunStore, unit, failed: int = 0, offset: float = 0.0) -> dict[str, np.ndarray]:
    """Score columns for a unit: rows before `failed` fail, the rest are ok with values from the row index."""
    rows = np.arange(unit.start, unit.stop)
    ok = rows >= unit.start + failed
    value = np.where(ok, rows / 100 + offset, np.nan).astype(np.float32)
    columns = {
        "status": np.where(ok, "ok", "failed"),
        "error": np.where(ok, "", "decode: truncated JPEG"),
        "image_embedding": np.outer(value, np.ones(6)),
        "text_embedding": np.outer(value, np.ones(5)),
        "clip_cosine": value,
        "clip_score": value * 100,
        "ssim_roundtrip": value / 2,
        "aesthetic": value + 1,
        "width": np.where(ok, 64, -1),
        "height": np.where(ok, 48, -1),
        "byte_size": np.where(ok, rows, -1),
        "format": np.where(ok, "jpeg", ""),
        "content_hash": np.where(ok, rows * 7919, 0),
        **without_edits(len(rows)),
    }
    assert set(columns) == {c.name for c in store.score_columns}
    return columns


@pytest.fixture
def planned(tmp_path):
    store = RunStore.create(str(tmp_path / "run.zarr"), **SETTINGS)
    assert store.plan(entries(19)) == 19
    return store


def test_plan_reads_back_with_plain_zarr(planned):
    group = zarr.open_group(planned.url, mode="r")
    expected = entries(19)
    assert group["key"][:].tolist() == [e.key for e in expected]
    assert group["caption"][:].tolist() == [e.caption for e in expected]
    assert group["offset"][:].tolist() == [e.offset for e in expected]
    assert group["seed"][:].tolist() == [e.seed for e in expected]
    assert group["plan_error"][:].tolist() == [e.error for e in expected]
    assert group.attrs["plan_complete"] and group.attrs["n_rows"] == 19 and group.attrs["config"] == CONFIG
    assert group.attrs["layout"]["extra_columns"] == ["aesthetic"]
    assert group["status"][:].tolist() == [""] * 19 and np.isnan(group["clip_cosine"][:]).all()
    assert group["width"][:].tolist() == [-1] * 19 and group["image_embedding"].shape == (19, 6)


def test_plan_codes_groups_categories_and_styles_as_integers(planned):
    group = zarr.open_group(planned.url, mode="r")
    expected = entries(19)
    digest = hashlib.blake2b(b"g0", digest_size=8).digest()
    assert group_hash("g0") == int.from_bytes(digest, "little", signed=True) and group_hash("") == -1
    assert group["group_id"][:].tolist() == [group_hash(e.group) for e in expected]
    assert len(set(group["group_id"][:].tolist())) == 7  # g0..g6, three rows each
    assert group.attrs["vocabularies"] == {"category": ["animals"], "style": ["photo"]}
    assert group["category_id"][:].tolist() == [0 if e.category else -1 for e in expected]
    assert group["style_id"][:].tolist() == [0] * 19
    assert planned.vocabulary("category") == ["animals"]


def test_every_array_is_sharded_by_work_unit(planned):
    group = zarr.open_group(planned.url, mode="r")
    for name, array in group.arrays():
        assert array.shards == (8, *array.shape[1:]) and array.chunks == (4, *array.shape[1:]), name
    assert {name for name, _ in group.arrays()} == {c.name for c in planned.columns}
    assert [(u.index, u.start, u.stop) for u in planned.units()] == [(0, 0, 8), (1, 8, 16), (2, 16, 19)]
    assert planned.read_plan(planned.units()[2]) == entries(19)[16:]


def test_write_unit_then_marker_and_done_units(planned):
    units = planned.units()
    planned.write_unit(units[2], scores(planned, units[2], failed=1))
    planned.write_unit(units[0], scores(planned, units[0], offset=5.0))
    planned.write_unit(units[0], scores(planned, units[0], failed=2))  # a redone unit is overwritten whole
    reopened = RunStore.open(planned.url)
    assert reopened.done_units() == {0, 2}
    assert reopened.unit_reports()[0] == {
        "start": 0,
        "stop": 8,
        "status": {"ok": 6, "failed": 2},
        "errors": {"decode": 2},
    }

    group = zarr.open_group(planned.url, mode="r")
    assert group["status"][:].tolist() == ["failed"] * 2 + ["ok"] * 6 + [""] * 8 + ["failed"] + ["ok"] * 2
    expected = np.where(np.arange(19) < 2, np.nan, np.arange(19) / 100).astype(np.float32)
    expected[8:17] = np.nan
    np.testing.assert_array_equal(group["clip_cosine"][:], expected)
    np.testing.assert_array_equal(group["text_embedding"][:, 3], expected.astype(np.float16))
    assert group["format"][:3].tolist() == ["", "", "jpeg"]
    assert sorted(group["progress"].group_keys()) == ["unit-000000", "unit-000002"]


def test_write_unit_refuses_incomplete_columns(planned):
    unit = planned.units()[1]
    columns = scores(planned, unit)
    with pytest.raises(ValueError, match="missing: aesthetic"):
        planned.write_unit(unit, {k: v for k, v in columns.items() if k != "aesthetic"})
    with pytest.raises(ValueError, match="not score columns of this store: nsfw"):
        planned.write_unit(unit, {**columns, "nsfw": columns["aesthetic"]})
    with pytest.raises(ValueError, match=r"clip_score has shape \(7,\), expected \(8,\)"):
        planned.write_unit(unit, {**columns, "clip_score": columns["clip_score"][:7]})
    with pytest.raises(ValueError, match="status must be one of"):
        planned.write_unit(unit, {**columns, "status": np.array([""] * 8)})
    assert planned.done_units() == set()


def test_two_processes_writing_alternate_units_lose_nothing(tmp_path):
    store = RunStore.create(str(tmp_path / "run.zarr"), **{**SETTINGS, "chunk_rows": 2})
    store.plan(entries(64))
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})
        from tests.engine.store.test_store import scores
        from pixsift.engine.store.run_store import RunStore
        store = RunStore.open({store.url!r})
        for unit in store.units()[int(sys.argv[1])::2]:
            store.write_unit(unit, scores(store, unit, failed=1))
    """)
    workers = [subprocess.Popen([sys.executable, "-c", script, str(i)]) for i in (0, 1)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    assert store.done_units() == set(range(8))
    status = zarr.open_group(store.url, mode="r")["status"][:].tolist()
    assert status == (["failed"] + ["ok"] * 7) * 8


def test_interrupted_plan_is_redone_from_scratch(tmp_path):
    url = str(tmp_path / "run.zarr")
    script = textwrap.dedent(f"""
        import itertools, time
        from pixsift.engine.core.candidates import PlanEntry
        from pixsift.engine.store.run_store import RunStore
        def endless():
            for i in itertools.count():
                if i % 8 == 0 and i > 8:
                    time.sleep(0.05)
                yield PlanEntry(f"old{{i}}", "c", "/x.tar", i, 1)
        RunStore.create({url!r}, **{SETTINGS!r}).plan(endless())
    """)
    planner = subprocess.Popen([sys.executable, "-c", script])
    kill_when(planner, lambda: os.path.exists(os.path.join(url, "key", "c", "2")), 60)
    assert zarr.open_group(url, mode="r")["key"][0] == "old0"

    store = RunStore.open_or_create(url, **SETTINGS)
    assert not store.planned and store.n_rows == 0
    store.plan(entries(10))
    again = RunStore.open_or_create(url, **SETTINGS)
    assert again.planned and again.read_plan(again.units()[1]) == entries(10)[8:]


def test_reopening_with_other_settings_names_what_differs(planned):
    planned.write_unit(planned.units()[0], scores(planned, planned.units()[0]))
    same = RunStore.open_or_create(planned.url, **SETTINGS)
    assert same.done_units() == {0}
    other = {**CONFIG, "clip": {**CONFIG["clip"], "model": "ViT-L-14"}, "seed": 1}
    with pytest.raises(SettingsMismatch) as error:
        RunStore.open_or_create(planned.url, **{**SETTINGS, "config": other, "text_dim": 7})
    message = str(error.value)
    assert planned.url in message
    assert "config.clip.model: 'ViT-B-32' before, 'ViT-L-14' now" in message
    assert "config.seed: '<absent>' before, 1 now" in message and "layout.text_dim: 5" in message
    assert "pretrained" not in message and "shard_rows" not in message


def test_create_refuses_to_replace_other_data(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="was not made by pixsift"):
        RunStore.open_or_create(str(tmp_path / "mine"), **SETTINGS)
    assert (tmp_path / "mine" / "thesis.txt").exists()


def test_store_at_an_fsspec_url(tmp_path):
    url = f"memory://runs-{uuid.uuid4().hex}/run.zarr"
    store = RunStore.open_or_create(url, **SETTINGS)
    store.plan(entries(12))
    store.write_unit(store.units()[1], scores(store, store.units()[1]))
    reopened = RunStore.open_or_create(url, **SETTINGS)
    assert reopened.done_units() == {1} and reopened.read_plan(reopened.units()[0]) == entries(12)[:8]
    assert zarr.open_group(url, mode="r")["byte_size"][8:12].tolist() == [8, 9, 10, 11]


def test_scan_plan_and_read_a_tar_pool(tmp_path):
    images = [photo(name) for name in ("astronaut", "chelsea", "coffee")] * 4
    write_tar(
        tmp_path / "pool.tar",
        [
            m
            for i, image in enumerate(images)
            for m in ((f"{i:04d}.jpg", image), (f"{i:04d}.txt", f"caption {i}".encode()))
        ],
    )
    store = RunStore.create(str(tmp_path / "run.zarr"), **{**SETTINGS, "shard_rows": 5, "chunk_rows": None})
    store.plan(scan([str(tmp_path / "pool.tar")]))
    assert store.layout["chunk_rows"] == 5 and [u.rows for u in store.units()] == [5, 5, 2]
    read = [c for unit in store.units() for c in read_candidates(store.read_plan(unit))]
    assert [c.key for c in read] == [f"pool/{i:04d}" for i in range(12)]
    assert [c.data for c in read] == images


def test_inspect_reports_schema_counts_and_statistics(planned):
    units = planned.units()
    planned.write_unit(units[0], scores(planned, units[0], failed=3))
    planned.write_unit(units[1], scores(planned, units[1]))
    summary = summarize(planned)
    assert summary.status == {"ok": 13, "failed": 3, "not scored": 3}
    assert summary.errors == {"decode": 3} and summary.plan_errors == {"missing_image": 1}
    [clip] = [s for s in summary.scores if s.column == "clip_cosine"]
    values = np.arange(3, 16, dtype=np.float32) / 100
    assert (clip.count, clip.nan) == (13, 3)
    assert clip.min == pytest.approx(values.min()) and clip.max == pytest.approx(values.max())
    assert clip.mean == pytest.approx(values.astype(np.float64).mean())
    for q in PERCENTILES:
        bin_width = float(values.max() - values.min()) / 2**16
        assert abs(clip.percentiles[q] - np.percentile(values, q, method="lower")) <= bin_width

    text = inspect(planned.url)
    assert "19 rows, 2 of 3 units of 8 rows done" in text
    assert "rows by status: failed 3, not scored 3, ok 13" in text
    assert "failed rows by error kind: decode 3" in text and "scan error, by kind: missing_image 1" in text
    assert '"model": "ViT-B-32"' in text
    for column in PLAN_COLUMNS:
        assert f"\n{column.name} " in text
    assert "image_embedding  float16  (19, 6)  (4, 6)  (8, 6)  CLIP image embedding" in text
    clip_line = [line for line in text.splitlines() if line.startswith("clip_cosine ")][-1]  # the stats table
    assert clip_line.split()[1:5] == ["13", "3", "0.03", f"{values.astype(np.float64).mean():.4g}"]
    assert math.isclose(float(clip_line.split()[-1]), 0.15)
