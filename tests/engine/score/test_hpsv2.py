"""HPSv2 as a `--scorer`: a checkpoint laid out as HPS_v2.1_compressed.pt (an open_clip CLIP's weights under
"state_dict"), here of the tiny open_clip config, scored beside the main CLIP, equal to HPSv2's
img_score.py written out (its validation transform, open_clip's forward, the features' product); an MLP
head's .pth still loads as an MLP."""

from __future__ import annotations

import io

import numpy as np
import open_clip
import torch
from PIL import Image
from torchvision import transforms

from pixsift.engine.score.job import score
from pixsift.engine.score.scorers import hpsv2, load_scorer
from tests.fixtures.scorer_models import save_hpsv2
from tests.helpers.scoring import encoded, good_pool, read_store, score_config


def tiny_hps(path, tiny_config) -> str:
    open_clip.add_model_config(tiny_config)
    return save_hpsv2(path, tiny_config.stem)


def img_score(checkpoint: str, model_name: str, images: list[Image.Image], prompts: list[str]) -> np.ndarray:
    """HPSv2's img_score.py per image: its preprocess_val (RGB, ToTensor, ResizeMaxSize to the model's
    size with fill 0, Normalize with OpenAI's mean and std), the tokenizer, the model's forward, the
    diagonal of image_features @ text_features.T."""
    model = open_clip.create_model(model_name, pretrained=None)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu")["state_dict"])
    model.eval()
    size = (
        model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size
    )
    tokenizer = open_clip.get_tokenizer(model_name)

    def resize_max_size(img: torch.Tensor) -> torch.Tensor:  # HPSv2's ResizeMaxSize on a tensor
        height, width = img.shape[1:]
        scale = size / float(max(height, width))
        if scale != 1.0:
            new_size = tuple(round(dim * scale) for dim in (height, width))
            img = transforms.functional.resize(img, new_size, transforms.InterpolationMode.BICUBIC)
            pad_h, pad_w = size - new_size[0], size - new_size[1]
            img = transforms.functional.pad(
                img, padding=[pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2], fill=0
            )
        return img

    preprocess_val = transforms.Compose([
        lambda image: image.convert("RGB"), transforms.ToTensor(), resize_max_size,
        transforms.Normalize(hpsv2.OPENAI_MEAN, hpsv2.OPENAI_STD),
    ])  # fmt: skip
    scores = []
    with torch.no_grad():
        for image, prompt in zip(images, prompts, strict=True):
            image_features, text_features, _ = model(preprocess_val(image).unsqueeze(0), tokenizer([prompt]))
            scores.append(float(torch.diagonal(image_features @ text_features.T)[0]))
    return np.array(scores)


def test_hpsv2_equals_its_img_score_beside_the_main_clip(tmp_path, tiny_config, monkeypatch):
    checkpoint = tiny_hps(tmp_path / "HPS_v2.1_compressed.pt", tiny_config)
    monkeypatch.setattr(hpsv2, "MODEL", tiny_config.stem)  # ViT-H-14 in the release; the tiny config here
    shards = good_pool(tmp_path / "pool")
    score(score_config(shards, tmp_path / "store", tiny_config, scorers={"hps": checkpoint}), io.StringIO())
    got = read_store(tmp_path / "store")
    names = [key.rsplit("/", 1)[-1].rsplit("-", 1)[0] for key in got["key"].tolist()]  # <shard>/<photo>-0
    images = [Image.open(io.BytesIO(encoded(name))) for name in names]
    expected = img_score(checkpoint, tiny_config.stem, images, [f"a photograph of {n}" for n in names])
    assert (got["status"] == "ok").all()
    np.testing.assert_allclose(got["hps"], expected, rtol=1e-5, atol=1e-5)


def test_a_checkpoint_is_told_from_an_mlp_head_by_its_keys(tmp_path, tiny_config, monkeypatch):
    checkpoint = tiny_hps(tmp_path / "hps.pt", tiny_config)
    monkeypatch.setattr(hpsv2, "MODEL", tiny_config.stem)
    assert type(load_scorer(checkpoint, "hps", "cpu")).__name__ == "HPSv2"
    head = {"layers.0.weight": torch.zeros(1, 32), "layers.0.bias": torch.zeros(1)}
    torch.save(head, tmp_path / "head.pth")
    assert type(load_scorer(tmp_path / "head.pth", "head", "cpu")).__name__ == "MlpScorer"
