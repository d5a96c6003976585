"""Paired RGB + depth transforms, and ImageNet normalisation.

Introduced in lesson 02 (datasets and augmentation).

One design, used everywhere: a transform is a callable `t(sample, rng=None) -> sample` on a *sample*,
a dict of numpy arrays, BEFORE conversion to tensors:

    "rgb"   (H, W, 3) uint8
    "depth" (H, W) float32 metres, 0 where there is no measurement
    "valid" (H, W) bool (optional; computed from depth when absent)
    "K"     (3, 3) float32 intrinsics of this image
    "raw_depth" (H, W) float32 metres (optional; 0 = hole)

Geometric transforms (crop, flip, resize) move every map AND the intrinsics together; photometric
transforms (colour jitter, channel swap, `CameraEffects`: blur, noise, JPEG) touch only "rgb". The dataset
turns the final sample into the course's item format with `to_item`.

Randomness: every random transform draws from the numpy Generator `rng`. `Compose` makes one
Generator per sample from torch's global generator, so augmentation is reproducible after
`torch.manual_seed(...)`, and differs between DataLoader workers (torch seeds each worker).
"""
from __future__ import annotations

import numpy as np
import torch

from ..geometry import crop_intrinsics, scale_intrinsics

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DEPTH_KEYS = ("depth", "raw_depth")       # float maps resampled without inventing values
SPATIAL_KEYS = ("rgb", "depth", "valid", "raw_depth")


def normalize_image(rgb) -> torch.Tensor:
    """(H, W, 3) uint8 RGB (numpy or tensor) -> (3, H, W) float32, ImageNet-normalised."""
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"normalize_image expects an (H, W, 3) RGB image, got shape {tuple(rgb.shape)}")
    if isinstance(rgb, np.ndarray):
        # NumPy, single-threaded: torch's multithreaded element-wise ops are slower on one small
        # image, and much slower when the DataLoader's processes already occupy every core.
        mean = np.asarray(IMAGENET_MEAN, np.float32)
        inv_std = 1.0 / np.asarray(IMAGENET_STD, np.float32)
        x = (rgb.astype(np.float32) * np.float32(1 / 255.0) - mean) * inv_std   # (H, W, 3)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))
    x = torch.as_tensor(rgb).permute(2, 0, 1).float() / 255.0
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


# ----------------------------------------------------------------------------------------------
# samples and items


def valid_mask(depth_m) -> np.ndarray:
    """(H, W) bool: finite depth greater than zero."""
    depth = np.asarray(depth_m)
    return np.isfinite(depth) & (depth > 0)


def to_item(sample: dict, index: int | None = None) -> dict:
    """A numpy sample -> the course's item: image (3,H,W) normalised, depth/valid (1,H,W), K (3,3)."""
    depth = np.nan_to_num(np.asarray(sample["depth"], dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    depth = np.maximum(depth, 0.0)
    valid = depth > 0
    if "valid" in sample:
        valid &= np.asarray(sample["valid"], dtype=bool)
    item = {
        "image": normalize_image(sample["rgb"]),
        "depth": torch.from_numpy(np.ascontiguousarray(depth))[None],      # (1, H, W) metres
        "valid": torch.from_numpy(np.ascontiguousarray(valid))[None],      # (1, H, W) bool
        "K": torch.as_tensor(np.asarray(sample["K"], dtype=np.float32)),
    }
    if "raw_depth" in sample:
        raw = np.maximum(np.nan_to_num(np.asarray(sample["raw_depth"], dtype=np.float32)), 0.0)
        item["raw_depth"] = torch.from_numpy(np.ascontiguousarray(raw))[None]
    if index is not None:
        item["index"] = int(index)
    return item


def _size_hw(sample: dict) -> tuple[int, int]:
    return tuple(sample["rgb"].shape[:2])


def _with_valid(sample: dict) -> dict:
    """A shallow copy of the sample that carries an explicit "valid" mask."""
    out = dict(sample)
    if "valid" not in out:
        out["valid"] = valid_mask(out["depth"])
    return out


def _rng_from_torch() -> np.random.Generator:
    # Drawn from torch's global generator: reproducible after torch.manual_seed, distinct per worker.
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))


def _check_size(size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = (int(s) for s in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"a size must be positive (height, width), got {size}")
    return h, w


# ----------------------------------------------------------------------------------------------
# composition


class Compose:
    """Apply transforms in order, all drawing from one Generator per sample."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    @property
    def random(self) -> bool:
        return any(getattr(t, "random", False) for t in self.transforms)

    def __call__(self, sample: dict, rng: np.random.Generator | None = None) -> dict:
        if rng is None and any(getattr(t, "random", False) for t in self.transforms):
            rng = _rng_from_torch()  # only random pipelines consume torch's generator
        for t in self.transforms:
            sample = t(sample, rng)
        return sample

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


# ----------------------------------------------------------------------------------------------
# resizing


def resize_image(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8, bilinear; anti-aliased (area-like) when shrinking.

    Pillow's bilinear filter widens its support when it shrinks, like torch's antialias=True. It runs
    on one core, which suits DataLoader workers (multithreaded interpolation of small images is slower).
    """
    from PIL import Image

    h, w = size
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize((w, h), Image.BILINEAR))


