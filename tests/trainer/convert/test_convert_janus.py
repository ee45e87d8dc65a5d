"""`pixsift convert-janus` on tiny folders in DeepSeek's original layout, built here from a random
transformers Janus: the converted folder holds the same weights, builds the same model (same outputs) and
the same tokenizer, for the .bin shards of Janus-Pro-7B and the single safetensors file of Janus-1.3B; what
cannot be converted is one line naming it, and leaves no folder."""

from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from pixsift.engine.cli import main
from pixsift.engine.core.errors import BadInput
from pixsift.trainer.common.model_folder import load_janus_model, model_info, require_model_folder
from pixsift.trainer.convert.job import convert_janus, transformers_weights
from pixsift.trainer.convert.job import janus_config as converted_config
from tests.fixtures.tiny_janus import BOS, EOS, IMAGE, PAD, build_tokenizer, janus_config

IMAGE_SIZE = 64

# transformers' names back to the module paths of DeepSeek's MultiModalityCausalLM (janus/models/): the
# SigLIP ViT as vision_model.vision_tower, MlpProjector Sequentials, VQ-16 with conv_blocks/res/mid lists.
_DEEPSEEK = [
    (r"model\.vision_model\.embeddings\.position_embedding\.weight", "vision_model.vision_tower.pos_embed"),
    (r"model\.vision_model\.embeddings\.patch_embedding\.", "vision_model.vision_tower.patch_embed.proj."),
    (r"model\.vision_model\.post_layernorm\.", "vision_model.vision_tower.norm."),
    (
        r"model\.vision_model\.encoder\.layers\.(\d+)\.layer_norm(\d)\.",
        r"vision_model.vision_tower.blocks.\1.norm\2.",
    ),
    (
        r"model\.vision_model\.encoder\.layers\.(\d+)\.self_attn\.projection_layer\.",
        r"vision_model.vision_tower.blocks.\1.attn.proj.",
    ),
    (
        r"model\.vision_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.",
        r"vision_model.vision_tower.blocks.\1.attn.\2_proj.",
    ),
    (r"model\.vision_model\.encoder\.layers\.(\d+)\.mlp\.", r"vision_model.vision_tower.blocks.\1.mlp."),
    (r"model\.aligner\.fc1\.", "aligner.layers.0."),
    (r"model\.aligner\.hidden_layers\.0\.", "aligner.layers.2."),
    (r"model\.generation_aligner\.fc1\.", "gen_aligner.layers.0."),
    (r"model\.generation_aligner\.hidden_layers\.0\.", "gen_aligner.layers.2."),
    (r"model\.generation_head\.proj_out\.", "gen_head.output_mlp_projector."),
    (r"model\.generation_head\.vision_head\.", "gen_head.vision_head."),
    (r"model\.generation_embeddings\.", "gen_embed."),
    (r"model\.language_model\.", "language_model.model."),
    (r"lm_head\.", "language_model.lm_head."),
    (r"model\.vqmodel\.(encoder\.down|decoder\.up)\.(\d+)\.block\.", r"gen_vision_model.\1.\2.res."),
    (r"model\.vqmodel\.(encoder|decoder)\.mid\.block_1\.", r"gen_vision_model.\1.mid.0."),
    (r"model\.vqmodel\.(encoder|decoder)\.mid\.attn_1\.", r"gen_vision_model.\1.mid.1."),
    (r"model\.vqmodel\.(encoder|decoder)\.mid\.block_2\.", r"gen_vision_model.\1.mid.2."),
    (r"model\.vqmodel\.", "gen_vision_model."),
]


def deepseek_name(name: str) -> str:
    for pattern, original in _DEEPSEEK:
        if re.match(pattern, name):
            name = re.sub("^" + pattern, original, name)
            return name.replace("encoder.down.", "encoder.conv_blocks.").replace(
                "decoder.up.", "decoder.conv_blocks."
            )
    raise AssertionError(f"no DeepSeek name for {name}")


def deepseek_state(model) -> dict[str, torch.Tensor]:
    """The model's weights as DeepSeek's checkpoints hold them: fused qkv, a batch axis on the position
    embedding, plus the attention-pooling head and the VQ usage counter transformers drops."""
    state, fused = {}, {}
    for name, tensor in model.state_dict().items():
        original = deepseek_name(name)
        if m := re.fullmatch(r"(.+)\.attn\.([qkv])_proj\.(weight|bias)", original):
            fused.setdefault(f"{m[1]}.attn.qkv.{m[3]}", {})[m[2]] = tensor
        else:
            state[original] = tensor.unsqueeze(0) if original.endswith("pos_embed") else tensor.clone()
    for name, parts in fused.items():
        state[name] = torch.cat([parts["q"], parts["k"], parts["v"]])
    hidden = model.config.vision_config.hidden_size
    for part in ("latent", "q.weight", "kv.weight", "proj.weight", "norm.weight", "mlp.fc1.weight"):
        state[f"vision_model.vision_tower.attn_pool.{part}"] = torch.randn(hidden, hidden)
    state["gen_vision_model.quantize.codebook_used"] = torch.zeros(65536)
    return state


