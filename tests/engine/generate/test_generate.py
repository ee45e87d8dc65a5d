"""pixsift generate on tiny random-weight diffusers pipelines (a few MB, built from configs, offline)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import webdataset as wds
import zarr
from PIL import Image

from pixsift.engine.core.errors import UserError
from pixsift.engine.core.progress import StageTimes
from pixsift.engine.generate.config import GenerateConfig
from pixsift.engine.generate.inputs import image_seed
from pixsift.engine.generate.job import generate
from pixsift.engine.generate.pipeline import Generator
from pixsift.engine.score.job import score
from tests.helpers.generating import ONE_PER_SHARD, t2i_config, write_jsonl
from tests.helpers.processes import kill_when
from tests.helpers.scoring import score_config

REPO = Path(__file__).resolve().parents[3]
GOOD_CAPTIONS = [
    {"caption": "a red cat on a mat", "id": "cat", "category": "animal", "style": "photo"},
    {"caption": "a blue dog", "category": "animal"},
    {"caption": "a green tree", "id": "tree", "style": "painting"},
]


def pipeline_config(pipeline: Path, **values) -> GenerateConfig:
    """Settings for building a Generator only: no inputs are read, no output written."""
    return GenerateConfig(task="t2i", inputs="unused.jsonl", out="unused", pipeline=str(pipeline), **values)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def test_a_seed_gives_the_same_image_in_any_batch(tiny_sd):
    """Within one 8-bit level in any batch (CPU GEMM blocking follows the batch size), and bit for bit in
    batch-invariant mode."""
    cfg = pipeline_config(tiny_sd, steps=2, width=32, height=32)
    generator = Generator(cfg, torch.device("cpu"), StageTimes())
    pair = generator(["a red cat", "a blue dog"], [11, 22])
    alone = [generator(["a red cat"], [11])[0], generator(["a blue dog"], [22])[0]]
    for batched, single in zip(pair, alone, strict=True):
        assert np.abs(pixels(batched).astype(int) - pixels(single)).max() <= 1
    invariant = Generator(pipeline_config(tiny_sd, steps=2, width=32, height=32, batch_invariant=True),
                          torch.device("cpu"), StageTimes())  # fmt: skip
    for batched, single in zip(invariant(["a red cat", "a blue dog"], [11, 22]), alone, strict=True):
        np.testing.assert_array_equal(pixels(batched), pixels(single))
    other_seed = generator(["a red cat"], [12])[0]
    assert not np.array_equal(pixels(other_seed), pixels(alone[0]))
    assert set(generator.times.seconds) == {"encode_prompt", "denoise", "decode"}


def test_seeds_derive_from_base_seed_prompt_id_and_image_index():
    seeds = {image_seed(base, pid, i) for base in (0, 1) for pid in ("a", "b") for i in (0, 1)}
    assert len(seeds) == 8
    assert image_seed(0, "a", 1) == image_seed(0, "a", 1)
    assert all(0 <= s < 2**53 for s in seeds)


def test_t2i_shards_are_well_formed_reject_bad_captions_and_score_cleanly(tmp_path, tiny_sd, tiny_config):
    captions = write_jsonl(
        tmp_path / "captions.jsonl",
        [*GOOD_CAPTIONS, {"caption": "   "}, {"caption": "word " * 40}, {"caption": 7}],
        extra_lines=(b'{"caption": "caf\xe9"}', b"not json"),
    )
    out = tmp_path / "out"
    summary = generate(t2i_config(captions, out, tiny_sd), io.StringIO())
    assert (summary.images, summary.shards_written, summary.shards_total, summary.rejects) == (6, 2, 2, 5)
    assert {"encode_prompt", "denoise", "decode", "write"} <= summary.stage_seconds.keys()

    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["row"], r["reason"].split(":")[0]) for r in rejects] == [
        (4, "empty_caption"),
        (5, "too_long"),
        (6, "bad_caption"),
        (7, "bad_utf8"),
        (8, "bad_row"),
    ]
    assert "162 tokens, more than the 77 of tokenizer" in rejects[1]["reason"]
    assert rejects[0]["record"] == {"caption": "   "}

    shards = sorted(out.glob("*.tar"))
    assert [s.name for s in shards] == ["shard-000000.tar", "shard-000001.tar"]
    with tarfile.open(shards[0]) as tar:
        assert tar.getnames() == [
            f"{key}.{ext}"
            for key in ("000000000_000", "000000000_001", "000000001_000", "000000001_001")
            for ext in ("png", "json")
        ]
    samples = list(wds.WebDataset([str(s) for s in shards], shardshuffle=False).decode("pil"))
    assert len(samples) == 6
    first = samples[0]["json"]
    assert first == {
        "caption": "a red cat on a mat",
        "seed": image_seed(0, "cat", 0),
        "group": "cat",
        "task": "t2i",
        "source_key": "",
        "prompt_category": "animal",
        "style": "photo",
        "image_index": 0,
        "image_generator": tiny_sd.name,
        "image_aspect_ratio": "1:1",
    }
    assert samples[2]["json"]["group"] == "captions.jsonl#2"  # no id: file name and row
    assert all(s["png"].size == (32, 32) for s in samples)

    store = tmp_path / "scored.zarr"
    score(score_config([str(s) for s in shards], store, tiny_config, batch_size=4), io.StringIO())
    scored = zarr.open_group(str(store), mode="r")
    assert list(scored["status"][:]) == ["ok"] * 6
    assert list(scored["group"][:]) == ["cat", "cat", "captions.jsonl#2", "captions.jsonl#2", "tree", "tree"]
    assert list(scored["seed"][:]) == [s["json"]["seed"] for s in samples]
    assert list(scored["category"][:]) == ["animal"] * 4 + [""] * 2  # from prompt_category
    meta = {"image_index": 0, "image_generator": tiny_sd.name, "image_aspect_ratio": "1:1"}
    assert json.loads(scored["meta"][:][0]) == meta


def test_edit_pairs_record_source_instruction_and_seed(tmp_path, tiny_ip2p):
    sources = tmp_path / "sources"
    sources.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(sources / f"{name}.png")
    (sources / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    pairs = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"source": "sources/a.png", "instruction": "make it blue", "id": "e1", "source_key": "pool/a"},
            {
                "source": "sources/b.png",
                "instruction": "add a hat",
                "input_caption": "a man",
                "output_caption": "a man in a hat",
            },
            {"source": "sources/missing.png", "instruction": "make it red"},
            {"source": "sources/broken.png", "instruction": "make it red"},
        ],
    )
    cfg = GenerateConfig(
        task="edit", inputs=str(pairs), out=str(tmp_path / "out"), pipeline=str(tiny_ip2p), steps=2, width=32,
        height=32, image_format="jpeg", device="cpu",
    )  # fmt: skip
    summary = generate(cfg, io.StringIO())
    assert (summary.images, summary.rejects) == (2, 2)
    reasons = [
        json.loads(line)["reason"] for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()
    ]
    assert reasons[0] == f"missing_source: {sources / 'missing.png'} does not exist"
    assert reasons[1].startswith(f"bad_source: {sources / 'broken.png'}")

    samples = list(
        wds.WebDataset([str(tmp_path / "out" / "shard-000000.tar")], shardshuffle=False).decode("pil")
    )
    records = [s["json"] for s in samples]
    assert [(r["task"], r["instruction"], r["caption"], r["source_key"]) for r in records] == [
        ("edit", "make it blue", "make it blue", "pool/a"),
        (
            "edit",
            "add a hat",
            "add a hat",
            f"sources/{hashlib.sha256((sources / 'b.png').read_bytes()).hexdigest()[:32]}.png",
        ),
    ]
    assert "source_caption" not in records[0] and "target_caption" not in records[0]
    assert (records[1]["source_caption"], records[1]["target_caption"]) == ("a man", "a man in a hat")
    copied = tmp_path / "out" / records[1]["source_key"]  # the source travels with the shards
    assert copied.read_bytes() == (sources / "b.png").read_bytes()
    assert records[0]["seed"] == image_seed(0, "e1", 0)
    assert all(s["jpg"].size == (32, 32) for s in samples)


@pytest.fixture(scope="module")
def eight_shards(tmp_path_factory, tiny_sd) -> tuple[Path, Path]:
    """Eight captions, one per shard, and the shards of an uninterrupted in-process run."""
    folder = tmp_path_factory.mktemp("eight")
    captions = write_jsonl(
        folder / "captions.jsonl", [{"caption": f"picture number {i}", "id": f"p{i}"} for i in range(8)]
    )
    generate(t2i_config(captions, folder / "clean", tiny_sd, **ONE_PER_SHARD), io.StringIO())
    return captions, folder / "clean"


def test_two_worker_processes_write_the_shards_of_one(tmp_path, tiny_sd, eight_shards):
    captions, clean = eight_shards
    out = tmp_path / "two"
    summary = generate(t2i_config(captions, out, tiny_sd, **ONE_PER_SHARD, workers=2), io.StringIO())
    assert (summary.images, summary.shards_written) == (8, 8)
    for shard in clean.glob("*.tar"):
        assert (out / shard.name).read_bytes() == shard.read_bytes(), shard.name


def test_a_killed_job_resumes_to_the_shards_of_a_clean_run(tmp_path, tiny_sd, eight_shards):
    captions, clean = eight_shards

    killed = tmp_path / "killed"
    command = [
        sys.executable, "-m", "pixsift.engine.cli", "generate", "t2i",
        "--captions", str(captions), "--out", str(killed), "--pipeline", str(tiny_sd),
        "--steps", "2", "--resolution", "32", "--captions-per-shard", "1", "--batch-size", "1",
        "--device", "cpu",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(proc, lambda: (killed / "shard-000000.tar").exists(), 120)
    finished = sorted(p.name for p in killed.glob("*.tar"))
    assert len(finished) < 8, "killed too late to test a resume"
    for name in finished:  # every visible shard is whole
        assert (killed / name).read_bytes() == (clean / name).read_bytes()
    first_written = (killed / "shard-000000.tar").stat().st_mtime_ns

    resumed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{8 - len(finished)} of 8 shards written now" in resumed.stdout
    assert (killed / "shard-000000.tar").stat().st_mtime_ns == first_written
    assert sorted(p.name for p in killed.iterdir() if p.suffix == ".tar") == sorted(
        p.name for p in clean.iterdir() if p.suffix == ".tar"
    )
    assert not list(killed.glob(".*partial"))
    for shard in clean.glob("*.tar"):
        assert (killed / shard.name).read_bytes() == shard.read_bytes(), shard.name


def test_an_output_folder_made_with_other_settings_is_refused(tmp_path, tiny_sd):
    captions = write_jsonl(tmp_path / "captions.jsonl", GOOD_CAPTIONS[:1])
    generate(t2i_config(captions, tmp_path / "out", tiny_sd, images_per_caption=1), io.StringIO())
    with pytest.raises(ValueError, match=r"other settings \(steps: 2 before, 3 now\)"):
        generate(t2i_config(captions, tmp_path / "out", tiny_sd, images_per_caption=1, steps=3))


def test_limit_generates_from_the_first_n_rows(tmp_path, tiny_sd):
    captions = write_jsonl(tmp_path / "captions.jsonl", GOOD_CAPTIONS)
    summary = generate(
        t2i_config(captions, tmp_path / "out", tiny_sd, images_per_caption=1, limit=2), io.StringIO()
    )
    assert summary.images == 2
    plan = (tmp_path / "out" / "plan.jsonl").read_text().splitlines()
    assert [json.loads(line)["caption"] for line in plan] == [c["caption"] for c in GOOD_CAPTIONS[:2]]


def test_a_wrong_pipeline_is_named_before_the_output_folder_is_claimed(tmp_path, tiny_sd):
    captions = write_jsonl(tmp_path / "captions.jsonl", [{"caption": "a red cube"}])
    out = tmp_path / "out"
    with pytest.raises(UserError, match="pipeline 'no/such-pipeline': not a local folder"):
        generate(t2i_config(captions, out, "no/such-pipeline", images_per_caption=1), io.StringIO())
    (tmp_path / "not-a-pipeline").mkdir()
    with pytest.raises(UserError, match="not-a-pipeline.*: not a diffusers pipeline folder"):
        generate(t2i_config(captions, out, tmp_path / "not-a-pipeline", images_per_caption=1), io.StringIO())
    assert not out.exists()
    summary = generate(t2i_config(captions, out, tiny_sd, images_per_caption=1), io.StringIO())
    assert summary.images == 1


def test_an_out_folder_pixsift_did_not_make_is_refused_untouched(tmp_path, tiny_sd):
    captions = write_jsonl(tmp_path / "captions.jsonl", [{"caption": "a red cube"}])
    out = tmp_path / "mine"
    out.mkdir()
    (out / "plan.jsonl").write_text("my own plan")
    with pytest.raises(UserError, match="mine: is not empty and was not made by pixsift"):
        generate(t2i_config(captions, out, tiny_sd, images_per_caption=1), io.StringIO())
    assert [p.name for p in out.iterdir()] == ["plan.jsonl"] and (
        out / "plan.jsonl"
    ).read_text() == "my own plan"


def test_parameters_the_pipeline_does_not_take_are_named(tiny_sd):
    cfg = GenerateConfig(
        task="t2i", inputs="unused.jsonl", out="unused", pipeline=str(tiny_sd), image_guidance=1.5
    )
    with pytest.raises(ValueError, match="StableDiffusionPipeline.*does not take image_guidance_scale"):
        Generator(cfg, torch.device("cpu"), StageTimes())
    cfg = GenerateConfig(
        task="t2i", inputs="unused.jsonl", out="unused", pipeline=str(tiny_sd), scheduler="NoSuchScheduler"
    )
    with pytest.raises(
        ValueError, match="'NoSuchScheduler' is not a diffusers scheduler class; compatible: .*DDIM"
    ):
        Generator(cfg, torch.device("cpu"), StageTimes())


def test_a_scheduler_is_chosen_by_class_name(tmp_path, tiny_sd):
    cfg = pipeline_config(
        tiny_sd, steps=2, width=32, height=32, scheduler="EulerDiscreteScheduler", negative_prompt="blurry",
        guidance=3.0,
    )  # fmt: skip
    generator = Generator(cfg, torch.device("cpu"), StageTimes())
    assert type(generator.pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    first, again = generator(["a red cat"], [5])[0], generator(["a red cat"], [5])[0]
    np.testing.assert_array_equal(pixels(first), pixels(again))
