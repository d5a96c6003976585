"""Losses against numpy implementations of their formulas, plus the properties the lessons rely on."""
import math

import numpy as np
import pytest
import torch

from course_lib import losses as L
from course_lib.errors import PretrainedWeightsUnavailable

POINTWISE = ["l1", "mse", "berhu", "silog", "silog_bts", "log_rmse", "hu_depth"]
SOBEL = ["grad", "grad_l1", "normal"]
ALL = POINTWISE + SOBEL + ["ssim"]


def make_pair(seed=0, shape=(2, 1, 12, 14), holes=0.2):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g, dtype=torch.float64) * 8 + 0.5
    target[torch.rand(shape, generator=g) < holes] = 0.0
    pred = (target.clamp(min=1.0) * (0.7 + 0.6 * torch.rand(shape, generator=g, dtype=torch.float64)))
    return pred.float(), target.float()


# ----------------------------------------------------------------------------- numpy references

def valid_pairs(pred, target):
    p, t = pred.double().numpy().ravel(), target.double().numpy().ravel()
    keep = t > 0
    return p[keep], t[keep]


def ref_pointwise(name, pred, target):
    p, t = valid_pairs(pred, target)
    e = p - t
    d = np.log(p) - np.log(t)
    if name == "l1":
        return np.mean(np.abs(e))
    if name == "mse":
        return np.mean(e ** 2)
    if name == "berhu":
        c = 0.2 * np.max(np.abs(e))
        return np.mean([abs(x) if abs(x) <= c else (x * x + c * c) / (2 * c) for x in e])
    if name == "silog":   # per image, lambda 0.5, then the mean over images
        values = []
        for b in range(pred.shape[0]):
            pb, tb = valid_pairs(pred[b], target[b])
            db = np.log(pb) - np.log(tb)
            values.append(np.mean(db ** 2) - 0.5 * np.mean(db) ** 2)
        return np.mean(values)
    if name == "silog_bts":
        return 10 * np.sqrt(np.mean(d ** 2) - 0.85 * np.mean(d) ** 2)
    if name == "log_rmse":
        return np.sqrt(np.mean(d ** 2))
    if name == "hu_depth":
        return np.mean(np.log(np.abs(e) + 0.5) - np.log(0.5))
    raise KeyError(name)


def ref_sobel(img):
    """Sobel derivatives over the interior, written as explicit sums."""
    h, w = img.shape
    kx = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    dx, dy = np.zeros((h - 2, w - 2)), np.zeros((h - 2, w - 2))
    for i in range(1, h - 1):
        for j in range(1, w - 1):
            for a in range(3):
                for b in range(3):
                    dx[i - 1, j - 1] += kx[a][b] * img[i - 1 + a, j - 1 + b]
                    dy[i - 1, j - 1] += kx[b][a] * img[i - 1 + a, j - 1 + b]
    return dx, dy


def ref_sobel_loss(name, pred, target):
    values = []
    for b in range(pred.shape[0]):
        p, t = pred[b, 0].double().numpy(), target[b, 0].double().numpy()
        ok = t > 0
        h, w = t.shape
        support = np.array([[ok[i - 1:i + 2, j - 1:j + 2].all() for j in range(1, w - 1)] for i in range(1, h - 1)])
        if name == "normal":
            (pdx, pdy), (tdx, tdy) = ref_sobel(p), ref_sobel(t)
            for i, j in zip(*np.where(support)):
                n1 = np.array([-pdx[i, j], -pdy[i, j], 1.0])
                n2 = np.array([-tdx[i, j], -tdy[i, j], 1.0])
                values.append(1 - n1 @ n2 / np.linalg.norm(n1) / np.linalg.norm(n2))
        else:
            dx, dy = ref_sobel(p - t)
            for i, j in zip(*np.where(support)):
                if name == "grad":
                    values.append(np.log(abs(dx[i, j]) + 0.5) + np.log(abs(dy[i, j]) + 0.5) - 2 * np.log(0.5))
                else:
                    values.append(abs(dx[i, j]) + abs(dy[i, j]))
    return np.mean(values)


