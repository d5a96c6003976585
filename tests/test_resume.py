"""An interrupted run, resumed from last.pt, ends with exactly the weights of the uninterrupted run.

The model has BatchNorm and dropout, the dataset draws random augmentations from torch, NumPy and
Python's `random`, and the interruption falls mid-epoch: every one of those must be restored.
"""
import random

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.checkpoint import load_checkpoint
from course_lib.train import TrainConfig, fit


class TinyDepthNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Dropout2d(0.3), nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.Dropout(0.2), nn.Conv2d(8, 1, 1))
        self.output_stride = 2
        self.config = {"name": "tiny_test_net"}

    def forward(self, x):
        return nn.functional.softplus(self.body(x)) + 0.1          # (B, 1, H/2, W/2), positive


class AugmentedToyDepth(torch.utils.data.Dataset):
    """Item i: a fixed random image; depth a smooth function of it; random flips, noise and gain."""

    def __init__(self, length=20, size=(16, 20)):
        self.length, self.size = length, size

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(1000 + i)
        image = torch.rand(3, *self.size, generator=g)
        depth = 1.0 + 2.0 * image.mean(0, keepdim=True)
        if torch.rand(()) < 0.5:                                     # torch's global generator
            image, depth = image.flip(-1), depth.flip(-1)
        image = image + torch.from_numpy(np.random.normal(0, 0.05, image.shape).astype(np.float32))
        image = image * (0.8 + 0.4 * random.random())               # Python's generator
        valid = depth > 0
        return {"image": image, "depth": depth, "valid": valid, "K": torch.eye(3)}


class CrashAt:
    """Stands in for a killed process: raises once training reaches `step`."""

    def __init__(self, step):
        self.step = step

    def on_step(self, state):
        if state.step == self.step:
            raise KeyboardInterrupt("simulated crash")


def _run(out_dir, steps, callbacks=(), resume=False, **options):
    torch.manual_seed(0)
    model = TinyDepthNet()
    config = TrainConfig(steps=steps, batch_size=4, lr=3e-3, val_every=None, checkpoint_every=3, log_every=1,
                         progress=False, out_dir=str(out_dir), resume=resume, seed=7, device="cpu", **options)
    fit(model, AugmentedToyDepth(), None, None, config, callbacks=callbacks)
    return model


@pytest.mark.parametrize("options", [
    {"num_workers": 0},
    {"num_workers": 2},
    {"num_workers": 0, "grad_accum_steps": 2, "ema": 0.9, "schedule": "onecycle", "warmup_steps": 3},
], ids=["workers0", "workers2", "accum-ema-onecycle"])
def test_resume_gives_identical_weights(tmp_path, options):
    straight = _run(tmp_path / "straight", 12, **options)

    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "resumed", 12, callbacks=[CrashAt(7)], **options)
    assert load_checkpoint(tmp_path / "resumed" / "last.pt")["step"] == 6   # written at 3 and 6, not 7
    resumed = _run(tmp_path / "resumed", 12, resume=True, **options)

    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), f"{name} differs after resume"
    ckpt_a = load_checkpoint(tmp_path / "straight" / "last.pt")
    ckpt_b = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert ckpt_a["step"] == ckpt_b["step"] == 12
    assert (ckpt_a["epoch"], ckpt_a["batch_in_epoch"]) == (ckpt_b["epoch"], ckpt_b["batch_in_epoch"])
    if "ema" in ckpt_a:
        for key in ckpt_a["ema"]:
            assert torch.equal(ckpt_a["ema"][key], ckpt_b["ema"][key])


def test_changing_the_seed_changes_the_run(tmp_path):
    """The identity above is not trivial: a different data seed gives different weights."""
    a = _run(tmp_path / "a", 4)
    torch.manual_seed(0)
    model = TinyDepthNet()
    fit(model, AugmentedToyDepth(), None, None, TrainConfig(steps=4, batch_size=4, lr=3e-3, val_every=None,
                                                            progress=False, seed=8, device="cpu"))
    assert not torch.equal(a.body[0].weight, model.body[0].weight)


def test_checkpoint_loads_with_weights_only(tmp_path):
    _run(tmp_path, 3)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    expected = {"model", "model_config", "optimizer", "scheduler", "scaler", "step", "epoch", "rng", "config",
                "metrics"}
    assert expected <= set(ckpt)
    assert ckpt["config"]["batch_size"] == 4 and ckpt["model_config"] == {"name": "tiny_test_net"}
    assert set(ckpt["rng"]) >= {"python", "numpy", "torch"}
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_a_truncated_checkpoint_is_reported_in_one_sentence(tmp_path):
    from course_lib.errors import CheckpointError

    _run(tmp_path, 3)
    data = (tmp_path / "last.pt").read_bytes()
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"half.pt cannot be read .* corrupt, truncated") as info:
        load_checkpoint(tmp_path / "half.pt")
    assert "\n" not in str(info.value)
