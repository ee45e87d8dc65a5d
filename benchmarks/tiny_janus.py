"""Random-weight Janus-Pro models built from configs, offline: a tiny one (a few MB) for tests and the
sample job, and the Janus-Pro-1B and -7B shapes for benchmarks (random weights cost the same as trained
ones).

    python -m benchmarks.tiny_janus runs/tiny-janus             # tiny model + tokenizer + processor
    python -m benchmarks.tiny_janus runs/janus-1b --shape 1b    # Janus-Pro-1B shape, random weights

The tokenizer is a byte-level BPE trained in-process on a few sentences, with Janus's special tokens, a
BOS-adding post-processor like the real tokenizer's, and the `image_token`/`boi_token`/`eoi_token`
attributes that transformers' JanusProcessor reads. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    JanusConfig,
    JanusForConditionalGeneration,
    JanusImageProcessor,
    JanusProcessor,
    JanusVisionConfig,
    JanusVQVAEConfig,
    LlamaConfig,
    PreTrainedTokenizerFast,
)

from pixsift.trainer.model_folder import janus_generation_config
from pixsift.trainer.prompt_format import BOI, EOI, IMAGE, TOKENIZER_ATTRIBUTES

BOS, EOS, PAD = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"
SPECIAL_TOKENS = (BOS, EOS, PAD, IMAGE, BOI, EOI)

# Language model shapes of the released checkpoints (deepseek-community/Janus-Pro-{1B,7B} config.json).
LM_SHAPES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4),
    "1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=24, num_attention_heads=16),
    "7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=30, num_attention_heads=32),
}
RELEASED_VOCAB = 102400
_CORPUS = [
    "<|User|>: a photo of a red cat sitting on a mat in the sun\n\n<|Assistant|>:",
    "the quick brown fox jumps over the lazy dog near a river at dawn",
    "an astronaut riding a horse on the moon, digital art, high detail",
    "make the sky blue and add a boat to the lake; remove the person",
    "a watercolor painting of mountains and a small house with a garden",
]


def build_tokenizer(vocab_size: int = 400) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, 0)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        extra_special_tokens=TOKENIZER_ATTRIBUTES,
    )


def janus_config(shape: str, vocab_size: int, image_token_id: int, image_size: int = 384) -> JanusConfig:
    """A Janus-Pro config: the language model of `shape`; SigLIP-L and the released VQ model for the
    released shapes, small ones for "tiny"."""
    lm = LM_SHAPES[shape]
    hidden = lm["hidden_size"]
    text = LlamaConfig(
        vocab_size=vocab_size,
        num_key_value_heads=lm["num_attention_heads"],
        max_position_embeddings=16384,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
        **lm,
    )
    if shape == "tiny":
        vision = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
        vq = dict(num_embeddings=256, latent_channels=32, base_channels=32, channel_multiplier=[1] * 5)
        vq["num_res_blocks"] = 1
    else:
        vision, vq = {}, {}
    patches = image_size // 16
    return JanusConfig(
        text_config=text,
        vision_config=JanusVisionConfig(
            image_size=image_size, patch_size=16, projection_dim=hidden, num_image_tokens=patches**2, **vision
        ),
        vq_config=JanusVQVAEConfig(projection_dim=hidden, image_token_embed_dim=hidden, **vq),
        image_token_id=image_token_id,
    )


def save_random_janus(
    path: str | Path, shape: str = "tiny", image_size: int | None = None, seed: int = 0
) -> Path:
    """Write a random-weight Janus-Pro model, its tokenizer and processor to `path` (safetensors)."""
    path = Path(path)
    image_size = image_size or (64 if shape == "tiny" else 384)
    tokenizer = build_tokenizer()
    vocab = len(tokenizer) if shape == "tiny" else RELEASED_VOCAB
    config = janus_config(shape, vocab, tokenizer.convert_tokens_to_ids(IMAGE), image_size)
    torch.manual_seed(seed)
    model = JanusForConditionalGeneration(config)
    model.generation_config = janus_generation_config(tokenizer)
    model.save_pretrained(path)
    processor = JanusProcessor(
        image_processor=JanusImageProcessor(size={"height": image_size, "width": image_size}),
        tokenizer=tokenizer,
        num_image_tokens=config.vision_config.num_image_tokens,
    )
    processor.save_pretrained(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out")
    parser.add_argument("--shape", choices=sorted(LM_SHAPES), default="tiny")
    parser.add_argument("--image-size", type=int, help="pixels (default 64 for tiny, 384 otherwise)")
    args = parser.parse_args(argv)
    print(save_random_janus(args.out, args.shape, args.image_size))


if __name__ == "__main__":
    main()
