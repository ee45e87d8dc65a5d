"""`pixsift search` on a scored pool of real photographs: the rows nearest a text or an image, equal to a
brute-force cosine over the stored embeddings, merged across work units, failed rows never returned, a
selection's kept rows only, the CLI's table, JSONL and contact sheet."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from pixsift.engine.cli import main
from pixsift.engine.score.job import score
from pixsift.engine.score.search import HTML_MARK, nearest, search, stored_embedder
from pixsift.engine.score.search_config import SearchConfig
from pixsift.engine.store.run_store import RunStore
from tests.helpers.candidate_pools import photo, photo_names
from tests.helpers.scoring import score_config
from tests.helpers.selection_stores import write_selection


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_config) -> str:
    """Every photograph at two sizes (5 work units of 2 rows and one of 1), and a file that is no image."""
    folder = tmp_path_factory.mktemp("search") / "pool"
    folder.mkdir()
    rows = []
    for name in photo_names():
        for side in (48, 72):
            (folder / f"{name}-{side}.png").write_bytes(photo(name, side))
            rows.append({"image": f"{name}-{side}.png", "caption": f"a photograph of {name}"})
    (folder / "broken.png").write_bytes(b"not an image")
    rows.append({"image": "broken.png", "caption": "a broken file"})
    (folder / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = folder.parent / "store"
    score(score_config([str(folder)], path, tiny_config, shard_rows=2, batch_size=4), io.StringIO())
    return str(path)


def brute_force(store_url: str, query: torch.Tensor, allowed: np.ndarray | None = None):
    """Every ok row's cosine with the query, in numpy float64, highest first (ties: lower row)."""
    store = RunStore.open(store_url, read_only=True)
    embeddings = np.asarray(store.arrays["image_embedding"][:], np.float64)
    ok = store.arrays["status"][:] == "ok"
    if allowed is not None:
        ok &= allowed
    q = query[0].double().numpy()
    cosine = embeddings @ q / np.linalg.norm(embeddings, axis=1) / np.linalg.norm(q)
    rows = np.flatnonzero(ok)
    order = np.lexsort((rows, -cosine[rows]))
    return rows[order], cosine[rows][order]


def test_a_text_query_finds_what_a_brute_force_cosine_finds(store):
    cfg = SearchConfig(store=store, text="a photograph of chelsea", k=7, device="cpu")
    opened, found = search(cfg)
    query = stored_embedder(opened, torch.device("cpu")).encode_texts(["a photograph of chelsea"])
    rows, cosine = brute_force(store, query)
    np.testing.assert_array_equal(found.rows, rows[:7])  # merged over 2-row units into the top 7
    np.testing.assert_allclose(found.similarity, cosine[:7], rtol=0, atol=1e-5)
    failed = np.flatnonzero(opened.arrays["status"][:] == "failed")
    assert len(failed) == 1 and failed[0] not in nearest(opened, query, opened.n_rows).rows


def test_an_image_query_finds_its_own_photograph_first(store, tmp_path):
    (tmp_path / "query.png").write_bytes(photo("camera", 72))
    opened, found = search(SearchConfig(store=store, image=str(tmp_path / "query.png"), k=3, device="cpu"))
    keys = opened.arrays["key"].oindex[found.rows].tolist()
    assert keys[0].endswith("camera-72.png") and found.similarity[0] == pytest.approx(1.0, abs=2e-3)


def test_a_selection_searches_its_kept_rows_alone(store, tmp_path):
    copy = tmp_path / "store"
    import shutil

    shutil.copytree(store, copy)
    opened = RunStore.open(str(copy), read_only=False)
    kept = list(range(0, opened.n_rows - 1, 3))
    write_selection(opened, "every-third", kept)
    query = stored_embedder(opened, torch.device("cpu")).encode_texts(["a cup of coffee"])
    allowed = np.zeros(opened.n_rows, bool)
    allowed[kept] = True
    found = nearest(opened, query, 100, RunStore.open(str(copy)).group["selections"]["every-third"])
    np.testing.assert_array_equal(found.rows, brute_force(str(copy), query, allowed)[0])


def test_the_command_prints_rows_writes_a_contact_sheet_and_replaces_only_its_own(store, tmp_path, capsys):
    sheet = tmp_path / "found.html"
    assert (
        main(["search", store, "a photograph of coffee", "--k", "3", "--device", "cpu", "--html", str(sheet)])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["row", "similarity", "key"] and len(out) == 1 + 3 + 1
    page = sheet.read_text()
    assert page.startswith(HTML_MARK) and page.count("data:image/jpeg;base64,") == 3
    assert main(["search", store, "a photograph of coffee", "--format", "jsonl", "--html", str(sheet)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()[:-1]]
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)  # every scored row, k 20
    assert [r["similarity"] for r in rows] == sorted((r["similarity"] for r in rows), reverse=True)
    mine = tmp_path / "mine.html"
    mine.write_text("my notes")
    assert main(["search", store, "coffee", "--html", str(mine)]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("exists and was not written by pixsift search; refusing to replace it")
    )
    assert mine.read_text() == "my notes"
    assert main(["search", store]) == 2
    assert "give a text to search for" in capsys.readouterr().err
