"""`nyu-labeled`: the official labeled NYU Depth V2 file + the official split -> a depth pack (lesson 01).

nyu_depth_v2_labeled.mat is MATLAB 7.3, which is HDF5 behind a 512-byte MATLAB header, so h5py
reads it directly. MATLAB stores arrays column-major, so h5py sees every axis reversed:
    MATLAB images (480, 640, 3, 1449)  ->  h5py images (1449, 3, 640, 480) uint8
    MATLAB depths (480, 640, 1449)     ->  h5py depths (1449, 640, 480) float32 metres (filled)
    rawDepths the same (the Kinect's raw depth, 0 = no measurement); labels (1449, 640, 480) uint16
so frame i is images[i].transpose(2, 1, 0) -> (480, 640, 3) and depths[i].T -> (480, 640).
splits.mat is MATLAB 5 (scipy.io.loadmat): 1-based column vectors trainNdxs (795) and testNdxs (654).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from course_lib.data.pack import PackWriter
from course_lib.errors import DataFormatError
from course_lib.geometry import nyu_intrinsics

from .common import progress, require_file


def load_official_splits(path, num_frames: int | None = None) -> dict[str, np.ndarray]:
    """{"train": (795,), "test": (654,)} 1-based labeled-frame indices from the official splits.mat."""
    import scipy.io

    path = require_file(path, "the official split file (splits.mat)")
    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:
        raise DataFormatError(f"{path}: is a MATLAB 7.3 (HDF5) file; the official splits.mat is MATLAB 5 - "
                              "did you pass the labeled .mat as --splits?") from None
    except Exception as exc:
        raise DataFormatError(f"{path}: cannot be read as a MATLAB 5 file, it is probably truncated or not "
                              f"splits.mat ({exc}).") from None
    splits = {}
    for name, key in (("train", "trainNdxs"), ("test", "testNdxs")):
        if key not in mat:
            raise DataFormatError(f"{path}: has no {key!r}; expected the official NYU splits.mat with trainNdxs "
                                  f"and testNdxs (found {sorted(k for k in mat if not k.startswith('__'))}).")
        idx = np.asarray(mat[key]).ravel()
        if idx.size == 0 or not np.issubdtype(idx.dtype, np.number) or not np.all(idx == np.round(idx)):
            raise DataFormatError(f"{path}: {key} must hold whole-number frame indices.")
        idx = idx.astype(np.int64)
        if idx.min() < 1 or (num_frames is not None and idx.max() > num_frames):
            raise DataFormatError(f"{path}: {key} holds indices {idx.min()}..{idx.max()}, outside the labeled "
                                  f"file's 1..{num_frames} (indices are 1-based, MATLAB style).")
        splits[name] = idx
    if np.intersect1d(splits["train"], splits["test"]).size:
        raise DataFormatError(f"{path}: trainNdxs and testNdxs share frames; this is not the official split.")
    return splits


def _open_labeled(path: Path) -> h5py.File:
    path = require_file(path, "the labeled NYU file (nyu_depth_v2_labeled.mat)")
    with open(path, "rb") as f:
        if f.read(20).startswith(b"MATLAB 5.0 MAT-file"):
            raise DataFormatError(f"{path}: is a MATLAB 5 file (like splits.mat), but --mat needs the MATLAB 7.3 "
                                  "nyu_depth_v2_labeled.mat; were --mat and --splits swapped?")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = "it is truncated (an interrupted download?)" if "truncated" in str(exc) else \
            "it is not a MATLAB 7.3 / HDF5 file"
        raise DataFormatError(f"{path}: cannot be opened: {reason} ({exc}).") from None


def _check_labeled(f: h5py.File, path: Path):
    for key in ("images", "depths"):
        if key not in f:
            raise DataFormatError(f"{path}: has no {key!r} dataset; is it nyu_depth_v2_labeled.mat?")
    images = f["images"]
    if images.ndim != 4 or images.shape[1] != 3 or images.dtype != np.uint8:
        raise DataFormatError(f"{path}: images has shape {images.shape} {images.dtype}, expected (N, 3, W, H) "
                              "uint8 as h5py shows MATLAB's (H, W, 3, N).")
    n, _, w, h = images.shape
    for key in ("depths", "rawDepths", "labels"):
        if key in f and (f[key].shape != (n, w, h)):
            raise DataFormatError(f"{path}: {key} has shape {f[key].shape}, expected {(n, w, h)} to match images.")
    for key in ("depths", "rawDepths"):
        if key in f and f[key].dtype.kind != "f":
            raise DataFormatError(f"{path}: {key} has dtype {f[key].dtype}, expected float metres.")
    return n, h, w


def labeled_frame(f: h5py.File, i: int) -> dict:
    """Labeled frame i (0-based), upright: rgb (H, W, 3) uint8, depth, [raw_depth] (H, W) float32 m, [labels]."""
    frame = {"rgb": np.ascontiguousarray(f["images"][i].transpose(2, 1, 0)),  # (3, W, H) -> (H, W, 3)
             "depth": np.ascontiguousarray(f["depths"][i].T)}                  # (W, H) -> (H, W)
    if "rawDepths" in f:
        frame["raw_depth"] = np.ascontiguousarray(f["rawDepths"][i].T)
    if "labels" in f:
        frame["labels"] = np.ascontiguousarray(f["labels"][i].T)
    return frame


def convert_nyu_labeled(mat_path, splits_path, out, overwrite: bool = False, val_count: int = 0,
                        show_progress: bool = True) -> Path:
    """Write the labeled NYU frames as a pack: `train` (795 - val_count), optional `val`, `test` (654).

    Test frame j is labeled frame testNdxs[j] (1-based), stored in per-frame `labeled_index`
    (1-based, as in splits.mat: h5py index = labeled_index - 1). Both the filled `depth` and the
    sensor's `raw_depth` are kept, and the semantic `labels` when the file has them.
    """
    mat_path, out = Path(mat_path), Path(out)
    with _open_labeled(mat_path) as f:
        n, h, w = _check_labeled(f, mat_path)
        official = load_official_splits(splits_path, n)
        plan = {"train": official["train"], "test": official["test"]}
        if val_count:
            if not 0 < val_count < len(official["train"]):
                raise DataFormatError(f"--val-count {val_count} must be between 1 and {len(official['train']) - 1}.")
            plan = {"train": official["train"][:-val_count], "val": official["train"][-val_count:],
                    "test": official["test"]}
        origin = {"train": "official splits.mat trainNdxs" + (f" (all but the last {val_count})" if val_count else ""),
                  "val": f"official splits.mat trainNdxs (the last {val_count})",
                  "test": "official splits.mat testNdxs"}
        attrs = {"source": f"NYU Depth V2 labeled ({mat_path.name}), official split ({Path(splits_path).name})",
                 "split_origin": "official NYU Depth V2 split (splits.mat trainNdxs / testNdxs)",
                 "intrinsics": nyu_intrinsics(h, w), "depth_kind": "depth = filled (colorized) depth; "
                 "raw_depth = raw Kinect depth, 0 = no measurement",
                 "labeled_index_base": 1}
        has_raw, has_labels = "rawDepths" in f, "labels" in f
        with PackWriter(out, overwrite=overwrite, attrs=attrs) as writer:
            for split, indices in plan.items():
                sw = writer.create_split(split, len(indices), h, w, raw_depth=has_raw, labels=has_labels,
                                         per_frame={"labeled_index": "int32"},
                                         attrs={"split_origin": origin[split]})
                frames = progress(indices, len(indices), f"nyu-labeled {split}") if show_progress else indices
                for index in frames:
                    try:
                        frame = labeled_frame(f, int(index) - 1)
                    except OSError as exc:
                        raise DataFormatError(f"{mat_path}: frame {index} cannot be read; the file is damaged or "
                                              f"truncated, download it again ({exc}).") from None
                    sw.append(frame["rgb"], frame["depth"], raw_depth=frame.get("raw_depth"),
                              labels=frame.get("labels"), labeled_index=int(index))
    return out
