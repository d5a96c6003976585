"""Small stand-ins for NYU Depth V2's labeled file and official split, in their exact on-disk layout.

The real `nyu_depth_v2_labeled.mat` is 2.8 GB; lesson 01 and the tests need a file that opens the
same way without the download. `write_mock_nyu_labeled` writes a MATLAB 7.3 file (an HDF5 file
behind a 512-byte MATLAB header) whose datasets have the real names, dtypes and axis order as h5py
shows them (MATLAB's column-major arrays appear with every axis reversed):

    images     (N, 3, W, H) uint8          MATLAB (H, W, 3, N)
    depths     (N, W, H)    float32 metres  MATLAB (H, W, N), filled (no holes)
    rawDepths  (N, W, H)    float32 metres  0 = no measurement
    labels     (N, W, H)    uint16          0 = unlabeled (here: the room's surfaces are 1..6, objects 7+)

The frames are synthetic rooms (`render_room(seed + i)` with Kinect-like raw depth), so a reader
that gets the axes right recovers exactly `render_room(seed + i)["rgb"]`. `write_mock_nyu_splits`
writes a MATLAB 5 `splits.mat` with 1-based `trainNdxs` / `testNdxs` column vectors.
Introduced in lesson 01.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

MATLAB_HEADER_BYTES = 512


def _matlab_73_header() -> bytes:
    """The 128-byte MAT-file header MATLAB writes in front of a v7.3 (HDF5) file, padded to 512 bytes."""
    text = ("MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: "
            + time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(0)) + " HDF5 schema 1.00 .")
    header = text.encode("ascii").ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    return header.ljust(MATLAB_HEADER_BYTES, b"\x00")


def write_mock_nyu_labeled(path, num_frames: int = 8, height: int = 480, width: int = 640, seed: int = 0) -> Path:
    """Write a small `nyu_depth_v2_labeled.mat` look-alike: frame i is the synthetic room `seed + i`.

    Returns the path. height x width is the upright frame size (NYU: 480 x 640).
    """
    import h5py

    from .synthetic import render_room

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    n, h, w = int(num_frames), int(height), int(width)
    with h5py.File(tmp, "w", userblock_size=MATLAB_HEADER_BYTES) as f:
        chunk = dict(compression="gzip", compression_opts=1)
        images = f.create_dataset("images", (n, 3, w, h), np.uint8, chunks=(1, 3, w, h), **chunk)
        depths = f.create_dataset("depths", (n, w, h), np.float32, chunks=(1, w, h), **chunk)
        raw = f.create_dataset("rawDepths", (n, w, h), np.float32, chunks=(1, w, h), **chunk)
        labels = f.create_dataset("labels", (n, w, h), np.uint16, chunks=(1, w, h), **chunk)
        for ds, matlab_class in ((images, "uint8"), (depths, "single"), (raw, "single"), (labels, "uint16")):
            ds.attrs["MATLAB_class"] = np.bytes_(matlab_class)
        for i in range(n):
            room = render_room(seed + i, height=h, width=w, raw_depth=True)
            images[i] = room["rgb"].transpose(2, 1, 0)       # (H, W, 3) -> (3, W, H)
            depths[i] = room["depth"].T                      # (H, W) -> (W, H)
            raw[i] = room["raw_depth"].T
            labels[i] = _surface_labels(room["normals"]).T
    with open(tmp, "r+b") as f:  # the MATLAB header lives in HDF5's user block
        f.write(_matlab_73_header())
    tmp.replace(path)
    return path


def _surface_labels(normals: np.ndarray) -> np.ndarray:
    """A coarse stand-in for semantic labels: 1 floor-like, 2 ceiling-like, 3 wall-like surfaces."""
    n = np.nan_to_num(normals)
    labels = np.full(n.shape[:2], 3, np.uint16)
    labels[n[..., 1] < -0.7] = 1   # normal points up (y is down): floor, table tops
    labels[n[..., 1] > 0.7] = 2    # normal points down: ceiling
    return labels


def write_mock_nyu_splits(path, num_frames: int, test_fraction: float = 654 / 1449, seed: int = 0) -> Path:
    """Write a MATLAB 5 `splits.mat` for `num_frames` frames: 1-based (k, 1) double trainNdxs and testNdxs."""
    import scipy.io

    rng = np.random.default_rng(seed)
    n_test = min(num_frames - 1, max(1, int(round(num_frames * test_fraction))))
    test = np.sort(rng.choice(np.arange(1, num_frames + 1), n_test, replace=False))
    train = np.setdiff1d(np.arange(1, num_frames + 1), test)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The real file stores the indices as MATLAB doubles.
    scipy.io.savemat(path, {"trainNdxs": train.astype(np.float64)[:, None], "testNdxs": test.astype(np.float64)[:, None]})
    return path
