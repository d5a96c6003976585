"""fit() on the CPU: it learns, validates, selects, stops early, logs, and speaks clearly when it cannot go on."""
import csv
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.data import SyntheticRooms, heldout_rooms
from course_lib.data.cached import CachedSamples
from course_lib.errors import CourseError
from course_lib.losses import build_loss
from course_lib.models import build_model, predict
from course_lib import environment
from course_lib.distributed import DistInfo
from course_lib.train import (LivePlot, TrainConfig, build_scheduler, fit, load_checkpoint, load_model, prepare_model,
                              resolve_amp, resolve_channels_last)

SIZE = (40, 56)


@pytest.fixture(scope="module")
def rooms():
    # Renderer 1's rooms (flat light, plain walls, no doorways): the loop is under test here, and 60 steps
    # of a tiny U-Net learn them clearly; on the default rooms, most of them lit like photos and going on
    # beyond a doorway, the same 60 steps barely move abs_rel.
    return (CachedSamples(SyntheticRooms(48, size=SIZE, seed=3, photo_light=0, surfaces=0, doorways=0)),
            CachedSamples(heldout_rooms(8, size=SIZE, photo_light=0, surfaces=0, doorways=0)))


def abs_rel_by_hand(model, dataset):
    """mean over images of mean(|pred - gt| / gt) over valid pixels, written out independently of metrics.py."""
    values = []
    for item in dataset:
        pred = predict(model, item["image"][None])[0, 0].numpy()
        gt, valid = item["depth"][0].numpy(), item["valid"][0].numpy() & (item["depth"][0].numpy() > 1e-3)
        values.append(np.mean(np.abs(np.clip(pred[valid], 1e-3, 10) - gt[valid]) / gt[valid]))
    return float(np.mean(values))


def small_unet():
    torch.manual_seed(0)
    return build_model("unet", base_channels=8, depth=3)


def test_short_training_lowers_loss_and_heldout_error(rooms, tmp_path):
    train, heldout = rooms
    model = small_unet()
    before = abs_rel_by_hand(model, heldout)
    config = TrainConfig(steps=60, batch_size=8, lr=1e-2, val_every=30, log_every=10, progress=False,
                         out_dir=str(tmp_path), device="cpu", warmup_steps=5)
    history = fit(model, train, heldout, build_loss("l1"), config)
    after = abs_rel_by_hand(model, heldout)

    assert history["loss"][-1] < 0.75 * history["loss"][0], history["loss"]
    assert after < 0.85 * before, (before, after)
    # the loop's own validation agrees with the by-hand figure (same weights after the last step)
    assert history["val_step"] == [30, 60]
    assert history["val_abs_rel"][-1] == pytest.approx(after, rel=1e-3)
    assert {"l1", "lr", "val_rmse", "val_d1", "val_loss"} <= set(history)

    # files: last.pt, best.pt and log.csv with one row per logged step, validation columns filled
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["step"] in (30, 60) and best["metrics"]["val_abs_rel"] == min(history["val_abs_rel"])
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["step"]) for r in rows] == list(range(10, 61, 10))
    assert float(rows[-1]["val_abs_rel"]) == pytest.approx(history["val_abs_rel"][-1])
    assert rows[0]["val_abs_rel"] == ""

    # load_model rebuilds the architecture from model_config and gives the same predictions
    rebuilt = load_model(tmp_path / "last.pt")
    x = heldout[0]["image"][None]
    assert torch.allclose(predict(rebuilt, x), predict(model, x))