def nearest_indices(old: int, new: int) -> np.ndarray:
    """Source index of each output pixel for nearest-neighbour resizing (pixel-centre convention)."""
    idx = np.floor((np.arange(new) + 0.5) * old / new).astype(np.int64)
    return np.clip(idx, 0, old - 1)


def resize_depth(depth_m: np.ndarray, size: tuple[int, int], mode: str = "nearest",
                 valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Resize a depth map WITHOUT inventing depth: every output value is one of the input's valid values.

    Bilinear interpolation would average a foreground and a background pixel at an object's edge
    into a "flying pixel" floating in empty space, and average real depth with 0 = no measurement.
    mode:
      "nearest" — each output pixel copies one input pixel (any size);
      "min"     — downsample by an integer factor: the nearest valid depth in each block;
      "median"  — downsample by an integer factor: the lower median of the valid depths in each block.
    Returns (depth (h, w) float32, valid (h, w) bool); blocks without a valid pixel stay invalid (0).
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    valid = valid_mask(depth) if valid is None else (np.asarray(valid, dtype=bool) & valid_mask(depth))
    (H, W), (h, w) = depth.shape, size
    if mode == "nearest":
        rows, cols = nearest_indices(H, h), nearest_indices(W, w)
        out_valid = valid[rows][:, cols]
        return np.where(out_valid, depth[rows][:, cols], 0).astype(np.float32), out_valid
    if mode not in ("min", "median"):
        raise ValueError(f"unknown depth resize mode {mode!r}; use 'nearest', 'min' or 'median'")
    if H % h or W % w or H // h != W // w:
        raise ValueError(f"depth mode {mode!r} downsamples by one integer factor; {H}x{W} -> {h}x{w} is "
                         "not one. Use mode='nearest' for other sizes.")
    f = H // h
    # (h, w, f*f) blocks; invalid pixels become +inf so that they sort last.
    blocks = np.where(valid, depth, np.inf).reshape(h, f, w, f).transpose(0, 2, 1, 3).reshape(h, w, f * f)
    count = np.isfinite(blocks).sum(-1)
    if mode == "min":
        out = blocks.min(-1)
    else:
        ordered = np.sort(blocks, axis=-1)
        pick = np.maximum(count - 1, 0) // 2          # lower median: always an existing value
        out = np.take_along_axis(ordered, pick[..., None], axis=-1)[..., 0]
    out_valid = count > 0
    return np.where(out_valid, out, 0).astype(np.float32), out_valid


def invented_depth_mask(resized_m, source_m, tol_m: float = 0.05) -> np.ndarray:
    """(h, w) bool: valid resized pixels whose depth is more than `tol_m` from every valid source pixel
    under or next to them — "flying pixels" a resize made up (lesson 02 counts them).

    A pixel on a smooth slope is within a few millimetres of a neighbour, so it is not flagged; a value
    averaged across a 1 m step, or with a hole's 0, is.
    """
    resized, source = np.asarray(resized_m, np.float32), np.asarray(source_m, np.float32)
    (H, W), (h, w) = source.shape, resized.shape
    rows, cols = nearest_indices(H, h), nearest_indices(W, w)
    reach_r, reach_c = int(np.ceil(H / h)), int(np.ceil(W / w))   # one output pixel's footprint
    src = np.where(valid_mask(source), source, np.inf)
    best = np.full((h, w), np.inf, np.float32)
    for dr in range(-reach_r, reach_r + 1):
        for dc in range(-reach_c, reach_c + 1):
            r, c = np.clip(rows + dr, 0, H - 1), np.clip(cols + dc, 0, W - 1)
            best = np.minimum(best, np.abs(resized - src[r][:, c]))
    return valid_mask(resized) & (best > tol_m)


class Resize:
    """Resize to `size` (H, W): the image bilinearly, depth without inventing values (`resize_depth`), K scaled."""

    def __init__(self, size, depth_mode: str = "nearest"):
        self.size = _check_size(size)
        self.depth_mode = depth_mode

    def __call__(self, sample: dict, rng=None) -> dict:
        old = _size_hw(sample)
        if old == self.size:
            return sample
        out = _with_valid(sample)
        out["rgb"] = resize_image(sample["rgb"], self.size)
        out["depth"], out["valid"] = resize_depth(sample["depth"], self.size, self.depth_mode, out["valid"])
        if "raw_depth" in sample:
            out["raw_depth"], _ = resize_depth(sample["raw_depth"], self.size, self.depth_mode)
        out["K"] = scale_intrinsics(sample["K"], old, self.size)
        return out

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, depth_mode={self.depth_mode!r})"


