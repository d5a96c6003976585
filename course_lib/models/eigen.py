"""Eigen, Puhrsch & Fergus 2014, "Depth Map Prediction from a Single Image using a Multi-Scale Deep Network".

Introduced in lesson 09 (the classic systems).

The network works on a fixed 228 x 304 input and predicts a 55 x 74 map (another working size:
`input_size`, below):

    coarse (global): conv11x11/4 96 -> pool, conv5x5 256 -> pool, conv3x3 384, conv3x3 384,
        conv3x3 256 -> pool (256 x 6 x 9), fc `fc_width` (paper: 4096) + dropout, fc 55*74:
        a whole-image view that can place the room's layout and scale.
    fine (local): conv9x9/2 63 -> pool (63 x 55 x 74), concatenate the coarse log-depth map
        (64 channels), conv5x5 64, conv5x5 1: sharpens the coarse map with local detail.

Both outputs are log-depth made positive by the course's single rule (`blocks.depth_from_log`);
the fine network receives the coarse log-depth, the quantity the paper's scale-invariant loss works on.

Staged training, as in the paper (`model.stage`, or `freeze_coarse()`):
    "coarse"  the output is the coarse map; only the coarse network learns.
    "fine"    the coarse network is frozen (no gradients, eval mode so dropout is off); the fine
              network learns to refine its output. The output is the fine map.
    "joint"   (default after building) everything learns; the output is the fine map.

Any input size: the image is resized (bilinear) to 228 x 304 and the 55 x 74 prediction is resized
(bilinear) to (ceil(H/4), ceil(W/4)). So `output_stride = 4` states the output's size convention,
not the network's arithmetic: 55 x 74 from 228 x 304 is a stride of about 4.1 and 4.1 (the output
of a 228 x 304 input is therefore resized from 55 x 74 to 57 x 76). Images of another aspect ratio
are squeezed, as the paper's fixed-size network requires. (For ONNX, export it at one fixed input
size: with dynamic height and width the two resizes are not traced faithfully.)

Working size (`input_size`, default the paper's (228, 304)): the size the image is resized to before
the network sees it. The layers stay the paper's; only the sizes of the maps change, and with them
the first fully connected layer (it reads 256 x h x w features) and the map both networks predict
(`eigen_sizes(input_size)` computes them):

    input_size   coarse features   predicted map   first fc layer
    228 x 304    256 x 6 x 9       55 x 74         13824 -> fc_width
    114 x 152    256 x 3 x 4       26 x 36          3072 -> fc_width   (half the paper's size, ~4x fewer MACs)

Lesson 09 trains at 114 x 152 so that both stages fit a CPU budget; the price is a coarser map.

Departures from the paper: BatchNorm after each convolution (`batch_norm=True`; the 2014 network had
none and trained for days), the positive-depth rule, and the fine network predicting a correction
added to the coarse log-depth (so the fine stage starts from the coarse map instead of from noise). The paper initialised nothing from ImageNet
for this version; neither do we (`.encoder` is the coarse conv stack, for freezing and learning rates).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import INIT_DEPTH_M, bounded_log_depth, output_size
from .encoders import Encoder

INPUT_HW = (228, 304)   # the paper's working size
OUTPUT_HW = (55, 74)    # the paper's predicted map
STAGES = ("coarse", "fine", "joint")


def eigen_sizes(input_size=INPUT_HW) -> dict:
    """The map sizes of the Eigen network at working size `input_size` (H, W).

    {"features": (h, w) of the coarse conv stack's 256-channel output, "map": (h, w) of the log-depth map
    both networks predict}. eigen_sizes((228, 304)) == {"features": (6, 9), "map": (55, 74)}, the paper's.
    Raises ValueError for a size too small to leave at least 1 x 1 features and a 2 x 2 map.
    """
    try:
        h, w = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise ValueError(f"input_size must be (H, W), two integers, got {input_size!r}") from None
    # conv 11x11 stride 4 (no padding), then three 2x2 max-pools (the 5x5 and 3x3 convs keep the size)
    features = tuple(((((n - 11) // 4 + 1) // 2) // 2) // 2 if n >= 11 else 0 for n in (h, w))
    # fine network: conv 9x9 stride 2 (no padding), then one 2x2 max-pool
    fine = tuple(((n - 9) // 2 + 1) // 2 if n >= 9 else 0 for n in (h, w))
    if min(features) < 1 or min(fine) < 2:
        raise ValueError(f"input_size {h}x{w} is too small for the Eigen network: it leaves {features[0]}x{features[1]} "
                         f"coarse features and a {fine[0]}x{fine[1]} map; use at least 39 x 39 "
                         f"(the paper: {INPUT_HW[0]} x {INPUT_HW[1]})")
    return {"features": features, "map": fine}


def _conv(in_ch: int, out_ch: int, k: int, stride: int = 1, padding: int = 0, batch_norm: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=padding, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch))
    return nn.Sequential(*layers, nn.ReLU(inplace=True))


class CoarseConvs(Encoder):
    """The coarse network's five conv layers: (B, 3, 228, 304) -> (B, 256, 6, 9) (shapes below at 228 x 304)."""

    def __init__(self, batch_norm: bool = True):
        super().__init__()
        self.layers = nn.Sequential(
            _conv(3, 96, 11, stride=4, batch_norm=batch_norm), nn.MaxPool2d(2),   # (B, 96, 27, 37)
            _conv(96, 256, 5, padding=2, batch_norm=batch_norm), nn.MaxPool2d(2),  # (B, 256, 13, 18)
            _conv(256, 384, 3, padding=1, batch_norm=batch_norm),                 # (B, 384, 13, 18)
            _conv(384, 384, 3, padding=1, batch_norm=batch_norm),                 # (B, 384, 13, 18)
            _conv(384, 256, 3, padding=1, batch_norm=batch_norm), nn.MaxPool2d(2),  # (B, 256, 6, 9)
        )
        self.channels = [256]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class EigenCoarse(nn.Module):
    """Global network: image (B, 3, 228, 304) -> raw log-depth (B, 1, 55, 74) through two fully connected layers.

    At another working size `input_size` the shapes follow `eigen_sizes(input_size)`.
    """

    def __init__(self, fc_width: int = 4096, batch_norm: bool = True, dropout: float = 0.5,
                 input_size=INPUT_HW):
        super().__init__()
        sizes = eigen_sizes(input_size)
        (fh, fw), self.map_size = sizes["features"], sizes["map"]
        self.convs = CoarseConvs(batch_norm)
        self.fc = nn.Sequential(
            nn.Flatten(),                                            # (B, 256 * 6 * 9)
            nn.Linear(256 * fh * fw, fc_width), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_width, self.map_size[0] * self.map_size[1]),  # (B, 4070): every pixel sees the whole image
        )
        with torch.no_grad():  # start as a flat room at INIT_DEPTH_M, like every DepthHead
            self.fc[-1].weight.mul_(0.1)
            self.fc[-1].bias.fill_(math.log(INIT_DEPTH_M))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(x)).view(-1, 1, *self.map_size)  # (B, 1, 55, 74)


