"""`densedepth-zip` and `eigen-npy`: DenseDepth's NYU files -> depth packs (lesson 01).

nyu_data.zip holds data/nyu2_train.csv and data/nyu2_test.csv, one frame per row: "rgb path,depth path"
relative to the zip root. Units differ between the two lists, and the PNG bit depth tells them apart:
    train: RGB JPEG, depth 8-bit PNG, 255 = 10 m      -> depth_m = v / 255 * 10
    test:  RGB PNG,  depth 16-bit PNG in millimetres   -> depth_m = v / 1000
The ~50K training frames are streamed: each JPEG's bytes are copied into the pack untouched (no
re-encoding) and depth is stored as its 8-bit codes (lossless; the reader returns metres), so the
pack stays about the size of the zip.

nyu_test.zip (unpacked) holds eigen_test_rgb.npy (654, 480, 640, 3) uint8, eigen_test_depth.npy
(654, 480, 640) float32 metres and eigen_test_crop.npy (the evaluation crop [top, bottom, left, right]).
"""
from __future__ import annotations

import csv
import io
import posixpath
import zipfile
import zlib
from pathlib import Path

import numpy as np

from course_lib.data.pack import PackWriter
from course_lib.errors import DataFormatError
from course_lib.geometry import nyu_intrinsics

from .common import plain_jpeg, progress, read_depth_png, read_rgb, require_file

TRAIN_MAX_DEPTH_M = 10.0  # 8-bit code 255 in DenseDepth's train PNGs
CSV_NAMES = {"train": "data/nyu2_train.csv", "test": "data/nyu2_test.csv"}
DEPTH_BITS = {"train": 8, "test": 16}


