"""CachedSamples: the same items as the wrapped dataset (augmentation included), each sample made once."""
import pytest
import torch

from course_lib.data import SyntheticRooms, train_transforms
from course_lib.data.cached import CachedSamples


class CountingRooms(SyntheticRooms):
    calls = 0

    def sample(self, index):
        CountingRooms.calls += 1
        return super().sample(index)


def test_cached_items_equal_the_wrapped_dataset_with_augmentation():
    size = (32, 48)
    plain = SyntheticRooms(3, size, transform=train_transforms(size))
    cached = CachedSamples(SyntheticRooms(3, size, transform=train_transforms(size)))
    assert len(cached) == 3 and "SyntheticRooms" in repr(cached)
    for _ in range(2):  # the second pass reads from the cache
        for i in range(3):
            torch.manual_seed(i)
            a = plain[i]
            torch.manual_seed(i)
            b = cached[i]
            assert all(torch.equal(a[k], b[k]) for k in ("image", "depth", "valid", "K"))


def test_each_sample_is_made_once_and_the_cache_is_not_modified():
    size = (32, 48)
    CountingRooms.calls = 0
    cached = CachedSamples(CountingRooms(2, size, transform=train_transforms(size)))
    first = cached.sample(0)["depth"].copy()
    cached.sample(0)["depth"][:] = 0          # a transform writing into its input
    for _ in range(3):
        cached[0], cached[1]
    assert CountingRooms.calls == 2
    assert (cached.sample(0)["depth"] == first).all()
    assert cached[-1]["index"] == 1


def test_rejects_a_plain_torch_dataset():
    with pytest.raises(TypeError, match="DepthDataset"):
        CachedSamples(torch.utils.data.TensorDataset(torch.zeros(2)))
