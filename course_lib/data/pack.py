"""The depth pack: the one HDF5 file format the lessons train from (introduced in lesson 01).

Layout (h5py), one group per split (`train`, `val`, `test`):

    /                      attrs: format="course-depth-pack", format_version, source, units="metres",
                                  split_origin, intrinsics (3, 3) [optional], anything else the writer gave
    /<split>/rgb           (N, H, W, 3) uint8, one frame per chunk, gzip
       or /<split>/rgb_jpeg (N,) variable-length uint8: the encoded JPEG file of each frame
    /<split>/depth         (N, H, W) float32 metres, 0 = no measurement, one frame per chunk, gzip
                           (or uint8/uint16 codes when the split has attr depth_scale_m: metres = code * scale)
    /<split>/raw_depth     optional, same as depth (the sensor's depth with its holes)
    /<split>/labels        optional (N, H, W) uint16 semantic labels
    /<split>/<name>        optional per-frame values (N,), e.g. labeled_index
    /<split>               attrs: count, height, width, rgb_format ("raw" | "jpeg"), intrinsics (3, 3)
                                  at this split's frame size, split_origin

The reader hides every storage choice: `pack["test"][i]` is always a dict of numpy arrays
`rgb` (H, W, 3) uint8, `depth` (H, W) float32 metres, and `raw_depth` / `labels` when stored.

Compression: gzip level 4, no shuffle filter. Measured on a real 480x640 NYU frame: depth in
millimetres 1229 KB raw -> 241 KB (lzf 376 KB; shuffle makes both worse), RGB 922 KB -> 680 KB
(lzf 792 KB); reading one frame costs about 3-4 ms either way, so the smaller files win.

Files open lazily, once per process: an h5py handle must not cross a fork, so a `PackSplit`
remembers the path and the process id and reopens in each DataLoader worker (lesson 02).
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import h5py
import numpy as np

from ..errors import CourseError, DataFormatError

FORMAT_NAME = "course-depth-pack"
FORMAT_VERSION = 1
SPLIT_ORDER = ("train", "val", "test")
COMPRESSION = dict(compression="gzip", compression_opts=4)
MAX_PLAUSIBLE_DEPTH_M = 100.0  # deeper than any indoor sensor: the numbers are probably millimetres


class PackExistsError(CourseError, FileExistsError):
    """The output pack already exists and overwriting was not asked for."""


# ----------------------------------------------------------------------------------------------- writing


def _check_depth(depth, name: str, height: int, width: int, max_depth_m: float, where: str) -> np.ndarray:
    """Validate one depth frame in metres; NaN and +-inf become 0 (= no measurement)."""
    depth = np.asarray(depth)
    if depth.shape != (height, width):
        raise DataFormatError(f"{where}: {name} has shape {depth.shape}, expected ({height}, {width}).")
    if not np.issubdtype(depth.dtype, np.floating):
        raise DataFormatError(f"{where}: {name} has dtype {depth.dtype}; the pack stores depth as float metres, "
                              "so convert first (e.g. a 16-bit PNG in millimetres times 0.001).")
    depth = depth.astype(np.float32)
    bad = ~np.isfinite(depth)
    if bad.any():
        depth = np.where(bad, np.float32(0), depth)  # non-finite = no measurement
    if (depth < 0).any():
        raise DataFormatError(f"{where}: {name} has negative values (min {depth.min():.3g}); depth in metres "
                              "must be >= 0, with 0 meaning no measurement.")
    if depth.max(initial=0.0) > max_depth_m:
        raise DataFormatError(f"{where}: {name} reaches {depth.max():.1f}, more than {max_depth_m:g} m: the values "
                              "look like millimetres (or another unit); convert to metres (x 0.001 for mm).")
    return depth


class SplitWriter:
    """Appends frames to one split of a pack being written; made by `PackWriter.create_split`."""

    def __init__(self, group: h5py.Group, path: Path, count, height: int, width: int, rgb_format: str,
                 raw_depth: bool, labels: bool, per_frame: dict, depth_scale_m, max_depth_m: float):
        self.group, self.path = group, path
        self.count, self.height, self.width = count, height, width
        self.rgb_format, self.has_raw_depth, self.has_labels = rgb_format, raw_depth, labels
        self.per_frame = dict(per_frame)
        self.depth_scale_m, self.max_depth_m = depth_scale_m, max_depth_m
        self.n = 0

    def _where(self) -> str:
        return f"{self.path.name}, split {self.group.name.strip('/')}, frame {self.n}"

    def _grow(self):
        for ds in self.group.values():
            if ds.shape[0] <= self.n:
                ds.resize(max(self.n + 1, 2 * ds.shape[0]), axis=0)

    def _encode_depth(self, depth: np.ndarray, name: str) -> np.ndarray:
        if self.depth_scale_m is None:
            return depth
        codes = np.round(depth.astype(np.float64) / self.depth_scale_m)
        error = np.abs(codes * self.depth_scale_m - depth).max(initial=0.0)
        if error > 0.01 * self.depth_scale_m or codes.max(initial=0) > np.iinfo(self.group[name].dtype).max:
            raise DataFormatError(f"{self._where()}: {name} is not a whole number of {self.depth_scale_m:g} m "
                                  "steps; store it as float32 (depth_scale_m=None) instead.")
        return codes.astype(self.group[name].dtype)

    def append(self, rgb, depth, raw_depth=None, labels=None, **per_frame) -> None:
        """Add one frame: rgb (H, W, 3) uint8 (or JPEG file bytes for a jpeg split), depth (H, W) float metres."""
        where = self._where()
        if self.count is not None and self.n >= self.count:
            raise DataFormatError(f"{where}: the split was declared with {self.count} frames; got more.")
        if isinstance(rgb, (bytes, bytearray, memoryview, np.void)):
            if self.rgb_format != "jpeg":
                raise DataFormatError(f"{where}: encoded image bytes given to a split stored as raw RGB.")
            rgb_bytes = _check_jpeg_bytes(bytes(rgb), self.height, self.width, where)
        else:
            rgb = np.asarray(rgb)
            if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
                raise DataFormatError(f"{where}: rgb has shape {rgb.shape} and dtype {rgb.dtype}, expected "
                                      f"({self.height}, {self.width}, 3) uint8.")
            rgb_bytes = _encode_jpeg(rgb) if self.rgb_format == "jpeg" else None
        depth = _check_depth(depth, "depth", self.height, self.width, self.max_depth_m, where)
        if self.has_raw_depth:
            if raw_depth is None:
                raise DataFormatError(f"{where}: the split stores raw_depth but none was given.")
            raw_depth = _check_depth(raw_depth, "raw_depth", self.height, self.width, self.max_depth_m, where)
        if self.has_labels:
            labels = np.asarray(labels)
            if labels.shape != (self.height, self.width) or not np.issubdtype(labels.dtype, np.integer):
                raise DataFormatError(f"{where}: labels must be ({self.height}, {self.width}) integers, "
                                      f"got {labels.shape} {labels.dtype}.")
        if set(per_frame) != set(self.per_frame):
            raise DataFormatError(f"{where}: per-frame values {sorted(per_frame)} given, the split declared "
                                  f"{sorted(self.per_frame)}.")
        self._grow()
        g, i = self.group, self.n
        if rgb_bytes is not None:
            g["rgb_jpeg"][i] = np.frombuffer(rgb_bytes, np.uint8)
        else:
            g["rgb"][i] = rgb
        g["depth"][i] = self._encode_depth(depth, "depth")
        if self.has_raw_depth:
            g["raw_depth"][i] = self._encode_depth(raw_depth, "raw_depth")
        if self.has_labels:
            g["labels"][i] = labels
        for key, value in per_frame.items():
            g[key][i] = value
        self.n += 1

    def finish(self) -> None:
        """Trim the datasets to the frames written; check the declared count was reached."""
        if self.count is not None and self.n != self.count:
            raise DataFormatError(f"{self.path.name}, split {self.group.name.strip('/')}: declared {self.count} "
                                  f"frames, wrote {self.n}.")
        for ds in self.group.values():
            ds.resize(self.n, axis=0)
        self.group.attrs["count"] = self.n


class PackWriter:
    """Write a depth pack safely: to a temporary file in the same folder, renamed into place on success.

    with PackWriter("nyu.h5", attrs={"source": "...", "intrinsics": K}) as writer:
        split = writer.create_split("test", 654, 480, 640, raw_depth=True)
        for rgb, depth, raw in frames:
            split.append(rgb, depth, raw_depth=raw)

    An exception inside the block deletes the temporary file, so no half-written pack is ever left.
    An existing file is refused unless overwrite=True (the command line's --overwrite).
    """

    def __init__(self, path, overwrite: bool = False, attrs: dict | None = None):
        self.path = Path(path)
        self.overwrite = overwrite
        self.attrs = dict(attrs or {})
        self.tmp_path = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        self.file = None
        self.splits: dict[str, SplitWriter] = {}

    def __enter__(self) -> "PackWriter":
        if self.path.exists() and not self.overwrite:
            raise PackExistsError(f"{self.path} already exists; pass --overwrite (overwrite=True) to replace it.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = h5py.File(self.tmp_path, "w")
        root = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "units": "metres", "source": "unknown",
                "split_origin": "unknown"}
        root.update(self.attrs)
        _write_attrs(self.file.attrs, root)
        return self

    def create_split(self, name: str, count, height: int, width: int, rgb_format: str = "raw",
                     raw_depth: bool = False, labels: bool = False, per_frame: dict | None = None,
                     depth_scale_m: float | None = None, max_depth_m: float = MAX_PLAUSIBLE_DEPTH_M,
                     intrinsics=None, attrs: dict | None = None) -> SplitWriter:
        """Start a split of `count` frames (None when unknown) of height x width pixels.

        rgb_format "jpeg" stores encoded JPEG files (given as bytes, or arrays encoded at quality 95).
        per_frame maps extra per-frame value names to dtypes, e.g. {"labeled_index": "int32"}.
        depth_scale_m stores depth as integer codes, metres = code * depth_scale_m (uint8 when
        max_depth_m needs at most 255 codes, else uint16); for depth already on that grid, such as
        8-bit PNGs, this is lossless and about a third smaller than float32. The reader hides it.
        intrinsics (3, 3) at this frame size defaults to the pack's `intrinsics` attribute.
        """
        if self.file is None:
            raise RuntimeError("PackWriter.create_split must be called inside the `with` block.")
        if name in self.splits:
            raise DataFormatError(f"{self.path.name}: split {name!r} is written twice.")
        if rgb_format not in ("raw", "jpeg"):
            raise ValueError(f"rgb_format must be 'raw' or 'jpeg', got {rgb_format!r}")
        g = self.file.create_group(name)
        n0 = count or 0
        if rgb_format == "raw":
            g.create_dataset("rgb", (n0, height, width, 3), np.uint8, maxshape=(None, height, width, 3),
                             chunks=(1, height, width, 3), **COMPRESSION)
        else:
            g.create_dataset("rgb_jpeg", (n0,), h5py.vlen_dtype(np.uint8), maxshape=(None,), chunks=(64,))
        depth_dtype = np.float32
        if depth_scale_m is not None:
            depth_dtype = np.uint8 if max_depth_m / depth_scale_m <= 255.5 else np.uint16
        for key, wanted in (("depth", True), ("raw_depth", raw_depth)):
            if wanted:
                g.create_dataset(key, (n0, height, width), depth_dtype, maxshape=(None, height, width),
                                 chunks=(1, height, width), **COMPRESSION)
        if labels:
            g.create_dataset("labels", (n0, height, width), np.uint16, maxshape=(None, height, width),
                             chunks=(1, height, width), **COMPRESSION)
        for key, dtype in (per_frame or {}).items():
            g.create_dataset(key, (n0,), np.dtype(dtype), maxshape=(None,), chunks=(1024,))
        split_attrs = {"height": height, "width": width, "rgb_format": rgb_format, "count": n0}
        if depth_scale_m is not None:
            split_attrs["depth_scale_m"] = float(depth_scale_m)
        K = intrinsics if intrinsics is not None else self.attrs.get("intrinsics")
        if K is not None:
            split_attrs["intrinsics"] = np.asarray(K, np.float32).reshape(3, 3)
        split_attrs.update(attrs or {})
        _write_attrs(g.attrs, split_attrs)
        self.splits[name] = SplitWriter(g, self.path, count, height, width, rgb_format, raw_depth, labels,
                                        per_frame or {}, depth_scale_m, max_depth_m)
        return self.splits[name]

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                for split in self.splits.values():
                    split.finish()
        except BaseException:
            self._discard()
            raise
        if exc_type is not None:
            self._discard()
            return False
        self.file.close()
        os.replace(self.tmp_path, self.path)
        return False

    def _discard(self):
        try:
            self.file.close()
        finally:
            self.tmp_path.unlink(missing_ok=True)


def _write_attrs(attrs, values: dict):
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)) and not any(isinstance(v, str) for v in value):
            value = np.asarray(value)
        attrs[key] = value


def _encode_jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _check_jpeg_bytes(data: bytes, height: int, width: int, where: str) -> bytes:
    from PIL import Image

    if not data.startswith(b"\xff\xd8"):
        raise DataFormatError(f"{where}: the image bytes are not a JPEG file.")
    try:
        with Image.open(io.BytesIO(data)) as im:
            size = im.size
    except Exception as exc:
        raise DataFormatError(f"{where}: the JPEG bytes cannot be read ({exc}).") from None
    if size != (width, height):
        raise DataFormatError(f"{where}: the JPEG is {size[0]}x{size[1]} pixels, the split is {width}x{height}.")
    return data


# ----------------------------------------------------------------------------------------------- reading


def _attrs_dict(attrs) -> dict:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.ndarray) and value.dtype.kind in "OS":
            value = [v.decode() if isinstance(v, bytes) else v for v in value.tolist()]
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def _open_h5(path: Path) -> h5py.File:
    if not path.exists():
        raise DataFormatError(f"{path}: no such file; make a pack with `python -m data_prep ...` first.")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = "it is truncated (an interrupted copy or download?)" if "truncated" in str(exc) else \
            "it is not an HDF5 file or it is corrupt"
        raise DataFormatError(f"{path}: cannot be opened as a depth pack: {reason} ({exc}).") from None


class PackSplit:
    """One split of a depth pack: `len(split)`, `split[i]` -> dict of numpy arrays.

    Picklable and fork-safe: the h5py file is (re)opened on first use in each process.
    """

    def __init__(self, path, name: str):
        self.path, self.name = Path(path), name
        self._h5, self._pid = None, None
        with _open_h5(self.path) as f:
            if name not in f:
                raise DataFormatError(f"{self.path}: has no split {name!r} (it has {sorted(f.keys())}).")
            self._describe(f, f[name])

    def _describe(self, f: h5py.File, g: h5py.Group):
        where = f"{self.path}, split {self.name}"
        self.attrs = _attrs_dict(g.attrs)
        self.rgb_format = "jpeg" if "rgb_jpeg" in g else "raw"
        for key in ("depth", "rgb" if self.rgb_format == "raw" else "rgb_jpeg"):
            if key not in g:
                raise DataFormatError(f"{where}: the dataset {key!r} is missing; rebuild the pack with data_prep.")
        n, h, w = (g["depth"].shape + (None, None, None))[:3]
        if g["depth"].ndim != 3:
            raise DataFormatError(f"{where}: depth has shape {g['depth'].shape}, expected (N, H, W).")
        self.length, self.height, self.width = n, h, w
        self.depth_scale_m = self.attrs.get("depth_scale_m")
        wanted = {"depth": ((n, h, w), "f" if self.depth_scale_m is None else "u")}
        if self.rgb_format == "raw":
            wanted["rgb"] = ((n, h, w, 3), np.uint8)
        else:
            wanted["rgb_jpeg"] = ((n,), "O")
        if "raw_depth" in g:
            wanted["raw_depth"] = wanted["depth"]
        if "labels" in g:
            wanted["labels"] = ((n, h, w), "ui")
        for key, (shape, kind) in wanted.items():
            ds = g[key]
            ok_dtype = ds.dtype == np.float32 if kind == "f" else (ds.dtype.kind in kind if isinstance(kind, str)
                                                                   else ds.dtype == kind)
            if ds.shape != shape or not ok_dtype:
                raise DataFormatError(f"{where}: {key} has shape {ds.shape} and dtype {ds.dtype}, expected "
                                      f"{shape} {'float32' if kind == 'f' else kind}.")
        if (self.attrs.get("height", h), self.attrs.get("width", w)) != (h, w):
            raise DataFormatError(f"{where}: the attributes say {self.attrs['height']}x{self.attrs['width']} "
                                  f"but the frames are {h}x{w}.")
        self.fields = [k for k in ("raw_depth", "labels") if k in g]
        self.per_frame_names = [k for k, ds in g.items() if ds.ndim == 1 and k != "rgb_jpeg"]
        K = self.attrs.get("intrinsics", f.attrs.get("intrinsics"))
        self._intrinsics = None if K is None else np.asarray(K, np.float32).reshape(3, 3)

    # one handle per process ---------------------------------------------------------------
    def _group(self) -> h5py.Group:
        if self._h5 is None or self._pid != os.getpid():
            # A handle inherited through fork is left alone (closing it could disturb the parent's).
            self._h5, self._pid = _open_h5(self.path), os.getpid()
        return self._h5[self.name]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_h5"], state["_pid"] = None, None
        return state

    def close(self) -> None:
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = None

    # the Dataset-like interface -----------------------------------------------------------
    def __len__(self) -> int:
        return self.length

    @property
    def intrinsics(self) -> np.ndarray:
        """(3, 3) float32 camera matrix at this split's stored frame size."""
        if self._intrinsics is None:
            raise DataFormatError(f"{self.path}, split {self.name}: the pack stores no intrinsics.")
        return self._intrinsics.copy()

    def _depth(self, g, key: str, i: int) -> np.ndarray:
        depth = g[key][i]
        if self.depth_scale_m is not None:
            depth = depth.astype(np.float32) * np.float32(self.depth_scale_m)
        return depth

    def __getitem__(self, i: int) -> dict:
        """Frame i: {"rgb": (H, W, 3) uint8, "depth": (H, W) float32 m, ["raw_depth"], ["labels"]}."""
        i = int(i)
        if i < 0:
            i += self.length
        if not 0 <= i < self.length:
            raise IndexError(f"frame {i} out of range for split {self.name} of {self.length} frames")
        g = self._group()
        try:
            if self.rgb_format == "raw":
                rgb = g["rgb"][i]
            else:
                rgb = _decode_jpeg(g["rgb_jpeg"][i], self.height, self.width, f"{self.path}, {self.name}[{i}]")
            item = {"rgb": rgb, "depth": self._depth(g, "depth", i)}
            if "raw_depth" in self.fields:
                item["raw_depth"] = self._depth(g, "raw_depth", i)
            if "labels" in self.fields:
                item["labels"] = g["labels"][i]
        except OSError as exc:
            raise DataFormatError(f"{self.path}: frame {i} of split {self.name} cannot be read; the file is "
                                  f"damaged or truncated ({exc}).") from None
        return item

    def per_frame(self, name: str) -> np.ndarray:
        """A per-frame value for every frame, e.g. per_frame("labeled_index") -> (N,) array."""
        if name not in self.per_frame_names:
            raise KeyError(f"split {self.name} has no per-frame values {name!r}; it has {self.per_frame_names}")
        return self._group()[name][()]

    def __repr__(self) -> str:
        extra = "".join(f" +{k}" for k in self.fields)
        return f"PackSplit({self.path.name}:{self.name}, {self.length} x {self.height}x{self.width}, rgb {self.rgb_format}{extra})"


def _decode_jpeg(data: np.ndarray, height: int, width: int, where: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data.tobytes())) as im:
            rgb = np.array(im.convert("RGB"))  # a writable copy, as torch.from_numpy wants
    except Exception as exc:
        raise DataFormatError(f"{where}: the stored JPEG cannot be decoded ({exc}).") from None
    if rgb.shape != (height, width, 3):
        raise DataFormatError(f"{where}: the stored JPEG is {rgb.shape}, expected ({height}, {width}, 3).")
    return rgb


