"""Janus-Pro's chat template, which pixsift's Janus folders carry for the model's understanding path: a user
turn renders as the DeepSeek SFT prompt the trainer builds (sft_prompt), stripped as DeepSeek strips it, an
image as its placeholder line; the processor puts DeepSeek's system prompt first."""

from __future__ import annotations

from transformers import AutoProcessor

from pixsift.trainer.common.prompt_format import IMAGE, sft_prompt


def test_the_chat_template_renders_the_sft_prompt(tiny_janus):
    processor = AutoProcessor.from_pretrained(tiny_janus)
    text = [{"role": "user", "content": [{"type": "text", "text": "  a red cat  "}]}]
    assert processor.apply_chat_template(text, add_generation_prompt=True) == sft_prompt("a red cat")
    image = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe it."}]}]
    rendered = processor.apply_chat_template(image, add_generation_prompt=True)
    assert rendered == sft_prompt(f"{IMAGE}\nDescribe it.")
    assert processor.use_default_system_prompt
