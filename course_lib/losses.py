"""Every loss the lessons teach, each with a validity mask, computed in float32.

All losses take `pred` and `target` depth in metres, shape (B, 1, H, W) or (B, H, W), and an optional
bool mask `valid` of the same shape (default: `target > 0` and finite). Pixels outside the mask do not
change the value or the gradient. Inside an autocast region the inputs are cast to float32 and the
loss runs with autocast switched off: a loss summed over a million pixels in bfloat16 is too coarse.

A loss never broadcasts a small prediction onto a larger target: use `match_size` (CombinedLoss does).

Lessons: 03 (L1, MSE), 05 (BerHu, scale-invariant, gradient and normal losses), 09 (SSIM,
perceptual, the DenseDepth loss). A batch without any valid pixel gives a loss of 0 that still has a
(zero) gradient, so one empty crop does not stop a training run.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import PretrainedWeightsUnavailable

MIN_PRED_M = 1e-3  # predictions are clamped to this before a logarithm (the metrics' min_depth)


# ----------------------------------------------------------------------------- shared plumbing

def _as_b1hw(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.ndim == 3:
        return x.unsqueeze(1)
    if x.ndim == 4 and x.shape[1] == 1:
        return x
    raise ValueError(f"{name} must have shape (B, 1, H, W) or (B, H, W), got {tuple(x.shape)}")


def _prepare(pred, target, valid):
    """float32 (B, 1, H, W) pred and target, bool valid; target is 1.0 where invalid (safe for logs)."""
    pred = _as_b1hw(pred, "pred").float()
    target = _as_b1hw(target, "target").float()
    if pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in size; losses never "
            "broadcast. Resize with course_lib.losses.match_size(pred, target, valid) or predict at the "
            "target size (CombinedLoss does this for you).")
    ok = torch.isfinite(target) & (target > 0)
    valid = ok if valid is None else (_as_b1hw(valid, "valid").bool() & ok)
    target = torch.where(valid, target, torch.ones_like(target))
    return pred, target, valid


def full_precision(fn):
    """Decorator: run a loss on float32 inputs with autocast disabled (lesson 11, mixed precision)."""
    @functools.wraps(fn)
    def wrapper(pred, target, valid=None, **kwargs):
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred, target, valid = _prepare(pred, target, valid)
            return fn(pred, target, valid, **kwargs)
    return wrapper


def masked_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of `x` over the True pixels of `valid`; 0 (with a gradient) when there are none."""
    total = torch.where(valid, x, torch.zeros_like(x)).sum()
    return total / valid.sum().clamp(min=1)


def _safe_log(pred: torch.Tensor) -> torch.Tensor:
    return torch.log(pred.clamp(min=MIN_PRED_M))


def _safe_sqrt(x: torch.Tensor, floor: float = 1e-12) -> torch.Tensor:
    """sqrt(x), but 0 with a zero (not NaN) gradient where x <= floor, e.g. at a perfect prediction."""
    positive = x > floor
    return torch.where(positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))), torch.zeros_like(x))


# ----------------------------------------------------------------------------- pointwise losses

@full_precision
def l1_loss(pred, target, valid=None):
    """Mean absolute error over valid pixels: mean(|pred - gt|), metres. (Lesson 03.)"""
    return masked_mean((pred - target).abs(), valid)


@full_precision
def mse_loss(pred, target, valid=None):
    """Mean squared error over valid pixels: mean((pred - gt)^2), square metres. (Lesson 03.)"""
    return masked_mean((pred - target) ** 2, valid)


def berhu_penalty(abs_err: torch.Tensor, c) -> torch.Tensor:
    """The reverse Huber of |e|: |e| if |e| <= c, else (e^2 + c^2) / (2c). Continuous at |e| = c."""
    c = torch.as_tensor(c, dtype=abs_err.dtype, device=abs_err.device).clamp(min=1e-12)
    return torch.where(abs_err <= c, abs_err, (abs_err ** 2 + c ** 2) / (2 * c))


@full_precision
def berhu_loss(pred, target, valid=None, c_fraction: float = 0.2):
    """BerHu (reverse Huber) loss, Laina et al. 2016 ("Deeper depth prediction with FCRNs", 3DV).

    L = mean(B(e)), e = pred - gt, B(e) = |e| if |e| <= c else (e^2 + c^2) / (2c),
    c = 0.2 * max |e| over the valid pixels of the batch (detached: c is a threshold, not a target).
    L1 for small errors, L2 for large ones. (Lesson 05.)
    """
    abs_err = (pred - target).abs()
    if not valid.any():
        return masked_mean(abs_err, valid)
    c = c_fraction * abs_err.detach()[valid].max()
    return masked_mean(berhu_penalty(abs_err, c), valid)