# ----------------------------------------------------------------------------------------------
# cropping and flipping


def crop_sample(sample: dict, top: int, left: int, height: int, width: int) -> dict:
    """Cut the window [top:top+height, left:left+width] out of every map; K's principal point moves."""
    out = _with_valid(sample)
    for key in SPATIAL_KEYS:
        if key in out:
            out[key] = out[key][top:top + height, left:left + width]
    out["K"] = crop_intrinsics(sample["K"], top, left)
    return out


class RandomCrop:
    """A random (H, W) window; depth, valid and K move with the image."""

    random = True

    def __init__(self, size):
        self.size = _check_size(size)

    def __call__(self, sample: dict, rng: np.random.Generator | None = None) -> dict:
        rng = rng if rng is not None else _rng_from_torch()
        (H, W), (h, w) = _size_hw(sample), self.size
        if h > H or w > W:
            raise ValueError(f"RandomCrop{self.size} is larger than the {H}x{W} image; "
                             "resize first (e.g. RandomScaleCrop) or crop smaller.")
        top, left = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
        return crop_sample(sample, top, left, h, w)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size})"


class CenterCrop:
    """The central (H, W) window; K moves with it."""

    def __init__(self, size):
        self.size = _check_size(size)

    def __call__(self, sample: dict, rng=None) -> dict:
        (H, W), (h, w) = _size_hw(sample), self.size
        if h > H or w > W:
            raise ValueError(f"CenterCrop{self.size} is larger than the {H}x{W} image.")
        return crop_sample(sample, (H - h) // 2, (W - w) // 2, h, w)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


def hflip_sample(sample: dict) -> dict:
    """Mirror every map left-right; the principal point mirrors too: cx' = W - 1 - cx."""
    out = dict(sample)
    for key in SPATIAL_KEYS:
        if key in out:
            out[key] = np.ascontiguousarray(out[key][:, ::-1])
    K = np.array(sample["K"], dtype=np.float32, copy=True)
    K[0, 2] = _size_hw(sample)[1] - 1 - K[0, 2]
    out["K"] = K
    return out


class RandomHorizontalFlip:
    """With probability p, mirror image, depth, valid (and raw depth) identically; K's cx mirrors."""

    random = True

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, sample: dict, rng: np.random.Generator | None = None) -> dict:
        rng = rng if rng is not None else _rng_from_torch()
        return hflip_sample(sample) if rng.random() < self.p else sample

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomScaleCrop:
    """Zoom in by a random factor in `scale`, then take a random (H, W) window.

    The image is first scaled (keeping its aspect ratio) to just cover `size`, times s ~ U(scale).
    Depth is resized with `resize_depth` (no invented values) and keeps its values: zooming is a longer
    focal length, which the scaled K records, not a camera moved closer.
    """

    random = True

    def __init__(self, size, scale: tuple[float, float] = (1.0, 1.25), depth_mode: str = "nearest"):
        self.size = _check_size(size)
        self.scale = scale
        self.depth_mode = depth_mode

    def __call__(self, sample: dict, rng: np.random.Generator | None = None) -> dict:
        rng = rng if rng is not None else _rng_from_torch()
        (H, W), (h, w) = _size_hw(sample), self.size
        s = max(h / H, w / W) * float(rng.uniform(*self.scale))
        scaled = (max(h, int(np.ceil(H * s))), max(w, int(np.ceil(W * s))))
        sample = Resize(scaled, self.depth_mode)(sample)
        return RandomCrop(self.size)(sample, rng)

    def __repr__(self) -> str:
        return f"RandomScaleCrop(size={self.size}, scale={self.scale})"


# ----------------------------------------------------------------------------------------------
# photometric: RGB only


class ColorJitter:
    """Random brightness, contrast and saturation (factors in [1 - x, 1 + x]), in random order; RGB only."""

    random = True

    def __init__(self, brightness: float = 0.2, contrast: float = 0.2, saturation: float = 0.2):
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation

    def __call__(self, sample: dict, rng: np.random.Generator | None = None) -> dict:
        rng = rng if rng is not None else _rng_from_torch()
        rgb = sample["rgb"].astype(np.float32)
        for op in rng.permutation(3):
            if op == 0 and self.brightness:
                rgb = rgb * rng.uniform(1 - self.brightness, 1 + self.brightness)
            elif op == 1 and self.contrast:
                mean = (rgb @ np.array([0.299, 0.587, 0.114], np.float32)).mean()
                rgb = (rgb - mean) * rng.uniform(1 - self.contrast, 1 + self.contrast) + mean
            elif op == 2 and self.saturation:
                gray = (rgb @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
                rgb = (rgb - gray) * rng.uniform(1 - self.saturation, 1 + self.saturation) + gray
            rgb = np.clip(rgb, 0, 255)
        out = dict(sample)
        out["rgb"] = (rgb + 0.5).astype(np.uint8)
        return out

    def __repr__(self) -> str:
        return f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation})"


