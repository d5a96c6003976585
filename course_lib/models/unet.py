"""The U-Net (Ronneberger, Fischer & Brox 2015), written from scratch, predicting depth.

Introduced in lesson 03 (U-Net from scratch); lesson 04 compares its up-sampling layers.

    input (B, 3, H, W)
      EncoderBlock 64  ----------------------------------- skip ---> DecoderBlock 64 -> DepthHead
        max-pool                                                      ^ up
        EncoderBlock 128 ------------------------- skip ---> DecoderBlock 128
          max-pool                                            ^ up
          ...                 (depth = number of max-pools)
                          bottleneck ConvBlock (base * 2**depth channels)

Every block is two (conv3x3 -> BatchNorm -> ReLU) with padding, so sizes only change at the
max-pools and the up-sampling. The input is padded to a multiple of 2**depth and the output
cropped back: output_stride = 1, the output has the input's size.

Up-sampling (`up=`), each doubling the size and halving the channels:
    "transpose"     ConvTranspose2d, kernel `transpose_kernel` (2 by default), stride 2. With k=2 each
                    output pixel receives exactly one kernel tap; with k=3 (`transpose_kernel=3`,
                    padding 1, output_padding 1) neighbouring output pixels receive one or two taps
                    alternately: the uneven overlap that draws checkerboard artifacts (Odena et al.
                    2016, "Deconvolution and checkerboard artifacts"), measured in lesson 04.
    "bilinear"      bilinear interpolation, then a 1x1 conv to halve the channels: no artifacts.
    "pixelshuffle"  a 3x3 conv to 4x the channels, then PixelShuffle(2) (sub-pixel convolution,
                    Shi et al. 2016); plain initialisation, so it can show mild checkerboards too.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .blocks import ConvBlock, DepthHead, crop_to_output_size, pad_to_multiple
from .encoders import Encoder

UP_MODES = ("transpose", "bilinear", "pixelshuffle")


def make_upsample(in_channels: int, out_channels: int, up: str = "transpose", transpose_kernel: int = 2) -> nn.Module:
    """A x2 up-sampling layer (B, in, h, w) -> (B, out, 2h, 2w) of the kind `up` (module docstring)."""
    if up == "transpose":
        if transpose_kernel not in (2, 3, 4):
            raise ValueError(f"transpose_kernel must be 2, 3 or 4, got {transpose_kernel!r}")
        # (h - 1) * 2 - 2 * padding + k + output_padding = 2h for every k below
        padding, output_padding = {2: (0, 0), 3: (1, 1), 4: (1, 0)}[transpose_kernel]
        return nn.ConvTranspose2d(in_channels, out_channels, transpose_kernel, stride=2,
                                  padding=padding, output_padding=output_padding)
    if up == "bilinear":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                             nn.Conv2d(in_channels, out_channels, kernel_size=1))
    if up == "pixelshuffle":
        return nn.Sequential(nn.Conv2d(in_channels, 4 * out_channels, kernel_size=3, padding=1),
                             nn.PixelShuffle(2))
    raise ValueError(f"unknown up-sampling {up!r}; valid: {', '.join(UP_MODES)}")


class EncoderBlock(nn.Module):
    """ConvBlock, then max-pool: returns the features for the skip and the half-size input of the next block."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = ConvBlock(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.conv(x)           # (B, out, h, w)
        return skip, self.pool(skip)  # and (B, out, h/2, w/2)


class DecoderBlock(nn.Module):
    """Up-sample x2 (halving the channels), concatenate the skip, ConvBlock."""

    def __init__(self, in_channels: int, out_channels: int, up: str = "transpose", transpose_kernel: int = 2):
        super().__init__()
        self.up = make_upsample(in_channels, out_channels, up, transpose_kernel)
        self.conv = ConvBlock(2 * out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)                                    # (B, out, 2h, 2w)
        return self.conv(torch.cat([x, skip], dim=1))     # (B, out, 2h, 2w)


class UNetEncoder(Encoder):
    """The U-Net's contracting path: `depth` EncoderBlocks, features at strides 1, 2, ..., 2**(depth-1)."""

    def __init__(self, in_channels: int, channels: list[int]):
        super().__init__()
        ins = [in_channels] + channels[:-1]
        self.blocks = nn.ModuleList(EncoderBlock(i, o) for i, o in zip(ins, channels))
        self.channels = list(channels)
        self.strides = [2 ** i for i in range(len(channels))]

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        skips = []
        for block in self.blocks:
            skip, x = block(x)
            skips.append(skip)
        return skips, x  # skips at strides 1 .. 2**(depth-1), and x at stride 2**depth


class UNet(nn.Module):
    """U-Net for depth. `base_channels` at full resolution, doubling at each of `depth` levels."""

    def __init__(self, base_channels: int = 64, depth: int = 4, up: str = "transpose", transpose_kernel: int = 2):
        super().__init__()
        if up not in UP_MODES:
            raise ValueError(f"unknown up-sampling {up!r}; valid: {', '.join(UP_MODES)}")
        if not 1 <= depth <= 7 or base_channels < 1:
            raise ValueError(f"depth must be 1..7 and base_channels positive, got depth={depth}, "
                             f"base_channels={base_channels}")
        channels = [base_channels * 2 ** i for i in range(depth + 1)]  # e.g. 64, 128, 256, 512, 1024
        self.encoder = UNetEncoder(3, channels[:-1])
        self.bottleneck = ConvBlock(channels[-2], channels[-1])
        self.decoder = nn.ModuleList(DecoderBlock(channels[i + 1], channels[i], up, transpose_kernel)
                                     for i in reversed(range(depth)))
        self.head = DepthHead(channels[0], kernel_size=1)
        self.output_stride = 1
        self.pad_multiple = 2 ** depth
        self.config = {"name": "unet", "base_channels": base_channels, "depth": depth, "up": up,
                       "transpose_kernel": transpose_kernel}

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        hw = image.shape[-2:]
        x = pad_to_multiple(image, self.pad_multiple)      # (B, 3, Hp, Wp)
        skips, x = self.encoder(x)                         # x: (B, C, Hp/2**depth, Wp/2**depth)
        x = self.bottleneck(x)                             # (B, 2C, Hp/2**depth, Wp/2**depth)
        for block, skip in zip(self.decoder, reversed(skips)):
            x = block(x, skip)                             # doubles the size each time
        depth_m = self.head(x)                             # (B, 1, Hp, Wp)
        return crop_to_output_size(depth_m, hw, self.output_stride)  # (B, 1, H, W)
