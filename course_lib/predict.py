"""Depth from your own photos: read any image file safely, predict, and write depth pictures and files.

For each photo `predict_file` writes, into the output folder:
    NAME_depth.png     the depth as a colour picture (course_lib.viz.colorize_depth: near blue, far red)
    NAME_depth16.png   16-bit PNG, depth in millimetres (0 = no depth; clipped at 65535 mm)
    NAME_depth.npy     (on request) float32 depth in metres
    NAME.ply           (on request) coloured point cloud, through the camera intrinsics

Introduced in lesson 10 (depth in 3D and deployment); the CLI's `predict` command calls it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .errors import DataFormatError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")


def load_photo(path: str | os.PathLike, max_size: int | None = None) -> np.ndarray:
    """Any photo as (H, W, 3) uint8 RGB, upright: EXIF rotation applied; grayscale, RGBA (over white),
    palette, CMYK and 16-bit images converted. max_size: shrink so that the longer side is at most this.

    Raises DataFormatError "PATH: not a readable image (...)" for a missing, corrupt or non-image file.
    """
    from PIL import Image, ImageOps

    path = Path(path)
    try:
        with Image.open(path) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except Exception as exc:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ValueError, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFormatError(f"{path}: not a readable image ({reason})") from None

    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):   # 16-bit or 32-bit single channel
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I") and values.max(initial=0) > 255 else 255.0
        if image.mode == "F" and values.max(initial=0) <= 1.0:
            peak = 1.0
        gray = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        image = Image.fromarray(gray, mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB")
    if max_size is not None and max(image.size) > max_size:
        scale = max_size / max(image.size)
        new_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(new_size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8).copy()


def photo_size(path: str | os.PathLike) -> tuple[int, int]:
    """(H, W) of a photo as it is shown (after EXIF rotation), before any shrinking."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image)
        return upright.height, upright.width


@torch.no_grad()
def predict_photo(model: torch.nn.Module, rgb: np.ndarray, K=None, native_size: bool = False):
    """(H, W, 3) uint8 RGB -> ((H, W) float32 depth in metres at the photo's size, (h, w) the model ran at).

    The photo is resized so that its focal length equals the one the model was trained for
    (`model.camera`, set by `load_model`; course_lib.camera), and the prediction is upsampled back.
    K: the photo's 3x3 intrinsics in pixels (default: NYU's camera scaled to the photo). native_size,
    or a model without a camera: run at the photo's own size (right only if it matches the training camera).
    """
    from .camera import predict_at_camera
    from .data.transforms import normalize_image
    from .geometry import nyu_intrinsics

    image = normalize_image(rgb)[None]                        # (1, 3, H, W) ImageNet-normalised
    camera = None if native_size else getattr(model, "camera", None)
    K = nyu_intrinsics(*rgb.shape[:2]) if K is None else np.asarray(K, dtype=np.float64)
    depth_m, run_hw = predict_at_camera(model, image, K, camera)     # (1, 1, H, W)
    return depth_m[0, 0].float().cpu().numpy(), run_hw


def trained_on_note(model: torch.nn.Module) -> str | None:
    """One sentence for a model that learnt depth from the synthetic rooms alone and is given photos; else None.

    Two cases, measured on real NYU frames (benchmarks/RESULTS.md). From a random start such a model's maps
    are only a little better shaped than a flat wall and their metric scale is not read from the photo:
    on 20 frames of NYU's official test split the recipe's U-Nets score delta1 0.32 where one constant depth
    scores 0.29. With an encoder pretrained on ImageNet photos (the course's model for photos, lesson 06) it
    reads the layout of a real room, but its metres are still learnt from rendered rooms. `model.trained_on`
    and the encoder's weights are set by `load_model` from the checkpoint.
    """
    from .models.encoders import encoder_weights

    record = getattr(model, "trained_on", None)
    if not isinstance(record, dict) or record.get("synthetic") is not True:
        return None
    if (encoder_weights(model) or "").startswith("ImageNet"):
        return ("this model learnt depth from synthetic rooms only, on an encoder pretrained on ImageNet photos: on "
                "real photos it gets the layout of a room roughly right, but its metres are approximate (README: "
                "'Synthetic rooms on real photos'); for accurate metric depth, fine-tune it on a depth pack of real frames.")
    return ("this model learnt from synthetic rooms only: on real photos its layout is rough and its metric "
            "scale is not to be trusted (README: 'Synthetic rooms on real photos'); start from ImageNet weights "
            "(lesson 06's model for photos) or train on a depth pack of real frames.")


