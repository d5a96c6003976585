"""Make each sample of a dataset once, keep it in memory, and augment it anew on every read.

Introduced in lesson 03 (a first training on the CPU).

Rendering one synthetic room costs about 35 ms on one CPU core at 120x160; the training augmentation
of a rendered room costs about 3 ms. A training run that draws each room several times therefore
spends most of its data time re-rendering rooms it has already seen. `CachedSamples` keeps the NumPy
samples (about 135 kB per room at 120x160, 0.5 MB at 240x320) and runs only the dataset's transform
on each read, so the items are exactly those of the wrapped dataset, augmentation included:

    train_ds = CachedSamples(SyntheticRooms(1000, (120, 160), transform=train_transforms((120, 160))))

With DataLoader workers each worker process fills its own cache.
"""
from __future__ import annotations

from .datasets import DepthDataset


class CachedSamples(DepthDataset):
    """`dataset` (a DepthDataset: SyntheticRooms, PackDataset, ...) with each sample made only once."""

    def __init__(self, dataset: DepthDataset):
        if not isinstance(dataset, DepthDataset):
            raise TypeError(f"CachedSamples wraps a course DepthDataset (it calls .sample(i)), got {type(dataset).__name__}")
        self.dataset = dataset
        self.transform = dataset.transform     # applied by DepthDataset.__getitem__ on every read
        self._samples: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def sample(self, index: int) -> dict:
        if index not in self._samples:
            self._samples[index] = self.dataset.sample(index)
        # copies: a transform may write into the arrays it is given
        return {k: v.copy() if hasattr(v, "copy") else v for k, v in self._samples[index].items()}

    def __repr__(self) -> str:
        return f"CachedSamples({self.dataset!r})"