@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_losses_match_formula(name):
    pred, target = make_pair(1)
    got = L.make_loss(name)(pred, target)
    assert got.dtype == torch.float32 and got.ndim == 0
    assert float(got) == pytest.approx(ref_pointwise(name, pred, target), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", SOBEL)
def test_sobel_losses_match_formula(name):
    pred, target = make_pair(2, holes=0.05)
    got = float(L.make_loss(name)(pred, target))
    assert got == pytest.approx(ref_sobel_loss(name, pred, target), rel=1e-4, abs=1e-6)


def test_accepts_b_h_w_and_explicit_mask():
    pred, target = make_pair(3)
    valid = target > 0
    for name in ALL:
        a = L.make_loss(name)(pred, target)
        b = L.make_loss(name)(pred[:, 0], target[:, 0], valid[:, 0])
        assert torch.allclose(a, b), name


def test_explicit_mask_excludes_more_pixels():
    pred, target = make_pair(4, holes=0.0)
    valid = torch.zeros_like(target, dtype=torch.bool)
    valid[..., :6] = True
    expected = ref_pointwise("l1", pred[..., :6], target[..., :6])
    assert float(L.l1_loss(pred, target, valid)) == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------- properties

@pytest.mark.parametrize("name", ALL)
def test_minimum_at_perfect_prediction(name):
    _, target = make_pair(5, holes=0.0)
    value = float(L.make_loss(name)(target.clone(), target))
    assert value == pytest.approx(0.0, abs=1e-4)       # Hu's log terms too: their constant is subtracted


def test_hu_terms_have_the_papers_gradients():
    """Hu et al.'s log terms, written without the constant that makes them 0 at a perfect prediction, give
    exactly the same gradient: the subtracted ln(alpha) moves the value only."""
    pred, target = make_pair(9, holes=0.0)

    def papers_gradient_term(p, t):
        dx, dy, _ = L.sobel_gradients(p - t)
        return (torch.log(dx.abs() + 0.5) + torch.log(dy.abs() + 0.5)).mean()

    papers = {"hu_depth": lambda p, t: torch.log((p - t).abs() + 0.5).mean(), "grad": papers_gradient_term}
    for name, paper in papers.items():
        grads = []
        for fn in (L.make_loss(name), paper):
            p = pred.clone().requires_grad_(True)
            fn(p, target).backward()
            grads.append(p.grad)
        assert torch.allclose(grads[0], grads[1], rtol=1e-6, atol=1e-12), name
        constant = (1 if name == "hu_depth" else 2) * math.log(0.5)
        assert float(L.make_loss(name)(pred, target)) == pytest.approx(float(paper(pred, target)) - constant, rel=1e-6)


@pytest.mark.parametrize("name", ALL + ["perceptual"])
def test_finite_gradients_with_holes_and_perfect_pixels(name):
    pred, target = make_pair(6, holes=0.3)
    pred[0, 0, :3] = target[0, 0, :3].clamp(min=0.5)           # some exact pixels, some over holes
    pred.requires_grad_(True)
    loss = L.make_loss(name)(pred, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all(), name
    perfect = target.clone().clamp(min=0.5).requires_grad_(True)
    L.make_loss(name)(perfect, target).backward()
    assert torch.isfinite(perfect.grad).all(), name


@pytest.mark.parametrize("name", ALL)
def test_invalid_target_pixels_are_ignored(name):
    pred, target = make_pair(7, holes=0.25)
    valid = target > 0
    changed = target.clone()
    changed[~valid] = torch.rand(int((~valid).sum())) * 100 + 0.1
    grads = []
    for t in (target, changed):
        p = pred.clone().requires_grad_(True)
        loss = L.make_loss(name)(p, t, valid)
        loss.backward()
        grads.append((float(loss.detach()), p.grad.clone()))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6, abs=1e-7)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-7)


@pytest.mark.parametrize("name", POINTWISE + SOBEL)
def test_invalid_pred_pixels_are_ignored(name):
    pred, target = make_pair(8, holes=0.25)
    valid = target > 0
    changed = pred.clone()
    changed[~valid] = torch.rand(int((~valid).sum())) * 50 + 0.1
    a, b = L.make_loss(name)(pred, target), L.make_loss(name)(changed, target)
    assert float(a) == pytest.approx(float(b), rel=1e-6, abs=1e-7)


def test_no_valid_pixel_gives_zero_with_gradient():
    pred = torch.rand(1, 1, 8, 8, requires_grad=True)
    target = torch.zeros(1, 1, 8, 8)
    for name in ALL:
        loss = L.make_loss(name)(pred, target)
        loss.backward()
        assert float(loss.detach()) == 0.0 and torch.isfinite(pred.grad).all(), name


def test_berhu_continuous_at_c():
    c = torch.tensor(0.7, dtype=torch.float64)
    eps = 1e-9
    below = L.berhu_penalty(torch.tensor(0.7 - eps, dtype=torch.float64), c)
    above = L.berhu_penalty(torch.tensor(0.7 + eps, dtype=torch.float64), c)
    at = L.berhu_penalty(torch.tensor(0.7, dtype=torch.float64), c)
    assert float(below) == pytest.approx(0.7, abs=1e-8)
    assert float(above) == pytest.approx(0.7, abs=1e-8) and float(at) == pytest.approx(0.7)
    # L1 below c, quadratic above
    assert float(L.berhu_penalty(torch.tensor(0.3), 0.7)) == pytest.approx(0.3)
    assert float(L.berhu_penalty(torch.tensor(1.4), 0.7)) == pytest.approx((1.96 + 0.49) / 1.4)


