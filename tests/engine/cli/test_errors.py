"""One error path: every command turns a user error into one line, `pixsift <command>: <input>: <problem>`,
exit status 2 and no traceback (the traceback only with --debug); a mistyped flag shows the subcommand's
usage."""

import json
import re
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pixsift.engine.cli import main
from pixsift.engine.core.errors import missing_package
from pixsift.engine.store.run_store import RunStore
from pixsift.kernels.optional import require
from tests.helpers.cli import user_error
from tests.helpers.scoring import good_pool
from tests.helpers.selection_stores import scored_pool, write_selection


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    pool = scored_pool(tmp_path_factory.mktemp("pool"))
    write_selection(pool.store, "best", [0, 1])
    return pool.store


def test_a_missing_input_is_named_before_any_store_is_made(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = user_error(capsys, ["score", "--input", "missing.tar", "--store", "s.zarr", "--clip-random-init"])
    assert line == "pixsift score: missing.tar: no such file or folder; check the --input paths"
    assert list(tmp_path.iterdir()) == []


def test_a_bad_setting_in_the_config_file_names_the_file_and_key(tmp_path, capsys):
    settings = tmp_path / "score.toml"
    settings.write_text('inputs = ["x.tar"]\nstore = "s.zarr"\nclip_random_init = true\nworkers = -1\n')
    line = user_error(capsys, ["score", "--config", str(settings)])
    assert line == f"pixsift score: {settings}: workers: must be at least 0, got -1"
    line = user_error(capsys, ["score", "--config", str(settings), "--workers", "-2"])
    assert line == "pixsift score: --workers: must be at least 0, got -2"
    settings.write_text('inputs = ["x.tar"]\nstore = "s.zarr"\nclip_random_init = true\ndecoder = "gpu"\n')
    line = user_error(capsys, ["score", "--config", str(settings)])
    assert line == f"pixsift score: {settings}: decoder: must be one of auto, dali, nvjpeg, pil, got 'gpu'"


def test_inputs_whose_candidates_mostly_fail_the_scan_are_refused_before_scoring(
    tmp_path, capsys, tiny_config
):
    manifest = tmp_path / "captions.jsonl"
    rows = [{"image": name, "caption": "a photograph"} for name in ("gone.jpg", "lost.jpg", "here.png")]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    Image.new("RGB", (32, 32)).save(tmp_path / "here.png")
    score = ["score", "--input", str(manifest), "--store", str(tmp_path / "s"), "--clip-random-init"]
    score += ["--clip-config", str(tiny_config)]
    line = user_error(capsys, score)
    assert line == (
        f"pixsift score: inputs {manifest}: 2 of 3 candidates (67%) cannot be read (missing_file 2; first: "
        f"missing_file: {manifest} row 1: image {tmp_path / 'gone.jpg'} does not exist); fix the inputs, or "
        "raise "
        "--max-scan-failures (now 0.5) to score them anyway"
    )
    assert not RunStore.open(str(tmp_path / "s"), read_only=True).planned
    assert main([*score, "--max-scan-failures", "0.7"]) == 0


def test_a_column_flag_naming_no_column_is_one_line_before_planning(tmp_path, capsys, tiny_config):
    (tmp_path / "a.jpg").write_bytes(b"not read")
    (tmp_path / "m.csv").write_text("image,caption\na.jpg,a cat\n")
    argv = ["score", "--input", str(tmp_path / "m.csv"), "--store", str(tmp_path / "s"), "--clip-random-init"]
    line = user_error(capsys, [*argv, "--clip-config", str(tiny_config), "--caption-col", "caption_text"])
    assert line == (
        f"pixsift score: --caption-col caption_text: table {tmp_path / 'm.csv'} has no column 'caption_text' "
        "(columns: image, caption)"
    )
    assert RunStore.planned_at(str(tmp_path / "s")) is None


@pytest.mark.parametrize(
    "flags, line",
    [
        (["--shard-rows", str(2**63 - 1)], f"--shard-rows: must be at most {1 << 20}, got {2**63 - 1}"),
        (["--fidelity-via", "1000000"], "--fidelity-via: must be at most 8192, got 1000000"),
        (["--fidelity-via", "800"], "--fidelity-via: must be at most --fidelity-size (768): the round trip"),
        (["--batch-size", "100000000"], "--batch-size: must be at most 65536, got 100000000"),
    ],
)
def test_values_past_what_the_machine_can_do_are_refused_before_anything_runs(tmp_path, capsys, flags, line):
    argv = ["score", "--input", "x.tar", "--store", str(tmp_path / "s"), "--clip-random-init", *flags]
    assert user_error(capsys, argv).startswith(f"pixsift score: {line}")
    assert list(tmp_path.iterdir()) == []


def test_stores_and_selections_that_are_not_there(store, tmp_path, capsys):
    export = ["export", str(tmp_path / "nope"), "--selection", "best", "--to", str(tmp_path / "x")]
    line = user_error(capsys, [*export, "--format", "webdataset"])
    assert line == f"pixsift export: {tmp_path / 'nope'}: not a pixsift run store (no Zarr group there)"
    line = user_error(capsys, ["report", store.url, "--selection", "nope"])
    assert line == f"pixsift report: {store.url}: no selection 'nope'; selections: best"
    line = user_error(capsys, ["inspect", str(tmp_path)])
    assert re.fullmatch(rf"pixsift inspect: {tmp_path}: not a pixsift run store .*", line)
    assert not (tmp_path / "x").exists()


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["inspect", str(tmp_path), "--debug"])