# ----------------------------------------------------------------------------- log-space losses

@full_precision
def silog_loss(pred, target, valid=None, lam: float = 0.5):
    """Scale-invariant log loss, Eigen, Puhrsch & Fergus 2014 ("Depth map prediction from a single image").

    Per image: L = mean(d^2) - lam * mean(d)^2, d = ln pred - ln gt over valid pixels; averaged over
    the images that have valid pixels. lam = 0 is the log MSE, lam = 1 is fully scale invariant (a
    global factor on pred changes nothing), Eigen trains with lam = 0.5. (Lesson 05.)
    """
    d = torch.where(valid, _safe_log(pred) - torch.log(target), torch.zeros_like(pred))
    n = valid.flatten(1).sum(1)                                        # (B,)
    mean_d = d.flatten(1).sum(1) / n.clamp(min=1)
    mean_d2 = (d ** 2).flatten(1).sum(1) / n.clamp(min=1)
    per_image = mean_d2 - lam * mean_d ** 2                            # (B,)
    has = n > 0
    return torch.where(has, per_image, torch.zeros_like(per_image)).sum() / has.sum().clamp(min=1)


@full_precision
def silog_bts_loss(pred, target, valid=None, lam: float = 0.85, scale: float = 10.0):
    """The BTS / AdaBins scale-invariant loss (Lee et al. 2019, BTS; Bhat et al. 2021, AdaBins).

    L = 10 * sqrt(mean(d^2) - 0.85 * mean(d)^2), d = ln pred - ln gt pooled over all valid pixels of
    the batch (as in the BTS code). The square root is taken as 0 below 1e-12 so that its gradient
    stays finite at a perfect prediction. (Lessons 05, 09.)
    """
    d = torch.where(valid, _safe_log(pred) - torch.log(target), torch.zeros_like(pred))
    n = valid.sum().clamp(min=1)
    var = (d ** 2).sum() / n - lam * (d.sum() / n) ** 2
    return scale * _safe_sqrt(var)


@full_precision
def log_rmse_loss(pred, target, valid=None):
    """Log-space RMSE: sqrt(mean((ln pred - ln gt)^2)); what the FPN depth model trains with. (Lesson 07.)"""
    d = _safe_log(pred) - torch.log(target)
    return _safe_sqrt(masked_mean(d ** 2, valid))


# ----------------------------------------------------------------------------- Hu et al. 2019

@full_precision
def hu_depth_loss(pred, target, valid=None, alpha: float = 0.5):
    """Depth term of Hu et al. 2019 ("Revisiting single image depth estimation", WACV).

    L = mean(ln(|e| + alpha) - ln(alpha)), e = pred - gt, alpha = 0.5. The paper's form has no "- ln(alpha)"
    and a minimum of ln 0.5 = -0.693; subtracting the constant changes no gradient and makes a perfect
    prediction score 0, as every other loss here does (a training curve can then be drawn on a log scale).
    (Lesson 05.)
    """
    return masked_mean(torch.log((pred - target).abs() + alpha) - math.log(alpha), valid)


_SOBEL_X = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])  # Hu et al.'s kernel


def sobel_gradients(depth: torch.Tensor, valid: torch.Tensor | None = None):
    """Sobel derivatives of (B, 1, H, W) depth over its interior: (dx, dy, valid_grad), each (B, 1, H-2, W-2).

    The kernel is Hu et al.'s unnormalised Sobel ([1, 0, -1], [2, 0, -2], [1, 0, -1]), so dx is 8 x the
    per-pixel slope. `valid_grad` is True only where all 9 pixels of the 3x3 support are valid
    (the mask eroded by one pixel); image borders have no full support and are dropped.
    """
    kx = _SOBEL_X.to(depth.device, depth.dtype).view(1, 1, 3, 3)
    dx = F.conv2d(depth, kx)                                           # (B, 1, H-2, W-2)
    dy = F.conv2d(depth, kx.transpose(2, 3))
    if valid is None:
        return dx, dy, torch.ones_like(dx, dtype=torch.bool)
    eroded = -F.max_pool2d(-valid.float(), 3, stride=1) > 0.5          # min-pool: all 9 valid
    return dx, dy, eroded


