"""`folder`: any folder of RGB photos with matching 16-bit depth PNGs -> a depth pack.

This is how a learner brings their own RGB-D camera data, and how BTS-style NYU folders
(`rgb_00042.jpg` + `sync_depth_00042.png`, millimetres) are read. Files are paired by a key: the
path below the glob's fixed folder, with the file stem stripped of known prefixes and suffixes
(`rgb_`, `sync_depth_`, `_colors`, `_depth`, ...). depth_m = png_value * depth_scale; 0 = invalid.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from course_lib.data.pack import PackWriter
from course_lib.errors import DataFormatError

from course_lib.data.files import match_pairs, pair_key, read_depth_png, read_rgb  # noqa: F401 (pair_key re-exported)

from .common import parse_intrinsics, plain_jpeg, progress


def convert_folder(rgb_pattern: str, depth_pattern: str, depth_scale: float, out, split: str = "train",
                   intrinsics=None, rgb_format: str = "raw", overwrite: bool = False, source: str | None = None,
                   max_depth_m: float = 100.0, show_progress: bool = True) -> Path:
    """Pair RGB photos with 16-bit depth PNGs and write one split: depth_m = value * depth_scale."""
    if not depth_scale > 0:
        raise DataFormatError(f"--depth-scale must be a positive number of metres per PNG unit (0.001 for "
                              f"millimetres), got {depth_scale}.")
    out = Path(out)
    pairs, lone_rgb, lone_depth = match_pairs(rgb_pattern, depth_pattern)
    for files, what in ((lone_rgb, "RGB files without depth"), (lone_depth, "depth files without RGB")):
        if files:
            shown = ", ".join(str(f) for f in files[:10]) + (" ..." if len(files) > 10 else "")
            print(f"warning: {len(files)} {what} (skipped): {shown}", file=sys.stderr)
    if not pairs:
        raise DataFormatError(f"no RGB file in {rgb_pattern!r} has a depth file in {depth_pattern!r} with the same "
                              "name key (e.g. rgb_00042.jpg and sync_depth_00042.png); check the patterns.")
    first_depth = read_depth_png(pairs[0][1].read_bytes(), str(pairs[0][1]))
    h, w = first_depth.shape
    K, k_origin = parse_intrinsics(intrinsics, h, w)
    if intrinsics is None or len(intrinsics) == 0:
        print(f"note: no --intrinsics given; storing NYU's camera scaled to {w}x{h}.", file=sys.stderr)
    attrs = {"source": source or f"image folder: --rgb {rgb_pattern} --depth {depth_pattern}",
             "split_origin": f"all matched files of the folder as split {split!r}",
             "depth_scale_source": f"PNG value x {depth_scale} m", "intrinsics": K, "intrinsics_origin": k_origin}
    with PackWriter(out, overwrite=overwrite, attrs=attrs) as writer:
        sw = writer.create_split(split, len(pairs), h, w, rgb_format=rgb_format, max_depth_m=max_depth_m,
                                 attrs={"split_origin": attrs["split_origin"]})
        bar = progress(pairs, len(pairs), f"folder {split}") if show_progress else pairs
        for rgb_path, depth_path in bar:
            codes = read_depth_png(depth_path.read_bytes(), str(depth_path))
            data = rgb_path.read_bytes()
            rgb = data if rgb_format == "jpeg" and plain_jpeg(data) else read_rgb(data, str(rgb_path))
            size = rgb.shape[:2] if isinstance(rgb, np.ndarray) else (h, w)
            if size != codes.shape:
                raise DataFormatError(f"{rgb_path}: the photo is {size[1]}x{size[0]} pixels but its depth "
                                      f"{depth_path.name} is {codes.shape[1]}x{codes.shape[0]}; they must agree.")
            if codes.shape != (h, w):
                raise DataFormatError(f"{depth_path}: is {codes.shape[1]}x{codes.shape[0]}, the first frame was "
                                      f"{w}x{h}; a pack split holds one frame size (resize first).")
            depth_m = codes.astype(np.float64) * depth_scale
            if depth_m.max(initial=0) > max_depth_m:
                raise DataFormatError(f"{depth_path}: reaches {depth_m.max():.1f} m with --depth-scale "
                                      f"{depth_scale}; is the scale right (0.001 for millimetres)?")
            sw.append(rgb, depth_m.astype(np.float32))
    return out