class EigenFine(nn.Module):
    """Local network: image (B, 3, 228, 304) + coarse log-depth (B, 1, 55, 74) -> raw log-depth (B, 1, 55, 74)."""

    def __init__(self, batch_norm: bool = True):
        super().__init__()
        self.fine1 = nn.Sequential(_conv(3, 63, 9, stride=2, batch_norm=batch_norm), nn.MaxPool2d(2))  # (B, 63, 55, 74)
        self.fine2 = _conv(64, 64, 5, padding=2, batch_norm=batch_norm)
        self.fine3 = nn.Conv2d(64, 1, 5, padding=2)
        with torch.no_grad():
            self.fine3.weight.mul_(0.1)

    def forward(self, x: torch.Tensor, coarse_log_depth: torch.Tensor) -> torch.Tensor:
        f = torch.cat([self.fine1(x), coarse_log_depth], dim=1)  # (B, 64, 55, 74)
        # the fine map is a correction added to the coarse log-depth, so refining starts from the coarse map
        return coarse_log_depth + self.fine3(self.fine2(f))      # (B, 1, 55, 74)


class Eigen(nn.Module):
    """Coarse + fine network of Eigen et al. 2014 with staged training (`stage`), output_stride 4 (see module)."""

    def __init__(self, fc_width: int = 4096, batch_norm: bool = True, input_size=INPUT_HW):
        super().__init__()
        eigen_sizes(input_size)                                   # a clear error for a bad size, before any layer
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.coarse = EigenCoarse(fc_width, batch_norm, input_size=self.input_size)
        self.fine = EigenFine(batch_norm)
        self.encoder = self.coarse.convs
        self.output_stride = 4
        self.config = {"name": "eigen", "fc_width": fc_width, "batch_norm": batch_norm,
                       "input_size": self.input_size}
        self._stage = "joint"

    @property
    def stage(self) -> str:
        return self._stage

    @stage.setter
    def stage(self, stage: str) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; valid stages: {', '.join(STAGES)}")
        self._stage = stage
        for p in self.coarse.parameters():
            p.requires_grad_(stage != "fine")
        for p in self.fine.parameters():
            p.requires_grad_(stage != "coarse")
        self.train(self.training)  # apply the eval rule for a frozen coarse network

    def freeze_coarse(self) -> "Eigen":
        """Second stage of the paper's training: keep the coarse network fixed, train the fine one."""
        self.stage = "fine"
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        if self._stage == "fine":
            self.coarse.eval()  # fixed coarse network: no dropout, BatchNorm statistics kept
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out_hw = output_size(image.shape[-2], image.shape[-1], self.output_stride)
        x = F.interpolate(image, size=self.input_size, mode="bilinear", align_corners=False)  # (B, 3, 228, 304)
        log_depth = bounded_log_depth(self.coarse(x))              # (B, 1, 55, 74)
        if self._stage != "coarse":
            log_depth = bounded_log_depth(self.fine(x, log_depth))  # (B, 1, 55, 74)
        depth_m = torch.exp(log_depth)                             # the DepthHead rule, on a map from fc layers
        return F.interpolate(depth_m, size=out_hw, mode="bilinear", align_corners=False)  # (B, 1, ceil(H/4), ceil(W/4))