@full_precision
def gradient_loss(pred, target, valid=None, alpha: float = 0.5, kind: str = "hu"):
    """Loss on Sobel depth gradients of the error e = pred - gt (gradients valid only on fully valid 3x3 patches).

    kind="hu" (Hu et al. 2019, WACV): L = mean(ln(|de/dx| + alpha) + ln(|de/dy| + alpha) - 2 ln(alpha)),
    alpha = 0.5; the paper's form without "- 2 ln(alpha)" (the same gradients), so that a perfect
    prediction scores 0.
    kind="l1": L = mean(|de/dx| + |de/dy|), an L1 on gradient differences (DenseDepth, Alhashim &
    Wonka 2018, use this form with plain finite differences); minimum 0. (Lessons 05, 09.)
    """
    dx, dy, ok = sobel_gradients(pred - target, valid)
    if kind == "hu":
        return masked_mean(torch.log(dx.abs() + alpha) + torch.log(dy.abs() + alpha) - 2 * math.log(alpha), ok)
    if kind == "l1":
        return masked_mean(dx.abs() + dy.abs(), ok)
    raise ValueError(f"unknown gradient loss kind {kind!r}; use 'hu' or 'l1'")


def gradient_l1_loss(pred, target, valid=None):
    """gradient_loss(kind="l1"): mean(|de/dx| + |de/dy|) on Sobel derivatives. (Lesson 09.)"""
    return gradient_loss(pred, target, valid, kind="l1")


def normals_from_gradients(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Unit normals (-dx, -dy, 1) / norm from depth gradients: (B, 1, h, w) each -> (B, 3, h, w)."""
    n = torch.cat([-dx, -dy, torch.ones_like(dx)], dim=1)
    return n / n.norm(dim=1, keepdim=True)


@full_precision
def normal_loss(pred, target, valid=None):
    """Surface-normal loss of Hu et al. 2019 (WACV): L = mean(1 - cos(n_pred, n_gt)).

    n = (-dx, -dy, 1) normalised, dx, dy the Sobel depth gradients. A proxy for the true normal (which
    needs the intrinsics, see course_lib.geometry.normals_from_depth) that reacts to the orientation of
    surfaces rather than to their distance; valid only where the 3x3 support is fully valid. 0 for
    identical maps. (Lesson 05.)
    """
    pdx, pdy, ok = sobel_gradients(pred, valid)
    tdx, tdy, _ = sobel_gradients(target, None)
    cos = (normals_from_gradients(pdx, pdy) * normals_from_gradients(tdx, tdy)).sum(1, keepdim=True)
    return masked_mean(1 - cos, ok)


# ----------------------------------------------------------------------------- SSIM

def gaussian_window(size: int = 11, sigma: float = 1.5, device=None, dtype=torch.float32) -> torch.Tensor:
    """A normalised 1-D Gaussian of `size` taps (odd), as used by SSIM."""
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def ssim_map(x: torch.Tensor, y: torch.Tensor, max_val: float = 10.0, window_size: int = 11,
             sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity map of two (B, C, H, W) images (Wang et al. 2004), same size as the input.

    SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)), local
    statistics under a Gaussian window (11 taps, sigma 1.5), C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L =
    `max_val`, the data range (10 m for NYU depth). Borders are reflect-padded so the map keeps its size,
    as kornia.metrics.ssim(padding="same") does.
    """
    g = gaussian_window(window_size, sigma, x.device, x.dtype)
    c = x.shape[1]
    gx = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    gy = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    p = window_size // 2

    def blur(img):                                                     # separable Gaussian, per channel
        img = F.pad(img, (p, p, p, p), mode="reflect")
        return F.conv2d(F.conv2d(img, gx, groups=c), gy, groups=c)

    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)
    return num / den


@full_precision
def ssim_loss(pred, target, valid=None, max_val: float = 10.0):
    """SSIM loss (1 - SSIM) / 2 in [0, 1], averaged over valid pixels (Wang et al. 2004; used by
    DenseDepth, Alhashim & Wonka 2018).

    SSIM looks at 11x11 windows, so an invalid target pixel would leak into its neighbours: it is
    replaced by the (detached) prediction first, which makes the loss independent of what invalid
    pixels hold. `max_val` is the data range L in metres (10 for NYU). (Lesson 09.)
    """
    filled = torch.where(valid, target, pred.detach())
    return masked_mean((1 - ssim_map(pred, filled, max_val=max_val)) / 2, valid)


