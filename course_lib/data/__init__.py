"""Data for the course: synthetic rooms, depth packs, torch Datasets and paired transforms.

    from course_lib.data import make_dataset, make_loaders, heldout_rooms
    train_ds = make_dataset("synthetic", "train", size=(240, 320))

Modules: `synthetic` (procedural rooms with exact depth; a package, one file per stage of the renderer),
`pack` (the HDF5 depth pack), `datasets` (Datasets and loaders), `transforms` (paired RGB + depth
transforms). Introduced in lessons 01 and 02.
"""
from .datasets import (
    HELDOUT_SEED_BASE, DepthDataset, FolderPairs, PackDataset, SyntheticRooms, default_num_workers,
    heldout_rooms, loader_throughput, make_dataset, make_loaders, read_depth_png, read_rgb,
    seed_worker, set_epoch, training_data_record,
)
from .transforms import (
    IMAGENET_MEAN, IMAGENET_STD, CameraEffects, CenterCrop, ChannelSwap, ColorJitter, Compose, RandomCrop,
    RandomHorizontalFlip, RandomScaleCrop, Resize, crop_sample, denormalize_image, eval_transforms, hflip_sample,
    invented_depth_mask, normalize_image, resize_depth, to_item, train_transforms,
)

_LAZY = {"render_room": ".synthetic", "open_pack": ".pack", "PackWriter": ".pack"}


def __getattr__(name):
    # synthetic and pack are imported on first use, so importing the datasets stays cheap.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "HELDOUT_SEED_BASE", "DepthDataset", "FolderPairs", "PackDataset", "SyntheticRooms", "default_num_workers",
    "heldout_rooms", "loader_throughput", "make_dataset", "make_loaders", "read_depth_png", "read_rgb",
    "seed_worker", "set_epoch", "training_data_record",
    "IMAGENET_MEAN", "IMAGENET_STD", "CameraEffects", "CenterCrop", "ChannelSwap", "ColorJitter", "Compose",
    "RandomCrop",
    "RandomHorizontalFlip", "RandomScaleCrop", "Resize", "crop_sample", "denormalize_image", "eval_transforms",
    "hflip_sample", "invented_depth_mask", "normalize_image", "resize_depth", "to_item", "train_transforms",
    "render_room", "open_pack", "PackWriter",
]
