"""Model folders are identified by model_type, and a load that leaves weights missing or unused is an error
naming them: DeepSeek's original format, another model, or a partial checkpoint never becomes a random
model that trains."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from pixsift.engine.cli import main
from pixsift.engine.core.errors import BadInput, NotFound
from pixsift.trainer.common.model_folder import load_janus_model, require_model_folder
from tests.helpers.processes import PEAK_RSS
from tests.helpers.selection_stores import scored_pool, write_selection

REPO = Path(__file__).resolve().parents[3]


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


def test_pickled_weights_alone_are_one_line_that_never_suggests_unpickling(tiny_janus, tmp_path, capsys):
    folder = copy_of(tiny_janus, tmp_path)
    (folder / "model.safetensors").unlink()
    torch.save({"x": torch.zeros(1)}, folder / "pytorch_model.bin")
    argv = ["sample", "--model", str(folder), "--prompts", str(REPO / "samples" / "sample-prompts.jsonl")]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not a local Janus-Pro checkpoint folder" in err and "weights_only" not in err
    assert len(err.splitlines()) == 1


def _config(**change):
    def edit(folder):
        config = json.loads((folder / "config.json").read_text())
        for key, value in change.items():
            section, _, name = key.rpartition("__")
            (config[section] if section else config)[name] = value
        (folder / "config.json").write_text(json.dumps(config))

    return edit


def _cut_short(folder):
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _huge_header(folder):
    """A header that claims a 4 TB tensor (as a hostile file would) over the same data."""
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [1 << 20, 1 << 20]
    header[name]["data_offsets"][1] = header[name]["data_offsets"][0] + 4 * (1 << 40)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    weights.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n :])


HOSTILE = {
    "vq_bomb": (_config(vq_config__num_embeddings=1 << 26), "its config and weights differ in"),
    "30000 layers": (
        _config(text_config__num_hidden_layers=30000),
        "its config says text_config.num_hidden_layers = 30000, its weights hold 2",
    ),
    "vision_config a string": (_config(vision_config="oops"), "its config.json is not a Janus config"),
    "text_config a list": (_config(text_config=[1, 2]), "its config.json is not a Janus config"),
    "cut short": (_cut_short, "are not a whole safetensors file"),
    "4 TB header": (_huge_header, "are not a whole safetensors file"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_folder_is_one_line_before_any_tensor_is_allocated(tiny_janus, tmp_path, case):
    from pixsift.trainer.common.model_folder import model_info
    from pixsift.trainer.common.vq import load_vqmodel

    damage, problem = HOSTILE[case]
    folder = copy_of(tiny_janus, tmp_path)
    damage(folder)
    loads = [lambda: load_janus_model(str(folder))]
    if case != "30000 layers":  # the VQ model alone does not read the text stack's size
        loads += [lambda: load_vqmodel(folder, "cpu", torch.float32), lambda: model_info(str(folder))]
    for load in loads:
        with pytest.raises(BadInput, match=re.escape(problem)):
            load()


@pytest.mark.parametrize("command", ["tokenize", "sample"])
def test_a_vq_bomb_is_refused_under_1_5_gb(tiny_janus, tmp_path, command):
    folder = copy_of(tiny_janus, tmp_path)
    HOSTILE["vq_bomb"][0](folder)
    pool = scored_pool(tmp_path / "pool")
    write_selection(pool.store, "best", list(range(12)))
    args = {
        "tokenize": [pool.store.url, "--selection", "best", "--out", str(tmp_path / "tokens")],
        "sample": [
            "--prompts",
            str(REPO / "samples" / "sample-prompts.jsonl"),
            "--out",
            str(tmp_path / "out"),
        ],
    }[command]
    argv = [command, "--model", str(folder), *args]
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *argv], capture_output=True, text=True)
    *lines, peak = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "its config and weights differ in" in lines[-1], lines
    assert int(peak) < 1.5 * 2**20, f"peak RSS {int(peak) / 2**20:.2f} GiB"
