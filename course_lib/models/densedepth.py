"""A DenseDepth-style network (Alhashim & Wonka 2018): DenseNet encoder, simple up-sampling decoder.

Introduced in lesson 09 (the classic systems).

    encoder: DenseNet-169 by default (any of encoders.list_encoders()), features at strides 2..32
    bridge: 1x1 conv from the stride-32 feature to W = decoder_width * its channels (paper: 0.5)
    four UpProject blocks: bilinear x2, concatenate the skip, conv3x3 -> LeakyReLU(0.2) twice,
        with W/2, W/4, W/8, W/16 channels, from stride 32 up to stride 2
    DepthHead at stride 2: output_stride = 2, as in the paper (half-resolution output).

Differences from the paper, on purpose: the skips are the encoder contract's features (the last
feature at each stride, before each transition compresses it) rather than the pooled transition
outputs; the output is positive depth in metres through the course's DepthHead instead of a
clipped linear output of 1000/depth; bilinear up-sampling uses align_corners=False.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import DepthHead, crop_to_output_size, pad_to_multiple
from .encoders import build_encoder


class UpProject(nn.Module):
    """Bilinear x2 to the skip's size, concatenate, two conv3x3 + LeakyReLU(0.2); no BatchNorm, as in the paper."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.conv_a = nn.Conv2d(in_channels + skip_channels, out_channels, kernel_size=3, padding=1)
        self.conv_b = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)  # (B, C, 2h, 2w)
        x = self.act(self.conv_a(torch.cat([x, skip], dim=1)))
        return self.act(self.conv_b(x))                                                  # (B, out, 2h, 2w)


class DenseDepth(nn.Module):
    """DenseNet encoder + UpProject decoder, half-resolution positive depth."""

    def __init__(self, encoder: str = "densenet169", pretrained=False, decoder_width: float = 0.5):
        super().__init__()
        self.encoder = build_encoder(encoder, pretrained)
        c = self.encoder.channels                      # strides 2, 4, 8, 16, 32
        width = max(16, int(c[4] * decoder_width))     # 832 for DenseNet-169 at 0.5
        self.bridge = nn.Conv2d(c[4], width, kernel_size=1)
        outs = [width // 2, width // 4, width // 8, width // 16]
        ins = [width] + outs[:-1]
        self.decoder = nn.ModuleList(UpProject(i, s, o) for i, s, o in zip(ins, (c[3], c[2], c[1], c[0]), outs))
        self.head = DepthHead(outs[-1])
        self.output_stride = 2
        self.config = {"name": "densedepth", "encoder": encoder, "pretrained": False,
                       "decoder_width": decoder_width}

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        hw = image.shape[-2:]
        x = pad_to_multiple(image, 32)                 # (B, 3, Hp, Wp)
        f2, f4, f8, f16, f32 = self.encoder(x)
        x = self.bridge(f32)                           # (B, W, Hp/32, Wp/32)
        for block, skip in zip(self.decoder, (f16, f8, f4, f2)):
            x = block(x, skip)                         # ends at (B, W/16, Hp/2, Wp/2)
        depth_m = self.head(x)                         # (B, 1, Hp/2, Wp/2)
        return crop_to_output_size(depth_m, hw, self.output_stride)