def test_a_mistyped_flag_shows_the_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["score", "--inptu", "x.tar"])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.startswith("usage: pixsift score ")
    assert err.rstrip().endswith("pixsift score: error: unrecognized arguments: --inptu x.tar")


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert re.fullmatch(r"pixsift \d+\.\d+\.\d+\n", capsys.readouterr().out)


CLOUD = "install it with: pip install 'pixsift[cloud]'"


@pytest.mark.parametrize(
    ("missing", "flags", "line"),
    [
        ("s3fs", ["--input", "s3://bucket/pool.tar"], f"Install s3fs to access S3; {CLOUD}"),
        ("gcsfs", ["--input", "gs://b/pool.tar"], f"Please install gcsfs to access Google Storage; {CLOUD}"),
        ("aiohttp", ["--input", "https://example.com/pool.tar"],
         f'HTTPFileSystem requires "requests" and "aiohttp" to be installed; {CLOUD}'),
        ("ray", ["--executor", "ray"], "--executor ray needs the Python package 'ray', which is not "
         "importable here (import of ray halted; None in sys.modules). Install it with: pip install "
         "'pixsift[dist]'"),
        ("nvidia.dali", ["--decoder", "dali"], "DALI image decoding needs the Python package 'nvidia.dali', "
         "which is not importable here (import of nvidia.dali halted; None in sys.modules). Install it with: "
         "pip install 'pixsift[gpu]'"),
    ],
)  # fmt: skip
def test_a_missing_optional_package_is_one_line_naming_the_extra(
    monkeypatch, capsys, tmp_path, tiny_config, missing, flags, line
):
    monkeypatch.chdir(tmp_path)
    for name in [m for m in sys.modules if m == missing or m.startswith(f"{missing}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)  # as if it were not installed
    inputs = [] if "--input" in flags else ["--input", *good_pool(tmp_path / "pool")]
    argv = ["score", "--store", "s", "--clip-config", str(tiny_config), "--clip-random-init", *inputs, *flags]
    assert user_error(capsys, argv) == f"pixsift score: {line}"


def test_a_missing_download_or_training_package_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "img2dataset", None)
    urls = tmp_path / "urls.parquet"
    pq.write_table(pa.table({"url": ["http://127.0.0.1:9/a.jpg"], "caption": ["a cat"]}), urls)
    line = user_error(capsys, ["download", "--input", str(urls), "--to", str(tmp_path / "out")])
    assert line == (
        "pixsift download: pixsift download needs the Python package 'img2dataset', which is not importable "
        "here (import of img2dataset halted; None in sys.modules). Install it with: pip install "
        "'pixsift[download]'"
    )
    assert not (tmp_path / "out").exists()
    monkeypatch.setitem(sys.modules, "deepspeed", None)  # what `pixsift train` meets first
    with pytest.raises(ImportError) as missing:
        require("deepspeed", "pixsift train")
    assert missing_package(missing.value).line().endswith("Install it with: pip install 'pixsift[train]'")


def test_score_without_a_model_flag_uses_openai_vit_l_14_and_says_how_to_fill_the_cache(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    inputs = good_pool(tmp_path / "pool")
    line = user_error(capsys, ["score", "--input", *inputs, "--store", str(tmp_path / "s")])
    assert line.startswith(
        "pixsift score: CLIP weights ViT-L-14/openai: (timm/vit_large_patch14_clip_224.openai"
    )
    assert "fill the cache with `hf download timm/vit_large_patch14_clip_224.openai " in line
    assert "open_clip_model.safetensors`" in line
    assert not (tmp_path / "s").exists()
