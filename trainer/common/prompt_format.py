"""Janus prompts: the DeepSeek SFT template with an empty system prompt, as Janus-Pro and the Janus-4o
recipe use it for image generation.

A text-to-image sample is `<|User|>: {caption}\n\n<|Assistant|>:` then `<begin_of_image>` and the image
codes. An editing sample puts the source image first in the user turn, twice: once through SigLIP
(`<begin_of_image>`, N `<image_placeholder>`, `<end_of_image>`) and once as VQ codes (`<begin_of_image>`,
N positions, `<end_of_image>`), then the instruction.

The token store keeps each prompt as token ids with one `<image_placeholder>` standing for the whole
source-image block; `expand_source_block` writes the block out. Special tokens split the text before it is
tokenized, so tokenizing the parts on their own gives the ids of the whole string.
"""

from __future__ import annotations

from dataclasses import dataclass

USER, ASSISTANT = "<|User|>", "<|Assistant|>"
IMAGE, BOI, EOI = "<image_placeholder>", "<begin_of_image>", "<end_of_image>"
# The tokenizer attributes transformers' JanusProcessor reads these tokens from.
TOKENIZER_ATTRIBUTES = {"image_token": IMAGE, "boi_token": BOI, "eoi_token": EOI}
# The chat template of Janus-Pro's transformers-format folders (deepseek-community/Janus-Pro-*, whose
# processor also puts DeepSeek's default system prompt first: use_default_system_prompt), for the model's
# understanding path (`pixsift caption`, `pixsift judge`); pixsift's own folders carry it too.
CHAT_TEMPLATE = (
    "{%set seps=['\n\n','<\uff5cend\u2581of\u2581sentence\uff5c>']%}{%set i=0%}{%for message in messages%}"
    "{%if message['role']|lower=='user'%}<|User|>: {%elif message['role']|lower=='assistant'%}<|Assistant|>:"
    "{%if not (loop.last and not add_generation_prompt and message['content'][0]['type']=='text' and "
    "message['content'][0]['text']=='')%} {%endif%}{%else%}{{message['role'].capitalize()}}: {%endif%}"
    "{%for content in message['content']%}{%if content['type']=='image'%}"
    "{%if not loop.first%}{{'\n'}}{%endif%}<image_placeholder>{%if not loop.last%}{{'\n'}}{%endif%}"
    "{%elif content['type']=='text'%}"
    "{%set text=content['text']%}{%if loop.first%}{%set text=text.lstrip()%}{%endif%}"
    "{%if loop.last%}{%set text=text.rstrip()%}{%endif%}"
    "{%if not loop.first and message['content'][loop.index0-1]['type']=='text'%}{{' '+text}}{%else%}{{text}}"
    "{%endif%}{%endif%}{%endfor%}{%if not loop.last or add_generation_prompt%}"
    "{%if message['role']|lower=='user'%}{{seps[0]}}{%else%}{{seps[1]}}{%endif%}{%endif%}{%endfor%}"
    "{%if add_generation_prompt%}<|Assistant|>:{%endif%}"
)


def sft_prompt(user_text: str) -> str:
    """One user turn and the open assistant turn of the DeepSeek template (system prompt "")."""
    return f"{USER}: {user_text}\n\n{ASSISTANT}:"


def prompt_text(text: str, edit: bool) -> str:
    """The stored prompt of a sample: for an edit, one `<image_placeholder>` marks the source block. The
    user turn is stripped as DeepSeek's processor strips it (Janus-Pro, Janus-4o): a caption's both ends, an
    instruction's end (the source block comes before it)."""
    return sft_prompt(f"{IMAGE}{text.rstrip()}" if edit else text.strip())


@dataclass(frozen=True)
class SpecialIds:
    bos: int
    pad: int
    image: int  # <image_placeholder>: SigLIP features go here
    boi: int
    eoi: int

    @classmethod
    def of(cls, tokenizer) -> SpecialIds:
        ids = tokenizer.convert_tokens_to_ids([IMAGE, BOI, EOI])
        if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids:
            raise ValueError(f"tokenizer lacks Janus's special tokens {IMAGE}, {BOI}, {EOI}")
        if tokenizer.bos_token_id is None or tokenizer.pad_token_id is None:
            raise ValueError("tokenizer has no BOS or pad token; Janus needs both")
        return cls(tokenizer.bos_token_id, tokenizer.pad_token_id, *ids)


def expand_source_block(prompt_ids: list[int], ids: SpecialIds, n_image_tokens: int) -> tuple[list[int], int]:
    """The prompt with its `<image_placeholder>` written out as the SigLIP block and the VQ block, and the
    position of the VQ block's first code (after `<end_of_image><begin_of_image>`), or -1 if no source."""
    if ids.image not in prompt_ids:
        return list(prompt_ids), -1
    at = prompt_ids.index(ids.image)
    siglip = [ids.boi, *[ids.image] * n_image_tokens, ids.eoi]
    vq = [ids.boi, *[ids.pad] * n_image_tokens, ids.eoi]
    expanded = [*prompt_ids[:at], *siglip, *vq, *prompt_ids[at + 1 :]]
    return expanded, at + len(siglip) + 1
