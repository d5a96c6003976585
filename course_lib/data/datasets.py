"""Torch Datasets over depth packs, image folders and the synthetic rooms, and the DataLoaders for them.

Introduced in lesson 02 (datasets and augmentation); the held-out rooms are used by every lesson.

Every dataset returns the same item (see `transforms.to_item`):
    "image" (3, H, W) float32 ImageNet-normalised, "depth" (1, H, W) float32 metres (0 = invalid),
    "valid" (1, H, W) bool, "K" (3, 3) float32 intrinsics of the returned image,
    optional "raw_depth" (1, H, W), and "index" (int).
A dataset produces a numpy *sample* (rgb/depth/K[/raw_depth]), applies its `transform` to it
(`course_lib.data.transforms`) and converts the result with `to_item`.

Synthetic seeds. `SyntheticRooms(length, seed=s)` renders item i with scene seed `s * 1_000_003 + i`;
every training seed is below 10**9. `heldout_rooms` renders item i with seed `10**9 + i`, so no
training set can ever contain a held-out scene.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import DataFormatError
from ..geometry import nyu_intrinsics
from .files import match_pairs
from .files import read_depth_png as decode_depth
from .files import read_rgb as decode_rgb
from .synthetic import CLOSE_VIEWS, CLUTTER, DOORWAYS, HELDOUT_SEED_BASE, LONG_VIEWS, PHOTO_LIGHT, PHOTO_SURFACES, RENDERER_VERSION
from .transforms import eval_transforms, to_item, train_transforms

SEED_STRIDE = 1_000_003            # training seed s renders scenes s * SEED_STRIDE + i
TRAINING_SEED_LIMIT = 10**9        # every training scene seed is below this
# held-out scene i has seed HELDOUT_SEED_BASE + i (10**9 + i), defined beside the renderer
VAL_SEED = 999                     # make_dataset("synthetic", "val") uses SyntheticRooms(seed=999)
DEFAULT_LENGTHS = {"train": 2000, "val": 64, "test": 64}


class DepthDataset(Dataset):
    """Base class: subclasses implement `__len__` and `sample(i)` -> numpy sample dict."""

    transform = None

    def sample(self, index: int) -> dict:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} items")
        sample = self.sample(index)
        if self.transform is not None:
            sample = self.transform(sample)
        return to_item(sample, index)


# ----------------------------------------------------------------------------------------------
# synthetic rooms


class SyntheticRooms(DepthDataset):
    """`length` procedurally rendered rooms; item i is always the same scene. Nothing on disk.

    size: (H, W) rendered directly (with the NYU camera scaled to that size). seed: picks a disjoint
    block of scenes (item i has scene seed `seed * 1_000_003 + i`). raw_depth: also return Kinect-like
    depth with holes as "raw_depth". `seed_base` overrides the scene seed of item 0 (heldout_rooms).
    random_textures: the probability that a surface gets a random texture (domain randomisation, see
    `course_lib.data.synthetic.randomize_textures`); default 0, the rooms as sampled. photo_light: the
    probability that a room is lit and tone-mapped like a photo (`course_lib.data.synthetic.photo_lighting`;
    default `PHOTO_LIGHT`, 0.8). surfaces: the probability that a room gets busy, darker walls and floor
    (brick, concrete blocks, wooden panels; `course_lib.data.synthetic.photo_surfaces`; default
    `PHOTO_SURFACES`). clutter: the probability that small things stand on a room's tables, seats and floor
    (`course_lib.data.synthetic.add_clutter`; default `CLUTTER`, 0). long_views: the probability that a
    room is seen along its length from near a short wall (`course_lib.data.synthetic.sample_scene`;
    default `LONG_VIEWS`, 0). doorways: the probability that a room goes on beyond an opening in
    the wall the camera faces (`course_lib.data.synthetic.add_doorway`; default `DOORWAYS`, 1: every room;
    0 gives renderer version 2's rooms). close_views: the probability that the camera stands 0.9-1.8 m in
    front of the wall it faces (`course_lib.data.synthetic.sample_scene`; default `CLOSE_VIEWS`, 0).
    """

    def __init__(self, length: int, size=(240, 320), seed: int = 0, transform=None, raw_depth: bool = False,
                 *, seed_base: int | None = None, random_textures: float = 0.0, photo_light: float | None = None,
                 surfaces: float | None = None, clutter: float | None = None, long_views: float | None = None,
                 doorways: float | None = None, close_views: float | None = None):
        self.length, self.size = int(length), (int(size[0]), int(size[1]))
        self.random_textures = float(random_textures)
        self.photo_light = PHOTO_LIGHT if photo_light is None else float(photo_light)
        self.surfaces = PHOTO_SURFACES if surfaces is None else float(surfaces)
        self.clutter = CLUTTER if clutter is None else float(clutter)
        self.long_views = LONG_VIEWS if long_views is None else float(long_views)
        self.doorways = DOORWAYS if doorways is None else float(doorways)
        self.close_views = CLOSE_VIEWS if close_views is None else float(close_views)
        self.transform, self.raw_depth = transform, raw_depth
        if seed_base is None:
            if seed < 0:
                raise ValueError(f"seed must be >= 0, got {seed}")
            seed_base = seed * SEED_STRIDE
            if seed_base + self.length > TRAINING_SEED_LIMIT:
                raise ValueError(f"SyntheticRooms(length={length}, seed={seed}) would use scene seeds at or above "
                                 f"{TRAINING_SEED_LIMIT}, which are reserved for the held-out rooms; "
                                 "use a smaller seed or length.")
        self.seed_base = int(seed_base)

    def __len__(self) -> int:
        return self.length

    def scene_seed(self, index: int) -> int:
        return self.seed_base + index

    def sample(self, index: int) -> dict:
        from .synthetic import render_room

        h, w = self.size
        room = render_room(self.scene_seed(index), height=h, width=w, raw_depth=self.raw_depth,
                           random_textures=self.random_textures, photo_light=self.photo_light,
                           surfaces=self.surfaces, clutter=self.clutter, long_views=self.long_views,
                           doorways=self.doorways, close_views=self.close_views)
        sample = {"rgb": room["rgb"], "depth": room["depth"].astype(np.float32, copy=False), "K": room["K"]}
        if self.raw_depth:
            sample["raw_depth"] = room["raw_depth"].astype(np.float32, copy=False)
        return sample

    def __repr__(self) -> str:
        # the renderer's version: another renderer makes other rooms from the same seeds
        textures = f", random_textures={self.random_textures:g}" if self.random_textures else ""
        textures += f", photo_light={self.photo_light:g}"
        if self.surfaces:
            textures += f", surfaces={self.surfaces:g}"
        if self.clutter:
            textures += f", clutter={self.clutter:g}"
        if self.long_views:
            textures += f", long_views={self.long_views:g}"
        if self.doorways:
            textures += f", doorways={self.doorways:g}"
        if self.close_views:
            textures += f", close_views={self.close_views:g}"
        return (f"SyntheticRooms(length={self.length}, size={self.size}, seed_base={self.seed_base}, "
                f"renderer={RENDERER_VERSION}{textures})")


def heldout_rooms(length: int = 64, size=(240, 320), transform=None, raw_depth: bool = False,
                  photo_light: float | None = None, surfaces: float | None = None,
                  clutter: float | None = None, long_views: float | None = None,
                  doorways: float | None = None, close_views: float | None = None) -> SyntheticRooms:
    """The fixed held-out rooms every lesson evaluates on: item i is scene seed 10**9 + i.

    Training sets (`SyntheticRooms(seed=...)`) only use seeds below 10**9, so they never overlap.
    photo_light, surfaces, clutter, long_views, doorways, close_views: as in `SyntheticRooms` (defaults
    `PHOTO_LIGHT`, `PHOTO_SURFACES`, `CLUTTER`, `LONG_VIEWS`, `DOORWAYS`, `CLOSE_VIEWS`; `doorways=0` gives
    renderer version 2's rooms, `photo_light=0, doorways=0` version 1's).
    """
    return SyntheticRooms(length, size, transform=transform, raw_depth=raw_depth, seed_base=HELDOUT_SEED_BASE,
                          photo_light=photo_light, surfaces=surfaces, clutter=clutter, long_views=long_views,
                          doorways=doorways, close_views=close_views)


# ----------------------------------------------------------------------------------------------
# depth packs


class PackDataset(DepthDataset):
    """One split of a depth pack (HDF5, `course_lib.data.pack`).

    gt: "filled" trains on the pack's filled `depth`; "raw" on the Kinect `raw_depth` with its holes.
    with_raw: also return "raw_depth" when the pack has it. The HDF5 file is opened lazily, once per
    process: an h5py handle must not cross a fork into DataLoader workers.
    """

    def __init__(self, path, split: str = "train", transform=None, gt: str = "filled", with_raw: bool = True):
        from .pack import open_pack

        if gt not in ("filled", "raw"):
            raise ValueError(f"gt must be 'filled' or 'raw', got {gt!r}")
        self.path, self.split, self.transform, self.gt = Path(path), split, transform, gt
        pack = open_pack(self.path)  # checks the file; reads only metadata, keeps no handle open
        if split not in pack.splits:
            raise DataFormatError(f"the pack {self.path} has no split {split!r}; it has {', '.join(pack.splits)}.")
        # A PackSplit remembers the path and reopens the file in each process (it is fork-safe).
        self.frames = pack[split]
        self.source = str(pack.attrs.get("source", ""))     # where the frames came from (training_data_record)
        self.has_raw = "raw_depth" in self.frames.fields
        if gt == "raw" and not self.has_raw:
            raise DataFormatError(f"the {split!r} split of {self.path} has no raw_depth; use gt='filled'.")
        self.with_raw = with_raw and self.has_raw
        try:
            self.intrinsics = self.frames.intrinsics
        except DataFormatError:  # a pack without a camera: assume the NYU Kinect at this size
            self.intrinsics = nyu_intrinsics(self.frames.height, self.frames.width)

    def __len__(self) -> int:
        return len(self.frames)

    def sample(self, index: int) -> dict:
        frame = self.frames[index]
        depth = frame["raw_depth"] if self.gt == "raw" else frame["depth"]
        sample = {"rgb": frame["rgb"], "depth": np.asarray(depth, np.float32), "K": self.intrinsics}
        if self.with_raw:
            sample["raw_depth"] = np.asarray(frame["raw_depth"], np.float32)
        return sample

    def __repr__(self) -> str:
        return f"PackDataset({str(self.path)!r}, split={self.split!r}, gt={self.gt!r}, length={len(self)})"


# ----------------------------------------------------------------------------------------------
# folders of RGB images and 16-bit depth PNGs

def read_rgb(path) -> np.ndarray:
    """Any photo -> (H, W, 3) uint8 RGB, EXIF rotation applied, grey/RGBA converted."""
    return decode_rgb(Path(path).read_bytes(), str(path))


def read_depth_png(path, depth_scale: float) -> np.ndarray:
    """A 16-bit depth PNG -> (H, W) float32 metres (value * depth_scale; 0 stays 0 = no measurement).

    Refuses 8-bit or colour PNGs and a scale that gives implausible indoor depth.
    """
    depth = decode_depth(Path(path).read_bytes(), str(path), bits=16).astype(np.float32) * np.float32(depth_scale)
    values = depth[depth > 0]
    if values.size and not 0.05 < float(np.median(values)) < 100:
        raise DataFormatError(f"the depth in {path} has a median of {np.median(values):.4g} m after scaling by "
                              f"{depth_scale}; that is not an indoor scene. Check depth_scale (0.001 for millimetres).")
    return depth


class FolderPairs(DepthDataset):
    """RGB photos with matching 16-bit depth PNGs, paired by name (BTS `rgb_XXXXX.jpg` / `sync_depth_XXXXX.png`).

    Pairing is `course_lib.data.files.match_pairs`, the same as `python -m data_prep folder`: the stem without prefixes such as `rgb_`,
    `sync_depth_`, `depth_` and suffixes such as `_depth`, plus the sub-folder below the glob's root.
    Files without a partner are listed in `unmatched_rgb` / `unmatched_depth` and skipped.

    depth_scale: metres per PNG unit (0.001 for millimetres). intrinsics: (3, 3) array, a `.npy` path,
    or None for the NYU camera scaled to the image size.
    """

    def __init__(self, rgb_glob: str, depth_glob: str, depth_scale: float, intrinsics=None, transform=None):
        if not depth_scale > 0:
            raise ValueError(f"depth_scale must be positive metres per PNG unit (0.001 for millimetres), got {depth_scale}")
        self.depth_scale, self.transform = float(depth_scale), transform
        self.pairs, self.unmatched_rgb, self.unmatched_depth = match_pairs(str(rgb_glob), str(depth_glob))
        if not self.pairs:
            raise DataFormatError(f"no RGB file in {rgb_glob!r} has a depth file in {depth_glob!r} with the same "
                                  "name key (e.g. rgb_00042.jpg and sync_depth_00042.png); check the patterns.")
        if isinstance(intrinsics, (str, os.PathLike)):
            intrinsics = np.load(intrinsics)
        self.intrinsics = None if intrinsics is None else np.asarray(intrinsics, np.float32).reshape(3, 3)

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(self, index: int) -> dict:
        rgb_path, depth_path = self.pairs[index]
        rgb, depth = read_rgb(rgb_path), read_depth_png(depth_path, self.depth_scale)
        if rgb.shape[:2] != depth.shape:
            raise DataFormatError(f"{rgb_path} is {rgb.shape[1]}x{rgb.shape[0]} but its depth {depth_path} is "
                                  f"{depth.shape[1]}x{depth.shape[0]}; a pair must have the same size.")
        K = self.intrinsics if self.intrinsics is not None else nyu_intrinsics(*depth.shape)
        return {"rgb": rgb, "depth": depth, "K": K}


# ----------------------------------------------------------------------------------------------
# the one entry point lessons and the CLI use


def make_dataset(data: str | os.PathLike = "synthetic", split: str = "train", size=(240, 320),
                 length: int | None = None, augment: bool | None = None, seed: int = 0, gt: str = "filled",
                 raw_depth: bool = False, transform=None) -> DepthDataset:
    """The dataset a lesson's `DATA` (or the CLI's `--data`) names: "synthetic" or the path of a depth pack.

    split: "train", "val" or "test". Synthetic: train = SyntheticRooms(seed=seed), val = SyntheticRooms(
    seed=999), test = `heldout_rooms`. size (H, W): items come out at this size. augment: training
    augmentation (default: on for "train"). length: number of items (synthetic; for a pack, the
    first `length` frames). transform overrides the preset.

    A pack without a 'val' split (NYU's official split has only train and test): "val" is the last
    `pack_val_count(n)` frames of 'train', and "train" leaves them out, so that choosing a checkpoint
    never looks at the test split.
    """
    size = (int(size[0]), int(size[1]))
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    augment = (split == "train") if augment is None else augment
    if transform is None:
        transform = train_transforms(size) if augment else None
    if str(data) == "synthetic":
        n = int(length or DEFAULT_LENGTHS[split])
        if split == "test":
            return heldout_rooms(n, size, transform=transform, raw_depth=raw_depth)
        return SyntheticRooms(n, size, seed=seed if split == "train" else VAL_SEED, transform=transform,
                              raw_depth=raw_depth)
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"DATA={str(data)!r} is neither 'synthetic' nor an existing depth pack file.")
    from .pack import open_pack

    with open_pack(path) as pack:
        splits, n_train = pack.splits, (len(pack["train"]) if "train" in pack.splits else 0)
    if split in ("train", "val") and "val" not in splits and n_train:
        held = pack_val_count(n_train)
        if n_train - held < 1:
            raise DataFormatError(f"{path}: has no 'val' split and only {n_train} training frames, too few to hold "
                                  "some out for validation; add a 'val' split (data_prep nyu-labeled --val-count N).")
        ds = PackDataset(path, "train", transform=transform or eval_transforms(size), gt=gt, with_raw=raw_depth)
        keep = range(n_train - held) if split == "train" else range(n_train - held, n_train)
        ds = torch.utils.data.Subset(ds, keep)
    else:
        ds = PackDataset(path, split, transform=transform or eval_transforms(size), gt=gt, with_raw=raw_depth)
    if length is not None and length < len(ds):
        ds = torch.utils.data.Subset(ds, range(int(length)))
    return ds


SYNTHETIC_PACK_SOURCE = "course_lib synthetic rooms"     # how data_prep's synthetic packs begin their source


def _leaf_datasets(data) -> list:
    """The datasets whose frames `data` serves: through DataLoaders, Subsets, ConcatDatasets and wrappers
    that keep their dataset as `.dataset` (CachedSamples, SeededItems)."""
    from torch.utils.data import ConcatDataset

    if isinstance(data, DataLoader):
        return _leaf_datasets(data.dataset)
    if isinstance(data, ConcatDataset):
        return [leaf for part in data.datasets for leaf in _leaf_datasets(part)]
    inner = getattr(data, "dataset", None)
    if inner is not None and inner is not data:
        return _leaf_datasets(inner)
    return [data]


def training_data_record(data) -> dict:
    """What a model learnt from, as a checkpoint records it: {"description": str, "synthetic": bool | None}.

    "synthetic" is True when every frame comes from the synthetic rooms (`SyntheticRooms`, or a pack
    `python -m data_prep synthetic` wrote), False when some frame comes from any other pack or folder of
    photos, None when the datasets are of a kind this cannot tell. `python -m course_lib predict` says so
    when a model that never saw a photo is given photos: its metric scale on them is not to be trusted
    (README, "Synthetic rooms on real photos").
    """
    kinds, names = [], []
    for leaf in _leaf_datasets(data):
        try:
            names.append(repr(leaf))
        except Exception:                 # a dataset of the user's whose repr fails must not stop training
            names.append(type(leaf).__name__)
        if isinstance(leaf, SyntheticRooms):
            kinds.append(True)
        elif isinstance(leaf, PackDataset):
            kinds.append(leaf.source.startswith(SYNTHETIC_PACK_SOURCE))
            names[-1] += f" (source {leaf.source!r})"
        elif isinstance(leaf, FolderPairs):
            kinds.append(False)
        else:
            kinds.append(None)
    synthetic = False if False in kinds else (None if None in kinds else True)
    description = " + ".join(names)
    return {"description": description if len(description) <= 400 else description[:397] + "...",
            "synthetic": synthetic}


def pack_val_count(n_train: int) -> int:
    """How many training frames stand in for a missing 'val' split: 5 %, at least 1, at most 64."""
    return max(1, min(64, n_train // 20))


# ----------------------------------------------------------------------------------------------
# loaders


def default_num_workers() -> int:
    """min(4, CPU cores - 1): leave one core to the training process."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(4, cores - 1))


def seed_worker(worker_id: int) -> None:
    """worker_init_fn: seed numpy and `random` in each worker from torch's per-worker seed."""
    import random

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def make_loaders(train_ds, val_ds=None, batch_size: int = 8, num_workers="auto", pin_memory="auto",
                 val_batch_size: int | None = None, seed: int | None = None, drop_last: bool = True,
                 shard_val: bool = False, **loader_kwargs):
    """(train_loader, val_loader) with sensible defaults; val_loader is None when val_ds is None.

    num_workers "auto" = min(4, cores - 1); pin_memory "auto" = CUDA is available; persistent workers;
    drop_last for training; numpy seeded per worker. Under torch.distributed the training loader gets a
    DistributedSampler (shuffling is the sampler's): call `set_epoch(loader, epoch)` each epoch.
    shard_val splits validation across ranks too (default: every rank sees the whole set).
    seed: a fixed shuffling order; otherwise it follows torch.manual_seed.
    """
    from torch.utils.data.distributed import DistributedSampler

    workers = default_num_workers() if num_workers == "auto" else int(num_workers)
    pin = torch.cuda.is_available() if pin_memory == "auto" else bool(pin_memory)
    common = dict(num_workers=workers, pin_memory=pin, worker_init_fn=seed_worker if workers else None,
                  persistent_workers=workers > 0, **loader_kwargs)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    if _distributed():
        sampler = DistributedSampler(train_ds, shuffle=True, seed=seed or 0, drop_last=drop_last)
        train_loader = DataLoader(train_ds, batch_size, sampler=sampler, drop_last=drop_last, **common)
    else:
        train_loader = DataLoader(train_ds, batch_size, shuffle=True, drop_last=drop_last, generator=generator,
                                  **common)
    val_loader = None
    if val_ds is not None:
        val_sampler = DistributedSampler(val_ds, shuffle=False) if (shard_val and _distributed()) else None
        val_loader = DataLoader(val_ds, val_batch_size or batch_size, shuffle=False, sampler=val_sampler, **common)
    return train_loader, val_loader


def loader_throughput(loader, timed_passes: int = 1) -> float:
    """Frames per second a DataLoader delivers (lesson 02).

    One untimed pass first starts the workers and opens the files (with persistent workers they stay
    up), then `timed_passes` full passes are timed. Counts items, whatever form a batch has (the
    course's dict, a tuple of tensors, or a tensor).
    """
    for _ in loader:
        pass
    count, start = 0, time.perf_counter()
    for _ in range(timed_passes):
        for batch in loader:
            first = next(iter(batch.values())) if isinstance(batch, dict) else (
                batch[0] if isinstance(batch, (tuple, list)) else batch)
            count += len(first)
    return count / (time.perf_counter() - start)


def set_epoch(loader, epoch: int) -> None:
    """Tell a DistributedSampler (if the loader has one) which epoch it is, so each epoch shuffles anew."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
