"""Depth from your own photos: read any image file safely, predict, and write depth pictures and files.

For each photo `predict_file` writes, into the output folder:
    NAME_depth.png     the depth as a colour picture (course_lib.viz.colorize_depth: near blue, far red)
    NAME_depth16.png   16-bit PNG, depth in millimetres (0 = no depth; clipped at 65535 mm)
    NAME_depth.npy     (on request) float32 depth in metres
    NAME.ply           (on request) coloured point cloud, through the camera intrinsics

Introduced in lesson 10 (depth in 3D and deployment); the CLI's `predict` command calls it.
"""
from __future__ import annotations

import math
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
    K: the photo's 3x3 intrinsics in pixels (default: `default_photo_intrinsics`). native_size,
    or a model without a camera: run at the photo's own size (right only if it matches the training camera).
    """
    from .camera import predict_at_camera
    from .data.transforms import normalize_image
    image = normalize_image(rgb)[None]                        # (1, 3, H, W) ImageNet-normalised
    camera = None if native_size else getattr(model, "camera", None)
    K = default_photo_intrinsics(*rgb.shape[:2]) if K is None else np.asarray(K, dtype=np.float64)
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


# EXIF tags of the Exif IFD that give a photo's focal length (CIPA DC-008)
_EXIF_IFD, _FOCAL_LENGTH, _FOCAL_PLANE_X_RES, _FOCAL_PLANE_UNIT, _FOCAL_35MM = 0x8769, 0x920A, 0xA20E, 0xA210, 0xA405
_MM_PER_UNIT = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}      # FocalPlaneResolutionUnit: inch, cm, mm, micrometre
_UNIT_NAME = {2: "inch", 3: "cm", 4: "mm", 5: "micrometre"}
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)          # a 35 mm film frame, the reference of FocalLengthIn35mmFilm


def default_photo_intrinsics(height: int, width: int) -> np.ndarray:
    """NYU's camera for a photo whose camera is unknown: its field of view along the photo's long side,
    NYU's (nearly square) pixels, turned with a portrait photo, the principal point moved with the centre.

    For a 4:3 landscape photo this is exactly `nyu_intrinsics(height, width)`; a 16:9 or a portrait photo
    keeps square pixels instead of NYU's camera stretched to its shape.
    """
    from .geometry import NYU_CX, NYU_CY, NYU_FX, NYU_FY, NYU_HEIGHT, NYU_WIDTH

    portrait = height > width
    long_side, short_side = (height, width) if portrait else (width, height)
    s = long_side / NYU_WIDTH                                     # NYU's 640 px side becomes the long side
    f_long, f_short = NYU_FX * s, NYU_FY * s
    c_long = (NYU_CX + 0.5) * s - 0.5                             # pixel-centre convention, as scale_intrinsics
    c_short = (NYU_CY + 0.5) * s - 0.5 + (short_side - NYU_HEIGHT * s) / 2
    fx, fy, cx, cy = (f_short, f_long, c_short, c_long) if portrait else (f_long, f_short, c_long, c_short)
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float32)


def exif_focal_px(path: str | os.PathLike, original_hw: tuple[int, int]) -> tuple[float, str] | None:
    """The focal length in pixels of the photo at `original_hw` (as shown), from its EXIF, and which tag it came
    from; None when the file records neither FocalLengthIn35mmFilm nor FocalLength with the sensor's resolution.

    FocalLengthIn35mmFilm f35 matches the photo's diagonal to a 36x24 mm frame's: f = f35 * diagonal_px / 43.27.
    FocalLength f_mm with FocalPlaneXResolution (pixels per unit on the sensor): f = f_mm * pixels per mm.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            exif = image.getexif().get_ifd(_EXIF_IFD)
    except (OSError, ValueError, SyntaxError):
        return None
    h, w = original_hw
    try:
        f35 = float(exif.get(_FOCAL_35MM) or 0)
        if f35 > 0:
            return f35 * math.hypot(h, w) / FULL_FRAME_DIAGONAL_MM, f"EXIF FocalLengthIn35mmFilm {f35:g} mm"
        f_mm, x_res = float(exif.get(_FOCAL_LENGTH) or 0), float(exif.get(_FOCAL_PLANE_X_RES) or 0)
        unit = int(exif.get(_FOCAL_PLANE_UNIT, 2))               # EXIF's default unit is the inch
        if f_mm > 0 and x_res > 0 and unit in _MM_PER_UNIT:
            # pixels per mm on the sensor, at the stored size (square pixels: the same after an EXIF rotation)
            return (f_mm * x_res / _MM_PER_UNIT[unit],
                    f"EXIF FocalLength {f_mm:g} mm at {x_res:g} px per {_UNIT_NAME[unit]} on the sensor")
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return None


def photo_camera(path: str | os.PathLike | None, size_hw: tuple[int, int], original_hw: tuple[int, int],
                 intrinsics=None) -> tuple[np.ndarray, str]:
    """The 3x3 camera matrix of a photo at `size_hw` (it may have been shrunk from `original_hw`) and where
    it came from, in words: `intrinsics` (fx, fy, cx, cy at the original size) when given, else the focal
    length in the photo's EXIF (square pixels, principal point at the centre), else
    `default_photo_intrinsics`. `predict_file` and so `python -m course_lib predict` use it (lesson 10).
    """
    from .geometry import scale_intrinsics

    h, w = original_hw
    if intrinsics is not None:
        fx, fy, cx, cy = (float(v) for v in intrinsics)
        source = f"--intrinsics: fx {fx:.1f} px, fy {fy:.1f} px"
    else:
        found = exif_focal_px(path, original_hw) if path is not None else None
        if found is not None:
            f, tag = found
            fx = fy = f
            cx, cy = (w - 1) / 2, (h - 1) / 2
            source = f"{tag}: fx = fy = {f:.1f} px at {h}x{w}"
        else:
            K = default_photo_intrinsics(h, w)
            fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
            source = (f"no focal length in the photo: NYU's field of view along its long side, fx {fx:.1f} px, "
                      f"fy {fy:.1f} px at {h}x{w} (give --intrinsics FX FY CX CY if you know the camera)")
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float32)
    return scale_intrinsics(K, original_hw, size_hw), source


def predict_file(model: torch.nn.Module, path: str | os.PathLike, out_dir: str | os.PathLike,
                 npy: bool = False, ply: bool = False, intrinsics=None, max_size: int | None = None,
                 name: str | None = None, native_size: bool = False) -> tuple[dict, tuple[int, int], str]:
    """Predict the depth of one photo and write its files into `out_dir`.

    intrinsics: (fx, fy, cx, cy) in pixels of the original photo (default: the focal length in its EXIF,
    else `default_photo_intrinsics`; `photo_camera`). They set the size the model runs at (its training
    focal length, unless native_size) and the point cloud. Each file is written under a temporary name
    and renamed. Returns ({kind: path}, the (h, w) the model ran at, where the camera came from).
    """
    from .geometry import depth_to_point_cloud, write_ply
    from .viz import colorize_depth

    path, out_dir = Path(path), Path(out_dir)
    rgb = load_photo(path, max_size=max_size)                 # (H, W, 3) uint8
    K, camera_source = photo_camera(path, rgb.shape[:2], photo_size(path), intrinsics)
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
    return written, run_hw, camera_source


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
