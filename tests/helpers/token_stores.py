"""Small complete token stores with random codes and pixels, for the data, loss and training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from transformers import AutoTokenizer

from pixsift.trainer.common.model_folder import model_info
from pixsift.trainer.common.token_store import EDIT, OK, T2I, TokenStore
from pixsift.trainer.tokenize.job import encode_prompts

SUBJECTS = ("a red cat", "an old lighthouse", "two children", "a bowl of ramen", "a mountain lake", "a robot")
SETTINGS = ("at dawn", "in the rain", "on a crowded street", "in watercolor", "under neon lights", "in snow")
EDITS = ("make the sky blue", "add a boat to the lake", "remove the person", "turn it into a sketch")


def captions(n: int, rng: np.random.Generator, edit: bool) -> list[str]:
    if edit:
        return [f"{EDITS[rng.integers(len(EDITS))]} and keep {SUBJECTS[rng.integers(6)]}" for _ in range(n)]
    return [f"a photo of {SUBJECTS[rng.integers(6)]} {SETTINGS[rng.integers(6)]}" for _ in range(n)]


def make_token_store(
    path: str | Path, model_dir: str | Path, n_t2i: int, n_edit: int, seed: int = 0, unit_rows: int = 4
) -> TokenStore:
    """A planned and fully written token store for the Janus model at `model_dir`: `n_t2i` text-to-image
    and `n_edit` edit rows in a random (seeded) order, random codes and source pixels, all ok; captions
    like real ones, tokenized as `pixsift tokenize` does."""
    rng = np.random.default_rng(seed)
    info = model_info(str(model_dir))
    n = n_t2i + n_edit
    tasks = np.array([T2I] * n_t2i + [EDIT] * n_edit, np.uint8)
    rng.shuffle(tasks)
    texts = [captions(1, rng, t == EDIT)[0] for t in tasks]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    store = TokenStore.create(
        str(path), model=info, source={"store": "test", "selection": "test"}, unit_rows=unit_rows
    )
    store.plan(
        np.arange(n), [f"sample-{i}" for i in range(n)], tasks, encode_prompts(tokenizer, texts, tasks)
    )
    t, s, k = info["n_image_tokens"], info["image_size"], info["codebook_size"]
    for unit in store.units():
        m, edit = unit.rows, tasks[unit.start : unit.stop] == EDIT
        store.write_unit(
            unit,
            {
                "status": np.full(m, OK),
                "error": np.full(m, ""),
                "image_codes": rng.integers(0, k, (m, t)),
                "source_codes": np.where(edit[:, None], rng.integers(0, k, (m, t)), -1),
                "source_pixels": rng.integers(0, 256, (m, s, s, 3)) * edit[:, None, None, None],
            },
        )
    return TokenStore.open(str(path))
