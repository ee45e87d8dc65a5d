"""A vision-language model from a local folder, through transformers: `AutoModelForImageTextToText` and the
`AutoProcessor` saved with it (Qwen2.5-VL, LLaVA-OneVision, Janus-Pro, ...), prompted with the folder's own
chat template.

Two uses, both batched, prompts left-padded so that every row's answer starts at the same position:
- `answer_logprobs`: one forward pass over the prompts with `forced` tokens appended; the log-probabilities
  of the whole vocabulary (the `wanted` tokens among them) at the answer's first position and after each
  forced token. Judges score from these (engine.vlm.answers), never from parsed text.
- `generate`: greedy decoding (captions, explanations), with the number of tokens each row produced and
  whether it stopped at the token limit.

The vLLM backend (engine.vlm.vllm_model) shares the prompts, their token ids and the answers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from PIL import Image

from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.generation import Generated, context_length, decode_generated, end_tokens


class ChatModel:
    """The chat prompts of a vision-language model folder's processor, the same for every backend."""

    def __init__(self, folder: str):
        from transformers import AutoProcessor

        if not os.path.isfile(os.path.join(folder, "config.json")):
            raise BadInput(folder, "not a local model folder (no config.json)", _DOWNLOAD_HINT)
        self.processor = AutoProcessor.from_pretrained(folder)
        if getattr(self.processor, "chat_template", None) is None:
            raise BadInput(folder, "its processor has no chat template", "use the folder as published")
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"

    def prompt(self, question: str, images: int) -> str:
        """The chat-formatted user turn asking `question` about `images` images, ready for the answer."""
        content = [{"type": "image"} for _ in range(images)] + [{"type": "text", "text": question}]
        messages = [{"role": "user", "content": content}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)


class VisionLanguageModel(ChatModel):
    def __init__(self, folder: str, device: torch.device, dtype: torch.dtype):
        from transformers import AutoModelForImageTextToText

        super().__init__(folder)
        self.model = AutoModelForImageTextToText.from_pretrained(folder, dtype=dtype).to(device).eval()
        self.device = device
        self.context = context_length(self.model.config, self.tokenizer)
        self.name = type(self.model).__name__

    def encode(self, prompts: Sequence[str], images: Sequence[Sequence[Image.Image]]):
        """The model's inputs for `prompts`, each with its `images` (left-padded, on the device)."""
        flat = [image for row in images for image in row]
        inputs = self.processor(text=list(prompts), images=flat or None, padding=True, return_tensors="pt")
        return inputs.to(self.device)

    @staticmethod
    def lengths(inputs) -> list[int]:
        """Each prompt's length in tokens, its images expanded into their image tokens."""
        return inputs["attention_mask"].sum(dim=1).tolist()

    @torch.inference_mode()
    def answer_logprobs(self, inputs, forced: Sequence[int], wanted: Sequence[Sequence[int]]) -> torch.Tensor:
        """B x (len(forced) + 1) x V float32 log-probabilities: of the answer's first token, then of the
        token after each of `forced` (the whole vocabulary: `wanted`, the tokens read at each position,
        among them)."""
        inputs = dict(inputs)
        if forced:
            extra = torch.tensor([list(forced)] * len(inputs["input_ids"]), device=self.device)
            inputs["input_ids"] = torch.cat([inputs["input_ids"], extra], dim=1)
            inputs["attention_mask"] = torch.cat([inputs["attention_mask"], torch.ones_like(extra)], dim=1)
            if "mm_token_type_ids" in inputs:  # text tokens are type 0
                inputs["mm_token_type_ids"] = torch.cat(
                    [inputs["mm_token_type_ids"], torch.zeros_like(extra)], dim=1
                )
        logits = self.model(**inputs, logits_to_keep=len(forced) + 1).logits
        return torch.log_softmax(logits[:, -(len(forced) + 1) :].float(), dim=-1)

    @torch.inference_mode()
    def generate(self, inputs, max_new_tokens: int) -> list[Generated]:
        ends = end_tokens(self.model.generation_config, self.tokenizer)
        out = self.model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=ends,
            pad_token_id=self.tokenizer.pad_token_id,
            temperature=None,
            top_p=None,
            top_k=None,
        )
        new = out[:, inputs["input_ids"].shape[1] :].tolist()
        return decode_generated(self.tokenizer, new, ends, max_new_tokens)


_DOWNLOAD_HINT = "models load from local folders: hf download Qwen/Qwen2.5-VL-7B-Instruct --local-dir DIR"
