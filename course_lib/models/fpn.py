"""A Feature Pyramid Network (Lin et al. 2017) predicting depth at 1/4 resolution.

Introduced in lesson 07 (Feature Pyramid Network).

    encoder (ResNet-101 by default): C2..C5 at strides 4, 8, 16, 32
    lateral 1x1 convs bring each to `pyramid_channels`
    top-down: P5 = lat(C5); P4 = lat(C4) + up2(P5); P3 = ...; P2 = lat(C2) + up2(P3)
              (nearest-neighbour up-sampling, as in the paper)
    per-level heads: two conv3x3-BN-ReLU (`head_channels`) each, bilinearly up-sampled to stride 4
                     (the semantic-segmentation branch of Panoptic FPN, Kirillov et al. 2019)
    merge: the four level outputs are summed, one conv3x3-BN-ReLU, DepthHead

output_stride = 4: every level contributes at 1/4 resolution, and `predict` up-samples x4.
The stride-2 stem feature is not used.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import ConvBlock, DepthHead, conv_bn_relu, crop_to_output_size, pad_to_multiple
from .encoders import build_encoder


class FPN(nn.Module):
    """FPN depth network on a torchvision encoder, output at 1/4 resolution."""

    def __init__(self, encoder: str = "resnet101", pretrained=False, pyramid_channels: int = 256,
                 head_channels: int = 128):
        super().__init__()
        self.encoder = build_encoder(encoder, pretrained)
        c = self.encoder.channels[1:]                 # C2..C5 at strides 4, 8, 16, 32
        self.lateral = nn.ModuleList(nn.Conv2d(ci, pyramid_channels, kernel_size=1) for ci in c)
        self.level_heads = nn.ModuleList(ConvBlock(pyramid_channels, head_channels) for _ in c)
        self.merge = conv_bn_relu(head_channels, head_channels)
        self.head = DepthHead(head_channels)
        self.output_stride = 4
        self.config = {"name": "fpn", "encoder": encoder, "pretrained": False,
                       "pyramid_channels": pyramid_channels, "head_channels": head_channels}

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        hw = image.shape[-2:]
        x = pad_to_multiple(image, 32)                 # (B, 3, Hp, Wp)
        features = self.encoder(x)[1:]                 # C2..C5
        laterals = [lat(f) for lat, f in zip(self.lateral, features)]  # (B, P, Hp/s, Wp/s) each
        pyramid = [laterals[-1]]                       # P5
        for lateral in reversed(laterals[:-1]):        # top-down: P4, P3, P2
            pyramid.insert(0, lateral + F.interpolate(pyramid[0], size=lateral.shape[-2:], mode="nearest"))
        size4 = pyramid[0].shape[-2:]                  # (Hp/4, Wp/4)
        merged = 0
        for head, p in zip(self.level_heads, pyramid):
            y = head(p)                                # (B, head_channels, Hp/s, Wp/s)
            if y.shape[-2:] != size4:
                y = F.interpolate(y, size=size4, mode="bilinear", align_corners=False)
            merged = merged + y                        # (B, head_channels, Hp/4, Wp/4)
        depth_m = self.head(self.merge(merged))        # (B, 1, Hp/4, Wp/4)
        return crop_to_output_size(depth_m, hw, self.output_stride)
