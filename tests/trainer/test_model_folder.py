"""Model folders are identified by model_type, and a load that leaves weights missing or unused is an error
naming them: DeepSeek's original format, another model, or a partial checkpoint never becomes a random
model that trains."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file, save_file

from pixsift.engine.core.errors import BadInput, NotFound
from pixsift.trainer.model_folder import load_janus_model, require_model_folder


def copy_of(tiny_janus, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_janus, folder)
    return folder


def set_model_type(folder, model_type: str) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": model_type}))


def test_deepseeks_original_format_is_named_with_the_way_forward(tiny_janus, tmp_path):
    folder = copy_of(tiny_janus, tmp_path)
    set_model_type(folder, "multi_modality")  # Janus-1.3B: original format, safetensors weights
    with pytest.raises(BadInput) as refused:
        require_model_folder(str(folder))
    assert str(refused.value) == (
        f"model {str(folder)!r}: is in DeepSeek's original Janus format (model_type multi_modality), not "
        f"transformers'; convert it first: pixsift convert-janus {folder} NEW_FOLDER"
    )
    for weights in folder.glob("*.safetensors"):
        weights.rename(folder / "pytorch_model-00001-of-00002.bin")  # Janus-Pro-7B: .bin shards
    with pytest.raises(BadInput, match="original Janus format"):
        require_model_folder(str(folder))


def test_another_kind_of_model_or_no_model_is_refused(tiny_janus, tmp_path):
    folder = copy_of(tiny_janus, tmp_path)
    set_model_type(folder, "llama")
    with pytest.raises(BadInput, match=r"is a 'llama' checkpoint, not Janus-Pro \(model_type janus\)$"):
        require_model_folder(str(folder))
    with pytest.raises(NotFound, match="is not a local Janus-Pro checkpoint folder"):
        require_model_folder(str(tmp_path / "nowhere"))


def test_a_checkpoint_missing_weights_is_not_loaded(tiny_janus, tmp_path):
    folder = copy_of(tiny_janus, tmp_path)
    [weights] = folder.glob("*.safetensors")
    state = load_file(weights)
    dropped = sorted(k for k in state if k.startswith("model.generation_head."))
    save_file(
        {k: v for k, v in state.items() if k not in dropped} | {"extra.weight": state[dropped[0]]}, weights
    )
    with pytest.raises(BadInput) as refused:
        load_janus_model(str(folder))
    message = str(refused.value)
    assert message.startswith(f"model {str(folder)!r}: its weights do not fit its config: ")
    assert (
        f"{len(dropped)} missing keys ({dropped[0]}" in message
        and "1 unexpected keys (extra.weight)" in message
    )
    assert load_janus_model(str(tiny_janus)).config.model_type == "janus"