def predict_depth(model: torch.nn.Module, rgb: np.ndarray, K=None, native_size: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float32 depth in metres at the photo's size (see `predict_photo`)."""
    return predict_photo(model, rgb, K, native_size)[0]


def depth_to_mm16(depth_m: np.ndarray) -> np.ndarray:
    """float metres -> uint16 millimetres, rounded, clipped to 65535; 0 where depth is missing or invalid."""
    depth = np.asarray(depth_m, dtype=np.float64)
    ok = np.isfinite(depth) & (depth > 0)
    mm = np.where(ok, np.rint(depth * 1000.0), 0)
    return np.clip(mm, 0, 65535).astype(np.uint16)


def _save_png(array: np.ndarray, path: Path) -> Path:
    from PIL import Image

    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(array).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def _save_npy(array: np.ndarray, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)
    return path


def photo_intrinsics(size_hw: tuple[int, int], original_hw: tuple[int, int], intrinsics=None) -> np.ndarray:
    """The 3x3 camera matrix for a photo at `size_hw`: given (fx, fy, cx, cy) at the photo's original
    size, or NYU's camera scaled, then scaled with the photo when it was shrunk."""
    from .geometry import nyu_intrinsics, scale_intrinsics

    if intrinsics is None:
        return nyu_intrinsics(*size_hw)
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float32)
    return scale_intrinsics(K, original_hw, size_hw)


def predict_file(model: torch.nn.Module, path: str | os.PathLike, out_dir: str | os.PathLike,
                 npy: bool = False, ply: bool = False, intrinsics=None, max_size: int | None = None,
                 name: str | None = None, native_size: bool = False) -> tuple[dict, tuple[int, int]]:
    """Predict the depth of one photo and write its files into `out_dir`; returns ({kind: path},
    the (h, w) the model ran at).

    intrinsics: (fx, fy, cx, cy) in pixels of the original photo (default: NYU's camera scaled to the
    photo). They set the size the model runs at (its training focal length, unless native_size) and
    the point cloud. Each file is written under a temporary name and renamed.
    """
    from .geometry import depth_to_point_cloud, write_ply
    from .viz import colorize_depth

    path, out_dir = Path(path), Path(out_dir)
    rgb = load_photo(path, max_size=max_size)                 # (H, W, 3) uint8
    K = photo_intrinsics(rgb.shape[:2], photo_size(path), intrinsics)
    depth_m, run_hw = predict_photo(model, rgb, K, native_size)   # (H, W) metres
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = name or path.stem
    written = {
        "color": _save_png(colorize_depth(depth_m), out_dir / f"{stem}_depth.png"),
        "mm16": _save_png(depth_to_mm16(depth_m), out_dir / f"{stem}_depth16.png"),
    }
    if npy:
        written["npy"] = _save_npy(depth_m.astype(np.float32), out_dir / f"{stem}_depth.npy")
    if ply:
        points, colors = depth_to_point_cloud(depth_m, K, rgb)
        written["ply"] = write_ply(out_dir / f"{stem}.ply", points, colors)
    return written, run_hw


def expand_inputs(inputs) -> list[Path]:
    """Files as given, and the image files inside given folders (sorted); a missing path stays in the
    list so the caller reports it."""
    files = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            files.extend(sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            files.append(item)
    return files
