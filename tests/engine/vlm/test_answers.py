"""A judge's answers from token probabilities, against the probabilities written out by hand: VQAScore's
probability of "Yes" (its tokens forced one after another) and G-Eval's expected score, on a tokenizer that
splits digits (Qwen's: "10" is "1" then "0") and on one with "10" as one token."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixsift.engine.core.errors import BadInput
from pixsift.engine.vlm.answers import ExpectedScore, YesProbability

V = 40
YES = [30, 31]  # "Yes" as two tokens, to check the product


def split_digits(text: str) -> list[int]:
    """Every digit its own token (id = the digit); "Yes" two tokens."""
    return YES if text == "Yes" else [int(c) for c in text]


def whole_numbers(text: str) -> list[int]:
    """0..10 one token each (id = the number), as tokenizers that group digits have them."""
    return [int(text)]


def random_logprobs(rows: int, positions: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(rows, positions, V, generator=g) * 3, dim=-1)


def test_yes_is_the_product_of_its_tokens_probabilities():
    answer = YesProbability.of(split_digits)
    assert answer.forced == (30,)
    lp = random_logprobs(3, 2, 0)
    expected = lp[:, 0, 30].exp() * lp[:, 1, 31].exp()
    np.testing.assert_allclose(answer.values(lp), expected.numpy(), rtol=1e-6)


def test_the_expected_score_reads_ten_from_the_forced_one():
    answer = ExpectedScore.of(split_digits, 0, 10, "rubric")
    assert answer.forced == (1,)
    lp = random_logprobs(4, 2, 1)
    p0, p1 = lp[:, 0].exp().double().numpy(), lp[:, 1].exp().double().numpy()
    for row in range(4):
        mass = {v: p0[row, v] for v in range(10)}
        mass[1] = p0[row, 1] * (1 - p1[row, :10].sum())  # "1" then anything but a digit
        mass[10] = p0[row, 1] * p1[row, 0]
        expected = sum(v * m for v, m in mass.items()) / sum(mass.values())
        assert answer.values(lp)[row] == pytest.approx(expected, rel=1e-9)


def test_the_expected_score_of_single_token_values_needs_no_forced_token():
    answer = ExpectedScore.of(whole_numbers, 0, 10, "rubric")
    assert answer.forced == ()
    lp = random_logprobs(2, 1, 2)
    p0 = lp[:, 0].exp().double().numpy()
    expected = (p0[:, :11] * np.arange(11)).sum(axis=1) / p0[:, :11].sum(axis=1)
    np.testing.assert_allclose(answer.values(lp), expected, rtol=1e-9)


def test_a_one_to_five_scale_uses_only_its_values():
    answer = ExpectedScore.of(split_digits, 1, 5, "rubric")
    lp = random_logprobs(2, 1, 3)
    p0 = lp[:, 0].exp().double().numpy()
    expected = (p0[:, 1:6] * np.arange(1, 6)).sum(axis=1) / p0[:, 1:6].sum(axis=1)
    np.testing.assert_allclose(answer.values(lp), expected, rtol=1e-9)


def test_a_scale_the_tokenizer_cannot_read_in_one_pass_is_refused():
    def odd(text: str) -> list[int]:
        return [int(c) for c in text] + ([0] if text == "7" else [])  # "7" as two tokens, "10" too

    with pytest.raises(BadInput, match="rubric x: the values 0-10 are not single tokens"):
        ExpectedScore.of(odd, 0, 10, "rubric x")


@pytest.mark.parametrize(
    "answer",
    [
        YesProbability.of(split_digits),
        ExpectedScore.of(split_digits, 0, 10, "rubric"),
        ExpectedScore.of(whole_numbers, 0, 10, "rubric"),
        ExpectedScore.of(split_digits, 1, 5, "rubric"),
    ],
)
def test_an_answer_reads_only_the_tokens_it_wants(answer):
    """The vLLM backend returns the wanted tokens' log-probabilities only: the rest may be -inf."""
    lp = random_logprobs(3, len(answer.forced) + 1, 4)
    assert len(answer.wanted) == lp.shape[1]
    only = torch.full_like(lp, -torch.inf)
    for j, tokens in enumerate(answer.wanted):
        only[:, j, list(tokens)] = lp[:, j, list(tokens)]
    np.testing.assert_array_equal(answer.values(only), answer.values(lp))
