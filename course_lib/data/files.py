"""Reading the files a depth dataset is made of: photos, depth PNGs, and pairing them by name.

Shared by the datasets (`FolderPairs`) and the converters (`python -m data_prep folder`), so that both
read a folder the same way. Each reader refuses input in the wrong units or format with one sentence
naming the file (lesson 01: a 16-bit millimetre PNG must never become metres).
"""
from __future__ import annotations

import glob
import io
import re
import struct
from pathlib import Path

import numpy as np

from ..errors import DataFormatError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOUR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}
PREFIXES = ("sync_depth_", "raw_depth_", "depth_", "rgb_", "color_", "colour_", "colors_", "image_", "img_")
SUFFIXES = ("_colors", "_color", "_colour", "_rgb", "_image", "_img", "_depth", "_sync_depth")
WHOLE_STEMS = {"rgb", "depth", "image", "color", "colour", "colors", "img", "sync_depth", "raw_depth"}


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


def _glob_root(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard."""
    parts = Path(pattern).parts
    fixed = [p for p in parts[:len(parts) - 1]]
    root = []
    for part in fixed:
        if any(c in part for c in "*?["):
            break
        root.append(part)
    return Path(*root) if root else Path(".")


def pair_key(path: Path, root: Path) -> str:
    """Key shared by an RGB file and its depth file, e.g. scene/rgb_00042.jpg -> 'scene/00042'."""
    stem = path.stem.lower()
    if stem in WHOLE_STEMS:
        stem = ""
    else:
        for prefix in PREFIXES:
            if stem.startswith(prefix):
                stem = stem[len(prefix):]
                break
        for suffix in SUFFIXES:
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
                break
    folder = path.parent.relative_to(root).as_posix() if path.parent != root else ""
    return "/".join(p for p in (folder if folder != "." else "", stem) if p)


def _natural(key: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def match_pairs(rgb_pattern: str, depth_pattern: str) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """(pairs, unmatched RGB files, unmatched depth files), pairs sorted by key in natural order."""
    def collect(pattern, what):
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not files:
            raise DataFormatError(f"{what} pattern {pattern!r} matches no files; check the path and quote the "
                                  "pattern so that the shell does not expand it.")
        root = _glob_root(pattern)
        keyed = {}
        for f in files:
            key = pair_key(f, root)
            if key in keyed:
                raise DataFormatError(f"{what} files {keyed[key]} and {f} have the same key {key!r}; narrow the "
                                      "pattern so that each frame has one file.")
            keyed[key] = f
        return keyed

    rgb, depth = collect(rgb_pattern, "--rgb"), collect(depth_pattern, "--depth")
    common = sorted(set(rgb) & set(depth), key=_natural)
    pairs = [(rgb[k], depth[k]) for k in common]
    return (pairs, [rgb[k] for k in sorted(set(rgb) - set(depth), key=_natural)],
            [depth[k] for k in sorted(set(depth) - set(rgb), key=_natural)])