# ----------------------------------------------------------------------------- perceptual

_PERCEPTUAL_LAYERS = {
    # name -> (torchvision constructor, weights enum name, how to cut the network)
    "vgg16.relu1_2": ("vgg16", "VGG16_Weights", 4),
    "vgg16.relu2_2": ("vgg16", "VGG16_Weights", 9),
    "vgg16.relu3_3": ("vgg16", "VGG16_Weights", 16),
    "vgg16.relu4_3": ("vgg16", "VGG16_Weights", 23),
    "resnet18.layer1": ("resnet18", "ResNet18_Weights", "layer1"),
    "resnet18.layer2": ("resnet18", "ResNet18_Weights", "layer2"),
    "resnet18.layer3": ("resnet18", "ResNet18_Weights", "layer3"),
    "resnet34.layer2": ("resnet34", "ResNet34_Weights", "layer2"),
    "resnet50.layer2": ("resnet50", "ResNet50_Weights", "layer2"),
}


def _load_torchvision_state(arch: str, enum_name: str, weights):
    """A state dict from a path or from torch's cache ("DEFAULT"); never downloads."""
    import torchvision

    if isinstance(weights, (str, Path)) and str(weights) != "DEFAULT":
        path = Path(weights)
        if not path.is_file():
            raise PretrainedWeightsUnavailable(
                f"perceptual loss: weights file {path} does not exist; pass weights=None for random "
                "frozen features or the path of a torchvision checkpoint.")
        return torch.load(path, map_location="cpu", weights_only=True)
    enum = getattr(torchvision.models, enum_name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    if not cached.is_file():
        raise PretrainedWeightsUnavailable(
            f"perceptual loss: pretrained {arch} weights are not in the torch cache ({cached}) and this "
            "course never downloads during a loss; download them once with "
            f"torchvision.models.{arch}(weights='DEFAULT'), pass a weights path, or use weights=None.")
    return torch.load(cached, map_location="cpu", weights_only=True)


class PerceptualLoss(nn.Module):
    """Feature-space loss: mean((phi(pred) - phi(gt))^2) with phi a frozen torchvision encoder cut at `layer`.

    Johnson et al. 2016 ("Perceptual losses"), applied to depth maps as in lesson 09. A depth map is
    made an image by dividing by `max_depth`, clamping to [0, 1], repeating to 3 channels and
    ImageNet-normalising. Invalid target pixels are replaced by the detached prediction (features
    see whole neighbourhoods), and the feature difference is averaged over all feature positions.

    weights=None gives RANDOM frozen features (no download, still a useful multi-scale structure
    loss, but not what the papers mean); "DEFAULT" loads torchvision's pretrained weights from the
    torch cache, or a path loads a state dict; if they cannot be loaded, PretrainedWeightsUnavailable.
    Layers: see `PerceptualLoss.LAYERS`.
    """

    LAYERS = tuple(_PERCEPTUAL_LAYERS)

    def __init__(self, layer: str = "vgg16.relu2_2", weights=None, max_depth: float = 10.0):
        super().__init__()
        import torchvision

        if layer not in _PERCEPTUAL_LAYERS:
            raise ValueError(f"unknown perceptual layer {layer!r}; choose one of {', '.join(self.LAYERS)}")
        arch, enum_name, cut = _PERCEPTUAL_LAYERS[layer]
        state = None if weights is None else _load_torchvision_state(arch, enum_name, weights)
        if arch.startswith("vgg"):
            # only the convolutional part: building the 120M-parameter classifier would be wasted time
            from torchvision.models.vgg import cfgs, make_layers
            features = make_layers(cfgs["D"])
            if state is not None:
                features.load_state_dict({k[len("features."):]: v for k, v in state.items()
                                          if k.startswith("features.")})
            features = features[:cut]
        else:
            net = getattr(torchvision.models, arch)(weights=None)
            if state is not None:
                net.load_state_dict(state)
            names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
            features = nn.Sequential(*[getattr(net, n) for n in names[: names.index(cut) + 1]])
        self.features = features.eval().requires_grad_(False)
        self.layer, self.max_depth, self.pretrained = layer, max_depth, weights is not None
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def train(self, mode: bool = True):
        super().train(mode)
        self.features.eval()  # frozen batch-norm statistics, whatever the outer model does
        return self

    def _as_image(self, depth_m):                                      # (B, 1, H, W) -> (B, 3, H, W)
        x = (depth_m / self.max_depth).clamp(0, 1).repeat(1, 3, 1, 1)
        return (x - self.mean) / self.std

    def forward(self, pred, target, valid=None):
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred, target, valid = _prepare(pred, target, valid)
            filled = torch.where(valid, target, pred.detach())
            if not valid.any():
                return (pred * 0).sum()
            return F.mse_loss(self.features(self._as_image(pred)), self.features(self._as_image(filled)))


# ----------------------------------------------------------------------------- sizes

def upsample_like(pred: torch.Tensor, size_hw) -> torch.Tensor:
    """Bilinear upsampling (align_corners=False) of (B, 1, h, w) to size_hw = (H, W).

    When (h, w) = (ceil(H/s), ceil(W/s)) for an integer s, as the model contract gives, pred is
    upsampled by exactly s and cropped, like course_lib.models.predict; otherwise resized to (H, W).
    """
    (h, w), (H, W) = pred.shape[-2:], tuple(size_hw)
    s = math.ceil(H / h)
    if s > 1 and math.ceil(W / w) == s and h == math.ceil(H / s) and w == math.ceil(W / s):
        up = F.interpolate(pred, size=(h * s, w * s), mode="bilinear", align_corners=False)
        return up[..., :H, :W]
    return F.interpolate(pred, size=(H, W), mode="bilinear", align_corners=False)


def match_size(pred, target, valid=None, mode: str = "upsample_pred"):
    """Bring pred and target to one size; returns (pred, target, valid), each (B, 1, h, w).

    mode="upsample_pred" (the default, and what CombinedLoss does): pred is upsampled bilinearly to the
    target size (`upsample_like`, the same rule as models.predict), so the loss sees every
    ground-truth pixel. Simple and standard.
    mode="downsample_target": the target is reduced to the pred size by masked average pooling over
    each s x s block (only valid pixels are averaged; a block without any becomes invalid), which
    never invents depth where there was no measurement. Needs an integer factor s. (Lesson 07.)
    """
    pred, target = _as_b1hw(pred, "pred"), _as_b1hw(target, "target")
    if valid is None:
        valid = torch.isfinite(target) & (target > 0)
    valid = _as_b1hw(valid, "valid").bool()
    if pred.shape[-2:] == target.shape[-2:]:
        return pred, target, valid
    if mode == "upsample_pred":
        return upsample_like(pred, target.shape[-2:]), target, valid
    if mode == "downsample_target":
        (h, w), (H, W) = pred.shape[-2:], target.shape[-2:]
        if H % h or W % w or H // h != W // w:
            raise ValueError(f"target {H}x{W} is not an integer multiple of pred {h}x{w}; "
                             "use mode='upsample_pred'")
        s = H // h
        v = valid.to(target.dtype)
        summed = F.avg_pool2d(torch.where(valid, target, torch.zeros_like(target)), s) * s * s
        count = F.avg_pool2d(v, s) * s * s
        new_valid = count > 0.5
        return pred, torch.where(new_valid, summed / count.clamp(min=1), torch.zeros_like(summed)), new_valid
    raise ValueError(f"unknown match_size mode {mode!r}; use 'upsample_pred' or 'downsample_target'")


# ----------------------------------------------------------------------------- registry and combination

class _FunctionLoss(nn.Module):
    """Wraps a loss function and its keyword options as a module (so CombinedLoss can hold it)."""

    def __init__(self, fn, **options):
        super().__init__()
        self.fn, self.options = fn, options

    def forward(self, pred, target, valid=None):
        return self.fn(pred, target, valid, **self.options)

    def extra_repr(self):
        return f"{self.fn.__name__}, {self.options}"


LOSSES = {
    "l1": l1_loss,
    "mse": mse_loss,
    "berhu": berhu_loss,
    "silog": silog_loss,
    "silog_bts": silog_bts_loss,
    "log_rmse": log_rmse_loss,
    "hu_depth": hu_depth_loss,
    "grad": gradient_loss,          # Hu et al.'s log form
    "grad_l1": gradient_l1_loss,
    "normal": normal_loss,
    "ssim": ssim_loss,
    "perceptual": PerceptualLoss,
}

PRESETS = {
    "densedepth": {"l1": 0.1, "ssim": 1.0, "grad_l1": 1.0},
    "hu": {"hu_depth": 1.0, "grad": 1.0, "normal": 1.0},
}


def list_losses() -> list[str]:
    """The names build_loss and CombinedLoss accept (presets: 'densedepth', 'hu')."""
    return sorted(LOSSES)


def make_loss(name: str, **options) -> nn.Module:
    """One named loss as a module taking (pred, target, valid=None) -> scalar tensor."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(list_losses())} "
                         f"(presets: {', '.join(PRESETS)})")
    target = LOSSES[name]
    return target(**options) if isinstance(target, type) else _FunctionLoss(target, **options)


class CombinedLoss(nn.Module):
    """A weighted sum of named losses: total = sum_k w_k L_k; returns (total, {name: float value}).

    weights: {"l1": 0.1, "ssim": 1.0, "grad": 1.0}; options: keyword arguments per loss, e.g.
    {"ssim": {"max_val": 10.0}, "silog": {"lam": 0.85}}. The logged values are the UNWEIGHTED
    component losses (total = sum of weight x value). A prediction smaller than the target (models
    with output_stride 2 or 4) is first upsampled bilinearly to the target size (`match_size`,
    resize="upsample_pred"); resize="downsample_target" pools the target down instead. (Lesson 05.)
    """

    def __init__(self, weights: dict, options: dict | None = None, resize: str = "upsample_pred"):
        super().__init__()
        if not weights:
            raise ValueError("CombinedLoss needs at least one loss, e.g. {'l1': 1.0}")
        options = options or {}
        unknown = [k for k in list(weights) + list(options) if k not in LOSSES]
        if unknown:
            raise ValueError(f"unknown loss {unknown[0]!r}; valid names: {', '.join(list_losses())}")
        self.weights = {k: float(w) for k, w in weights.items()}
        self.losses = nn.ModuleDict({k: make_loss(k, **options.get(k, {})) for k in weights})
        self.resize = resize

    def forward(self, pred, target, valid=None):
        pred, target, valid = match_size(pred, target, valid, mode=self.resize)
        total, parts = 0.0, {}
        for name, loss_fn in self.losses.items():
            value = loss_fn(pred, target, valid)
            total = total + self.weights[name] * value
            parts[name] = float(value.detach())
        return total, parts

    def extra_repr(self):
        return ", ".join(f"{k}={w:g}" for k, w in self.weights.items())


class DenseDepthLoss(CombinedLoss):
    """Alhashim & Wonka 2018 ("High quality monocular depth estimation via transfer learning"):
    0.1 * L1 + (1 - SSIM) / 2 + L1 on depth gradients, SSIM with data range `max_depth` metres
    (the paper works on depth normalised to its 10 m range). The same as
    CombinedLoss({"l1": 0.1, "ssim": 1.0, "grad_l1": 1.0}, {"ssim": {"max_val": max_depth}}). (Lesson 09.)
    """

    def __init__(self, max_depth: float = 10.0, resize: str = "upsample_pred"):
        super().__init__(dict(PRESETS["densedepth"]), {"ssim": {"max_val": max_depth}}, resize=resize)


def build_loss(spec) -> CombinedLoss:
    """A CombinedLoss from a spec: a name ("silog"), a preset ("densedepth", "hu"), a weighted
    string ("l1=0.1,ssim=1.0,grad=1.0"), a dict of weights, or {"weights": ..., "options": ...}.

    >>> build_loss("l1=0.1,ssim=1").weights
    {'l1': 0.1, 'ssim': 1.0}
    """
    if isinstance(spec, CombinedLoss):
        return spec
    if isinstance(spec, dict):
        if "weights" in spec:
            return CombinedLoss(spec["weights"], spec.get("options"), spec.get("resize", "upsample_pred"))
        return CombinedLoss(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a loss spec is a name, 'name=weight,...' or a dict; got {spec!r}")
    text = spec.strip().lower()
    if text == "densedepth":
        return DenseDepthLoss()
    if text in PRESETS:
        return CombinedLoss(dict(PRESETS[text]))
    weights = {}
    for part in text.split(","):
        name, _, weight = part.strip().partition("=")
        try:
            weights[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"loss spec {spec!r}: weight {weight!r} of {name!r} is not a number") from None
    return CombinedLoss(weights)
