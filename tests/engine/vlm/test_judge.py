"""`pixsift judge` on a tiny random Qwen2.5-VL in its published layout: every score equals the computation
written out with transformers (the processor's chat template, the model's last logits, VQAScore's P(Yes)
and G-Eval's expected 0-10 score), edits are shown their source first, and every row gets a value or a
reason."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from pixsift.engine.cli import main
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.selection import reason_names, selection_group
from pixsift.engine.vlm.rubric import Rubric
from tests.helpers.cli import user_error
from tests.helpers.selection_stores import scored_pool

EDITS = {1: "loose/astronaut-40", 5: "loose/coffee-56", 3: "loose/nope"}


@pytest.fixture(scope="module")
def judged(tmp_path_factory, tiny_qwen25vl):
    pool = scored_pool(tmp_path_factory.mktemp("judge"), edits=EDITS)
    store = pool.store.url
    argv = ["judge", store, "--model", str(tiny_qwen25vl), "--rubric", "t2i", "--rubric", "edit"]
    assert main([*argv, "--batch-size", "3"]) == 0
    return pool, RunStore.open(store, read_only=True)


class Reference:
    """The judge's questions asked one row at a time, as transformers' documentation shows."""

    def __init__(self, folder):
        self.processor = AutoProcessor.from_pretrained(folder)
        self.model = AutoModelForImageTextToText.from_pretrained(folder).eval()
        self.tok = self.processor.tokenizer

    @torch.no_grad()
    def next_token(self, question: str, images: list[Image.Image], answer: str = "") -> torch.Tensor:
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": question}]
        text = self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True
        )
        inputs = self.processor(text=[text + answer], images=images, return_tensors="pt")
        return torch.softmax(self.model(**inputs).logits[0, -1].double(), dim=-1)

    def yes(self, question, images) -> float:
        """P("Yes"): its tokens' probabilities, each after the ones before it."""
        tokens = self.tok.encode("Yes", add_special_tokens=False)
        probability = 1.0
        for j, token in enumerate(tokens):
            probability *= float(self.next_token(question, images, self.tok.decode(tokens[:j]))[token])
        return probability

    def expected(self, question, images) -> float:
        digit = {d: self.tok.convert_tokens_to_ids(str(d)) for d in range(10)}
        first, after_one = self.next_token(question, images), self.next_token(question, images, "1")
        mass = {d: float(first[digit[d]]) for d in range(10)}
        mass[1] = float(first[digit[1]]) * (1 - sum(float(after_one[t]) for t in digit.values()))
        mass[10] = float(first[digit[1]]) * float(after_one[digit[0]])
        return sum(v * m for v, m in mass.items()) / sum(mass.values())


def photo(blob: bytes) -> Image.Image:
    return Image.open(io.BytesIO(blob)).convert("RGB")


@pytest.fixture(scope="module", params=["tiny_janus", "tiny_llava_onevision"])
def judged_by_other(request, tmp_path_factory):
    """The same pool judged by the other published layouts: Janus-Pro's understanding path (its chat
    template, DeepSeek's system prompt, "Yes" as several tokens) and LLaVA-OneVision (any-resolution tiles);
    (the model folder, the pool, its store)."""
    folder = request.getfixturevalue(request.param)
    pool = scored_pool(tmp_path_factory.mktemp("other"), edits=EDITS)
    assert (
        main(["judge", pool.store.url, "--model", str(folder), "--rubric", "t2i", "--batch-size", "3"]) == 0
    )
    return folder, pool, RunStore.open(pool.store.url, read_only=True)


def test_t2i_scores_equal_the_computation_written_out(judged, tiny_qwen25vl):
    assert_t2i_scores_written_out(tiny_qwen25vl, *judged)


def test_other_published_layouts_give_the_computation_written_out(judged_by_other):
    assert_t2i_scores_written_out(*judged_by_other)


def assert_t2i_scores_written_out(folder, pool, store) -> None:
    ref = Reference(folder)
    rubric = Rubric.load("t2i")
    keys, captions = store.arrays["key"][:], store.arrays["caption"][:]
    for row in (0, 2, 7, 11):
        image = [photo(pool.images[keys[row]])]
        asked = {q.name: q.text(captions[row]) for q in rubric.questions}
        consistency = ref.expected(asked["consistency"], image)
        quality = ref.expected(asked["quality"], image)
        expected = {
            "alignment": ref.yes(asked["alignment"], image),
            "consistency": consistency,
            "quality": quality,
            "overall": math.sqrt(consistency * quality),
        }
        for name, value in expected.items():
            assert store.arrays[f"judge_t2i_{name}"][row] == pytest.approx(value, abs=1e-5), (row, name)
        assert store.arrays["judge_t2i_status"][row] == "ok"


def test_an_edit_is_shown_its_source_then_itself(judged, tiny_qwen25vl):
    pool, store = judged
    ref = Reference(tiny_qwen25vl)
    rubric = {q.name: q for q in Rubric.load("edit").questions}
    row, caption, key = 5, store.arrays["caption"][:][5], store.arrays["key"][:][5]
    edit, source = photo(pool.images[key]), photo(pool.images["loose/coffee-56"])
    success = ref.expected(rubric["success"].text(caption), [source, edit])
    overediting = ref.expected(rubric["overediting"].text(caption), [source, edit])
    quality = ref.expected(rubric["quality"].text(caption), [edit])
    a = store.arrays
    assert a["judge_edit_success"][row] == pytest.approx(success, abs=1e-5)
    assert a["judge_edit_overediting"][row] == pytest.approx(overediting, abs=1e-5)
    assert a["judge_edit_quality"][row] == pytest.approx(quality, abs=1e-5)
    assert a["judge_edit_consistency"][row] == pytest.approx(min(success, overediting), abs=1e-5)
    assert a["judge_edit_overall"][row] == pytest.approx(
        math.sqrt(min(success, overediting) * quality), abs=1e-5
    )
    # shown the other way round, the answers differ: the order is the rubric's
    assert ref.expected(rubric["success"].text(caption), [edit, source]) != pytest.approx(success, abs=1e-7)


