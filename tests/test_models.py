"""The model contract: every architecture, any input size, positive depth, documented output size."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.models import (DepthHead, build_model, depth_from_log, list_models, model_options,
                               model_summary, predict)
from course_lib.models.blocks import MAX_DEPTH_M, MIN_DEPTH_M, upsample_to_input

# Small versions of every model: CPU-friendly widths, resnet18 / densenet121 encoders, no downloads.
SMALL = {
    "unet": dict(base_channels=4, depth=3),
    "unet_bilinear": dict(base_channels=4, depth=3, up="bilinear"),
    "unet_pixelshuffle": dict(base_channels=4, depth=2, up="pixelshuffle"),
    "unet_transpose3": dict(base_channels=4, depth=3, transpose_kernel=3),
    "resnet_unet": dict(encoder="resnet18", decoder_channels=(32, 16, 16, 8)),
    "fpn": dict(encoder="resnet18", pyramid_channels=16, head_channels=8),
    "eigen": dict(fc_width=16),
    "densedepth": dict(encoder="densenet121", decoder_width=0.05),
}
STRIDES = {"unet": 1, "resnet_unet": 2, "fpn": 4, "eigen": 4, "densedepth": 2}


def small(key, seed=0):
    torch.manual_seed(seed)
    return build_model(key.split("_")[0] if key.startswith("unet") else key, **SMALL[key])


@pytest.fixture(scope="module")
def models():
    return {key: small(key) for key in SMALL}


def test_list_models():
    assert list_models() == ["unet", "resnet_unet", "fpn", "eigen", "densedepth"]


@pytest.mark.parametrize("key", list(SMALL))
def test_output_shape_positive_and_predict_size(models, key):
    model = models[key].eval()
    s = STRIDES[model.config["name"]]
    assert model.output_stride == s
    sizes = [(64, 64), (37, 50)] + ([(250, 333)] if key in ("unet", "resnet_unet", "eigen") else [])
    for h, w in sizes:
        x = torch.randn(2 if h < 100 else 1, 3, h, w)
        with torch.no_grad():
            y = model(x)
        assert y.shape == (x.shape[0], 1, math.ceil(h / s), math.ceil(w / s)), (key, h, w)
        assert torch.isfinite(y).all() and (y > 0).all()
        if h < 100:
            assert predict(model, x).shape == (x.shape[0], 1, h, w)


def test_eigen_internal_map_is_55x74_and_228x304_output_is_ceil_quarter(models):
    model = models["eigen"].eval()
    x = torch.randn(1, 3, 228, 304)
    with torch.no_grad():
        assert model.coarse(x).shape == (1, 1, 55, 74)
        assert model(x).shape == (1, 1, 57, 76)


def test_depth_head_rule():
    # exactly exp(raw) from 1 mm to 1 km, clamped outside (where the gradient is zero)
    raw = torch.tensor([-50.0, math.log(0.5), math.log(2.5), math.log(80.0), 50.0], requires_grad=True)
    depth = depth_from_log(raw)
    assert torch.allclose(depth, torch.tensor([MIN_DEPTH_M, 0.5, 2.5, 80.0, MAX_DEPTH_M]), rtol=1e-6)
    depth.sum().backward()
    assert torch.allclose(raw.grad, torch.tensor([0.0, 0.5, 2.5, 80.0, 0.0]), rtol=1e-6)  # d exp = exp
    head = DepthHead(8)
    with torch.no_grad():
        d = head(torch.zeros(1, 8, 5, 5))
    assert torch.allclose(d, torch.full_like(d, 2.5), rtol=1e-5)  # untrained: a room at 2.5 m


def test_predict_upsamples_by_stride_and_crops():
    # independent reference: a 2x2 map at stride 2 for a 3x3 image -> bilinear x2 = 4x4, keep 3x3
    depth = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    ref = F.interpolate(depth, scale_factor=2, mode="bilinear", align_corners=False)[..., :3, :3]
    assert torch.allclose(upsample_to_input(depth, (3, 3), 2), ref)

    class Const(nn.Module):  # a stride-2 model whose output we know
        output_stride = 2

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(()))

        def forward(self, x):
            return depth.expand(x.shape[0], 1, 2, 2) * self.w

    m = Const().train()
    out = predict(m, torch.zeros(3, 3, 3))
    assert out.shape == (1, 3, 3) and torch.allclose(out, ref[0]) and m.training
    with pytest.raises(ValueError, match="normalise"):
        predict(m, torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        predict(m, torch.zeros(1, 1, 4, 4))


@pytest.mark.parametrize("key", list(SMALL))
def test_every_parameter_gets_a_gradient(models, key):
    model = models[key].train()
    model.zero_grad()
    model(torch.randn(1, 3, 64, 64)).log().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing
    assert all(p.grad.abs().sum() > 0 for p in model.parameters())


def test_eigen_stages_decide_who_learns():
    model = small("eigen")
    x = torch.randn(1, 3, 64, 64)
    for stage, learns, frozen in (("coarse", model.coarse, model.fine), ("fine", model.fine, model.coarse),
                                  ("joint", model, None)):
        model.stage = stage
        model.train().zero_grad()
        model(x).mean().backward()
        assert all(p.grad is not None for p in learns.parameters()), stage
        if frozen is not None:
            assert all(p.grad is None for p in frozen.parameters()), stage
    model.freeze_coarse().train()
    assert model.stage == "fine" and not model.coarse.training and model.fine.training
    # the coarse stage outputs the coarse map: the fine network has no influence on it
    model.eval()
    for stage, fine_matters in (("coarse", False), ("joint", True)):
        model.stage = stage
        with torch.no_grad():
            before = model(x)
            model.fine.fine3.bias.add_(1.0)
            after = model(x)
            model.fine.fine3.bias.sub_(1.0)
        assert torch.allclose(before, after) != fine_matters, stage
    with pytest.raises(ValueError, match="coarse, fine, joint"):
        model.stage = "both"


def test_eval_is_deterministic_and_bn_stats_update_only_in_train(models):
    model = models["resnet_unet"]
    x = torch.randn(2, 3, 64, 64)
    bn = model.encoder.bn1
    model.eval()
    before = bn.running_mean.clone()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b) and torch.equal(bn.running_mean, before)
    model.train()
    with torch.no_grad():
        c = model(x)
    assert not torch.equal(bn.running_mean, before)
    assert not torch.allclose(a, c)  # batch statistics differ from running statistics


@pytest.mark.parametrize("key", ["unet", "resnet_unet", "fpn", "densedepth", "eigen"])
def test_channels_last_matches_contiguous(models, key):
    model = models[key].eval()
    x = torch.randn(1, 3, 32, 64)
    with torch.no_grad():
        ref = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(x.contiguous(memory_format=torch.channels_last))
        model.to(memory_format=torch.contiguous_format)
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_torch_compile_runs_a_model(models):
    model = models["unet"].eval()
    x = torch.randn(1, 3, 48, 64)
    compiled = torch.compile(model, backend="aot_eager")
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), rtol=1e-4, atol=1e-5)


def test_unknown_name_and_option_list_the_valid_ones():
    with pytest.raises(ValueError, match="unet, resnet_unet, fpn, eigen, densedepth"):
        build_model("vgg")
    with pytest.raises(ValueError, match=r"'width'.*base_channels, depth, up, transpose_kernel"):
        build_model("unet", width=3)
    with pytest.raises(ValueError, match="transpose, bilinear, pixelshuffle"):
        build_model("unet", up="nearest")
    with pytest.raises(ValueError, match="resnet18, resnet34"):
        build_model("fpn", encoder="resnet9")


@pytest.mark.parametrize("key", list(SMALL))
def test_config_round_trip(models, key):
    model = models[key]
    config = model.config
    assert set(config) == {"name"} | set(model_options(config["name"]))
    rebuilt = build_model(**config)
    assert rebuilt.config == config
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    rebuilt.load_state_dict(model.state_dict())  # what a checkpoint does


@pytest.mark.parametrize("name", ["unet", "resnet_unet", "fpn", "eigen", "densedepth"])
def test_defaults_build_and_keep_the_contract(name):
    # full-size default models on the meta device: no memory, no arithmetic, just the shapes
    with torch.device("meta"):
        model = build_model(name)
        y = model(torch.zeros(1, 3, 250, 333))
    s = STRIDES[name]
    assert y.shape == (1, 1, math.ceil(250 / s), math.ceil(333 / s))
    assert model.config["name"] == name and model.config.get("pretrained", False) is False
    if name == "eigen":
        assert model.config["fc_width"] == 4096


def test_unet_upsampling_variants():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 32, 32)
    for up, k in (("transpose", 2), ("transpose", 3), ("transpose", 4), ("bilinear", 2), ("pixelshuffle", 2)):
        model = build_model("unet", base_channels=4, depth=2, up=up, transpose_kernel=k)
        kinds = {type(m) for m in model.decoder.modules()}
        assert (nn.ConvTranspose2d in kinds) == (up == "transpose")
        if up == "transpose":
            assert model.decoder[0].up.kernel_size == (k, k)
        assert model(x).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="transpose_kernel"):
        build_model("unet", transpose_kernel=5)


def test_model_summary_against_flop_counter_and_hand_count():
    from torch.utils.flop_counter import FlopCounterMode
    model = small("resnet_unet").eval()
    s = model_summary(model, (64, 96), batch_size=2)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(2, 3, 64, 96))
    assert 2 * s.macs == counter.get_total_flops()  # the model has only convs (no linear, no matmul)
    assert s.output_shape == (2, 1, 32, 48)
    assert s.params == sum(p.numel() for p in model.parameters())
    assert s.gflops == pytest.approx(2 * s.macs / 1e9)
    # by hand: conv 3->4 3x3 on 8x8 = 64*4*27 MACs; linear 256->2 = 512 MACs
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(256, 2))
    s2 = model_summary(net, (8, 8), meta=False)
    assert s2.macs == 64 * 4 * 27 + 512
    # outputs: conv 4*8*8 floats (the in-place ReLU shares it), flatten 256, linear 2
    assert s2.activation_bytes == 4 * (256 + 256 + 2)
    assert "GFLOPs" in str(s2) and s2.to_dict()["params"] == 4 * 27 + 4 + 256 * 2 + 2


def test_saved_activation_bytes_counts_what_backward_keeps_and_scales_with_pixels():
    from course_lib.models.summary import saved_activation_bytes

    model = build_model("unet", base_channels=4, depth=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    small = saved_activation_bytes(model, (32, 32))
    large = saved_activation_bytes(model, (64, 64))
    double = saved_activation_bytes(model, (32, 32), batch_size=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())   # BN statistics untouched
    assert model.training and 3.6 < large / small < 4.4 and 1.8 < double / small < 2.2
    # at least the input image and the output of every conv is kept (float32)
    conv_out = model_summary(model, (32, 32)).activation_bytes
    assert small > 3 * 32 * 32 * 4 and small > 0.5 * conv_out
    # a single conv layer keeps exactly its input
    conv = torch.nn.Conv2d(3, 8, 3)
    assert saved_activation_bytes(conv, (10, 10)) == 3 * 10 * 10 * 4
