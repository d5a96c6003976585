"""The camera travels with the model: metric depth from one image is learnt for a focal length in pixels.

A network trained on 240x320 frames of NYU's camera (fx about 259 px) has learnt how large a chair
looks at 259 px. Shown the same room at 480x640 (fx about 519 px) everything looks twice as large,
so it predicts the room about twice as near. The rule, used by `predict`, `evaluate` and the lessons:

1. resize the input so that its focal length in pixels equals the training one;
2. run the model there;
3. upsample the prediction back to the photo's (or the ground truth's) full size, where metrics
   are computed.

`TrainingCamera` is what a checkpoint records ("camera": {"image_size": [H, W], "K": 3x3});
`fit` writes it from the data, `load_model` attaches it to the model as `model.camera`.
Introduced in lesson 08 (evaluation) and lesson 10 (your own photos).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import CheckpointError, CourseError

MIN_SIDE_PX = 8                       # smaller inputs leave nothing for a network to see
LEGACY_SIZE = (240, 320)              # what a checkpoint without a camera is assumed to be trained at


@dataclass(frozen=True)
class TrainingCamera:
    """The image size (H, W) and 3x3 intrinsics K (pixels) a model was trained with."""
    image_size: tuple[int, int]
    K: tuple[tuple[float, float, float], ...]

    @property
    def fx_px(self) -> float:
        return float(self.K[0][0])

    @property
    def fy_px(self) -> float:
        return float(self.K[1][1])

    def to_dict(self) -> dict:
        return {"image_size": [int(s) for s in self.image_size], "K": [[float(v) for v in row] for row in self.K]}

    def describe(self) -> str:
        h, w = self.image_size
        return f"{h}x{w}, fx {self.fx_px:.1f} px, fy {self.fy_px:.1f} px"

    @classmethod
    def from_K(cls, K, image_size) -> "TrainingCamera":
        K = np.asarray(K, dtype=np.float64)
        return cls.from_dict({"image_size": [int(image_size[0]), int(image_size[1])], "K": K.tolist()})

    @classmethod
    def from_dict(cls, data, source: str = "the checkpoint") -> "TrainingCamera":
        """Validate a recorded camera; a malformed one raises CheckpointError in one sentence."""
        try:
            size = tuple(int(s) for s in data["image_size"])
            K = np.asarray(data["K"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{source} records a malformed camera ({data!r:.120}); expected "
                                  "{'image_size': [H, W], 'K': 3x3 pixels}: train again or fix the file.") from None
        if len(size) != 2 or min(size) < 1 or K.shape != (3, 3) or not np.isfinite(K).all():
            raise CheckpointError(f"{source} records a malformed camera (image_size {list(size)}, K of shape "
                                  f"{K.shape}); expected a positive [H, W] and a finite 3x3 K: train again.")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise CheckpointError(f"{source} records a camera with focal lengths fx={K[0, 0]:g}, fy={K[1, 1]:g} px; "
                                  "they must be positive: train again or fix the file.")
        return cls(size, tuple(tuple(float(v) for v in row) for row in K))


def nyu_camera(image_size=LEGACY_SIZE) -> TrainingCamera:
    """NYU Depth V2's Kinect camera scaled to `image_size` (H, W)."""
    from .geometry import nyu_intrinsics

    return TrainingCamera.from_K(nyu_intrinsics(*image_size), image_size)


def camera_from_data(dataset) -> TrainingCamera | None:
    """The camera of a dataset's un-augmented frames: its `camera` attribute, else item 0's K and size.

    A random (training) transform would zoom item 0 and change its K, so item 0 is read again with
    the deterministic resize to the same size (`eval_transforms`). A DataLoader gives its dataset's.
    None when the items carry no "K". The global random generators are left as they were.
    """
    from torch.utils.data import DataLoader

    from .data.transforms import eval_transforms

    if isinstance(dataset, DataLoader):
        dataset = dataset.dataset
    if isinstance(getattr(dataset, "camera", None), TrainingCamera):
        return dataset.camera
    owner = dataset                       # the object whose transform items go through (Subset: its dataset)
    while owner is not None and not hasattr(owner, "transform"):
        owner = getattr(owner, "dataset", None)
    with torch.random.fork_rng(devices=[]):
        try:
            item = dataset[0]
            if owner is not None and getattr(owner.transform, "random", False):
                saved, owner.transform = owner.transform, eval_transforms(tuple(item["image"].shape[-2:]))
                try:
                    item = dataset[0]
                finally:
                    owner.transform = saved
        except Exception:                 # an empty or exotic dataset: nothing to record
            return None
    if not isinstance(item, dict) or "K" not in item or "image" not in item:
        return None
    return TrainingCamera.from_K(torch.as_tensor(item["K"]).double().numpy(), tuple(item["image"].shape[-2:]))


