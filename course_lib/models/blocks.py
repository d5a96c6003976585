"""Pieces every depth network of the course shares: conv blocks, the depth head, padding and cropping.

Introduced in lesson 03 (U-Net from scratch); the depth head is discussed again in lesson 05.

The output-size rule (the same for every model):
    a model with output stride s maps an input of H x W pixels to ceil(H / s) x ceil(W / s).
Output pixel (i, j) covers input pixels [i*s, (i+1)*s) x [j*s, (j+1)*s); the last row and column may
cover padding beyond the image. Models pad the input at the bottom and right (replicate mode) to the
multiple their down-sampling needs, and crop the output back to that size (`pad_to_multiple`,
`crop_to_output_size`). `course_lib.models.predict` undoes the stride exactly (`upsample_to_input`).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

MIN_DEPTH_M = 1e-3    # lower bound of every prediction: 1 mm, so log(depth) is always finite
MAX_DEPTH_M = 1000.0  # upper bound: far beyond any scene of the course, keeps exp() finite (even in float16)
INIT_DEPTH_M = 2.5    # an untrained head predicts about this everywhere (the middle of an NYU room)


def bounded_log_depth(raw: torch.Tensor, min_depth_m: float = MIN_DEPTH_M,
                      max_depth_m: float = MAX_DEPTH_M) -> torch.Tensor:
    """Raw network output, read as log-depth, clamped to [log min_depth_m, log max_depth_m].

    A hard clamp: exactly the identity between 1 mm and 1 km (so depth is exactly exp(raw) for
    every depth a room or a street can have), flat outside. The bounds are six orders of magnitude
    apart, so the flat parts (no gradient) are only reached by a network that has diverged; they
    exist to keep log(depth) finite for log-space losses and exp() from overflowing in float16.
    """
    return raw.clamp(math.log(min_depth_m), math.log(max_depth_m))


def depth_from_log(raw: torch.Tensor, min_depth_m: float = MIN_DEPTH_M,
                   max_depth_m: float = MAX_DEPTH_M) -> torch.Tensor:
    """Raw network output -> positive depth in metres: exp of the bounded log-depth.

    This is the one place where the course makes depth positive; every model ends here.
    """
    return torch.exp(bounded_log_depth(raw, min_depth_m, max_depth_m))


class DepthHead(nn.Module):
    """Features (B, C, h, w) -> positive depth (B, 1, h, w) in metres: conv -> log-depth -> exp.

    Why log-depth and exp, and not sigmoid(x) * max_depth or ReLU:
    - ReLU gives exactly zero depth (and a dead gradient) for any negative output.
    - sigmoid * 10 m saturates at both ends: near 0 m and near 10 m its slope vanishes, so the
      pixels that are furthest off learn slowest, and 10 m becomes a hard wall.
    - with depth = exp(y), an error of a given *ratio* (10 % too far) moves y by the same amount
      at 1 m and at 8 m, which is how depth errors are judged (abs_rel, delta < 1.25, silog),
      and a loss on log-depth gets well scaled gradients at every distance.
    The conv bias starts at log(2.5 m) and the weights at a tenth of PyTorch's default, so an
    untrained network predicts a plausible room and the first steps learn structure, not scale.
    The bounds of `bounded_log_depth` (1 mm .. 1 km) only keep log-depth and the exponential finite.
    """

    def __init__(self, in_channels: int, kernel_size: int = 3, init_depth_m: float = INIT_DEPTH_M):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 1, kernel_size, padding=kernel_size // 2)
        with torch.no_grad():
            self.conv.weight.mul_(0.1)
            self.conv.bias.fill_(math.log(init_depth_m))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return depth_from_log(self.conv(x))  # (B, 1, h, w) metres


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """conv (no bias: BatchNorm has one) -> BatchNorm -> ReLU, keeping the spatial size."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ConvBlock(nn.Sequential):
    """Two (conv3x3 -> BatchNorm -> ReLU): the U-Net's unit of work at one resolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(conv_bn_relu(in_channels, out_channels), conv_bn_relu(out_channels, out_channels))


class UpConcatBlock(nn.Module):
    """Bilinear x2 up-sampling, concatenate the skip feature, ConvBlock: a pretrained-encoder U-Net's step up."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.conv = ConvBlock(in_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)  # (B, C, 2h, 2w)
        return self.conv(torch.cat([x, skip], dim=1))  # (B, out, 2h, 2w)


def output_size(height: int, width: int, output_stride: int) -> tuple[int, int]:
    """The output size of every model: (ceil(H / s), ceil(W / s)).

    Written (H + s - 1) // s rather than -(-H // s): the two agree in Python, but an ONNX export
    turns floor division of a negative number into a truncating Div and would crop one row too many.
    """
    return (height + output_stride - 1) // output_stride, (width + output_stride - 1) // output_stride


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad (B, C, H, W) at the bottom and right, replicating the border, so H and W divide by `multiple`.

    Replicate rather than reflect: it works for any size (reflect needs the pad to be smaller
    than the image) and invents no mirrored structure. Zero padding would add a false edge.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


def crop_to_output_size(y: torch.Tensor, input_hw: tuple[int, int], output_stride: int) -> torch.Tensor:
    """Crop a padded model's output (B, 1, Hp/s, Wp/s) to (B, 1, ceil(H/s), ceil(W/s))."""
    out_h, out_w = output_size(input_hw[0], input_hw[1], output_stride)
    return y[..., :out_h, :out_w]


def upsample_to_input(depth: torch.Tensor, input_hw: tuple[int, int], output_stride: int) -> torch.Tensor:
    """Model output (B, 1, ceil(H/s), ceil(W/s)) -> (B, 1, H, W): bilinear x s, then crop.

    Up-sampling by exactly s (align_corners=False) puts every output pixel back over the s x s
    input pixels it was computed for; resizing straight to H x W would stretch the grid slightly
    whenever H is not a multiple of s.
    """
    if output_stride != 1:
        out_h, out_w = depth.shape[-2:]
        depth = F.interpolate(depth, size=(out_h * output_stride, out_w * output_stride),
                              mode="bilinear", align_corners=False)
    return depth[..., :input_hw[0], :input_hw[1]]
