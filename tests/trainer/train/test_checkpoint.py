"""Checkpoints are complete or not used, and loading one never runs code from a file."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from pixsift.engine.core.errors import BadInput
from pixsift.trainer.train import checkpoint


class Planted:
    def __reduce__(self):
        return (print, ("a planted pickle ran",))


def test_weights_only_loads_refuse_objects_deepspeed_does_not_write(tmp_path):
    planted = tmp_path / "mp_rank_00_model_states.pt"
    torch.save({"module": Planted()}, planted)
    with pytest.raises(
        BadInput, match="refusing to load a checkpoint file that holds objects pixsift does not load"
    ):
        with checkpoint.weights_only_loads(tmp_path):
            torch.load(planted, weights_only=False)  # as DeepSpeed asks
    fine = tmp_path / "fine.pt"
    from deepspeed.runtime.fp16.loss_scaler import LossScaler

    torch.save({"w": torch.ones(2), "scaler": LossScaler(1.0)}, fine)
    with checkpoint.weights_only_loads(tmp_path):
        assert torch.load(fine, weights_only=False)["w"].tolist() == [1.0, 1.0]
    with pytest.raises(pickle.UnpicklingError):  # and nothing else is forced
        torch.load(planted, weights_only=True)


def test_the_newest_complete_checkpoint_is_used_and_incomplete_ones_are_named(tmp_path):
    for step, complete in ((2, True), (4, True), (6, False)):
        folder = tmp_path / checkpoint.tag(step)
        folder.mkdir()
        (folder / "mp_rank_00_model_states.pt").write_bytes(b"x" * step)
        if complete:
            files = {"mp_rank_00_model_states.pt": step}
            (folder / checkpoint.MARKER).write_text(json.dumps({"step": step, "files": files}))
    assert checkpoint.newest_complete(tmp_path) == ("step-00000004", ["step-00000006"])
    (tmp_path / "step-00000004" / "mp_rank_00_model_states.pt").write_bytes(b"x")  # cut short
    assert checkpoint.newest_complete(tmp_path) == ("step-00000002", ["step-00000006", "step-00000004"])
