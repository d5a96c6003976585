"""Paired RGB + depth transforms, and ImageNet normalisation.

Introduced in lesson 02 (datasets and augmentation).
"""
from __future__ import annotations

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_image(rgb) -> torch.Tensor:
    """(H, W, 3) uint8 RGB (numpy or tensor) -> (3, H, W) float32, ImageNet-normalised."""
    rgb = torch.as_tensor(np.ascontiguousarray(rgb) if isinstance(rgb, np.ndarray) else rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"normalize_image expects an (H, W, 3) RGB image, got shape {tuple(rgb.shape)}")
    x = rgb.permute(2, 0, 1).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x - mean) / std


def denormalize_image(image) -> np.ndarray:
    """(3, H, W) ImageNet-normalised tensor (or (1, 3, H, W)) -> (H, W, 3) uint8 RGB for display."""
    x = torch.as_tensor(image).detach().float().cpu()
    if x.ndim == 4:
        x = x[0]
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    x = (x * std + mean).clamp(0, 1)
    return (x.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