def deepseek_config(config) -> dict:
    text, vision, vq = config.text_config, config.vision_config, config.vq_config

    def part(cls, model_type, **params):
        return {"cls": cls, "model_type": model_type, "params": params}

    return {
        "model_type": "multi_modality",
        "architectures": ["MultiModalityCausalLM"],
        "torch_dtype": "float32",
        "language_config": {
            "model_type": "llama",
            "torch_dtype": "float32",
            **{
                key: getattr(text, key)
                for key in (
                    "hidden_size",
                    "intermediate_size",
                    "max_position_embeddings",
                    "num_attention_heads",
                    "num_hidden_layers",
                    "num_key_value_heads",
                    "vocab_size",
                )
            },
        },
        "vision_config": part(
            "CLIPVisionTower",
            "vision",
            image_size=vision.image_size,
            model_name="siglip_large_patch16_384",
            select_feature="same",
            select_layer=-1,
        ),
        "aligner_config": part(
            "MlpProjector", "aligner", depth=2, input_dim=vision.hidden_size, n_embed=text.hidden_size
        ),
        "gen_vision_config": part(
            "VQ-16", "gen_vision", image_token_size=vq.num_embeddings, n_embed=vq.embed_dim
        ),
        "gen_aligner_config": part(
            "MlpProjector", "gen_aligner", depth=2, input_dim=vq.embed_dim, n_embed=text.hidden_size
        ),
        "gen_head_config": part(
            "vision_head",
            "gen_head",
            image_token_embed=text.hidden_size,
            image_token_size=vq.num_embeddings,
            n_embed=text.hidden_size,
        ),
    }


@pytest.fixture(scope="module")
def reference():
    """A random transformers Janus with DeepSeek's 16 SigLIP heads and a VQ model of VQ-16's layout."""
    from transformers import JanusForConditionalGeneration

    tokenizer = build_tokenizer()
    config = janus_config("tiny", len(tokenizer), tokenizer.convert_tokens_to_ids(IMAGE), IMAGE_SIZE)
    config.vision_config.num_attention_heads = 16
    config.vq_config.channel_multiplier = [1, 1, 2, 2, 4]
    config.vq_config.num_res_blocks = 2
    torch.manual_seed(0)
    return JanusForConditionalGeneration(config).eval(), tokenizer


def write_deepseek_folder(folder, model, tokenizer, weights: str = "bin"):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(deepseek_config(model.config)))
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "LlamaTokenizerFast",
                "bos_token": BOS,
                "eos_token": EOS,
                "model_max_length": 16384,
            }
        )
    )
    (folder / "special_tokens_map.json").write_text(
        json.dumps(
            {"bos_token": {"content": BOS}, "eos_token": {"content": EOS}, "pad_token": {"content": PAD}}
        )
    )
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "image_processor_type": "VLMImageProcessor",
                "image_size": IMAGE_SIZE,
                "image_mean": [0.5, 0.5, 0.5],
                "image_std": [0.5, 0.5, 0.5],
                "min_size": 14,
                "do_normalize": True,
                "rescale_factor": 1 / 255,
            }
        )
    )
    state = deepseek_state(model)
    if weights == "safetensors":  # Janus-1.3B
        save_file(state, folder / "model.safetensors")
        return folder
    names = sorted(state)  # Janus-Pro-7B: two .bin shards and their index
    halves = {"pytorch_model-00001-of-00002.bin": names[::2], "pytorch_model-00002-of-00002.bin": names[1::2]}
    for file, keys in halves.items():
        torch.save({k: state[k] for k in keys}, folder / file)
    weight_map = {k: file for file, keys in halves.items() for k in keys}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return folder