class Pack:
    """An opened depth pack: `.splits`, `.attrs`, `pack["train"]` -> PackSplit. Use `open_pack(path)`."""

    def __init__(self, path):
        self.path = Path(path)
        with _open_h5(self.path) as f:
            self.attrs = _attrs_dict(f.attrs)
            if self.attrs.get("format") != FORMAT_NAME:
                raise DataFormatError(f"{self.path}: is an HDF5 file but not a depth pack (no format="
                                      f"{FORMAT_NAME!r} attribute); convert your data with `python -m data_prep`.")
            if int(self.attrs.get("format_version", 0)) > FORMAT_VERSION:
                raise DataFormatError(f"{self.path}: pack format version {self.attrs['format_version']} is newer "
                                      f"than this course_lib reads ({FORMAT_VERSION}); update the course.")
            names = [k for k in f.keys() if isinstance(f[k], h5py.Group)]
        if not names:
            raise DataFormatError(f"{self.path}: the pack has no splits (no train/val/test groups).")
        self.splits = sorted(names, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else 99, s))
        self._splits = {name: PackSplit(self.path, name) for name in self.splits}

    def __getitem__(self, split: str) -> PackSplit:
        if split not in self._splits:
            raise KeyError(f"{self.path.name} has no split {split!r}; it has {self.splits}")
        return self._splits[split]

    def __contains__(self, split: str) -> bool:
        return split in self._splits

    def __iter__(self):
        return iter(self.splits)

    def close(self) -> None:
        for split in self._splits.values():
            split.close()

    def __enter__(self) -> "Pack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        parts = ", ".join(f"{s}: {len(self[s])}" for s in self.splits)
        return f"Pack({self.path.name}; {parts}; source {self.attrs.get('source')!r})"


def open_pack(path) -> Pack:
    """Open a depth pack for reading; raises DataFormatError naming the file when it is not a valid pack."""
    return Pack(path)
