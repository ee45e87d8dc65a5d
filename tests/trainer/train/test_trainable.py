"""Gradient checkpointing turns on through whichever API the installed transformers has, and changes no
gradient."""

from __future__ import annotations

import pytest
import torch

from pixsift.trainer.train.config import ModelConfig
from pixsift.trainer.train.data import SampleFormat
from pixsift.trainer.train.loss import ImageGenerationModel
from pixsift.trainer.train.trainable import enable_checkpointing, load_janus


def test_checkpointing_is_on_and_keeps_the_gradients(tiny_janus):
    from transformers import JanusProcessor

    from tests.trainer.train.test_train_loss import samples

    processor = JanusProcessor.from_pretrained(tiny_janus)
    batch = SampleFormat.of(processor).collate(samples(processor)[1])
    grads = []
    for checkpointing in (True, False):
        janus = load_janus(ModelConfig(path=str(tiny_janus), gradient_checkpointing=checkpointing), "float32")
        assert janus.model.language_model.is_gradient_checkpointing == checkpointing
        janus.train()
        ImageGenerationModel(janus)(batch).backward()
        grads.append(janus.model.language_model.layers[0].self_attn.q_proj.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-7)


class _OlderModel:
    """A model of a transformers release without activation_checkpointing_enable (5.17)."""

    def __init__(self):
        self.calls = []

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        self.calls.append(gradient_checkpointing_kwargs)


class _NewerModel(_OlderModel):
    def activation_checkpointing_enable(self, options):
        self.calls.append(("activation", options))


@pytest.mark.parametrize(
    ("model", "call"),
    [(_OlderModel, {"use_reentrant": False}), (_NewerModel, ("activation", {"use_reentrant": False}))],
)
def test_the_api_the_release_has_is_called(model, call):
    """On transformers 5.17 itself the first test passes through the older API too (run beside the
    suite with that release on the path; the closing notes say when)."""
    m = model()
    enable_checkpointing(m)
    assert m.calls == [call]
