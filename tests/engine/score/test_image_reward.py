"""ImageReward as a `--scorer`: a folder laid out as THUDM/ImageReward's release (ImageReward.pt,
med_config.json, a BERT tokenizer), here tiny, scored beside the main CLIP, equal to ImageReward's score()
with BLIP's ViT and BERT written out (tests/fixtures/image_reward.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from pixsift.engine.core.errors import BadInput
from pixsift.engine.score.job import score
from pixsift.engine.score.scorers import load_scorer
from tests.fixtures.image_reward import image_reward_score, save_image_reward
from tests.helpers.scoring import encoded, good_pool, read_store, score_config

VISION = {"width": 128, "depth": 2, "patch": 16, "image_size": 224}  # 2 heads of 64, as BLIP's ViTs
TEXT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}


@pytest.fixture(scope="module")
def tiny_image_reward(tmp_path_factory):
    return save_image_reward(tmp_path_factory.mktemp("image-reward"), VISION, TEXT)


def test_image_reward_equals_its_score_beside_the_main_clip(tmp_path, tiny_config, tiny_image_reward):
    shards = good_pool(tmp_path / "pool")
    cfg = score_config(shards, tmp_path / "store", tiny_config, scorers={"ir": str(tiny_image_reward)})
    score(cfg, io.StringIO())
    got = read_store(tmp_path / "store")
    names = [key.rsplit("/", 1)[-1].rsplit("-", 1)[0] for key in got["key"].tolist()]  # <shard>/<photo>-0
    images = [Image.open(io.BytesIO(encoded(name))) for name in names]
    prompts = [f"a photograph of {n}" for n in names]
    expected = image_reward_score(tiny_image_reward, images, prompts, heads=VISION["width"] // 64)
    assert (got["status"] == "ok").all() and np.ptp(expected) > 0.01
    np.testing.assert_allclose(got["ir"], expected, rtol=1e-5, atol=1e-5)


def test_a_batch_scores_each_image_with_its_own_prompt(tiny_image_reward):
    scorer = load_scorer(tiny_image_reward, "ir", "cpu")
    assert type(scorer).__name__ == "ImageReward"
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (3, h, w), dtype=np.uint8) for h, w in ((224, 300), (97, 61), (224, 224))]
    images = [torch.from_numpy(a) for a in arrays]
    prompts = ["a red cat", "the sky over a house of coffee and coins", "a red cat " * 20]  # 60 tokens: cut
    got = scorer(scorer.pixels(images), scorer.tokens(prompts), torch.tensor([1, 0, 2]))
    pil = [Image.fromarray(a.transpose(1, 2, 0)) for a in arrays]
    expected = image_reward_score(tiny_image_reward, pil, [prompts[1], prompts[0], prompts[2]], heads=2)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_a_folder_without_its_config_or_weights_is_named(tmp_path, tiny_image_reward):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "ImageReward.pt").write_bytes((tiny_image_reward / "ImageReward.pt").read_bytes())
    with pytest.raises(BadInput, match="needs ImageReward.pt and med_config.json"):
        load_scorer(folder, "ir", "cpu")
    state = torch.load(tiny_image_reward / "ImageReward.pt", weights_only=True)
    del state["blip.text_encoder.encoder.layer.1.crossattention.self.key.weight"]
    (folder / "med_config.json").write_bytes((tiny_image_reward / "med_config.json").read_bytes())
    torch.save(state, folder / "ImageReward.pt")
    with pytest.raises(BadInput, match="lacks 1 weights of the model, e.g. encoder.layer.1.crossattention"):
        load_scorer(folder, "ir", "cpu")
