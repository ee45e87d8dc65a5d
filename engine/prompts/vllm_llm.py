"""A causal language model through vLLM's offline `LLM` (`--backend vllm`): the chat text and token ids of
engine.prompts.llm, written and measured by vLLM.

Writing samples with the same temperature, top-p and repetition penalty, each prompt from its own seed
drawn from the batch's, so that a batch written again after a kill is the same text (vLLM's sampler is
not transformers': the two backends write different prompts from one seed). Perplexity reads the
log-probability vLLM gives each token of the text (`prompt_logprobs`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pixsift.engine.core.candidates import parts_hash
from pixsift.engine.core.generation import Generated
from pixsift.engine.core.llm_backend import BackendConfig, Decoding, open_vllm, vllm_prompt
from pixsift.engine.prompts.llm import ChatLanguageModel


class VllmLanguageModel(ChatLanguageModel):
    def __init__(
        self, folder: str, device: torch.device, dtype: torch.dtype, cfg: BackendConfig, models: int
    ):
        super().__init__(folder)
        self.llm = open_vllm(folder, device, dtype, cfg, models)
        self.context = self.llm.llm_engine.model_config.max_model_len
        self.decoding = Decoding.of(folder, self.tokenizer)

    def write(
        self, instructions: Sequence[str], seed: int, max_new_tokens: int, temperature: float, top_p: float
    ) -> list[Generated]:
        ids = self.instruction_tokens(instructions, max_new_tokens)["input_ids"]
        asks = [
            self.decoding.params(
                max_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                seed=parts_hash(seed, i) & (2**63 - 1),
            )
            for i in range(len(ids))
        ]
        outputs = self.llm.generate([vllm_prompt(i) for i in ids], asks, use_tqdm=False)
        return self.decoding.generated(outputs, self.tokenizer, max_new_tokens)

    def mean_nll(self, ids: list[list[int]]) -> list[float]:
        from vllm import SamplingParams

        ask = SamplingParams(max_tokens=1, prompt_logprobs=0)
        outputs = self.llm.generate([vllm_prompt(row) for row in ids], ask, use_tqdm=False)
        return [
            -sum(lp[token].logprob for lp, token in zip(o.prompt_logprobs[1:], row[1:], strict=True))
            / (len(row) - 1)
            for o, row in zip(outputs, ids, strict=True)
        ]
