"""Build any model of the course by name, and predict depth at the input size.

Introduced in lesson 03; every later lesson, the trainer and the CLI build models through here.
"""
from __future__ import annotations

import inspect

import torch
import torch.nn as nn

from .blocks import upsample_to_input
from .densedepth import DenseDepth
from .eigen import Eigen
from .fpn import FPN
from .resnet_unet import ResNetUNet
from .unet import UNet

MODELS = {
    "unet": UNet,
    "resnet_unet": ResNetUNet,
    "fpn": FPN,
    "eigen": Eigen,
    "densedepth": DenseDepth,
}


def list_models() -> list[str]:
    """The names `build_model` accepts."""
    return list(MODELS)


def model_options(name: str) -> dict:
    """The options of model `name` and their defaults, e.g. model_options("unet")["up"] == "transpose"."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    return {k: p.default for k, p in inspect.signature(MODELS[name]).parameters.items()}


def build_model(name: str, **options) -> nn.Module:
    """Build a depth network: build_model("unet", base_channels=32) or build_model(**model.config).

    Every model takes (B, 3, H, W) ImageNet-normalised images of any size and returns positive
    depth in metres of shape (B, 1, ceil(H/s), ceil(W/s)) with s = model.output_stride.
    `model.config` holds {"name": name, **all options} so that a checkpoint can rebuild it; it
    records pretrained=False because a checkpoint carries its own weights (rebuilding never downloads).
    """
    valid = model_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for model {name!r}; "
                         f"valid options: {', '.join(valid)}")
    return MODELS[name](**options)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Depth in metres at the input size: (B, 3, H, W) -> (B, 1, H, W), or (3, H, W) -> (1, H, W).

    Runs in eval mode without gradients on the model's device, then restores the model's mode.
    The output (stride s) is up-sampled bilinearly by s (align_corners=False) and cropped, so each
    prediction lands over the pixels it was computed from (blocks.upsample_to_input).
    """
    images = torch.as_tensor(images)
    single = images.ndim == 3
    if single:
        images = images.unsqueeze(0)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"predict expects images of shape (B, 3, H, W) or (3, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"predict expects ImageNet-normalised float images, got dtype {images.dtype}; "
                         f"convert with course_lib.data.transforms.normalize_image")
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        depth_m = model(images.to(device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
    stride = getattr(model, "output_stride", None) or model.module.output_stride  # DDP / DataParallel wrap it
    depth_m = upsample_to_input(depth_m, images.shape[-2:], stride)  # (B, 1, H, W)
    return depth_m[0] if single else depth_m