def test_janus_pro_7b_layout_converts_to_the_same_model(reference, tmp_path):
    model, tokenizer = reference
    src = write_deepseek_folder(tmp_path / "Janus-Pro", model, tokenizer)
    dst = convert_janus(str(src), str(tmp_path / "hf"))
    assert not (tmp_path / "hf.partial").exists()

    converted = load_janus_model(str(dst)).eval()
    [weights] = dst.glob("*.safetensors")
    saved = load_file(weights)
    expected = model.state_dict()
    assert saved.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(saved[name], tensor), name

    torch.manual_seed(1)
    pixels = torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    n_image = model.config.vision_config.num_image_tokens
    ids = tokenizer("<|User|>: " + IMAGE * n_image + " make it blue", return_tensors="pt").input_ids
    with torch.no_grad():
        want, got = model(input_ids=ids, pixel_values=pixels), converted(input_ids=ids, pixel_values=pixels)
        assert torch.equal(got.logits, want.logits)
        codes = model.model.vqmodel.encode(pixels)
        assert torch.equal(converted.model.vqmodel.encode(pixels)[-1], codes[-1])
    assert converted.config.vision_config.num_attention_heads == 16
    assert converted.config.vq_config.channel_multiplier == [1, 1, 2, 2, 4]
    assert converted.generation_config.generation_kwargs["boi_token_id"] == tokenizer.convert_tokens_to_ids(
        "<begin_of_image>"
    )


def test_the_tokenizer_and_processor_are_the_folders_own(reference, tmp_path):
    from transformers import JanusProcessor

    model, tokenizer = reference
    src = write_deepseek_folder(tmp_path / "Janus-Pro", model, tokenizer)
    processor = JanusProcessor.from_pretrained(str(convert_janus(str(src), str(tmp_path / "hf"))))
    source = Tokenizer.from_file(str(src / "tokenizer.json"))
    for text in ("<|User|>: a red cat\n\n<|Assistant|>:<begin_of_image>", f"{IMAGE}make the sky blue"):
        assert processor.tokenizer(text).input_ids == source.encode(text).ids
    assert (processor.tokenizer.bos_token, processor.tokenizer.pad_token) == (BOS, PAD)
    assert processor.image_token == IMAGE and processor.num_image_tokens == 16
    assert processor.image_processor.size == {"height": IMAGE_SIZE, "width": IMAGE_SIZE}


def test_the_command_converts_janus_13b_layout_for_training(reference, tmp_path, capsys):
    model, tokenizer = reference
    src = write_deepseek_folder(tmp_path / "Janus-1.3B", model, tokenizer, weights="safetensors")
    with pytest.raises(BadInput, match=f"convert it first: pixsift convert-janus {src} NEW_FOLDER"):
        require_model_folder(str(src))
    assert main(["convert-janus", str(src), str(tmp_path / "hf")]) == 0
    assert require_model_folder(str(tmp_path / "hf"))
    assert model_info(str(tmp_path / "hf"))["n_image_tokens"] == 16
    assert main(["convert-janus", str(src), str(tmp_path / "hf")]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(f"output {str(tmp_path / 'hf')!r}: exists already; name a new folder")
    )


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda s: s.update({"language_model.model.extra.weight": torch.zeros(1)}),
            "has 1 weights of no Janus part: language_model.model.extra.weight",
        ),
        (
            lambda s: s.pop("gen_vision_model.decoder.conv_out.bias"),
            "lacks 1 weights: model.vqmodel.decoder.conv_out.bias",
        ),
        (
            lambda s: s.update({"gen_head.vision_head.bias": torch.zeros(7)}),
            "has weights of other shapes than they imply: model.generation_head.vision_head.bias",
        ),
        (
            lambda s: s.pop("aligner.layers.0.weight"),
            "lacks model.aligner.fc1.weight, which the converted model's sizes are read from",
        ),
    ],
    ids=["unknown", "missing", "mismatched", "size-source"],
)
def test_weights_that_do_not_fit_are_named_and_nothing_is_written(reference, tmp_path, damage, message):
    model, tokenizer = reference
    src = write_deepseek_folder(tmp_path / "src", model, tokenizer, weights="safetensors")
    state = load_file(src / "model.safetensors")
    damage(state)
    save_file(state, src / "model.safetensors")
    with pytest.raises(BadInput) as refused:
        convert_janus(str(src), str(tmp_path / "hf"))
    assert str(refused.value) == f"model {str(src)!r}: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_an_output_on_the_source_or_a_partial_not_ours_is_refused_before_reading(reference, tmp_path):
    model, tokenizer = reference
    src = write_deepseek_folder(tmp_path / "X.partial", model, tokenizer, weights="safetensors")
    files = sorted(p.name for p in src.iterdir())
    for dst, problem in ((tmp_path / "X", "X.partial: is, holds or lies inside the source model"),
                         (src / "hf", "hf: is, holds or lies inside the source model"),
                         (src, "X.partial: is, holds or lies inside the source model")):  # fmt: skip
        with pytest.raises(FileExistsError, match=re.escape(problem)):
            convert_janus(str(src), str(dst))
    assert sorted(p.name for p in src.iterdir()) == files
    mine = tmp_path / "Y.partial"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="Y.partial: is not empty and was not made by pixsift"):
        convert_janus(str(src), str(tmp_path / "Y"))
    assert (mine / "notes.txt").read_text() == "mine"


