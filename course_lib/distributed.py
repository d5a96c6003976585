"""Several processes, one training run: torchrun set-up, and a data order that survives restarts.

`torchrun --nproc_per_node=K ...` starts K copies of the same script and tells each one who it is
through the environment (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); across machines
torchrun's --nnodes/--rdzv options set the same variables. `setup_distributed` reads them.

The data order is a pure function of (seed, epoch, position): `ShardedSampler` shuffles with a
generator seeded by seed + epoch, gives each process every WORLD_SIZE-th index, and can start
part-way through an epoch; `SeededItems` seeds the augmentation of each item from (seed, epoch,
index). So a resumed run sees exactly the batches the uninterrupted run would have seen, whatever
the number of DataLoader workers. Introduced in lesson 12 (resume and distributed training).
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from .environment import pick_device


@dataclass
class DistInfo:
    """Who this process is: rank among world_size processes, its GPU (local_rank) and device."""
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    distributed: bool = False       # in a process group (started by torchrun, even with one process)
    initialized_here: bool = False  # we called init_process_group, so we also destroy it

    @property
    def is_distributed(self) -> bool:
        return self.distributed

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, shows progress and writes files."""
        return self.rank == 0


def setup_distributed(device="auto") -> DistInfo:
    """Join the process group when started by torchrun (NCCL on GPUs, gloo on the CPU), else run alone."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo(device=pick_device(device))
    world_size = int(os.environ["WORLD_SIZE"])
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    wanted = pick_device(device)
    if wanted.type == "cuda":
        wanted = torch.device("cuda", local_rank)
        torch.cuda.set_device(wanted)
    initialized_here = False
    if not dist.is_initialized():
        backend = "nccl" if wanted.type == "cuda" else "gloo"
        try:  # telling NCCL the device up front avoids a guess at the first barrier (torch >= 2.3)
            dist.init_process_group(backend=backend, **({"device_id": wanted} if backend == "nccl" else {}))
        except TypeError:
            dist.init_process_group(backend=backend)
        initialized_here = True
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size, device=wanted, distributed=True,
                    initialized_here=initialized_here)


def cleanup_distributed(info: DistInfo) -> None:
    """Wait for every process, then leave the process group (if this module joined it)."""
    if info.is_distributed and dist.is_initialized():
        dist.barrier()
        if info.initialized_here:
            dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.is_distributed:
        dist.barrier()


def broadcast_object(obj, info: DistInfo):
    """Rank 0's value of `obj` on every process."""
    if not info.is_distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(obj, info: DistInfo) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every process."""
    if not info.is_distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def item_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one item's augmentation: a pure function of (seed, epoch, index)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class ShardedSampler(torch.utils.data.Sampler):
    """Indices of one epoch for one process: shuffled by seed + epoch, sharded by rank, resumable.

    Yields (index, item_seed) pairs for `SeededItems` when `with_seeds` is true, else plain indices.
    Training shards drop the last len % world_size indices so every process gets as many;
    evaluation shards (`drop_uneven=False`) keep them all, so no image is counted twice.
    """

    def __init__(self, length: int, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1,
                 with_seeds: bool = True, drop_uneven: bool = True):
        self.length, self.seed, self.shuffle = length, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.with_seeds, self.drop_uneven = with_seeds, drop_uneven
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Choose the epoch (its shuffle) and skip the first `start` items of this process's shard."""
        self.epoch, self.start = epoch, start

    def _shard(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = list(range(self.length))
        if self.drop_uneven:
            order = order[: self.length - self.length % self.world_size]
        return order[self.rank::self.world_size]

    def __iter__(self):
        for index in self._shard()[self.start:]:
            yield (index, item_seed(self.seed, self.epoch, index)) if self.with_seeds else index

    def __len__(self) -> int:
        return max(len(self._shard()) - self.start, 0)


class SeededItems(torch.utils.data.Dataset):
    """Wraps a dataset so that item (index, seed) is drawn with every generator seeded by `seed`.

    Random augmentations inside the dataset (torch, NumPy or Python `random`) then depend only on
    the item, not on which worker loads it or what was drawn before; the caller's generators are
    restored afterwards, so dropout in the main process is unaffected.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        index, seed = key
        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            return self.dataset[index]
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])
