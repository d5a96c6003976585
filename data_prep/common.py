"""Helpers shared by the converters: progress bars, reading images and depth PNGs with their checks."""
from __future__ import annotations

import io
import struct
import sys
from pathlib import Path

import numpy as np

from course_lib.errors import DataFormatError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOUR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}


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


def png_header(data: bytes, name: str) -> tuple[int, int, int, int]:
    """(width, height, bit_depth, colour_type) from the IHDR chunk of PNG file bytes."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 33:
        raise DataFormatError(f"{name}: is not a PNG file; depth maps must be 16-bit grayscale PNGs.")
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", data[16:26])
    return width, height, bit_depth, colour_type


def read_depth_png(data: bytes, name: str, bits: int = 16) -> np.ndarray:
    """Decode a single-channel PNG of exactly `bits` bits per pixel -> (H, W) uint16 (bits=16) or uint8.

    The bit depth decides the unit, so a wrong one is refused: a 16-bit PNG read as metres would be
    a thousand times too deep, an 8-bit PNG cannot hold millimetres (lesson 01).
    """
    from PIL import Image

    width, height, bit_depth, colour_type = png_header(data, name)
    if colour_type != 0:
        raise DataFormatError(f"{name}: holds {PNG_COLOUR_TYPES.get(colour_type, 'colour')} pixels, not a depth map "
                              "(single-channel); were the RGB and depth files swapped?")
    if bit_depth != bits:
        hint = ("an 8-bit depth PNG holds only 256 levels, so it cannot be millimetres; DenseDepth's train "
                "depth (255 = 10 m) is read by `data_prep densedepth-zip`" if bit_depth == 8 else
                "expected 8-bit codes here (255 = 10 m), found a 16-bit PNG, probably millimetres")
        raise DataFormatError(f"{name}: is a {bit_depth}-bit PNG, expected {bits}-bit: {hint}.")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            depth = np.asarray(im)
    except Exception as exc:
        raise DataFormatError(f"{name}: the PNG cannot be decoded, it is probably truncated ({exc}).") from None
    depth = depth.astype(np.uint16 if bits == 16 else np.uint8)
    if depth.shape != (height, width):
        raise DataFormatError(f"{name}: decoded to shape {depth.shape}, expected ({height}, {width}).")
    return depth


def read_rgb(data: bytes, name: str) -> np.ndarray:
    """Decode any photo to upright (H, W, 3) uint8 RGB: EXIF rotation applied, grayscale/RGBA converted."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                raise DataFormatError(f"{name}: is a {im.mode} single-channel image, which looks like depth, "
                                      "not a photo; were the RGB and depth files swapped?")
            upright = ImageOps.exif_transpose(im)
            return np.asarray(upright.convert("RGB"))
    except DataFormatError:
        raise
    except Exception as exc:
        raise DataFormatError(f"{name}: the image cannot be decoded, it is probably truncated or not an "
                              f"image ({exc}).") from None


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
