"""The paths of `fit` that a plain short run does not take, each checked against a figure worked out here.

The weight EMA (its update rule, validation on the averaged weights, `load_model` choosing them), early
stopping after the metric has improved, and fp16 training with its gradient scaler, resumed mid-run.
fp16 autocast is CUDA-only in `resolve_amp`; on the CPU it is switched on by patching `resolve_amp`
(PyTorch runs float16 autocast and the GradScaler on the CPU too), so the scaler's code runs in CI.
"""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import course_lib.train as train_module
from course_lib.checkpoint import load_checkpoint, load_model
from course_lib.models import build_model
from course_lib.train import EMA, TrainConfig, fit


class TinyNet(nn.Module):
    """Conv-BN-ReLU-conv at full resolution (output_stride 1), positive depth: small enough to check by hand."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 1, 1))
        self.output_stride = 1
        self.config = {"name": "tiny_test_net"}

    def forward(self, x):
        return nn.functional.softplus(self.body(x)) + 0.1          # (B, 1, H, W) metres


class ToyDepth(torch.utils.data.Dataset):
    """Item i: a fixed random image; depth 1-3 m, a smooth function of it; every pixel valid."""

    def __init__(self, length=16, size=(12, 16), offset=0):
        self.length, self.size, self.offset = length, size, offset

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(500 + self.offset + i)
        image = torch.rand(3, *self.size, generator=g)
        depth = 1.0 + 2.0 * image.mean(0, keepdim=True)
        return {"image": image, "depth": depth, "valid": depth > 0, "K": torch.eye(3)}


def tiny_net():
    torch.manual_seed(0)
    return TinyNet()


def config(tmp_path, **options):
    """float32 unless a test asks otherwise: the figures are checked against float32 arithmetic done by hand."""
    base = dict(steps=6, batch_size=4, lr=3e-2, val_every=None, checkpoint_every=None, log_every=1,
                progress=False, out_dir=str(tmp_path), device="cpu", seed=3, amp="off")
    return TrainConfig(**{**base, **options})


def abs_rel_by_hand(net, dataset):
    """Mean over images of mean(|clip(pred, 1e-3, 10) - gt| / gt), written out apart from metrics.py."""
    net.eval()
    values = []
    with torch.no_grad():
        for item in (dataset[i] for i in range(len(dataset))):
            pred = net(item["image"][None])[0, 0].clamp(1e-3, 10.0).double()
            gt = item["depth"][0].double()
            values.append(float(((pred - gt).abs() / gt).mean()))
    return float(np.mean(values))


# ----------------------------------------------------------------------------------------- the weight EMA


def test_ema_update_follows_its_formula():
    """ema <- decay * ema + (1 - decay) * weights, for every floating tensor; counters are copied."""
    model = tiny_net()
    ema = EMA(model, decay=0.9)
    w0 = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model.body[1].running_mean.fill_(2.0)
        model.body[1].num_batches_tracked.fill_(7)
    w1 = {k: v.clone() for k, v in model.state_dict().items()}
    ema.update(model)
    averaged = ema.module.state_dict()
    for key, value in w0.items():
        if value.dtype.is_floating_point:
            torch.testing.assert_close(averaged[key], 0.9 * value + 0.1 * w1[key], rtol=0, atol=1e-6)
        else:
            assert torch.equal(averaged[key], w1[key]), key
    # a weight that moved by +1 is 0.1 of the way there, not 0.9
    first = next(iter(model.state_dict()))
    torch.testing.assert_close(averaged[first] - w0[first], torch.full_like(w0[first], 0.1), rtol=0, atol=1e-6)
    # the average is a copy: training the model further does not move it
    with torch.no_grad():
        next(model.parameters()).add_(5.0)
    assert torch.equal(ema.module.state_dict()[first], averaged[first])


def test_fit_averages_the_weights_after_every_step_and_validates_the_average(tmp_path):
    """The EMA in last.pt equals the average worked out from the weights after each step, and the
    validation figure is that of the averaged weights, not of the trained ones."""
    decay = 0.6
    after_step = []

    class RecordWeights:
        def on_step(self, state):
            after_step.append({k: v.detach().clone() for k, v in state.model.state_dict().items()})

    model = tiny_net()
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    val = ToyDepth(6, offset=100)
    history = fit(model, ToyDepth(), val, None, config(tmp_path, ema=decay), callbacks=[RecordWeights()])
    assert len(after_step) == 6

    expected = {k: v.double() if v.dtype.is_floating_point else v for k, v in initial.items()}
    for weights in after_step:
        for key, value in weights.items():
            expected[key] = decay * expected[key] + (1 - decay) * value.double() \
                if value.dtype.is_floating_point else value
    ckpt = load_checkpoint(tmp_path / "last.pt")
    for key, value in ckpt["ema"].items():
        torch.testing.assert_close(value.double(), expected[key].double(), rtol=1e-5, atol=1e-6)
    assert not torch.equal(ckpt["ema"]["body.0.weight"], ckpt["model"]["body.0.weight"])

    averaged, trained = TinyNet(), TinyNet()
    averaged.load_state_dict(ckpt["ema"])
    trained.load_state_dict(ckpt["model"])
    on_average, on_trained = abs_rel_by_hand(averaged, val), abs_rel_by_hand(trained, val)
    assert abs(on_average - on_trained) > 1e-3, (on_average, on_trained)   # the two are told apart
    assert history["val_abs_rel"][-1] == pytest.approx(on_average, rel=1e-5)


def test_load_model_best_means_the_ema_weights_when_the_run_kept_them(tmp_path):
    torch.manual_seed(0)
    net = build_model("unet", base_channels=4, depth=2)
    data = ToyDepth(8, size=(16, 16))
    fit(net, data, None, None, config(tmp_path, steps=4, ema=0.5))
    ckpt = load_checkpoint(tmp_path / "last.pt")
    image = data[0]["image"][None]

    def output_with(weights):
        reference = build_model("unet", base_channels=4, depth=2)
        reference.load_state_dict(weights)
        with torch.no_grad():
            return reference.eval()(image)

    with torch.no_grad():
        best, plain = load_model(tmp_path / "last.pt")(image), load_model(tmp_path / "last.pt", weights="model")(image)
        ema = load_model(tmp_path / "last.pt", weights="ema")(image)
    assert not torch.allclose(output_with(ckpt["ema"]), output_with(ckpt["model"]))
    assert torch.equal(best, output_with(ckpt["ema"])) and torch.equal(ema, best)
    assert torch.equal(plain, output_with(ckpt["model"]))


# ----------------------------------------------------------------------------------------- early stopping


@pytest.mark.parametrize("metric, values, best_index", [
    # abs_rel, lower is better: improves at the 3rd validation, then 3 worse (or equal) ones stop the run
    ("abs_rel", [0.50, 0.55, 0.40, 0.45, 0.40, 0.41, 0.10, 0.10], 2),
    # d1, higher is better: the same story mirrored
    ("d1", [0.50, 0.45, 0.60, 0.55, 0.60, 0.59, 0.90, 0.90], 2),
], ids=["abs_rel-min", "d1-max"])
def test_early_stopping_counts_bad_validations_since_the_last_improvement(tmp_path, monkeypatch, metric, values,
                                                                          best_index):
    """patience 3 with validations every 2 steps: a worse one (2nd) before the improvement (3rd) does not
    count, so the run stops at the 6th validation (step 12), and best.pt holds the weights of step 6."""
    scripted = iter(values)
    monkeypatch.setattr(train_module, "validate", lambda *args, **kwargs: {f"val_{metric}": next(scripted)})
    weights_at = {}

    class RecordWeights:
        def on_step(self, state):
            weights_at[state.step] = {k: v.detach().clone() for k, v in state.model.state_dict().items()}

    history = fit(tiny_net(), ToyDepth(), ToyDepth(4, offset=100), None,
                  config(tmp_path, steps=100, val_every=2, early_stopping=metric, patience=3),
                  callbacks=[RecordWeights()])
    assert history["val_step"] == [2, 4, 6, 8, 10, 12]
    assert history["step"][-1] == 12 and max(weights_at) == 12
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["step"] == 2 * (best_index + 1) == 6
    assert best["best"]["value"] == values[best_index]
    for key, value in best["model"].items():
        assert torch.equal(value, weights_at[6][key]), key


# ----------------------------------------------------------------------------------------- fp16 and its scaler


@pytest.fixture
def fp16_on_cpu(monkeypatch):
    """amp='fp16' runs float16 autocast and an enabled GradScaler on the CPU (resolve_amp refuses it there)."""
    plain = train_module.resolve_amp
    monkeypatch.setattr(train_module, "resolve_amp",
                        lambda amp, device: torch.float16 if amp == "fp16" else plain(amp, device))


def large_l1(pred, depth, valid):
    """L1 x 100: at the scaler's starting scale (65536) its fp16 gradients overflow, so the scaler must back off."""
    return 100.0 * (pred - depth)[valid].abs().mean()


