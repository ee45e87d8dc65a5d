"""A vision-language model through vLLM's offline `LLM` (`--backend vllm`): the prompts, token ids and
answers of engine.vlm.model, computed by vLLM.

Each prompt goes to vLLM as the token ids of its chat text, its images as multi-modal data (vLLM expands
their placeholders as the processor does); the processor is run once more to know each prompt's length with
its images, so that a prompt longer than the context fails as it does on the transformers backend.
`answer_logprobs` asks vLLM for the log-probabilities of the `wanted` tokens only (`logprob_token_ids`), one
request per position of the answer (prefix caching shares the prompt between them); `generate` decodes
greedily with the folder's repetition penalty, as transformers' `generate` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from pixsift.engine.core.generation import Generated
from pixsift.engine.core.llm_backend import BackendConfig, Decoding, open_vllm, vllm_prompt
from pixsift.engine.vlm.model import ChatModel

IMAGES_PER_PROMPT = 2  # a judge of edits shows the source and the edit


@dataclass(frozen=True)
class _Request:
    ids: list[int]  # the chat text's tokens, an image placeholder for each image
    images: Sequence[Any]
    length: int  # with the images expanded into their tokens


class VllmVisionLanguageModel(ChatModel):
    def __init__(self, folder: str, device: torch.device, dtype: torch.dtype, cfg: BackendConfig):
        super().__init__(folder)
        self.llm = open_vllm(
            folder, device, dtype, cfg, 1, limit_mm_per_prompt={"image": IMAGES_PER_PROMPT, "video": 0}
        )
        model_config = self.llm.llm_engine.model_config
        self.context = model_config.max_model_len
        self.name = model_config.architecture
        self.decoding = Decoding.of(folder, self.tokenizer)

    def encode(self, prompts: Sequence[str], images: Sequence[Sequence[Any]]) -> list[_Request]:
        flat = [image for row in images for image in row]
        expanded = self.processor(text=list(prompts), images=flat or None)["input_ids"]
        ids = self.tokenizer(list(prompts))["input_ids"]
        return [_Request(list(i), row, len(e)) for i, row, e in zip(ids, images, expanded, strict=True)]

    @staticmethod
    def lengths(inputs: list[_Request]) -> list[int]:
        return [r.length for r in inputs]

    def answer_logprobs(
        self, inputs: list[_Request], forced: Sequence[int], wanted: Sequence[Sequence[int]]
    ) -> torch.Tensor:
        """B x (len(forced) + 1) x V float32 log-probabilities of the `wanted` tokens at each position of
        the answer (-inf for every other token)."""
        from vllm import SamplingParams

        positions = len(forced) + 1
        asks = [SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=list(w)) for w in wanted]
        prompts = [vllm_prompt(r.ids + list(forced[:j]), r.images) for r in inputs for j in range(positions)]
        outputs = self.llm.generate(prompts, asks * len(inputs), use_tqdm=False)
        vocab = 1 + max(t for w in wanted for t in w)
        found = torch.full((len(inputs), positions, vocab), -math.inf)
        for k, output in enumerate(outputs):
            row, j = divmod(k, positions)
            logprobs = output.outputs[0].logprobs[0]
            for token in wanted[j]:
                found[row, j, token] = logprobs[token].logprob
        return found

    def generate(self, inputs: list[_Request], max_new_tokens: int) -> list[Generated]:
        greedy = self.decoding.params(max_tokens=max_new_tokens, temperature=0.0)
        outputs = self.llm.generate([vllm_prompt(r.ids, r.images) for r in inputs], greedy, use_tqdm=False)
        return self.decoding.generated(outputs, self.tokenizer, max_new_tokens)
