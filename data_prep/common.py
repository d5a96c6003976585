"""Helpers shared by the converters: progress bars, input checks, intrinsics, JPEG pass-through."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

from course_lib.errors import DataFormatError

# The readers live in course_lib.data.files (datasets read the same files); re-exported for the converters.
from course_lib.data.files import PNG_SIGNATURE, png_header, read_depth_png, read_rgb  # noqa: F401


def progress(iterable, total: int | None, desc: str):
    """A tqdm progress bar on stderr (quiet when stderr is not a terminal and tqdm is missing)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="frame", file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5)


def require_file(path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: {what} not found; check the path.")
    return path


def plain_jpeg(data: bytes) -> bool:
    """True when `data` is a baseline-readable RGB JPEG whose pixels are already upright (no EXIF turn)."""
    from PIL import Image

    if not data.startswith(b"\xff\xd8"):
        return False
    try:
        with Image.open(io.BytesIO(data)) as im:
            orientation = im.getexif().get(0x0112, 1)
            return im.format == "JPEG" and im.mode == "RGB" and orientation == 1
    except Exception:
        return False


def parse_intrinsics(values, height: int, width: int):
    """--intrinsics: four numbers fx fy cx cy, or one path to a .npy / text file holding a 3x3 matrix."""
    from course_lib.geometry import nyu_intrinsics

    if not values:
        return nyu_intrinsics(height, width), "assumed: NYU Kinect intrinsics scaled to the frame size"
    if len(values) == 1:
        path = require_file(values[0], "intrinsics file")
        K = np.load(path) if path.suffix == ".npy" else np.loadtxt(path)
        K = np.asarray(K, np.float32)
        if K.shape != (3, 3):
            raise DataFormatError(f"{path}: intrinsics must be a 3x3 matrix, found shape {K.shape}.")
        return K, f"from {path.name}"
    if len(values) != 4:
        raise DataFormatError(f"--intrinsics takes fx fy cx cy (4 numbers) or one file, got {len(values)} values.")
    try:
        fx, fy, cx, cy = (float(v) for v in values)
    except ValueError:
        raise DataFormatError(f"--intrinsics: {values} are not four numbers fx fy cx cy.") from None
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float32), "given on the command line"
