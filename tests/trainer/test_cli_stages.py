"""The trainer's stages of `pixsift run`: a [train] table is a recipe with its sections' keys on top."""

from __future__ import annotations

import pytest

from pixsift.engine.core.config import SettingError
from pixsift.engine.core.errors import BadInput
from pixsift.trainer.cli import TRAIN_STAGE


def test_a_train_table_is_the_recipe_with_its_sections_on_top():
    table = {"recipe": "tiny", "tokens": "t.zarr", "model": "m", "out": "o", "optim": {"lr": 0.5}}
    cfg = TRAIN_STAGE.from_table(table, "p.toml [train]")
    assert (cfg.recipe, cfg.optim.lr, cfg.data.tokens, cfg.model.path, cfg.out) == (
        "tiny",
        0.5,
        "t.zarr",
        "m",
        "o",
    )
    assert cfg.schedule == TRAIN_STAGE.from_table({**table, "optim": {}}, "p.toml [train]").schedule


def test_a_bad_train_table_names_the_key():
    base = {"recipe": "tiny", "tokens": "t.zarr", "model": "m", "out": "o"}
    with pytest.raises(BadInput, match=r"^p.toml \[train\]: needs out "):
        TRAIN_STAGE.from_table({k: v for k, v in base.items() if k != "out"}, "p.toml [train]")
    with pytest.raises(SettingError, match=r"^p.toml \[train\] \[optim\] lr: must be at least 0.0"):
        TRAIN_STAGE.from_table({**base, "optim": {"lr": -1.0}}, "p.toml [train]")
    with pytest.raises(
        BadInput, match=r"^p.toml \[train\] optimizer: not a table of settings; sections: model"
    ):
        TRAIN_STAGE.from_table({**base, "optimizer": {"lr": 1.0}}, "p.toml [train]")
