"""A causal language model from a local folder, through transformers (`AutoModelForCausalLM` and the
`AutoTokenizer` saved with it: Qwen2.5-Instruct, Llama-3-Instruct, ...): it writes prompts from
instructions, rewrites them, and measures a text's perplexity.

An instruction goes through the folder's chat template as one user turn when it has one (as plain text
followed by a newline when it does not). Writing samples (temperature, top-p) from the torch generator
seeded per batch, so that a batch written again, after a kill, is the same text.

The vLLM backend (engine.prompts.vllm_llm) shares the chat text and the token ids.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.generation import Generated, context_length, decode_generated, end_tokens

_DOWNLOAD_HINT = "models load from local folders: hf download Qwen/Qwen2.5-7B-Instruct --local-dir DIR"


class ChatLanguageModel:
    """A causal LM folder's tokenizer and the chat text of an instruction, the same for every backend;
    each backend sets `context` and gives `write` and `mean_nll`."""

    context: int  # the model's context in tokens

    def __init__(self, folder: str):
        from transformers import AutoTokenizer

        if not os.path.isfile(os.path.join(folder, "config.json")):
            raise BadInput(folder, "not a local model folder (no config.json)", _DOWNLOAD_HINT)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.name = Path(folder).name

    def chat(self, instruction: str) -> str:
        if self.tokenizer.chat_template is None:
            return instruction + "\n"
        messages = [{"role": "user", "content": instruction}]
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def instruction_tokens(self, instructions: Sequence[str], max_new_tokens: int, **tensors):
        """The chat texts of `instructions` as token ids, cut to leave `max_new_tokens` of the context."""
        chat = self.tokenizer.chat_template is not None
        return self.tokenizer(
            [self.chat(i) for i in instructions],
            add_special_tokens=not chat,
            truncation=True,
            max_length=max(1, self.context - max_new_tokens),
            **tensors,
        )

    def perplexity(self, texts: Sequence[str]) -> list[float]:
        """exp(mean negative log-likelihood) of each text's tokens after its first, as the model reads the
        text alone (cut to its context); NaN for a text of fewer than two tokens."""
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.context)["input_ids"]
        found = [math.nan] * len(ids)
        measured = [i for i, tokens in enumerate(ids) if len(tokens) >= 2]
        if measured:
            for i, nll in zip(measured, self.mean_nll([ids[i] for i in measured]), strict=True):
                found[i] = math.exp(nll)
        return found


class LanguageModel(ChatLanguageModel):
    def __init__(self, folder: str, device: torch.device, dtype: torch.dtype):
        from transformers import AutoModelForCausalLM

        super().__init__(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()
        self.device = device
        self.context = context_length(self.model.config, self.tokenizer)

    @torch.inference_mode()
    def write(
        self, instructions: Sequence[str], seed: int, max_new_tokens: int, temperature: float, top_p: float
    ) -> list[Generated]:
        """One sampled answer per instruction (left-padded batch; the generator seeded with `seed`)."""
        self.tokenizer.padding_side = "left"
        inputs = self.instruction_tokens(instructions, max_new_tokens, return_tensors="pt", padding=True)
        inputs = inputs.to(self.device)
        ends = end_tokens(self.model.generation_config, self.tokenizer)
        torch.manual_seed(seed)
        out = self.model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=True,
            temperature=temperature,
            top_p=top_p,
            top_k=0,
            num_beams=1,
            eos_token_id=ends,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new = out[:, inputs["input_ids"].shape[1] :].tolist()
        return decode_generated(self.tokenizer, new, ends, max_new_tokens)

    @torch.inference_mode()
    def mean_nll(self, ids: list[list[int]]) -> list[float]:
        """The mean negative log-likelihood of each row's tokens after its first (a right-padded batch)."""
        self.tokenizer.padding_side = "right"
        inputs = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(self.device)
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        logits = self.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        counted = mask[:, 1:].float()
        return ((nll * counted).sum(dim=1) / counted.sum(dim=1)).tolist()