def _fp16_run(out_dir, steps=12, callbacks=(), resume=False):
    model = tiny_net()
    cfg = config(out_dir, steps=steps, lr=3e-3, amp="fp16", checkpoint_every=3, resume=resume)
    with warnings.catch_warnings():      # a skipped step: PyTorch notes the schedule stepped without the optimizer
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
        fit(model, ToyDepth(), None, large_l1, cfg, callbacks=callbacks)
    return model


def test_fp16_steps_that_overflow_are_skipped_and_the_scale_backs_off(tmp_path, fp16_on_cpu):
    """Each overflowing step halves the scale and leaves the weights alone; the others are taken.

    So (steps taken) = 12 - (halvings) = 12 - log2(65536 / final scale), and every weight stays finite.
    Measured here: 6 halvings (scale 1024), 6 steps taken.
    """
    model = _fp16_run(tmp_path)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    scale = ckpt["scaler"]["scale"]
    halvings = round(np.log2(65536.0 / scale))
    assert 2.0 ** halvings * scale == 65536.0 and 1 <= halvings < 12, ckpt["scaler"]
    taken = {int(s["step"]) for s in ckpt["optimizer"]["state"].values()}
    assert taken == {12 - halvings}, (taken, halvings)
    assert ckpt["scaler"]["_growth_tracker"] == 12 - halvings       # successful steps since the last halving
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not torch.equal(model.body[0].weight, tiny_net().body[0].weight)


def test_fp16_resume_restores_the_scaler(tmp_path, fp16_on_cpu):
    """Interrupted at step 7 (last.pt at 6) and resumed: the same weights and the same scaler state as the
    straight run. A resume that started the scaler afresh (scale 65536) would overflow and skip steps again."""
    class CrashAt7:
        def on_step(self, state):
            if state.step == 7:
                raise KeyboardInterrupt("simulated crash")

    straight = _fp16_run(tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        _fp16_run(tmp_path / "resumed", callbacks=[CrashAt7()])
    interrupted = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert interrupted["step"] == 6 and interrupted["scaler"]["scale"] < 65536.0
    resumed = _fp16_run(tmp_path / "resumed", resume=True)
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert a["scaler"] == b["scaler"]
    for (name, x), y in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(x, y), f"{name} differs after resume"

