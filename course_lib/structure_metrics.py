"""Metrics of a depth map's structure, which per-pixel errors (abs_rel, delta1) barely see.

- `checkerboard_energy`: how much of a prediction's fine detail is a period-2 pattern, the
  fingerprint of stride-2 up-sampling layers (Odena et al. 2016). Lesson 04.
- `depth_edges`, `edge_f1`, `edge_sharpness`: where depth jumps, and whether a prediction jumps at the
  same places and as steeply: a depth-boundary precision / recall in the spirit of the iBims-1
  boundary errors (Koch et al. 2018), and the ratio of gradient magnitudes at true edges. Lesson 05.
- `normal_angle_error`: how well the surfaces between the edges are oriented. Lesson 05.

All take depth in metres, (B, 1, H, W) or (B, H, W) tensors (or one (H, W) array), and work on
log-depth, so that a room twice as far (or a prediction off by a global scale) scores the same.
They return one value per image.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .losses import sobel_gradients

MIN_DEPTH_M = 1e-3           # depth is clamped to this before the logarithm
EDGE_THRESHOLD = 0.1         # |grad ln depth| per pixel above which a pixel is a depth edge (a 10 % jump)
NYQUIST_HALF_WIDTH = 1 / 32  # cycles / pixel: how close to 0.5 a frequency must be to count as "checkerboard"


def _log_depth_b1hw(depth) -> torch.Tensor:
    d = torch.as_tensor(np.asarray(depth) if not torch.is_tensor(depth) else depth).float()
    if d.ndim == 2:
        d = d[None, None]
    elif d.ndim == 3:
        d = d.unsqueeze(1)
    if d.ndim != 4 or d.shape[1] != 1:
        raise ValueError(f"depth must be (H, W), (B, H, W) or (B, 1, H, W), got {tuple(d.shape)}")
    return torch.log(d.clamp(min=MIN_DEPTH_M))


def checkerboard_energy(depth, half_width: float = NYQUIST_HALF_WIDTH) -> torch.Tensor:
    """Share of a depth map's high-frequency energy that sits at the Nyquist frequency: (B,) in [0, 1].

    x = ln depth minus its mean, multiplied by a 2-D Hann window (so the image edges do not wrap
    around into a false jump). In its 2-D power spectrum |FFT(x)|^2, the *high band* is every
    frequency with max(|fy|, |fx|) >= 1/4 cycles per pixel, and the *checkerboard bins* are those within
    `half_width` of a Nyquist frequency 1/2 on one axis or both: (pi, pi), (pi, 0), (0, pi) in
    radians per pixel. Returns energy(checkerboard bins) / energy(high band).

    A pure period-2 pattern scores about 1; a smooth ramp about 0; white noise the share of bins
    (about 0.1 at 96 x 128); depth edges are broadband, so a clean room scores low. Lesson 04.
    """
    x = _log_depth_b1hw(depth)[:, 0]                                    # (B, H, W)
    h, w = x.shape[-2:]
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    window = torch.outer(torch.hann_window(h, periodic=False), torch.hann_window(w, periodic=False))
    power = torch.fft.fft2(x * window).abs() ** 2                       # (B, H, W)
    fy = torch.fft.fftfreq(h).abs().view(-1, 1).expand(h, w)           # cycles / pixel, 0 .. 0.5
    fx = torch.fft.fftfreq(w).abs().view(1, -1).expand(h, w)
    high = torch.maximum(fy, fx) >= 0.25
    near_y, near_x = fy >= 0.5 - half_width, fx >= 0.5 - half_width
    low_y, low_x = fy <= half_width, fx <= half_width
    checker = (near_y & near_x) | (near_y & low_x) | (low_y & near_x)
    return power[:, checker].sum(-1) / power[:, high].sum(-1).clamp(min=1e-20)


def log_depth_gradient(depth) -> torch.Tensor:
    """|grad ln depth| per pixel (Sobel, divided by 8 to be a per-pixel slope): (B, 1, H-2, W-2)."""
    dx, dy, _ = sobel_gradients(_log_depth_b1hw(depth))
    return torch.sqrt(dx ** 2 + dy ** 2) / 8


def depth_edges(depth, threshold: float = EDGE_THRESHOLD) -> torch.Tensor:
    """Bool (B, 1, H-2, W-2): pixels where ln depth changes by more than `threshold` per pixel.

    A plane seen at a slant changes ln depth by a few percent per pixel at the course's image sizes;
    an object boundary by tens of percent over one or two pixels. Lesson 05.
    """
    return log_depth_gradient(depth) > threshold


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    if radius <= 0:
        return mask
    return F.max_pool2d(mask.float(), 2 * radius + 1, stride=1, padding=radius) > 0.5


def edge_f1(pred, gt, threshold: float = EDGE_THRESHOLD, tolerance_px: int = 1) -> dict:
    """Depth-boundary precision, recall and F1 per image: {"precision", "recall", "f1"}, each (B,).

    Edges of both maps by `depth_edges`. precision = share of predicted edge pixels within
    `tolerance_px` (a square neighbourhood) of a true edge; recall = share of true edge pixels within
    `tolerance_px` of a predicted edge; F1 their harmonic mean. A blurred prediction moves ln depth
    gently across a boundary, so its slope stays under the threshold and recall falls. In the spirit of
    Koch et al. 2018 (iBims-1), who score boundaries by distances between edge maps. Lesson 05.
    """
    pe, ge = depth_edges(pred, threshold), depth_edges(gt, threshold)
    hit_p = (pe & _dilate(ge, tolerance_px)).flatten(1).sum(1).float()
    hit_g = (ge & _dilate(pe, tolerance_px)).flatten(1).sum(1).float()
    precision = hit_p / pe.flatten(1).sum(1).clamp(min=1)
    recall = hit_g / ge.flatten(1).sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return {"precision": precision, "recall": recall, "f1": f1}


def edge_sharpness(pred, gt, threshold: float = EDGE_THRESHOLD) -> torch.Tensor:
    """Mean |grad ln pred| / mean |grad ln gt| over the true edge pixels: (B,). 1 = as steep as the
    truth; a blurred prediction scores below 1. NaN for an image without any true edge. Lesson 05.
    """
    gp, gg = log_depth_gradient(pred), log_depth_gradient(gt)
    edges = gg > threshold
    n = edges.flatten(1).sum(1).float()
    ratio = (gp * edges).flatten(1).sum(1) / (gg * edges).flatten(1).sum(1).clamp(min=1e-12)
    return torch.where(n > 0, ratio, torch.full_like(ratio, math.nan))


def normal_angle_error(pred, gt, threshold: float = EDGE_THRESHOLD, margin_px: int = 2) -> torch.Tensor:
    """Mean angle in degrees between the surface normals of pred and gt, away from depth edges: (B,).

    Normals are the gradient proxies of `course_lib.losses.normal_loss`, n = (-dz/dx, -dz/dy, 1)
    normalised (Sobel, metres per 8 pixels), so this is the angle that loss turns into 1 - cos. Only
    pixels further than `margin_px` from a true depth edge count: it scores the orientation of
    surfaces (floors, walls, table tops), which a step at a boundary would swamp. Lesson 05.
    """
    from .losses import normals_from_gradients

    p = torch.exp(_log_depth_b1hw(pred))
    g = torch.exp(_log_depth_b1hw(gt))
    pdx, pdy, _ = sobel_gradients(p)
    gdx, gdy, _ = sobel_gradients(g)
    cos = (normals_from_gradients(pdx, pdy) * normals_from_gradients(gdx, gdy)).sum(1, keepdim=True)
    angle = torch.rad2deg(torch.acos(cos.clamp(-1.0, 1.0)))                     # (B, 1, H-2, W-2)
    surface = ~_dilate(depth_edges(gt, threshold), margin_px)
    n = surface.flatten(1).sum(1).float()
    mean = (angle * surface).flatten(1).sum(1) / n.clamp(min=1)
    return torch.where(n > 0, mean, torch.full_like(mean, math.nan))