def _edit_json(name: str, change):
    def edit(folder):
        data = json.loads((folder / name).read_text())
        change(data)
        (folder / name).write_text(json.dumps(data))

    return edit


def _cut_short(folder):
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


HOSTILE_FOLDERS = {
    "language_config a list": (
        "safetensors",
        _edit_json("config.json", lambda c: c.update(language_config=[1, 2])),
        "config.json language_config must be a table, got list",
    ),
    "vision_config a string": (
        "safetensors",
        _edit_json("config.json", lambda c: c.update(vision_config="siglip")),
        "config.json vision_config must be a table, got str",
    ),
    "30000 layers": (
        "safetensors",
        _edit_json("config.json", lambda c: c["language_config"].update(num_hidden_layers=30000)),
        "config.json language_config.num_hidden_layers = 30000, its weights hold 2",
    ),
    "hidden_size a string": (
        "safetensors",
        _edit_json("config.json", lambda c: c["language_config"].update(hidden_size="big")),
        "config.json language_config is not a Llama config",
    ),
    "cut-short safetensors": ("safetensors", _cut_short, "are not a whole safetensors file"),
    "an index that is not JSON": (
        "bin",
        lambda folder: (folder / "pytorch_model.bin.index.json").write_text("{not json"),
        "is not a JSON weight index (a weight_map table)",
    ),
    "bos_token = 5": (
        "safetensors",
        _edit_json("tokenizer_config.json", lambda c: c.update(bos_token=5)),
        "its tokenizer settings give bos_token as no token text",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_FOLDERS))
def test_a_malformed_original_folder_is_one_line_and_writes_nothing(reference, tmp_path, capsys, case):
    model, tokenizer = reference
    weights, damage, problem = HOSTILE_FOLDERS[case]
    src = write_deepseek_folder(tmp_path / "src", model, tokenizer, weights=weights)
    damage(src)
    assert main(["convert-janus", str(src), str(tmp_path / "hf")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert problem in lines[-1] and not any("Traceback" in line for line in lines), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


class _Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_pickled_code_and_unknown_towers_are_refused(reference, tmp_path, capsys):
    model, tokenizer = reference
    src = write_deepseek_folder(tmp_path / "src", model, tokenizer)
    shard = src / "pytorch_model-00002-of-00002.bin"
    torch.save(
        {**torch.load(shard, weights_only=True), "payload": _Payload()},
        shard,
    )
    with pytest.raises(BadInput) as refused:
        convert_janus(str(src), str(tmp_path / "hf"))
    # The global's name depends on what else is loaded (Ray, say, replaces print).
    assert re.fullmatch(
        rf"weights {re.escape(repr(str(shard)))}: are not plain tensors \(Unsupported global: GLOBAL \S+ was "
        r"not an allowed global by default\)",
        str(refused.value),
    ), refused.value
    assert "pickled code ran" not in capsys.readouterr().out

    other = write_deepseek_folder(tmp_path / "other", model, tokenizer, weights="safetensors")
    config = json.loads((other / "config.json").read_text())
    config["vision_config"]["params"]["model_name"] = "sam_b_downsample"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        BadInput, match="has vision tower 'sam_b_downsample', not one of DeepSeek's SigLIP towers"
    ):
        convert_janus(str(other), str(tmp_path / "hf"))


def test_a_folder_in_transformers_format_is_left_as_it_is(tiny_janus, tmp_path):
    with pytest.raises(BadInput, match="is in transformers' Janus format already; use it as it is$"):
        convert_janus(str(tiny_janus), str(tmp_path / "hf"))


@pytest.mark.parametrize("shape", ["1b", "7b"])
def test_the_released_shapes_get_the_configs_of_the_released_conversions(shape):
    """On meta tensors of the released sizes (SigLIP-L/16 at 384, VQ-16, the 1B and 7B language models),
    the sizes read from the weights are transformers' defaults, which its conversion script relies on."""
    from transformers import JanusForConditionalGeneration

    tokenizer = build_tokenizer()
    config = janus_config(shape, 102400, tokenizer.convert_tokens_to_ids(IMAGE))
    with torch.device("meta"):
        model = JanusForConditionalGeneration(config)
        weights, _ = transformers_weights(deepseek_state(model))
    got = converted_config(deepseek_config(config), weights, tokenizer, "model")
    for part in ("vision_config", "vq_config"):
        assert getattr(got, part).to_dict() == getattr(config, part).to_dict()
    text = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
    assert {k: getattr(got.text_config, k) for k in text} == {k: getattr(config.text_config, k) for k in text}
