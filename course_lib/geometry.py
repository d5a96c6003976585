"""Camera geometry: intrinsics, back-projection of depth to 3-D points, normals, PLY files.

Conventions: pixel (u, v) = (column, row); camera coordinates x right, y down, z forward (metres);
K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels. Introduced in lesson 10.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# The Kinect colour camera of NYU Depth V2 at 480x640 (the values the toolbox and BTS use).
NYU_HEIGHT, NYU_WIDTH = 480, 640
NYU_FX, NYU_FY, NYU_CX, NYU_CY = 518.8579, 519.4696, 325.5824, 253.7362


def nyu_intrinsics(height: int = NYU_HEIGHT, width: int = NYU_WIDTH) -> np.ndarray:
    """NYU's camera matrix (3, 3) float32, scaled to an image of `height` x `width` pixels."""
    return scale_intrinsics(np.array([[NYU_FX, 0, NYU_CX], [0, NYU_FY, NYU_CY], [0, 0, 1]], np.float32),
                            (NYU_HEIGHT, NYU_WIDTH), (height, width))


def scale_intrinsics(K, old_size: tuple[int, int], new_size: tuple[int, int]) -> np.ndarray:
    """Intrinsics of an image resized from old_size (H, W) to new_size (H, W).

    Uses the pixel-corner convention: a pixel centre at u maps to (u + 0.5) * s - 0.5.
    """
    sy, sx = new_size[0] / old_size[0], new_size[1] / old_size[1]
    K = np.array(K, dtype=np.float32, copy=True)
    K[0, 0] *= sx
    K[1, 1] *= sy
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return K


def crop_intrinsics(K, top: int, left: int) -> np.ndarray:
    """Intrinsics of the image cropped so that pixel (left, top) becomes (0, 0)."""
    K = np.array(K, dtype=np.float32, copy=True)
    K[0, 2] -= left
    K[1, 2] -= top
    return K


def backproject(depth_m, K) -> np.ndarray:
    """(H, W) depth in metres -> (H, W, 3) camera-frame points (x right, y down, z forward)."""
    depth = np.asarray(depth_m, dtype=np.float32)
    h, w = depth.shape
    fx, fy, cx, cy = K[0][0], K[1][1], K[0][2], K[1][2]
    u = np.arange(w, dtype=np.float32)[None, :]
    v = np.arange(h, dtype=np.float32)[:, None]
    x = (u - cx) / fx * depth
    y = (v - cy) / fy * depth
    return np.stack([x, np.broadcast_to(y, depth.shape), depth], axis=-1)


def depth_to_point_cloud(depth_m, K, rgb=None, stride: int = 1, max_depth: float | None = None):
    """Valid pixels of a depth map as an (N, 3) point array, and (N, 3) uint8 colours when `rgb` is given."""
    points = backproject(depth_m, K)[::stride, ::stride]
    depth = points[..., 2]
    mask = np.isfinite(depth) & (depth > 0)
    if max_depth is not None:
        mask &= depth < max_depth
    colors = None if rgb is None else np.asarray(rgb)[::stride, ::stride][mask]
    return points[mask], colors


def normals_from_depth(depth_m, K) -> np.ndarray:
    """Unit surface normals (H, W, 3) in camera coordinates, facing the camera (z < 0).

    Cross product of the back-projected points' image-space derivatives (central differences);
    pixels next to missing depth get NaN.
    """
    points = backproject(depth_m, K).astype(np.float64)
    dpdu = np.gradient(points, axis=1)
    dpdv = np.gradient(points, axis=0)
    n = np.cross(dpdv, dpdu)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = n / norm
    n[n[..., 2] > 0] *= -1
    depth = np.asarray(depth_m)
    bad = ~(np.isfinite(depth) & (depth > 0))
    bad |= np.roll(bad, 1, 0) | np.roll(bad, -1, 0) | np.roll(bad, 1, 1) | np.roll(bad, -1, 1)
    n[bad] = np.nan
    return n.astype(np.float32)


def normals_to_rgb(normals) -> np.ndarray:
    """The usual normal-map picture: (n + 1) / 2 as colour; NaN normals become black."""
    n = np.asarray(normals, dtype=np.float32)
    rgb = ((np.nan_to_num(n) + 1) * 127.5).clip(0, 255).astype(np.uint8)
    rgb[~np.isfinite(n).all(-1)] = 0
    return rgb


def write_ply(path: str | os.PathLike, points, colors=None) -> Path:
    """Write an (N, 3) float point cloud, optionally with (N, 3) uint8 colours, as binary PLY.

    Written to a temporary name and renamed, so a failure never leaves half a file.
    """
    path = Path(path)
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(points)}",
              "property float x", "property float y", "property float z"]
    if colors is not None:
        colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
        if len(colors) != len(points):
            raise ValueError(f"write_ply: {len(points)} points but {len(colors)} colours")
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header.append("end_header")
    record = np.empty(len(points), dtype=fields)
    record["x"], record["y"], record["z"] = points.T
    if colors is not None:
        record["red"], record["green"], record["blue"] = colors.T
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(record.tobytes())
    tmp.replace(path)
    return path


def read_ply(path: str | os.PathLike):
    """Read a binary PLY written by `write_ply`: (points (N, 3) float32, colours (N, 3) uint8 or None)."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    count = int(next(line for line in header if line.startswith("element vertex")).split()[-1])
    has_color = any("red" in line for line in header)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")] + ([("red", "u1"), ("green", "u1"), ("blue", "u1")]
                                                           if has_color else [])
    record = np.frombuffer(data[end:], dtype=fields, count=count)
    points = np.stack([record["x"], record["y"], record["z"]], -1)
    colors = np.stack([record["red"], record["green"], record["blue"]], -1) if has_color else None
    return points, colors
