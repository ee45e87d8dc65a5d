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
    red_again = astronaut.copy()  # the same instruction made again: the pair's best of N
    red_again[side * 5 // 16 : side * 10 // 16, side * 4 // 16 : side * 10 // 16] = [200, 40, 40]
    bright = np.clip(astronaut.astype(int) + 60, 0, 255).astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, astronaut.shape, dtype=np.uint8)
    destroyed = (astronaut // 4 + noise // 4 * 3).astype(np.uint8)
    files = {"astronaut.png": png(astronaut), "chelsea.png": png(chelsea)}
    edits = [
        ("red.png", png(red), "astronaut.png", "paint a red square on the suit",
         {"target_caption": "an astronaut with a red square"}),
        ("red_again.png", png(red_again), "astronaut.png", "paint a red square on the suit", {"group": "b"}),
        ("bright.png", png(bright), "astronaut.png", "make it brighter", {}),
        ("copy.jpg", jpeg(astronaut), "astronaut.png", "make it a painting", {}),
        ("unrelated.png", png(chelsea), "astronaut.png", "add a hat",
         {"input_caption": "a man in a suit", "edited_caption": "a cat"}),
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
            "a man in a suit",
            "a cat",
        ]
        instruction, brighter, source_caption, target, man, cat = embedder.encode_tokens(
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
    # the row's own source caption comes before the source candidate's
    unrelated = rows["unrelated.png"]["image_embedding"].astype(np.float64)
    expected = cos(unrelated - source, cat - man)
    assert rows["unrelated.png"]["edit_direction"] == pytest.approx(expected, abs=2e-2)
    # the brightness row names no target: its instruction
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
    assert "bright.png" in kept and not {"copy.jpg", "unrelated.png", "destroyed.png"} & kept
    # the same source and instruction twice (in two groups): the better of the two is kept
    best, other = sorted(("red.png", "red_again.png"), key=lambda k: -shown[k]["weighted_score"])
    assert best in kept and shown[other]["reason"] == "best_of_n:edit_pair"
    assert shown["copy.jpg"]["reason"] == "filter:edit:edit_ssim<=0.95"
    assert (
        shown["unrelated.png"]["reason"] == shown["destroyed.png"]["reason"] == "filter:edit:edit_ssim>=0.35"
    )
    assert {"astronaut.png", "chelsea.png"} <= kept  # text-to-image rows pass the edit checks
    reason = "filter:edit:edit_ssim>=0.35"
    assert main(["show", store, "--selection", "sharegpt4o", "--reason", reason, "--limit", "0"]) == 0
    listed = capsys.readouterr().out
    assert "unrelated.png" in listed and "destroyed.png" in listed and "red.png" not in listed

    from pixsift.engine.report.data import gather
    from pixsift.engine.report.job import write_report
    from pixsift.engine.store.run_store import RunStore

    data = gather(RunStore.open(store, read_only=True), "sharegpt4o")
    edit_steps = {step: (dropped, left) for step, dropped, left in data.task_funnel["edit"]}
    t2i_steps = {step: (dropped, left) for step, dropped, left in data.task_funnel["t2i"]}
    low = "filter:edit:edit_ssim>=0.35"
    assert edit_steps[low][0] == 2 and t2i_steps[low][0] == 0
    assert edit_steps["filter:edit:edit_ssim<=0.95"][0] == 1
    arrays = RunStore.open(store, read_only=True).arrays
    task = dict(zip(arrays["key"][:].tolist(), arrays["task"][:].tolist(), strict=True))
    edit_kept = {k for k in kept if task[k] == "edit"}
    assert data.task_funnel["edit"][-1][2] == len(edit_kept) == 2
    assert {str(arrays["key"][r]) for r in data.pairs_kept} == edit_kept
    page = write_report(store, "sharegpt4o", tmp_path / "report").read_text()
    assert "Funnel per task" in page and "Editing pairs kept nearest the cut: source -&gt; edit" in page
    pair_cards = page.split('class="card kept pair"')[1:]
    assert len(pair_cards) == len(edit_kept)
    assert all(card.split('class="caption"')[0].count("<img ") == 2 for card in pair_cards)  # source, edit
    assert "make it brighter" in page and "edit_ssim" in page


def tiny_dinov2(folder) -> str:
    """A random DINOv2 in the published layout of facebook/dinov2-*: Dinov2Model weights and config, and the
    BitImageProcessor config those checkpoints ship (shortest side 256 bicubic, center crop 224)."""
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, patch_size=14
    )
    Dinov2Model(config).save_pretrained(folder)
    BitImageProcessor(
        size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, resample=3,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)  # fmt: skip
    return str(folder)


def test_edit_dino_is_the_cosine_of_dinov2_cls_embeddings(tmp_path, tiny_config, capsys):
    from transformers import AutoImageProcessor, Dinov2Model

    files = planted(tmp_path / "pool")
    dino = tiny_dinov2(tmp_path / "dinov2")
    score(
        score_config([str(tmp_path / "pool")], tmp_path / "store", tiny_config, edit_dino=dino), io.StringIO()
    )
    got = read_store(tmp_path / "store")
    rows = {key: row for row, key in enumerate(got["key"].tolist())}
    processor = AutoImageProcessor.from_pretrained(dino)
    model = Dinov2Model.from_pretrained(dino).eval()

    def cls(blob: bytes) -> np.ndarray:
        pixels = processor(images=Image.open(io.BytesIO(blob)).convert("RGB"), return_tensors="pt")
        with torch.no_grad():
            return model(**pixels).pooler_output[0].double().numpy()

    source = cls(files["astronaut.png"])
    for name in ("red.png", "bright.png", "copy.jpg", "unrelated.png", "destroyed.png"):
        edit = cls(files[name])
        expected = edit @ source / np.linalg.norm(edit) / np.linalg.norm(source)
        assert got["edit_dino"][rows[name]] == pytest.approx(expected, abs=2e-3), name
    assert np.isnan(got["edit_dino"][rows["astronaut.png"]]) and got["status"][rows["orphan.png"]] == "failed"
    capsys.readouterr()
    missing = str(tmp_path / "nowhere")
    args = [
        "score",
        "--input",
        str(tmp_path / "pool"),
        "--store",
        str(tmp_path / "other"),
        "--edit-dino",
        missing,
    ]
    assert main([*args, "--clip-config", str(tiny_config), "--clip-random-init"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"pixsift score: --edit-dino: {missing} is not a local DINOv2 folder (config.json, weights and "
        "preprocessor_config.json); models load from local folders: hf download facebook/dinov2-base "
        "--local-dir DIR"
    )
    assert not (tmp_path / "other").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pairs_resize_alike_on_a_gpu_and_the_cpu():
    from pixsift.engine.score.edit_pairs import pair_size

    photo = torch.from_numpy(data.astronaut()).permute(2, 0, 1).contiguous()[:, :500, :377]
    on_cpu, on_gpu = pair_size(photo), pair_size(photo.cuda()).cpu()
    assert (on_cpu.int() - on_gpu.int()).abs().max() <= 1
