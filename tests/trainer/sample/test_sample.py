"""`pixsift sample` on the tiny Janus-Pro: text-to-image and editing, seeded per prompt, bad rows recorded
and passed over, a contact sheet, --score; its greedy text-to-image codes are transformers' own, and its
editing codes are those of Janus-4o's demo written out."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from pixsift.engine.cli import main
from pixsift.trainer.common.prompt_format import BOI, EOI, IMAGE, sft_prompt
from pixsift.trainer.common.vq import encode_codes
from pixsift.trainer.sample.job import CACHE, SampleConfig, Sampler, sample
from tests.helpers.candidate_pools import photo


def write_prompts(folder, rows) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "photos").mkdir(exist_ok=True)
    (folder / "photos" / "chelsea.jpg").write_bytes(photo("chelsea", 80))
    path = folder / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


ROWS = [
    {"id": "cat", "prompt": "a cat on a mat", "seed": 7},
    {"id": "red", "prompt": "make the cat red", "source": "photos/chelsea.jpg"},
    {"id": "gone", "prompt": "edit a missing photo", "source": "photos/nowhere.jpg"},
    {"id": "away", "prompt": "edit a file outside", "source": "../../etc/passwd"},
    {"id": "empty", "prompt": ""},
]


def test_text_to_image_and_editing_with_bad_rows_recorded(tmp_path, tiny_janus, capsys):
    prompts = write_prompts(tmp_path / "in", ROWS)
    out = tmp_path / "out"
    argv = ["sample", "--model", str(tiny_janus), "--prompts", prompts, "--out", str(out)]
    assert main(argv) == 0
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [(r["id"], r["task"], bool(r["error"])) for r in records] == [
        ("cat", "t2i", False), ("red", "edit", False), ("gone", "edit", True), ("away", "edit", True),
        ("empty", "t2i", True),
    ]  # fmt: skip
    assert (
        "No such file" in records[2]["error"] and "outside the prompts file's folder" in records[3]["error"]
    )
    assert records[0]["seed"] == 7 and records[1]["seed"] == 1  # its own, else seed + its index
    assert (records[1]["edit_guidance"], records[1]["image_guidance"]) == ("janus4o", 5.0)
    assert records[0]["image_guidance"] is None
    size = Image.open(out / records[0]["image"]).size
    assert size == Image.open(out / records[1]["image"]).size and size[0] == size[1]
    captions = [json.loads(line) for line in (out / "captions.jsonl").read_text().splitlines()]
    assert [c["key"] for c in captions] == ["cat", "red"]
    assert Image.open(out / "contact_sheet.png").size[1] > size[1]
    assert "sampled 2 of 5 prompts" in capsys.readouterr().out


def test_an_out_folder_pixsift_did_not_make_is_refused_in_one_line(tmp_path, tiny_janus, capsys):
    prompts = write_prompts(tmp_path / "in", ROWS)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "contact_sheet.png").write_text("my own")
    assert main(["sample", "--model", str(tiny_janus), "--prompts", prompts, "--out", str(mine)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"pixsift sample: {mine}: is not empty and was not made by pixsift (it has no .pixsift-output.json); "
        "refusing to write into it or replace it; use another path"
    )
    assert [p.name for p in mine.iterdir()] == ["contact_sheet.png"]


def test_a_prompt_gives_the_same_image_whatever_else_is_sampled(tmp_path, tiny_janus):
    alone = write_prompts(tmp_path / "a", ROWS[:1])
    together = write_prompts(tmp_path / "b", [ROWS[1], ROWS[0]])
    for prompts, out in ((alone, "one"), (together, "two")):
        sample(SampleConfig(model=str(tiny_janus), prompts=prompts, out=str(tmp_path / out)))
    first = (tmp_path / "one" / "images" / "cat.png").read_bytes()
    assert first == (tmp_path / "two" / "images" / "cat.png").read_bytes()
    other_seed = write_prompts(tmp_path / "c", [{**ROWS[0], "seed": 8}])
    sample(SampleConfig(model=str(tiny_janus), prompts=other_seed, out=str(tmp_path / "three")))
    assert first != (tmp_path / "three" / "images" / "cat.png").read_bytes()


def test_score_scores_what_was_made(tmp_path, tiny_janus):
    prompts = write_prompts(tmp_path / "in", ROWS[:2])
    cfg = SampleConfig(
        model=str(tiny_janus), prompts=prompts, out=str(tmp_path / "out"), score=True, clip_model="ViT-B-32",
        clip_random_init=True,
    )  # fmt: skip
    sample(cfg)
    import zarr

    store = zarr.open_group(str(tmp_path / "out" / "scores.zarr"), mode="r")
    assert store["key"][:].tolist() == ["cat", "red"] and store["status"][:].tolist() == ["ok", "ok"]


def test_greedy_text_to_image_codes_are_transformers_generate(tiny_janus):
    from transformers import PreTrainedModel

    if not hasattr(PreTrainedModel, "activation_checkpointing_enable"):
        pytest.skip("transformers 5.17's Janus generate fails on its own (_prepare_static_cache)")
    sampler = Sampler(SampleConfig(model=str(tiny_janus), prompts="-", out="-", temperature=0.0))
    ours = sampler.codes("a red cube on a table", seed=0)
    tokenizer = sampler.tokenizer
    ids = [
        tokenizer.bos_token_id,
        *tokenizer.encode(sft_prompt("a red cube on a table"), add_special_tokens=False),
    ]
    ids.append(sampler.format.ids.boi)
    input_ids = torch.tensor([ids])
    theirs = sampler.janus.generate(
        input_ids, attention_mask=torch.ones_like(input_ids), generation_mode="image", do_sample=False,
        guidance_scale=5.0,
    )  # fmt: skip
    assert torch.equal(ours, theirs[0].to(ours.dtype))


def janus4o_demo_codes(sampler, instruction, source, seed, cfg_weight=5.0, cfg_weight2=5.0, temperature=1.0):
    """`text_and_image_to_image_generate` of Janus-4o's README (parallel_size 1), written out on
    transformers' Janus: three rows (full; the same without the source's VQ embeddings; all but BOS and
    the last <begin_of_image> blanked to pad), SigLIP features on the first two, the VQ codes on the first,
    and `u + w * ((c_full + w2 * c_part) / (1 + w2) - u)` at every step."""
    from transformers import JanusProcessor

    janus, tokenizer = sampler.janus, sampler.tokenizer
    n = sampler.format.n_image_tokens
    blocks = f"{BOI}{IMAGE * n}{EOI}{BOI}{tokenizer.pad_token * n}{EOI}"
    text = f"<|User|>: {(blocks + instruction).strip()}\n\n<|Assistant|>:" + BOI
    ids = torch.tensor(tokenizer.encode(text))
    tokens = ids.repeat(3, 1)
    tokens[2, 1:-1] = tokenizer.pad_token_id
    image_processor = JanusProcessor.from_pretrained(sampler.cfg.model).image_processor
    pixels = image_processor(Image.fromarray(source), return_tensors="pt").pixel_values
    with torch.no_grad():
        embeds = janus.get_input_embeddings()(tokens)
        features = janus.model.get_image_features(pixels).pooler_output[0]
        for row in (0, 1):
            embeds[row, tokens[row] == sampler.format.ids.image] = features
        offset = int((tokens[0] == sampler.format.ids.eoi).nonzero()[0]) + 2
        source_codes = encode_codes(janus.model.vqmodel, pixels)
        embeds[0, offset : offset + n] = janus.prepare_embeddings_for_image_generation(source_codes)[0]
        generator, cache, codes = torch.Generator().manual_seed(seed), {}, []
        for _ in range(n):
            out = janus.model.language_model(inputs_embeds=embeds, use_cache=True, **cache)
            cache = {CACHE: getattr(out, CACHE)}
            logits = janus.model.generation_head(out.last_hidden_state[:, -1]).float()
            full, part, uncond = logits
            cond = (full + cfg_weight2 * part) / (1 + cfg_weight2)
            probs = torch.softmax((uncond + cfg_weight * (cond - uncond)) / temperature, -1)
            code = torch.multinomial(probs[None], 1, generator=generator)[0]
            codes.append(code)
            embeds = janus.prepare_embeddings_for_image_generation(code.expand(3))[:, None]
    return torch.cat(codes)


@pytest.mark.parametrize("instruction", ["make the cat red  ", "turn it into a night scene"])
def test_janus4o_editing_guidance_draws_the_codes_of_janus4o_demo(tmp_path, tiny_janus, instruction):
    write_prompts(tmp_path, [])
    sampler = Sampler(SampleConfig(model=str(tiny_janus), prompts="-", out="-"))
    assert sampler.fit.mode == "pad" and sampler.image_guidance == 5.0  # a model pixsift did not train
    source = sampler.source(str(tmp_path / "photos" / "chelsea.jpg"))
    for seed in (0, 3):
        ours = sampler.codes(instruction, seed, source)
        assert torch.equal(ours, janus4o_demo_codes(sampler, instruction, source, seed))
    other = Sampler(SampleConfig(model=str(tiny_janus), prompts="-", out="-", edit_guidance="pixsift"))
    cond, image, uncond = torch.tensor([[3.0, 1.0], [2.0, 0.5], [1.0, 0.0]])
    logits = torch.stack([cond, image, uncond])
    assert other.image_guidance == 1.5  # InstructPix2Pix's u + s(i - u) + g(c - i)
    torch.testing.assert_close(other._guided(logits)[0], uncond + 1.5 * (image - uncond) + 5 * (cond - image))