def safe_member_name(name: str, archive) -> str:
    """Refuse a zip path that would escape the folder it is unpacked into (absolute, drive, or '..')."""
    normal = name.replace("\\", "/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":") or ".." in normal.split("/"):
        raise DataFormatError(f"{archive}: member {name!r} points outside the archive's folder (absolute path or "
                              "'..'); refusing to read this zip, it may be malicious or damaged.")
    return posixpath.normpath(normal)


def _open_zip(path: Path) -> zipfile.ZipFile:
    path = require_file(path, "DenseDepth's nyu_data.zip")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataFormatError(f"{path}: is not a readable zip file, it is probably truncated ({exc}).") from None
    for name in zf.namelist():
        safe_member_name(name, path)
    return zf


def _read_member(zf: zipfile.ZipFile, name: str, archive: Path) -> bytes:
    try:
        return zf.read(name)
    except KeyError:
        raise DataFormatError(f"{archive}: the CSV lists {name!r} but the zip has no such file.") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:  # zlib.error: a broken deflate stream
        raise DataFormatError(f"{archive}: member {name!r} is damaged ({exc}); download the zip again.") from None


def read_csv_rows(zf: zipfile.ZipFile, csv_name: str, archive: Path) -> list[tuple[str, str]]:
    """[(rgb member, depth member)] from one of DenseDepth's CSV lists."""
    text = _read_member(zf, csv_name, archive).decode("utf-8", errors="replace")
    rows = []
    for line_no, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise DataFormatError(f"{archive}: {csv_name} line {line_no} has {len(row)} column(s), expected "
                                  "'rgb path,depth path'.")
        rows.append((safe_member_name(row[0].strip(), archive), safe_member_name(row[1].strip(), archive)))
    if not rows:
        raise DataFormatError(f"{archive}: {csv_name} lists no frames.")
    return rows


def densedepth_depth_m(codes: np.ndarray, split: str) -> np.ndarray:
    """DenseDepth's depth PNG codes -> float32 metres: 8-bit train v / 255 * 10, 16-bit test v / 1000."""
    if split == "train":
        return (codes.astype(np.float32) / np.float32(255) * np.float32(TRAIN_MAX_DEPTH_M)).astype(np.float32)
    return codes.astype(np.float32) * np.float32(0.001)


def convert_densedepth_zip(zip_path, out, overwrite: bool = False, splits=("train", "test"),
                           limit: int | None = None, show_progress: bool = True) -> Path:
    """Stream DenseDepth's nyu_data.zip into a pack: train with JPEG RGB bytes, test with raw RGB."""
    zip_path, out = Path(zip_path), Path(out)
    with _open_zip(zip_path) as zf:
        plans = {}
        for split in splits:
            if CSV_NAMES[split] not in zf.NameToInfo:
                raise DataFormatError(f"{zip_path}: has no {CSV_NAMES[split]}; is it DenseDepth's nyu_data.zip?")
            plans[split] = read_csv_rows(zf, CSV_NAMES[split], zip_path)[:limit]
        first = read_depth_png(_read_member(zf, plans[splits[0]][0][1], zip_path), plans[splits[0]][0][1],
                               DEPTH_BITS[splits[0]])
        h, w = first.shape
        attrs = {"source": f"DenseDepth {zip_path.name} (NYU Depth V2 raw sequences, filled depth)",
                 "split_origin": "DenseDepth's data/nyu2_train.csv and data/nyu2_test.csv",
                 "intrinsics": nyu_intrinsics(h, w)}
        with PackWriter(out, overwrite=overwrite, attrs=attrs) as writer:
            for split, rows in plans.items():
                train = split == "train"
                sw = writer.create_split(
                    split, len(rows), h, w, rgb_format="jpeg" if train else "raw",
                    depth_scale_m=TRAIN_MAX_DEPTH_M / 255 if train else None,
                    max_depth_m=TRAIN_MAX_DEPTH_M if train else 100.0,
                    attrs={"split_origin": f"DenseDepth {CSV_NAMES[split]}",
                           "depth_source": "8-bit PNG, 255 = 10 m" if train else "16-bit PNG, millimetres"})
                bar = progress(rows, len(rows), f"densedepth {split}") if show_progress else rows
                for rgb_name, depth_name in bar:
                    codes = read_depth_png(_read_member(zf, depth_name, zip_path), f"{zip_path.name}:{depth_name}",
                                           DEPTH_BITS[split])
                    rgb_bytes = _read_member(zf, rgb_name, zip_path)
                    if train and plain_jpeg(rgb_bytes):
                        rgb = rgb_bytes  # the original JPEG file, no re-encoding
                    else:
                        rgb = read_rgb(rgb_bytes, f"{zip_path.name}:{rgb_name}")
                    if codes.shape != (h, w):  # the RGB size is checked by append
                        raise DataFormatError(f"{zip_path.name}:{depth_name}: is {codes.shape[1]}x{codes.shape[0]}"
                                              f" pixels, the first frame was {w}x{h}; a pack split has one size.")
                    sw.append(rgb, densedepth_depth_m(codes, split))
    return out


def convert_eigen_npy(folder, out, overwrite: bool = False, show_progress: bool = True) -> Path:
    """DenseDepth's eigen_test_{rgb,depth,crop}.npy (unpacked nyu_test.zip) -> a pack with a `test` split."""
    folder, out = Path(folder), Path(out)
    arrays = {}
    for key in ("rgb", "depth", "crop"):
        path = require_file(folder / f"eigen_test_{key}.npy", f"eigen_test_{key}.npy (from nyu_test.zip)")
        try:
            arrays[key] = np.load(path, mmap_mode="r" if key != "crop" else None)
        except (ValueError, OSError, EOFError) as exc:
            raise DataFormatError(f"{path}: cannot be read as a .npy array, it is probably truncated ({exc}).") \
                from None
    rgb, depth, crop = arrays["rgb"], arrays["depth"], np.asarray(arrays["crop"]).ravel()
    if rgb.ndim != 4 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise DataFormatError(f"{folder}/eigen_test_rgb.npy: shape {rgb.shape} {rgb.dtype}, expected (N, H, W, 3) uint8.")
    n, h, w, _ = rgb.shape
    if depth.shape != (n, h, w) or depth.dtype.kind != "f":
        raise DataFormatError(f"{folder}/eigen_test_depth.npy: shape {depth.shape} {depth.dtype}, expected "
                              f"{(n, h, w)} float metres.")
    if crop.size != 4:
        raise DataFormatError(f"{folder}/eigen_test_crop.npy: expected 4 numbers [top, bottom, left, right], "
                              f"found {crop.size}.")
    attrs = {"source": "DenseDepth nyu_test.zip (eigen_test_rgb/depth.npy): the 654 official NYU test frames",
             "split_origin": "official NYU test split, in DenseDepth's order",
             "intrinsics": nyu_intrinsics(h, w)}
    with PackWriter(out, overwrite=overwrite, attrs=attrs) as writer:
        sw = writer.create_split("test", n, h, w, attrs={"eval_crop": crop.astype(np.int64),
                                                        "eval_crop_order": "top, bottom, left, right",
                                                        "split_origin": "eigen_test_*.npy"})
        bar = progress(range(n), n, "eigen-npy test") if show_progress else range(n)
        for i in bar:
            sw.append(np.asarray(rgb[i]), np.asarray(depth[i], dtype=np.float32))
    return out