def checkpoint_camera(checkpoint: dict, source: str = "the checkpoint") -> tuple[TrainingCamera, str | None]:
    """(camera, note): the recorded camera, or NYU's at 240x320 for an older checkpoint, with a note saying so."""
    data = checkpoint.get("camera")
    if data is None:
        note = (f"note: {source} does not record the camera it was trained for (an older checkpoint); "
                f"assuming NYU's camera at {LEGACY_SIZE[0]}x{LEGACY_SIZE[1]}.")
        return nyu_camera(LEGACY_SIZE), note
    return TrainingCamera.from_dict(data, source), None


def check_focal(fx_px: float, fy_px: float, source: str = "the intrinsics") -> None:
    if not (math.isfinite(fx_px) and math.isfinite(fy_px)) or fx_px <= 0 or fy_px <= 0:
        raise CourseError(f"{source} give focal lengths fx={fx_px:g}, fy={fy_px:g} px; they must be positive "
                          "numbers of pixels (e.g. 518.9 519.5 for NYU at 640x480).")


def size_at_camera(image_hw, K_image, camera: TrainingCamera) -> tuple[int, int]:
    """(H, W) at which an image with intrinsics `K_image` has the training camera's focal length."""
    fx, fy = float(K_image[0][0]), float(K_image[1][1])
    check_focal(fx, fy)
    h = max(int(round(image_hw[0] * camera.fy_px / fy)), 1)
    w = max(int(round(image_hw[1] * camera.fx_px / fx)), 1)
    if min(h, w) < MIN_SIDE_PX:
        raise CourseError(f"an image of {image_hw[0]}x{image_hw[1]} with fx={fx:g} px becomes {h}x{w} at the "
                          f"training focal length ({camera.fx_px:.1f} px), smaller than {MIN_SIDE_PX} pixels; "
                          "check the intrinsics, or use a larger photo.")
    return h, w


def resize_images(images: torch.Tensor, size_hw) -> torch.Tensor:
    """(B, 3, H, W) normalised images -> (B, 3, h, w): bilinear, anti-aliased when shrinking."""
    if tuple(images.shape[-2:]) == tuple(size_hw):
        return images
    shrink = size_hw[0] < images.shape[-2] or size_hw[1] < images.shape[-1]
    return F.interpolate(images, size=tuple(size_hw), mode="bilinear", align_corners=False, antialias=shrink)


def upsample_depth(depth_m: torch.Tensor, size_hw) -> torch.Tensor:
    """(B, 1, h, w) depth -> (B, 1, H, W), bilinear (align_corners=False)."""
    if tuple(depth_m.shape[-2:]) == tuple(size_hw):
        return depth_m
    return F.interpolate(depth_m, size=tuple(size_hw), mode="bilinear", align_corners=False)


@torch.no_grad()
def predict_at_camera(model, images: torch.Tensor, K_images, camera: TrainingCamera | None,
                      predict_fn=None) -> tuple[torch.Tensor, tuple[int, int]]:
    """Depth (B, 1, H, W) at the input size, computed at the training focal length.

    images: (B, 3, H, W) normalised; K_images: (3, 3) or (B, 3, 3) intrinsics of the images (all of one
    batch must share the focal length). camera None: run at the input size (the native behaviour).
    Returns (depth, the (h, w) the model ran at).
    """
    from .models import predict

    predict_fn = predict_fn or (lambda x: predict(model, x))
    size = tuple(images.shape[-2:])
    if camera is None:
        return predict_fn(images), size
    K = torch.as_tensor(K_images, dtype=torch.float64)
    if K.ndim == 3:
        if not torch.allclose(K[:, :2, :2], K[:1, :2, :2].expand_as(K[:, :2, :2]), rtol=1e-4):
            raise ValueError("the images of one batch have different focal lengths; predict them one at a time")
        K = K[0]
    run_size = size_at_camera(size, K.tolist(), camera)
    depth = predict_fn(resize_images(images, run_size))          # (B, 1, h, w)
    return upsample_depth(depth, size), run_size
