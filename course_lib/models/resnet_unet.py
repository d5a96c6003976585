"""A U-Net decoder on a pretrained backbone: the transfer-learning model of the course.

Introduced in lesson 06 (transfer learning). The name is historical: the encoder may be any of
`encoders.list_encoders()` (ResNet, DenseNet, or EfficientNet-Lite0, the course's model for photos).

    encoder: features at strides 2, 4, 8, 16, 32
    decoder: four UpConcatBlocks (bilinear x2, concatenate the skip, two conv3x3-BN-ReLU),
             from stride 32 up to stride 2, with `decoder_channels` channels (default: by encoder,
             DECODER_CHANNELS; narrower for EfficientNet-Lite0, whose skips have 16-112 channels)
    DepthHead at stride 2

output_stride = 2: the last skip feature (the stem's conv1) is at half resolution, and a fifth
block to full resolution would have no skip to add detail, only cost (at 480x640 it would be the
most expensive layer of the decoder). `predict` up-samples to the input size.

`pretrained=False` by default so that building a model never downloads anything; `pretrained=True`
loads ImageNet weights (EfficientNet-Lite0: from its pip package, offline; ResNet / DenseNet: the
torch.hub cache or a download), and a path loads a saved state dict (encoders.build_encoder).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .blocks import DepthHead, UpConcatBlock, crop_to_output_size, pad_to_multiple
from .encoders import build_encoder


DECODER_CHANNELS = {"efficientnet_lite0": (128, 64, 48, 32)}   # others: (256, 128, 64, 32)


class ResNetUNet(nn.Module):
    """U-Net decoder on an encoder (ResNet-18/34/50/101, DenseNet-121/161/169, EfficientNet-Lite0)."""

    def __init__(self, encoder: str = "resnet50", pretrained=False,
                 decoder_channels: tuple[int, ...] | None = None):
        super().__init__()
        if decoder_channels is None:
            decoder_channels = DECODER_CHANNELS.get(encoder, (256, 128, 64, 32))
        decoder_channels = [int(c) for c in decoder_channels]
        if len(decoder_channels) != 4:
            raise ValueError(f"decoder_channels needs 4 entries (strides 16, 8, 4, 2), got {decoder_channels}")
        self.encoder = build_encoder(encoder, pretrained)
        c = self.encoder.channels                      # channels at strides 2, 4, 8, 16, 32
        ins = [c[4]] + decoder_channels[:-1]
        skips = [c[3], c[2], c[1], c[0]]
        self.decoder = nn.ModuleList(UpConcatBlock(i, s, o) for i, s, o in zip(ins, skips, decoder_channels))
        self.head = DepthHead(decoder_channels[-1])
        self.output_stride = 2
        # config describes the architecture; weights come from checkpoints, so rebuilding never downloads
        self.config = {"name": "resnet_unet", "encoder": encoder, "pretrained": False,
                       "decoder_channels": decoder_channels}

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        hw = image.shape[-2:]
        x = pad_to_multiple(image, 32)                 # (B, 3, Hp, Wp)
        f2, f4, f8, f16, f32 = self.encoder(x)
        x = f32                                        # (B, c32, Hp/32, Wp/32)
        for block, skip in zip(self.decoder, (f16, f8, f4, f2)):
            x = block(x, skip)                         # ends at (B, decoder_channels[-1], Hp/2, Wp/2)
        depth_m = self.head(x)                         # (B, 1, Hp/2, Wp/2)
        return crop_to_output_size(depth_m, hw, self.output_stride)
