"""A judge's answer read from token probabilities, so that every row gets a number and nothing is parsed:

- `YesProbability` (VQAScore, Lin et al. 2024): the probability that the answer is "Yes", the product of
  its tokens' probabilities with the earlier ones forced (t2v_metrics' exp(-loss) of the answer).
- `ExpectedScore` (G-Eval, Liu et al. 2023): the expected value of an integer answer lo..hi, each value's
  probability that of its tokens, renormalised over the values of the scale. A value of two tokens ("10"
  where every digit is a token, as in Qwen's tokenizer) is read in the same pass: its first token is forced,
  and that token alone counts as its own value only when no digit follows it.

Both need one forward pass per question: `forced` are the tokens appended to the prompt, `wanted` the tokens
whose probability is read at each position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from pixsift.engine.core.errors import BadInput

Tokenize = Callable[[str], list[int]]


@dataclass(frozen=True)
class YesProbability:
    tokens: tuple[int, ...]

    @classmethod
    def of(cls, tokenize: Tokenize, word: str = "Yes") -> YesProbability:
        return cls(tuple(tokenize(word)))

    @property
    def forced(self) -> tuple[int, ...]:
        return self.tokens[:-1]

    @property
    def wanted(self) -> tuple[tuple[int, ...], ...]:
        return tuple((token,) for token in self.tokens)

    def values(self, logprobs: torch.Tensor) -> np.ndarray:
        picked = [logprobs[:, j, token] for j, token in enumerate(self.tokens)]
        return torch.stack(picked, dim=1).sum(dim=1).exp().cpu().numpy()


@dataclass(frozen=True)
class ExpectedScore:
    lo: int
    hi: int
    single: dict[int, int]  # value -> its one token
    double: dict[int, int]  # value -> its second token, after the forced first one
    first: int | None  # the forced first token of the two-token values
    digits: tuple[int, ...]  # the tokens that continue a number

    @classmethod
    def of(cls, tokenize: Tokenize, lo: int, hi: int, where: str) -> ExpectedScore:
        ids = {v: tokenize(str(v)) for v in range(lo, hi + 1)}
        single = {v: t[0] for v, t in ids.items() if len(t) == 1}
        double = {v: t for v, t in ids.items() if len(t) == 2}
        firsts = {t[0] for t in double.values()}
        if len(single) + len(double) < len(ids) or len(firsts) > 1:
            raise BadInput(
                where,
                f"the values {lo}-{hi} are not single tokens or one shared token and a digit "
                "in this model's tokenizer",
                "use a scale of single-token values",
            )
        digits = tuple(t[0] for t in (tokenize(str(d)) for d in range(10)) if len(t) == 1)
        first = firsts.pop() if firsts else None
        return cls(lo, hi, single, {v: t[1] for v, t in double.items()}, first, digits)

    @property
    def forced(self) -> tuple[int, ...]:
        return () if self.first is None else (self.first,)

    @property
    def wanted(self) -> tuple[tuple[int, ...], ...]:
        first = tuple(sorted({*self.single.values(), *self.forced}))
        return (
            (first,) if self.first is None else (first, tuple(sorted({*self.digits, *self.double.values()})))
        )

    def values(self, logprobs: torch.Tensor) -> np.ndarray:
        probs = logprobs.exp().double()
        mass = {v: probs[:, 0, t] for v, t in self.single.items()}
        if self.first is not None:
            after = probs[:, 1]
            ends = 1.0 - after[:, list(self.digits)].sum(dim=1).clamp(max=1.0)
            for v, t in self.single.items():
                if t == self.first:
                    mass[v] = mass[v] * ends
            for v, t in self.double.items():
                mass[v] = probs[:, 0, self.first] * after[:, t]
        values = torch.tensor(sorted(mass), dtype=torch.float64, device=probs.device)
        weights = torch.stack([mass[v] for v in sorted(mass)], dim=1)
        return ((weights * values).sum(dim=1) / weights.sum(dim=1)).cpu().numpy()