def test_silog_invariant_to_global_scale_at_lambda_one():
    pred, target = make_pair(9)
    a = L.silog_loss(pred, target, lam=1.0)
    b = L.silog_loss(pred * 2.5, target, lam=1.0)
    assert float(a) == pytest.approx(float(b), rel=1e-4, abs=1e-6)
    c = L.silog_loss(pred * 2.5, target, lam=0.5)
    assert float(c) > float(L.silog_loss(pred, target, lam=0.5)) + 0.1


def test_ssim_matches_kornia():
    import kornia            # installed with the course ([dev]): a broken kornia fails here instead of skipping
    g = torch.Generator().manual_seed(10)
    for max_val in (1.0, 10.0):
        x = torch.rand(2, 1, 32, 40, generator=g) * max_val
        y = (x + 0.2 * max_val * torch.rand(2, 1, 32, 40, generator=g)).clamp(0, max_val)
        ours = L.ssim_map(x, y, max_val=max_val)
        theirs = kornia.metrics.ssim(x, y, 11, max_val=float(max_val))
        assert (ours - theirs).abs().max() < 1e-4
        loss = L.ssim_loss(x + 0.01, y + 0.01, max_val=max_val)      # + 0.01: every pixel valid
        expected = ((1 - kornia.metrics.ssim(x + 0.01, y + 0.01, 11, max_val=float(max_val))) / 2).mean()
        assert float(loss) == pytest.approx(float(expected), abs=1e-4)


def test_normal_loss_grows_with_tilt():
    h, w = 16, 20
    x = torch.arange(w, dtype=torch.float32).expand(h, w)
    flat = torch.full((1, 1, h, w), 3.0)
    assert float(L.normal_loss(flat, flat)) == pytest.approx(0.0, abs=1e-7)
    values = [float(L.normal_loss(3.0 + a * x[None, None], flat)) for a in (0.0, 0.01, 0.03, 0.06, 0.1, 0.2)]
    assert values[0] == pytest.approx(0.0, abs=1e-7)
    assert all(b > a for a, b in zip(values, values[1:])), values
    # against the closed form: tilted normal (-8a, 0, 1) vs (0, 0, 1)
    a = 0.1
    assert values[4] == pytest.approx(1 - 1 / math.sqrt(1 + (8 * a) ** 2), rel=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_autocast_bfloat16_returns_float32(name):
    pred, target = make_pair(11)
    reference = L.make_loss(name)(pred, target)
    identity = torch.nn.Conv2d(1, 1, 1)
    with torch.no_grad():
        identity.weight.fill_(1.0), identity.bias.zero_()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        pred_bf16 = identity(pred)                         # a network output under autocast: bfloat16
        assert pred_bf16.dtype == torch.bfloat16
        value = L.make_loss(name)(pred_bf16, target)
    assert value.dtype == torch.float32
    assert float(value.detach()) == pytest.approx(float(reference), rel=2e-2, abs=1e-2)
    # computed in float32 from the bfloat16 values, not in bfloat16
    exact = L.make_loss(name)(pred_bf16.detach().float(), target)
    assert float(value.detach()) == pytest.approx(float(exact), rel=1e-5, abs=1e-6)


# ----------------------------------------------------------------------------- combination

def test_combined_loss_is_weighted_sum():
    pred, target = make_pair(12)
    weights = {"l1": 0.1, "ssim": 1.0, "grad": 2.0, "silog": 0.5}
    total, parts = L.CombinedLoss(weights)(pred, target)
    expected = sum(w * float(L.make_loss(k)(pred, target)) for k, w in weights.items())
    assert float(total) == pytest.approx(expected, rel=1e-5)
    assert set(parts) == set(weights) and all(isinstance(v, float) for v in parts.values())
    assert parts["l1"] == pytest.approx(ref_pointwise("l1", pred, target), rel=1e-5)


def test_build_loss_specs():
    assert L.build_loss("silog").weights == {"silog": 1.0}
    assert L.build_loss("l1=0.1,ssim=1.0,grad=1.0").weights == {"l1": 0.1, "ssim": 1.0, "grad": 1.0}
    assert L.build_loss({"l1": 1, "mse": 2}).weights == {"l1": 1.0, "mse": 2.0}
    spec = {"weights": {"silog": 1.0}, "options": {"silog": {"lam": 1.0}}}
    pred, target = make_pair(13)
    total, _ = L.build_loss(spec)(pred, target)
    assert float(total) == pytest.approx(float(L.silog_loss(pred, target, lam=1.0)))
    with pytest.raises(ValueError, match="berhu"):                  # the message lists valid names
        L.build_loss("l1=1,bogus=2")
    with pytest.raises(ValueError, match="not a number"):
        L.build_loss("l1=abc")
    assert "ssim" in L.list_losses() and "perceptual" in L.list_losses()


def test_densedepth_preset():
    pred, target = make_pair(14)
    total, parts = L.DenseDepthLoss()(pred, target)
    same, _ = L.CombinedLoss({"l1": 0.1, "ssim": 1.0, "grad_l1": 1.0}, {"ssim": {"max_val": 10.0}})(pred, target)
    assert float(total) == pytest.approx(float(same))
    assert float(L.build_loss("densedepth")(pred, target)[0]) == pytest.approx(float(total))
    assert set(parts) == {"l1", "ssim", "grad_l1"}


def test_losses_refuse_to_broadcast_and_match_size():
    pred = torch.rand(2, 1, 6, 8) + 1
    target = torch.rand(2, 1, 12, 16) + 1
    with pytest.raises(ValueError, match="match_size"):
        L.l1_loss(pred, target)
    up, t, v = L.match_size(pred, target)
    assert up.shape == target.shape and v.all()
    assert torch.allclose(up, torch.nn.functional.interpolate(pred, size=(12, 16), mode="bilinear"))
    total, _ = L.CombinedLoss({"l1": 1.0})(pred, target)
    assert float(total) == pytest.approx(float(L.l1_loss(up, target)))


def test_match_size_downsample_target_masked_average():
    target = torch.tensor([[[[1.0, 3.0, 0.0, 0.0],
                             [0.0, 2.0, 0.0, 0.0]]]])
    pred = torch.ones(1, 1, 1, 2)
    _, small, valid = L.match_size(pred, target, mode="downsample_target")
    assert small.shape == (1, 1, 1, 2)
    assert float(small[0, 0, 0, 0]) == pytest.approx(2.0)     # mean of 1, 3, 2 (the hole not counted)
    assert valid.tolist() == [[[[True, False]]]] and float(small[0, 0, 0, 1]) == 0.0
    with pytest.raises(ValueError, match="integer"):
        L.match_size(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 4, 4), mode="downsample_target")


