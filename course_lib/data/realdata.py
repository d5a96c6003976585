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


def read_frame_folder(folder, K_default=None) -> RealFrame:
    """One real frame from a folder holding rgb.png (8-bit), depth.png (uint16 millimetres, 0 = no
    measurement, registered to the photo) and intrinsics.npy (the photo's 3x3 camera matrix in pixels;
    `K_default` when the file is absent and a default is given). Named after the folder. A missing file
    or a depth map of another size than the photo raises CourseError, naming the folder."""
    from ..errors import CourseError

    folder = Path(folder)
    needed = ["rgb.png", "depth.png"] + ([] if K_default is not None else ["intrinsics.npy"])
    missing = [name for name in needed if not (folder / name).exists()]
    if missing:
        raise CourseError(f"{folder} lacks {', '.join(missing)}; a frame folder needs rgb.png, depth.png "
                          "(uint16 millimetres) and intrinsics.npy (3x3).")
    rgb, depth = _rgb(folder / "rgb.png"), _depth_mm_png(folder / "depth.png")
    K = np.load(folder / "intrinsics.npy").astype(np.float32) if (folder / "intrinsics.npy").exists() \
        else np.asarray(K_default, np.float32)
    if depth.shape != rgb.shape[:2] or K.shape != (3, 3):
        raise CourseError(f"{folder}: depth.png is {depth.shape}, rgb.png {rgb.shape[:2]} and intrinsics.npy "
                          f"{K.shape}; the depth must be registered to the photo (same size) and K be 3x3.")
    return RealFrame(folder.name, rgb, depth, K)


def real_frames_in(folder) -> list[RealFrame]:
    """Every frame folder (`read_frame_folder`) directly inside `folder`, sorted by name: real RGB-D frames
    from other datasets in one layout (benchmarks/sim_to_real/other_frames.py)."""
    return [read_frame_folder(sub) for sub in sorted(p for p in Path(folder).iterdir() if p.is_dir())]


def real_nyu_frames(folder=None) -> list[RealFrame]:
    """The real frames with depth in `folder` (official test frame 1339, then the basement frames); [] when absent."""
    from ..geometry import nyu_intrinsics

    root = realdata_folder(folder)
    if root is None or not root.is_dir():
        return []
    frames = []
    official = root / "nyu_official_test_1339"
    if (official / "rgb.png").exists():
        frame = read_frame_folder(official, K_default=nyu_intrinsics())
        frames.append(RealFrame("official_test_1339", frame.rgb, frame.depth_m, frame.K))
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
