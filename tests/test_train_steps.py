"""fit as named steps: each step is documented, fit stays a short loop, gradient accumulation equals one
big batch; the step-speed helper of lesson 11 (course_lib.speed)."""
import inspect

import pytest
import torch
from torch import nn

from course_lib import train
from course_lib.speed import SPEED_MODES, make_train_step, time_train_steps
from course_lib.train import LossMeter, TrainConfig, fit, plan_total_steps

STEPS = ["prepare_model", "build_optimizer", "plan_total_steps", "setup_run", "resume_from_last", "wrap_model",
         "open_logs", "train_step", "log_step", "run_validation", "checkpoint_dict", "save_run_checkpoint",
         "save_last"]


class Net(nn.Module):                       # no BatchNorm, no dropout: a batch is the mean of its parts
    output_stride = 2

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, stride=2, padding=1))
        self.config = {"name": "steps_test_net"}

    def forward(self, x):
        return nn.functional.softplus(self.body(x)) + 0.1


class Toy(torch.utils.data.Dataset):
    def __init__(self, n=16):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        image = torch.rand(3, 12, 16, generator=torch.Generator().manual_seed(i))
        depth = 1.0 + 2.0 * image[:1]
        return {"image": image, "depth": depth, "valid": depth > 0, "K": torch.eye(3)}


def test_fit_is_a_short_loop_of_documented_steps():
    assert len(inspect.getsource(fit).splitlines()) <= 60
    for name in STEPS:
        function = getattr(train, name)
        assert inspect.getdoc(function), f"{name} has no docstring"
        assert len(inspect.getsource(function).splitlines()) <= 60, name


def test_plan_total_steps():
    assert plan_total_steps(TrainConfig(steps=7), 10) == 7
    assert plan_total_steps(TrainConfig(epochs=3, grad_accum_steps=2), 10) == 15
    assert plan_total_steps(TrainConfig(epochs=2, grad_accum_steps=4), 3) == 2   # at least one step per epoch


def test_loss_meter_sums_parts_and_counts_micro_batches():
    meter = LossMeter()
    meter.add({"loss": torch.tensor(1.0), "l1": 0.5}, 4)
    meter.add({"loss": torch.tensor(3.0), "l1": 1.5}, 2)
    assert meter.count == 2 and meter.batch_size == 2
    assert float(meter.sums["loss"]) == 4.0 and float(meter.sums["l1"]) == 2.0
    meter.reset()
    assert meter.sums == {} and meter.count == 0


def test_gradient_accumulation_equals_one_big_batch():
    def run(batch_size, accum):
        torch.manual_seed(0)
        model = Net()
        config = TrainConfig(steps=3, batch_size=batch_size, grad_accum_steps=accum, lr=1e-2, val_every=None,
                             progress=False, device="cpu", seed=3, amp="off")   # equal to float32 rounding
        history = fit(model, Toy(), None, None, config)
        return model, history

    big, big_history = run(4, 1)
    accumulated, accumulated_history = run(2, 2)
    for key, value in big.state_dict().items():
        torch.testing.assert_close(accumulated.state_dict()[key], value, rtol=1e-5, atol=1e-6)
    assert accumulated_history["loss"] == pytest.approx(big_history["loss"], rel=1e-5)


def test_make_train_step_lowers_the_loss():
    torch.manual_seed(0)
    model = Net()
    images = torch.rand(4, 3, 12, 16)
    depth = 1.0 + 2.0 * images[:, :1]
    step = make_train_step(model, images, depth, lr=1e-2)
    losses = [step() for _ in range(20)]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("mode", ["fp32", "bf16+cl"])
def test_time_train_steps_reports_a_rate(mode):
    options = {k: v for k, v in SPEED_MODES[mode].items()}
    result = time_train_steps(Net, (12, 16), batch_size=2, steps=3, warmup=1, **options)
    assert result["images_per_s"] > 0 and result["step_s"] > 0 and result["warmup_s"] >= 0
    times = result["step_times_s"]          # the rate is the median step's: one slow step does not move it
    assert len(times) == 3 and result["step_s"] == sorted(times)[1]
    assert result["images_per_s"] == pytest.approx(2 / result["step_s"])
    assert result["channels_last"] == options["channels_last"]
    assert result["peak_mib"] is None       # on the CPU: measured per process by benchmarks/train_throughput.py
    with pytest.raises(ValueError, match="steps must be"):
        time_train_steps(Net, (12, 16), steps=0)


def test_time_train_steps_decides_auto_as_fit_does(monkeypatch):
    from course_lib import environment

    monkeypatch.setattr(environment, "cpu_has_fast_bf16", lambda: False)    # float32: no channels_last
    result = time_train_steps(Net, (12, 16), batch_size=2, steps=1, warmup=0, amp="auto", channels_last="auto")
    assert result["channels_last"] is False and result["amp"] == "auto"


@pytest.mark.cuda
def test_time_train_steps_reports_cuda_peak_memory():
    result = time_train_steps(Net, (32, 48), batch_size=4, steps=2, warmup=1, device="cuda")
    assert result["device"].startswith("cuda") and result["peak_mib"] > 0