# ----------------------------------------------------------------------------- perceptual

def test_perceptual_loss_random_frozen_features():
    loss_fn = L.PerceptualLoss("vgg16.relu2_2", weights=None)
    assert not any(p.requires_grad for p in loss_fn.parameters())
    target = torch.rand(1, 1, 32, 32) * 5 + 1
    assert float(loss_fn(target.clone(), target)) == pytest.approx(0.0, abs=1e-8)
    pred = (target * 1.3).requires_grad_(True)
    value = loss_fn(pred, target)
    value.backward()
    assert float(value.detach()) > 0 and pred.grad.abs().sum() > 0
    resnet = L.PerceptualLoss("resnet18.layer1")
    assert float(resnet(target * 1.3, target)) > 0
    with pytest.raises(ValueError, match="vgg16.relu3_3"):
        L.PerceptualLoss("vgg99.relu1")


def test_perceptual_loss_pretrained_unavailable_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))              # an empty cache
    with pytest.raises(PretrainedWeightsUnavailable, match="weights=None"):
        L.PerceptualLoss("vgg16.relu2_2", weights="DEFAULT")
    with pytest.raises(PretrainedWeightsUnavailable, match="does not exist"):
        L.PerceptualLoss("vgg16.relu2_2", weights=tmp_path / "missing.pth")


def test_perceptual_loss_loads_weights_from_path(tmp_path):
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    torch.save(net.state_dict(), tmp_path / "r18.pth")
    loss_fn = L.PerceptualLoss("resnet18.layer1", weights=tmp_path / "r18.pth")
    assert torch.equal(loss_fn.features[0].weight, net.conv1.weight)


def test_upsample_like_follows_the_model_contract():
    # a stride-4 output of a 30x42 input is ceil(30/4) x ceil(42/4) = 8 x 11: upsample by 4, then crop
    small = torch.rand(1, 1, 8, 11)
    up = L.upsample_like(small, (30, 42))
    by_four = torch.nn.functional.interpolate(small, scale_factor=4, mode="bilinear")[..., :30, :42]
    assert up.shape == (1, 1, 30, 42) and torch.allclose(up, by_four)
    # any other size: a plain resize
    odd = torch.rand(1, 1, 7, 9)
    assert torch.allclose(L.upsample_like(odd, (30, 42)),
                          torch.nn.functional.interpolate(odd, size=(30, 42), mode="bilinear"))
