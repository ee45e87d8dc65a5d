"""Editing pairs scored as pairs, on planted pairs from real photographs: good edits, a copy, an unrelated
image, a destroyed source; each metric against an independent computation (skimage SSIM, numpy L1,
cosines of open_clip embeddings)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from skimage.metrics import structural_similarity

from pixsift.engine.cli import main
from pixsift.engine.score.edit_pairs import PAIR_SIZE
from pixsift.engine.score.embed import ClipEmbedder
from pixsift.engine.score.job import score
from pixsift.engine.store.schema import EDIT_COLUMNS
from tests.helpers.scoring import read_store, score_config


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


def jpeg(array: np.ndarray, quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "JPEG", quality=quality)
    return out.getvalue()


def planted(folder, side: int = 160):
    """Sources as candidates of the pool, and edits of them: (name, bytes, source, instruction, meta)."""
    astronaut = np.asarray(Image.fromarray(data.astronaut()).resize((side, side)))
    chelsea = np.asarray(Image.fromarray(data.chelsea()).resize((side * 3 // 2, side)))
    red = astronaut.copy()
    red[side // 4 : side * 9 // 16, side * 5 // 16 : side * 11 // 16] = [220, 30, 30]
    bright = np.clip(astronaut.astype(int) + 60, 0, 255).astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, astronaut.shape, dtype=np.uint8)
    destroyed = (astronaut // 4 + noise // 4 * 3).astype(np.uint8)
    files = {"astronaut.png": png(astronaut), "chelsea.png": png(chelsea)}
    edits = [
        ("red.png", png(red), "astronaut.png", "paint a red square on the suit",
         {"target_caption": "an astronaut with a red square"}),
        ("bright.png", png(bright), "astronaut.png", "make it brighter", {}),
        ("copy.jpg", jpeg(astronaut), "astronaut.png", "make it a painting", {}),
        ("unrelated.png", png(chelsea), "astronaut.png", "add a hat", {}),
        ("destroyed.png", png(destroyed), "astronaut.png", "add stars", {}),
        ("orphan.png", png(red), "gone.png", "make it red", {}),
    ]  # fmt: skip
    rows = [
        {"image": "astronaut.png", "caption": "an astronaut", "key": "astronaut.png"},
        {"image": "chelsea.png", "caption": "a cat", "key": "chelsea.png"},
    ]
    for name, blob, source, instruction, meta in edits:
        files[name] = blob
        rows.append({"image": name, "caption": instruction, "task": "edit", "source_key": source, **meta})
    folder.mkdir()
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    (folder / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return files


@pytest.fixture(scope="module")
def scored(tmp_path_factory, tiny_config):
    tmp = tmp_path_factory.mktemp("edits")
    files = planted(tmp / "pool")
    score(score_config([str(tmp / "pool")], tmp / "store", tiny_config), io.StringIO())
    got = read_store(tmp / "store")
    return files, {key: {name: got[name][row] for name in got} for row, key in enumerate(got["key"].tolist())}


def small(blob: bytes) -> np.ndarray:
    return np.asarray(
        Image.open(io.BytesIO(blob)).convert("RGB").resize((PAIR_SIZE, PAIR_SIZE), Image.BILINEAR)
    )


def test_pair_ssim_and_l1_equal_an_independent_computation(scored):
    files, rows = scored
    for name in ("red.png", "bright.png", "copy.jpg", "unrelated.png", "destroyed.png"):
        edit, source = small(files[name]), small(files["astronaut.png"])
        expected_ssim = structural_similarity(
            edit, source, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
            channel_axis=2,
        )  # fmt: skip
        expected_l1 = np.abs(edit.astype(float) - source.astype(float)).mean() / 255
        assert rows[name]["edit_ssim"] == pytest.approx(expected_ssim, abs=2e-3), name
        assert rows[name]["edit_l1"] == pytest.approx(expected_l1, abs=2e-3), name
        assert rows[name]["status"] == "ok"


def test_clip_i_and_direction_equal_cosines_of_open_clip_embeddings(scored, tiny_config):
    _, rows = scored
    source = rows["astronaut.png"]["image_embedding"].astype(np.float64)
    embedder = ClipEmbedder(config_file=tiny_config, random_init=True)
    with torch.no_grad():
        texts = [
            "paint a red square on the suit",
            "make it brighter",
            "an astronaut",
            "an astronaut with a red square",
        ]
        instruction, brighter, source_caption, target = embedder.encode_tokens(
            embedder.tokenize(texts)[0]).double().numpy()  # fmt: skip

    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    for name in ("red.png", "bright.png", "unrelated.png"):
        edit = rows[name]["image_embedding"].astype(np.float64)
        assert rows[name]["edit_clip_i"] == pytest.approx(cos(source, edit), abs=1e-2), name
    red, bright = (rows[n]["image_embedding"].astype(np.float64) for n in ("red.png", "bright.png"))
    # the red square's row names a target caption: the change from the source's caption to it
    assert rows["red.png"]["edit_direction"] == pytest.approx(
        cos(red - source, target - source_caption), abs=2e-2
    )
    # the brightness row does not: its instruction
    assert rows["bright.png"]["edit_direction"] == pytest.approx(cos(bright - source, brighter), abs=2e-2)
    del instruction


def test_text_to_image_rows_get_nan_and_a_missing_source_fails_its_row(scored):
    _, rows = scored
    for key in ("astronaut.png", "chelsea.png"):
        assert rows[key]["status"] == "ok" and all(np.isnan(rows[key][c]) for c in EDIT_COLUMNS)
    orphan = rows["orphan.png"]
    assert orphan["status"] == "failed"
    assert (
        orphan["error"]
        == "edit_source: edit source 'gone.png': not a key in the run store, nor an existing file"
    )


def test_the_planted_pairs_order_as_their_kind(scored):
    _, rows = scored
    ssim = {
        n: rows[n]["edit_ssim"]
        for n in ("red.png", "bright.png", "copy.jpg", "unrelated.png", "destroyed.png")
    }
    assert ssim["copy.jpg"] > 0.95 > ssim["red.png"] > ssim["destroyed.png"]
    assert max(ssim["unrelated.png"], ssim["destroyed.png"]) < 0.5 < min(ssim["red.png"], ssim["bright.png"])


def test_the_sharegpt4o_recipe_keeps_the_good_edits_and_drops_the_others_saying_why(
    tmp_path, tiny_config, capsys
):
    planted(tmp_path / "pool", side=400)  # Janus-Pro's 384 pixels and more, as the recipe asks
    score(score_config([str(tmp_path / "pool")], tmp_path / "store", tiny_config), io.StringIO())
    store = str(tmp_path / "store")
    assert main(["select", store, "--recipe", "sharegpt4o"]) == 0
    capsys.readouterr()
    assert main(["show", store, "--selection", "sharegpt4o", "--format", "jsonl", "--limit", "0"]) == 0
    shown = {row["key"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    kept = {key for key, row in shown.items() if row["kept"]}
    assert {"red.png", "bright.png"} <= kept and not {"copy.jpg", "unrelated.png", "destroyed.png"} & kept
    assert shown["copy.jpg"]["reason"] == "filter:edit:edit_ssim<=0.95"
    assert (
        shown["unrelated.png"]["reason"] == shown["destroyed.png"]["reason"] == "filter:edit:edit_ssim>=0.35"
    )
    assert {"astronaut.png", "chelsea.png"} <= kept  # text-to-image rows pass the edit checks
    reason = "filter:edit:edit_ssim>=0.35"
    assert main(["show", store, "--selection", "sharegpt4o", "--reason", reason, "--limit", "0"]) == 0
    listed = capsys.readouterr().out
    assert "unrelated.png" in listed and "destroyed.png" in listed and "red.png" not in listed
