"""A few real NYU Depth V2 frames, for checks against data nobody here made (lessons 08 and 10).

The course does not ship them: `COURSE_REALDATA` (or `folder=`) names a folder laid out as
    nyu_official_test_1339/rgb.png, depth.png (uint16 millimetres, 0 = no measurement), intrinsics.npy
    nyu_sync_basement/rgb_XXXXX.jpg + sync_depth_XXXXX.png (millimetres; NYU's camera)
    nyu_test_photos/*.png (photos without depth)
Far too few to train on; enough to see the sim-to-real gap as a number and a picture.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REALDATA_ENV = "COURSE_REALDATA"


@dataclass
class RealFrame:
    name: str
    rgb: np.ndarray        # (H, W, 3) uint8
    depth_m: np.ndarray    # (H, W) float32 metres of the raw Kinect depth, 0 = no measurement
    K: np.ndarray          # (3, 3) float32 pixels


def realdata_folder(folder=None) -> Path | None:
    """`folder`, else `$COURSE_REALDATA`, else None (the frames are not on this machine)."""
    folder = folder or os.environ.get(REALDATA_ENV)
    return Path(folder) if folder else None


def _depth_mm_png(path: Path) -> np.ndarray:
    from .files import read_depth_png

    return read_depth_png(path.read_bytes(), str(path), bits=16).astype(np.float32) / 1000.0


def _rgb(path: Path) -> np.ndarray:
    from .files import read_rgb

    return read_rgb(path.read_bytes(), str(path))


def real_nyu_frames(folder=None) -> list[RealFrame]:
    """The real frames with depth in `folder` (official test frame 1339, then the basement frames); [] when absent."""
    from ..geometry import nyu_intrinsics

    root = realdata_folder(folder)
    if root is None or not root.is_dir():
        return []
    frames = []
    official = root / "nyu_official_test_1339"
    if (official / "rgb.png").exists():
        K = np.load(official / "intrinsics.npy").astype(np.float32) if (official / "intrinsics.npy").exists() \
            else nyu_intrinsics()
        frames.append(RealFrame("official_test_1339", _rgb(official / "rgb.png"),
                                _depth_mm_png(official / "depth.png"), K))
    for rgb_path in sorted((root / "nyu_sync_basement").glob("rgb_*.jpg")):
        depth_path = rgb_path.with_name(rgb_path.name.replace("rgb_", "sync_depth_").replace(".jpg", ".png"))
        if depth_path.exists():
            rgb = _rgb(rgb_path)
            frames.append(RealFrame(f"basement_{rgb_path.stem[4:]}", rgb, _depth_mm_png(depth_path),
                                    nyu_intrinsics(*rgb.shape[:2])))
    return frames


def real_nyu_photos(folder=None) -> list[Path]:
    """The real NYU photos without depth (nyu_test_photos/*.png), sorted; [] when absent."""
    root = realdata_folder(folder)
    return sorted((root / "nyu_test_photos").glob("*.png")) if root is not None else []