def test_every_row_gets_a_value_or_says_why_not(judged):
    _, store = judged
    a = {name: array[:] for name, array in store.arrays.items()}
    t2i = [i for i in range(12) if i not in EDITS]
    assert [a["judge_t2i_status"][i] for i in t2i] == ["ok"] * len(t2i)
    assert not np.isnan(a["judge_t2i_overall"][t2i]).any()
    assert a["judge_t2i_error"][1] == "other_task: task 'edit'; the rubric judges t2i rows"
    assert [a["judge_edit_status"][i] for i in (1, 5)] == ["ok", "ok"]
    assert a["judge_edit_status"][3] == "failed"
    assert a["judge_edit_error"][3] == (
        "source: edit source 'loose/nope': not a key in the run store, nor an existing file"
    )
    assert np.isnan(a["judge_edit_overall"][3]) and a["judge_edit_error"][0].startswith("other_task: ")


def test_a_prompt_longer_than_the_context_fails_its_row(tmp_path):
    from tests.fixtures.tiny_vlm import save_tiny_qwen25vl

    model = save_tiny_qwen25vl(tmp_path / "short", max_positions=80)
    store = scored_pool(tmp_path / "pool").store.url
    assert main(["judge", store, "--model", str(model), "--rubric", "t2i"]) == 2  # every row failed
    a = {n: v[:] for n, v in RunStore.open(store, read_only=True).arrays.items()}
    assert set(a["judge_t2i_status"][:]) == {"failed"}
    assert a["judge_t2i_error"][0].startswith("too_long: the prompt is ")
    assert a["judge_t2i_error"][0].endswith("tokens with its images; the model's context is 80")


def test_select_filters_on_a_judge_column(judged, tmp_path):
    pool, store = judged
    spec = tmp_path / "spec.toml"
    cut = float(np.nanmedian(store.arrays["judge_t2i_overall"][:]))
    spec.write_text(f'[[steps]]\ntype = "filter"\ncolumn = "judge_t2i_overall"\nmin = {cut}\n')
    assert main(["select", store.url, "--spec", str(spec), "--name", "judged"]) == 0
    chosen = selection_group(store, "judged")
    kept = chosen["kept"][:]
    values = store.arrays["judge_t2i_overall"][:]
    assert kept.tolist() == (values >= np.float32(cut)).tolist()  # NaN (edits, not judged here) fails
    assert reason_names(chosen)[chosen["reason_code"][1]] == f"filter:judge_t2i_overall>={cut}"


def test_a_changed_setting_is_refused_then_replaced(judged, tiny_qwen25vl, capsys):
    _, store = judged
    argv = ["judge", store.url, "--model", str(tiny_qwen25vl), "--rubric", "t2i"]
    capsys.readouterr()
    assert main([*argv, "--replace", "--batch-size", "3"]) == 0  # the same settings: nothing to redo
    assert capsys.readouterr().out.startswith("judged 0 rows in ")
    line = user_error(capsys, [*argv, "--explain-tokens", "4"])
    assert line.endswith("--explain-tokens: is for --explain, which was not given")
    line = user_error(capsys, [*argv, "--explain"])
    assert "annotation set 'judge_t2i'" in line and "explain: False before, True now" in line
    assert line.endswith("; pass --replace to make it again, or name another set")
    assert main([*argv, "--explain", "--explain-tokens", "4", "--replace"]) == 0
    assert "made with other settings" in capsys.readouterr().err
    explained = RunStore.open(store.url, read_only=True).arrays["judge_t2i_explain"][:]
    assert all(explained[i] for i in range(12) if i not in EDITS)


def test_inspect_lists_each_set_and_its_score_columns(judged, capsys):
    _, store = judged
    capsys.readouterr()
    assert main(["inspect", store.url]) == 0
    out = capsys.readouterr().out
    assert "  judge_t2i: judge (model " in out and "; 3 of 3 units; ok 9, skipped 3" in out
    assert "  judge_edit: judge (model " in out and "; 3 of 3 units; failed 1, ok 2, skipped 9" in out
    assert re.search(r"^judge_t2i_overall +9 +3 ", out, re.M)  # 9 values; no value on the 3 edit rows


def test_ray_actors_give_the_local_values(judged, tiny_qwen25vl, tmp_path):
    ray = pytest.importorskip("ray")
    _, local = judged
    store = scored_pool(tmp_path / "pool", edits=EDITS).store.url
    argv = ["judge", store, "--model", str(tiny_qwen25vl), "--rubric", "t2i", "--batch-size", "3"]
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        assert main([*argv, "--executor", "ray", "--workers", "2", "--ray-cpus-per-worker", "0.5"]) == 0
    finally:
        ray.shutdown()
    remote = RunStore.open(store, read_only=True).arrays
    for name in ("judge_t2i_status", "judge_t2i_error"):
        assert remote[name][:].tolist() == local.arrays[name][:].tolist()
    for name in ("alignment", "consistency", "quality", "overall"):  # actors compute on one thread each
        np.testing.assert_allclose(
            remote[f"judge_t2i_{name}"][:], local.arrays[f"judge_t2i_{name}"][:], atol=1e-5
        )