class ChannelSwap:
    """With probability p, permute the R, G, B channels at random; RGB only."""

    random = True

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, sample: dict, rng: np.random.Generator | None = None) -> dict:
        rng = rng if rng is not None else _rng_from_torch()
        if rng.random() >= self.p:
            return sample
        out = dict(sample)
        out["rgb"] = np.ascontiguousarray(sample["rgb"][..., rng.permutation(3)])
        return out

    def __repr__(self) -> str:
        return f"ChannelSwap(p={self.p})"


class CameraEffects:
    """What a real sensor does to a photo, with probability p each: defocus blur, brightness-dependent
    noise and JPEG compression; RGB only (depth and K are untouched: none of these moves a pixel).

    blur_sigma (px), noise (the noise std of a mid-grey pixel, in 0-255 units; it grows with the square
    root of the brightness, as photon noise does) and jpeg_quality are (low, high) ranges. For
    synthetic rooms, whose renders are sharp and clean, when the model is meant for real photos
    (benchmarks/sim_to_real/sim_to_real.py measures it).
    """

    random = True

    def __init__(self, p: float = 0.5, blur_sigma=(0.3, 1.2), noise=(1.0, 6.0), jpeg_quality=(40, 90)):
        self.p, self.blur_sigma, self.noise, self.jpeg_quality = p, blur_sigma, noise, jpeg_quality

    def __call__(self, sample: dict, rng: np.random.Generator | None = None) -> dict:
        from io import BytesIO

        from PIL import Image, ImageFilter

        rng = rng if rng is not None else _rng_from_torch()
        rgb = sample["rgb"]
        if rng.random() < self.p:
            radius = float(rng.uniform(*self.blur_sigma))
            rgb = np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius)))
        if rng.random() < self.p:
            std_mid = float(rng.uniform(*self.noise))
            level = rgb.astype(np.float32)
            std = std_mid * np.sqrt(np.maximum(level, 1.0) / 128.0)
            rgb = np.clip(level + std * rng.standard_normal(rgb.shape, dtype=np.float32) + 0.5, 0, 255).astype(np.uint8)
        if rng.random() < self.p:
            buffer = BytesIO()
            quality = int(rng.integers(*self.jpeg_quality, endpoint=True))
            Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
            rgb = np.asarray(Image.open(BytesIO(buffer.getvalue())).convert("RGB"))
        out = dict(sample)
        out["rgb"] = np.ascontiguousarray(rgb, dtype=np.uint8)
        return out

    def __repr__(self) -> str:
        return (f"CameraEffects(p={self.p}, blur_sigma={self.blur_sigma}, noise={self.noise}, "
                f"jpeg_quality={self.jpeg_quality})")


# ----------------------------------------------------------------------------------------------
# presets


def train_transforms(size=(240, 320), scale: tuple[float, float] = (1.0, 1.0), flip: float = 0.5,
                     jitter: float = 0.2, channel_swap: float = 0.25, camera_effects: float = 0.0) -> Compose:
    """The course's training augmentation at output `size` (H, W): resize-to-cover and crop, flip, colour, channels.

    No zoom by default (`scale=(1.0, 1.0)`): the network never sees `K`, so a zoomed image with its depth
    unchanged is a different camera whose labels contradict the training camera's. On synthetic rooms a
    zoom of 1-1.25x cost a 16-channel U-Net 0.10 of held-out delta1 (0.72 instead of 0.82, lesson 03's
    recipe, on the flat-lit rooms of renderer 1). Pass `scale=(1.0, 1.25)` to zoom, e.g. for relative
    (median-scaled) depth.
    jitter: brightness, contrast and saturation are each scaled by a random factor in 1 -/+ jitter
    (default 0.2). A stronger jitter (0.5) was measured with lesson 03's recipe on four real NYU frames
    and not kept: with one training seed it looked like a gain, over three seeds it was within their
    spread (benchmarks/RESULTS.md).
    camera_effects: the probability of each of `CameraEffects`' blur, noise and JPEG (default 0: off).
    """
    steps = [RandomScaleCrop(size, scale), RandomHorizontalFlip(flip), ColorJitter(jitter, jitter, jitter)]
    if camera_effects:
        steps.append(CameraEffects(p=camera_effects))
    return Compose(steps + [ChannelSwap(channel_swap)])


def eval_transforms(size=(240, 320)) -> Compose:
    """No randomness: resize to `size` (H, W) (depth by nearest neighbour, K scaled)."""
    return Compose([Resize(size)])