def test_schedules_warm_up_then_follow_their_shape():
    def lrs(schedule, warmup, steps=20):
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = build_scheduler(opt, TrainConfig(schedule=schedule, warmup_steps=warmup), steps)
        out = []
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    cosine = lrs("cosine", 4)
    assert cosine[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    # after the warm-up: 0.5 * (1 + cos(pi * t)), t = (step - 4) / 16
    assert cosine[12] == pytest.approx(0.5 * (1 + math.cos(math.pi * 8 / 16)))
    assert all(a >= b for a, b in zip(cosine[4:], cosine[5:]))
    assert lrs("constant", 0) == [1.0] * 20
    onecycle = lrs("onecycle", 5)
    assert max(onecycle) == pytest.approx(1.0) and onecycle.index(max(onecycle)) in (4, 5)
    assert onecycle[-1] < 1e-3


def test_early_stopping_ema_and_callbacks(rooms, tmp_path):
    train, heldout = rooms
    events = []

    class Recorder:
        def on_step(self, state):
            events.append(("step", state.step))

        def on_validation(self, state):
            events.append(("val", state.step))

        def on_end(self, state):
            events.append(("end", state.step))

    # lr 0 after the first steps: the metric cannot improve, so patience 2 stops at the 3rd validation
    # (in float32: bf16 rounding could move the figure either way)
    config = TrainConfig(steps=100, batch_size=4, lr=0.0, val_every=2, early_stopping="abs_rel", patience=2,
                         ema=0.5, progress=False, out_dir=str(tmp_path), device="cpu", log_every=2, amp="off")
    model = small_unet()
    history = fit(model, train, heldout, None, config, callbacks=[Recorder(), LivePlot()])
    assert history["val_step"] == [2, 4, 6]
    assert events[-1] == ("end", 6) and ("val", 4) in events and ("step", 1) in events
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["step"] == 6 and "ema" in ckpt and ckpt["best"]["step"] == 2


def test_encoder_learns_at_a_lower_rate(rooms, tmp_path):
    train, _ = rooms
    torch.manual_seed(0)
    model = build_model("resnet_unet", encoder="resnet18", pretrained=False)
    config = TrainConfig(steps=1, batch_size=2, lr=1e-3, encoder_lr_scale=0.1, schedule="constant",
                         val_every=None, progress=False, out_dir=str(tmp_path), device="cpu")
    fit(model, train, None, None, config)
    groups = load_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"]
    lrs = {g["name"]: g["lr"] for g in groups}
    encoder_lrs = [lr for name, lr in lrs.items() if name.startswith("encoder")]
    decoder_lrs = [lr for name, lr in lrs.items() if name.startswith("decoder")]
    assert encoder_lrs and decoder_lrs
    assert all(lr == pytest.approx(1e-4) for lr in encoder_lrs) and all(lr == pytest.approx(1e-3) for lr in decoder_lrs)


@pytest.mark.parametrize("options", [{"amp": "bf16"}, {"channels_last": True},
                                     {"compile": True, "compile_backend": "eager"}, {"grad_accum_steps": 2}],
                         ids=["bf16-cpu", "channels_last", "compile-eager", "accum"])
def test_speed_options_run_on_the_cpu(rooms, options):
    train, heldout = rooms
    model = small_unet()
    before = [p.detach().clone() for p in model.parameters()]
    config = TrainConfig(steps=2, batch_size=4, val_every=2, progress=False, device="cpu", **options)
    history = fit(model, train, heldout, None, config)
    assert math.isfinite(history["loss"][-1]) and math.isfinite(history["val_abs_rel"][-1])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_amp_choice_follows_the_device():
    assert resolve_amp("bf16", torch.device("cpu")) == torch.bfloat16
    assert resolve_amp("off", torch.device("cpu")) is None
    native_bf16 = environment.cpu_has_fast_bf16()
    assert resolve_amp("auto", torch.device("cpu")) == (torch.bfloat16 if native_bf16 else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert resolve_amp("fp16", torch.device("cpu")) is None
    assert any("fp16" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="amp must be"):
        resolve_amp("fp8", torch.device("cpu"))


@pytest.mark.parametrize("native_bf16", [True, False], ids=["native-bf16-cpu", "avx2-cpu"])
def test_auto_precision_and_layout_follow_the_cpu(monkeypatch, native_bf16):
    """amp="auto": bf16 exactly where the CPU computes it natively; channels_last="auto": exactly under autocast."""
    monkeypatch.setattr(environment, "cpu_has_fast_bf16", lambda: native_bf16)
    cpu = torch.device("cpu")
    amp_dtype = resolve_amp("auto", cpu)
    assert amp_dtype == (torch.bfloat16 if native_bf16 else None)
    assert resolve_amp("bf16", cpu) == torch.bfloat16 and resolve_amp("off", cpu) is None   # explicit values as asked
    config = TrainConfig()
    assert config.amp == "auto" and config.channels_last == "auto"
    assert resolve_channels_last(config.channels_last, amp_dtype) is native_bf16
    model = prepare_model(nn.Conv2d(3, 4, 3), config, DistInfo(device=cpu), amp_dtype)
    assert model.weight.is_contiguous(memory_format=torch.channels_last) is native_bf16


def test_channels_last_choice():
    assert resolve_channels_last("auto", torch.bfloat16) and resolve_channels_last("auto", torch.float16)
    assert not resolve_channels_last("auto", None)
    assert resolve_channels_last(True, None) and not resolve_channels_last(False, torch.bfloat16)
    with pytest.raises(ValueError, match="channels_last must be"):
        resolve_channels_last("yes", None)


def test_tensorboard_logs_are_written(rooms, tmp_path):
    import tensorboard  # noqa: F401  (installed with [dev]; fit only warns without it, so import it here)
    train, _ = rooms
    fit(small_unet(), train, None, None, TrainConfig(steps=2, batch_size=4, log_every=1, tensorboard=True,
                                                     progress=False, out_dir=str(tmp_path), device="cpu"))
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


class RaisesOOM(nn.Module):
    output_stride = 1

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)

    def forward(self, x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_becomes_advice(rooms):
    train, _ = rooms
    with pytest.raises(CourseError, match="ran out of memory.*batch_size.*amp.*channels_last"):
        fit(RaisesOOM(), train, None, None, TrainConfig(steps=1, batch_size=2, progress=False, device="cpu"))


def test_diverging_loss_is_reported(rooms):
    train, _ = rooms

    def nan_loss(pred, target, valid=None):
        return pred.mean() * float("nan")

    with pytest.raises(CourseError, match="loss became nan"):
        fit(small_unet(), train, None, nan_loss, TrainConfig(steps=2, batch_size=2, log_every=1, progress=False,
                                                            device="cpu"))


def test_too_small_a_training_set_is_refused():
    with pytest.raises(CourseError, match="fewer than one batch"):
        fit(small_unet(), CachedSamples(SyntheticRooms(2, size=(16, 16))), None, None,
            TrainConfig(steps=1, batch_size=4, progress=False, device="cpu"))


# ----------------------------------------------------------------------------- on a GPU (skipped without one)

@pytest.mark.cuda
@pytest.mark.parametrize("options", [{"amp": "fp16"}, {"amp": "bf16"}, {"amp": "bf16", "channels_last": True},
                                     {"amp": "bf16", "channels_last": True, "compile": True}],
                         ids=["fp16", "bf16", "bf16-channels_last", "bf16-channels_last-compile"])
def test_gpu_training_steps(rooms, tmp_path, options):
    train, heldout = rooms
    model = small_unet()
    config = TrainConfig(steps=6, batch_size=4, val_every=3, log_every=1, progress=False, device="cuda",
                         out_dir=str(tmp_path), checkpoint_every=3, **options)
    history = fit(model, train, heldout, build_loss("l1=0.1,ssim=1,grad_l1=1"), config)
    assert all(math.isfinite(v) for v in history["loss"]) and math.isfinite(history["val_abs_rel"][-1])
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in ckpt["model"])
    if options["amp"] == "fp16":
        assert ckpt["scaler"] and ckpt["scaler"]["scale"] > 0        # the GradScaler ran and was saved
    assert next(iter(ckpt["model"].values())).device.type == "cpu"    # loaded with map_location="cpu"


@pytest.mark.cuda
def test_gpu_resume_is_exact_for_a_deterministic_model(rooms, tmp_path):
    """BatchNorm and bf16 on the GPU; cuDNN may pick non-deterministic kernels, so allow a tiny tolerance."""
    train, _ = rooms
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False

    def run(out, steps_before_crash=None, resume=False):
        model = small_unet()

        class Crash:
            def on_step(self, state):
                if steps_before_crash and state.step == steps_before_crash:
                    raise KeyboardInterrupt

        config = TrainConfig(steps=8, batch_size=4, val_every=None, progress=False, device="cuda", amp="bf16",
                             out_dir=str(out), checkpoint_every=4, resume=resume)
        fit(model, train, None, None, config, callbacks=[Crash()])
        return model

    straight = run(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", steps_before_crash=5)
    resumed = run(tmp_path / "b", resume=True)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5)
