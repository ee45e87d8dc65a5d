"""`pixsift judge` and `pixsift caption` with `--backend vllm` (vLLM's CPU build, tests.helpers.vllm_env) on
a tiny random Qwen2.5-VL in its published layout: every judge score (P("Yes"), and the 0-10 expected values
read after a forced "1") and every greedy caption equals the transformers backend's on the same rows, edits
shown their source first; the backend's flags are refused where they would not be used, and without vLLM
the backend names the extra that installs it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from pixsift.engine.cli import main
from pixsift.engine.store.run_store import RunStore
from tests.helpers.cli import user_error
from tests.helpers.selection_stores import scored_pool
from tests.helpers.vllm_env import needs_vllm, pixsift_on_vllm

EDITS = {1: "loose/astronaut-40", 5: "loose/coffee-56", 3: "loose/nope"}


def annotated(store: str, prefix: str) -> dict[str, list]:
    arrays = RunStore.open(store, read_only=True).arrays
    return {name: arrays[name][:].tolist() for name in sorted(arrays) if name.startswith(prefix)}


def on_both_backends(tmp_path, command: list[str], prefix: str, edits=None) -> tuple[dict, dict]:
    """The columns `prefix`* that `pixsift COMMAND STORE ...` writes on vLLM, and on transformers, each into
    its own copy of the pool."""
    found = {}
    for backend in ("vllm", "transformers"):
        store = scored_pool(tmp_path / backend, edits=edits).store.url
        argv = [command[0], store, *command[1:], "--batch-size", "5"]
        if backend == "vllm":
            assert "Qwen2_5_VLForConditionalGeneration on cpu (vllm)" in pixsift_on_vllm(*argv).stderr
        else:
            assert main(argv) == 0
        found[backend] = annotated(store, prefix)
    assert found["vllm"].keys() == found["transformers"].keys()
    return found["vllm"], found["transformers"]


@needs_vllm
def test_judge_scores_on_vllm_equal_the_transformers_backend(tmp_path, tiny_qwen25vl):
    judge = ["judge", "--model", str(tiny_qwen25vl), "--rubric", "t2i", "--rubric", "edit"]
    ours, theirs = on_both_backends(tmp_path, judge, "judge_", EDITS)
    assert "judge_edit_success" in ours and "judge_t2i_quality" in ours
    for name, values in theirs.items():
        if name.endswith(("_status", "_error")):
            assert ours[name] == values, name
        else:
            np.testing.assert_allclose(ours[name], values, atol=2e-5, err_msg=name)
    assert ours["judge_t2i_status"].count("ok") == 9 and ours["judge_edit_status"].count("ok") == 2


@needs_vllm
def test_captions_on_vllm_are_the_transformers_backends_greedy_captions(tmp_path, tiny_qwen25vl):
    caption = ["caption", "--model", str(tiny_qwen25vl), "--max-new-tokens", "12"]
    ours, theirs = on_both_backends(tmp_path, caption, "caption_vlm")
    for name, values in theirs.items():
        if name == "caption_vlm_repetition":
            np.testing.assert_allclose(ours[name], values, err_msg=name)
        else:
            assert ours[name] == values, name
    assert ours["caption_vlm_status"] == ["ok"] * 12 and all(ours["caption_vlm"])


def test_vllm_flags_need_the_vllm_backend(tmp_path, capsys):
    store = scored_pool(tmp_path / "pool").store.url
    argv = ["caption", store, "--model", str(tmp_path), "--vllm-kv-cache-gib", "1"]
    line = user_error(capsys, argv)
    assert "--vllm-kv-cache-gib" in line and "is for --backend vllm" in line
    line = user_error(capsys, [*argv, "--backend", "vllm", "--vllm-memory", "0.5"])
    assert line.endswith("--vllm-memory: goes unused when --vllm-kv-cache-gib sizes each model's KV cache")


def test_the_vllm_backend_without_vllm_names_the_extra(tmp_path, capsys, tiny_qwen25vl):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    store = scored_pool(tmp_path / "pool").store.url
    line = user_error(capsys, ["caption", store, "--model", str(tiny_qwen25vl), "--backend", "vllm"])
    assert "pip install 'pixsift[vllm]'" in line
