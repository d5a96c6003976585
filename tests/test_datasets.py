"""Datasets and loaders: the item format, synthetic determinism and held-out seeds, folders of
16-bit PNGs, depth packs read by DataLoader workers, and make_loaders."""
import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.data import datasets as D
from course_lib.data import transforms as T
from course_lib.errors import DataFormatError
from course_lib.geometry import nyu_intrinsics


def check_item(item, h, w):
    assert set(item) >= {"image", "depth", "valid", "K", "index"}
    assert item["image"].shape == (3, h, w) and item["image"].dtype == torch.float32
    assert item["depth"].shape == (1, h, w) and item["depth"].dtype == torch.float32
    assert item["valid"].shape == (1, h, w) and item["valid"].dtype == torch.bool
    assert item["K"].shape == (3, 3) and item["K"].dtype == torch.float32
    assert torch.equal(item["valid"], item["depth"] > 0)
    assert torch.all(item["depth"][~item["valid"]] == 0)


# ----------------------------------------------------------------------------------------- synthetic


@pytest.fixture(scope="module")
def rooms():
    return D.SyntheticRooms(3, size=(48, 64), seed=0)


def test_synthetic_item_format_and_normalisation(rooms):
    from course_lib.data.synthetic import render_room

    item = rooms[1]
    check_item(item, 48, 64)
    assert item["index"] == 1
    room = render_room(1, height=48, width=64)  # seed 0 -> scene seeds 0, 1, 2
    assert np.array_equal(T.denormalize_image(item["image"]), room["rgb"])
    assert np.allclose(item["depth"][0].numpy(), room["depth"])
    assert np.allclose(item["K"].numpy(), room["K"])
    mean = torch.tensor(T.IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(T.IMAGENET_STD).view(3, 1, 1)
    assert torch.allclose(item["image"], (torch.from_numpy(room["rgb"]).permute(2, 0, 1) / 255 - mean) / std,
                          atol=1e-5)


def test_synthetic_is_deterministic(rooms):
    again = D.SyntheticRooms(3, size=(48, 64), seed=0)
    for i in (0, 2):
        a, b = rooms[i], again[i]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["depth"], b["depth"])
    assert not torch.equal(rooms[0]["depth"], rooms[1]["depth"])
    other = D.SyntheticRooms(1, size=(48, 64), seed=1)
    assert not torch.equal(other[0]["depth"], rooms[0]["depth"])


def test_heldout_seeds_are_disjoint_from_training():
    held = D.heldout_rooms(64, size=(48, 64))
    held_seeds = {held.scene_seed(i) for i in range(len(held))}
    assert min(held_seeds) == 10**9
    # The largest training set that the seed scheme allows still stays below 10**9.
    for seed, length in [(0, 100_000), (1, 1000), (998, 1_000_003), (999, 1000)]:
        ds = D.SyntheticRooms(length, size=(48, 64), seed=seed)
        assert ds.scene_seed(length - 1) < 10**9
        assert not held_seeds & {ds.scene_seed(i) for i in (0, length - 1)}
    with pytest.raises(ValueError, match="held-out"):
        D.SyntheticRooms(10, seed=1000)
    check_item(held[0], 48, 64)
    assert not torch.equal(held[0]["depth"], D.SyntheticRooms(1, size=(48, 64))[0]["depth"])


def test_synthetic_raw_depth_and_transform():
    ds = D.SyntheticRooms(2, size=(48, 64), raw_depth=True, transform=T.train_transforms((32, 40)))
    item = ds[0]
    check_item(item, 32, 40)
    assert item["raw_depth"].shape == (1, 32, 40)


def test_make_dataset_synthetic():
    train = D.make_dataset("synthetic", "train", size=(32, 48), length=5)
    val = D.make_dataset("synthetic", "val", size=(32, 48))
    test = D.make_dataset("synthetic", "test", size=(32, 48), length=4)
    assert len(train) == 5 and len(val) == D.DEFAULT_LENGTHS["val"] and len(test) == 4
    assert test.seed_base == D.HELDOUT_SEED_BASE and val.transform is None and train.transform is not None
    check_item(train[0], 32, 48)
    with pytest.raises(FileNotFoundError):
        D.make_dataset("no/such/pack.h5", "train", size=(32, 48))


# ----------------------------------------------------------------------------------------- folders


def write_bts_folder(root, n=3, h=30, w=40):
    rng = np.random.default_rng(0)
    frames = []
    for k in range(n):
        key = f"{k * 50:05d}"
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        depth_mm = rng.integers(500, 9000, (h, w)).astype(np.uint16)
        depth_mm[rng.random((h, w)) < 0.2] = 0
        Image.fromarray(rgb).save(root / f"rgb_{key}.png")
        Image.fromarray(depth_mm).save(root / f"sync_depth_{key}.png")
        frames.append((rgb, depth_mm))
    Image.fromarray(frames[0][0]).save(root / "rgb_99999.png")  # no depth partner: skipped
    return frames


def test_folder_pairs_bts_names_and_millimetres(tmp_path):
    frames = write_bts_folder(tmp_path)
    assert np.asarray(Image.open(tmp_path / "sync_depth_00000.png")).dtype == np.uint16
    ds = D.FolderPairs(str(tmp_path / "rgb_*.png"), str(tmp_path / "sync_depth_*.png"), depth_scale=0.001)
    assert len(ds) == 3 and [p.name for p in ds.unmatched_rgb] == ["rgb_99999.png"]
    for i, (rgb, depth_mm) in enumerate(frames):
        item = ds[i]
        check_item(item, 30, 40)
        assert np.array_equal(T.denormalize_image(item["image"]), rgb)
        assert np.allclose(item["depth"][0].numpy(), depth_mm.astype(np.float64) / 1000, atol=1e-6)
        assert torch.equal(item["valid"][0], torch.from_numpy(depth_mm > 0))
        assert np.allclose(item["K"].numpy(), nyu_intrinsics(30, 40))


def test_folder_pairs_refuses_wrong_scale_and_no_pairs(tmp_path):
    write_bts_folder(tmp_path, n=1)
    ds = D.FolderPairs(str(tmp_path / "rgb_*.png"), str(tmp_path / "sync_depth_*.png"), depth_scale=1.0)
    with pytest.raises(DataFormatError, match="depth_scale"):
        ds[0]
    with pytest.raises(DataFormatError, match="nothing_"):
        D.FolderPairs(str(tmp_path / "rgb_*.png"), str(tmp_path / "nothing_*.png"), depth_scale=0.001)
    (tmp_path / "other").mkdir()
    Image.fromarray(np.ones((4, 4), np.uint16)).save(tmp_path / "other" / "depth_7.png")
    with pytest.raises(DataFormatError, match="name key"):
        D.FolderPairs(str(tmp_path / "rgb_*.png"), str(tmp_path / "other" / "*.png"), depth_scale=0.001)


def test_folder_pairs_intrinsics_follow_resize(tmp_path):
    write_bts_folder(tmp_path, n=1)
    K = np.array([[50.0, 0, 20], [0, 50, 15], [0, 0, 1]], np.float32)
    ds = D.FolderPairs(str(tmp_path / "rgb_*.png"), str(tmp_path / "sync_depth_*.png"), 0.001, intrinsics=K,
                       transform=T.eval_transforms((15, 20)))
    item = ds[0]
    check_item(item, 15, 20)
    assert item["K"][0, 0] == pytest.approx(25.0) and item["K"][0, 2] == pytest.approx(20.5 / 2 - 0.5)


# ----------------------------------------------------------------------------------------- packs


@pytest.fixture(scope="module")
def pack_path(tmp_path_factory):
    from course_lib.data.pack import PackWriter

    path = tmp_path_factory.mktemp("pack") / "tiny.h5"
    rng = np.random.default_rng(0)
    K = nyu_intrinsics(24, 32)
    with PackWriter(path, attrs={"source": "test", "intrinsics": K}) as writer:
        for name, n in (("train", 10), ("test", 4)):
            split = writer.create_split(name, n, 24, 32, raw_depth=True)
            for k in range(n):
                depth = np.full((24, 32), 1.0 + k, np.float32)    # frame k is k + 1 metres deep
                raw = depth.copy()
                raw[:, :5] = 0
                split.append(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), depth, raw_depth=raw)
    return path


def test_pack_dataset_items_and_gt_kinds(pack_path):
    ds = D.PackDataset(pack_path, "test")
    assert len(ds) == 4
    item = ds[2]
    check_item(item, 24, 32)
    assert torch.all(item["depth"] == 3.0) and torch.all(item["raw_depth"][..., :5] == 0)
    raw = D.PackDataset(pack_path, "test", gt="raw")[2]
    assert not raw["valid"][..., :5].any() and raw["valid"][..., 5:].all()
    assert torch.allclose(raw["K"], torch.from_numpy(nyu_intrinsics(24, 32)))
    with pytest.raises(DataFormatError, match="no split"):
        D.PackDataset(pack_path, "val")


def test_pack_dataset_with_two_workers(pack_path):
    ds = D.PackDataset(pack_path, "train", transform=T.eval_transforms((12, 16)))
    ds[0]  # the parent process opens the file first: workers must not reuse its handle
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, shuffle=False)
    depths = torch.cat([batch["depth"][:, 0, 0, 0] for batch in loader])
    assert torch.equal(depths, torch.arange(1, 11, dtype=torch.float32))


def test_make_dataset_from_pack(pack_path):
    ds = D.make_dataset(str(pack_path), "train", size=(16, 20), length=5)
    assert len(ds) == 5
    check_item(ds[0], 16, 20)


# ----------------------------------------------------------------------------------------- loaders


def test_make_loaders_batches(pack_path):
    train = D.PackDataset(pack_path, "train", transform=T.train_transforms((16, 16)))
    val = D.PackDataset(pack_path, "test")
    train_loader, val_loader = D.make_loaders(train, val, batch_size=4, num_workers=2, seed=0)
    assert train_loader.num_workers == 2 and train_loader.persistent_workers and train_loader.drop_last
    batches = list(train_loader)
    assert len(batches) == 2  # 10 frames, batch 4, last partial batch dropped
    assert batches[0]["image"].shape == (4, 3, 16, 16) and batches[0]["K"].shape == (4, 3, 3)
    assert batches[0]["valid"].dtype == torch.bool and batches[0]["index"].shape == (4,)
    val_batches = list(val_loader)
    assert sum(len(b["index"]) for b in val_batches) == 4
    assert torch.equal(torch.cat([b["index"] for b in val_batches]), torch.arange(4))
    # The same seed gives the same order.
    again, _ = D.make_loaders(train, None, batch_size=4, num_workers=0, seed=0)
    assert [b["index"].tolist() for b in again] == [b["index"].tolist() for b in batches]
    D.set_epoch(train_loader, 1)  # a no-op without torch.distributed


def test_default_num_workers_leaves_a_core():
    import os

    n = D.default_num_workers()
    assert 0 <= n <= 4 and n <= max(0, len(os.sched_getaffinity(0)) - 1)


# ----------------------------------------------------------------------------------------- real frames


def test_folder_pairs_on_real_nyu_sync_frames(realdata):
    folder = realdata / "nyu_sync_basement"
    ds = D.FolderPairs(str(folder / "rgb_*.jpg"), str(folder / "sync_depth_*.png"), depth_scale=0.001)
    assert len(ds) == 3
    item = ds[0]
    check_item(item, 480, 640)
    d = item["depth"][item["valid"]]
    assert 0.3 < float(d.median()) < 10.0  # metres, an indoor room: the mm -> m scale is right
    raw_mm = np.asarray(Image.open(folder / "sync_depth_00000.png"))
    assert np.allclose(item["depth"][0].numpy(), raw_mm / 1000.0, atol=1e-6)


# ----------------------------------------------------------------------------------------- widgets


def test_show_frame_and_browser_headless(pack_path):
    import matplotlib

    matplotlib.use("Agg")
    from course_lib.data.pack import open_pack
    from course_lib.widgets import depth_browser, show_frame

    ds = D.PackDataset(pack_path, "test")
    fig = show_frame(ds[0], title="item")
    assert len(fig.axes) >= 4
    frames = open_pack(pack_path)["test"]
    fig = show_frame(frames[1])  # a raw pack frame: numpy rgb, no valid key
    assert "holes" in fig.axes[2].get_title()
    box = depth_browser(frames)
    assert box is not None and box.children[0].max == 3
    box.children[0].value = 2  # redraws without error


# ----------------------------------------------------------------------------------------- mock NYU file


def test_mock_nyu_labeled_has_the_real_layout(tmp_path):
    import h5py
    import scipy.io

    from course_lib.data.mock_nyu import write_mock_nyu_labeled, write_mock_nyu_splits
    from course_lib.data.synthetic import render_room

    path = write_mock_nyu_labeled(tmp_path / "nyu_depth_v2_labeled.mat", num_frames=3, height=24, width=32, seed=5)
    assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    with h5py.File(path, "r") as f:
        assert f["images"].shape == (3, 3, 32, 24) and f["images"].dtype == np.uint8
        assert f["depths"].shape == (3, 32, 24) and f["depths"].dtype == np.float32
        assert f["rawDepths"].shape == (3, 32, 24) and f["labels"].dtype == np.uint16
        room = render_room(6, height=24, width=32, raw_depth=True)
        # MATLAB's (H, W, 3, N) seen through h5py: reverse the axes to get the upright frame back.
        assert np.array_equal(f["images"][1].transpose(2, 1, 0), room["rgb"])
        assert np.array_equal(f["depths"][1].T, room["depth"].astype(np.float32))
        assert np.array_equal(f["rawDepths"][1].T, room["raw_depth"].astype(np.float32))
    splits = scipy.io.loadmat(write_mock_nyu_splits(tmp_path / "splits.mat", 10))
    train, test = splits["trainNdxs"].ravel(), splits["testNdxs"].ravel()
    assert splits["trainNdxs"].shape[1] == 1 and sorted(np.concatenate([train, test])) == list(range(1, 11))


def test_make_loaders_uses_a_distributed_sampler_under_torch_distributed(pack_path, tmp_path):
    import torch.distributed as dist
    from torch.utils.data.distributed import DistributedSampler

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        train = D.PackDataset(pack_path, "train")
        loader, _ = D.make_loaders(train, None, batch_size=2, num_workers=0, seed=3)
        assert isinstance(loader.sampler, DistributedSampler) and loader.drop_last
        D.set_epoch(loader, 0)
        first = [i for b in loader for i in b["index"].tolist()]
        D.set_epoch(loader, 1)
        second = [i for b in loader for i in b["index"].tolist()]
        assert sorted(first) == sorted(second) == list(range(10)) and first != second
    finally:
        dist.destroy_process_group()


def test_loader_throughput_skips_the_warm_up_pass_and_counts_items(monkeypatch):
    import itertools

    import course_lib.data.datasets as datasets
    from course_lib.data import loader_throughput

    reads = []

    class Counting(torch.utils.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            reads.append(i)
            return {"image": torch.zeros(3, 2, 2), "index": i}

    clock = itertools.count(start=100.0, step=2.0)            # every reading of the clock is 2 s later
    monkeypatch.setattr(datasets.time, "perf_counter", lambda: next(clock))
    loader = torch.utils.data.DataLoader(Counting(), batch_size=3)  # batches of 3, 3, 3, 1
    assert loader_throughput(loader, timed_passes=2) == 20 / 2.0   # 20 items timed between two readings
    assert len(reads) == 30                                          # one untimed pass + two timed ones
    pairs = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(7, 1), torch.zeros(7)),
                                        batch_size=4)
    assert loader_throughput(pairs) == 7 / 2.0                       # tuple batches count their first tensor


def test_pack_without_val_split_holds_out_training_frames(tmp_path):
    """NYU's official split has no 'val': make_dataset takes it from the end of 'train', never from 'test'."""
    from course_lib.data.datasets import pack_val_count
    from data_prep.synthetic import convert_synthetic

    pack = convert_synthetic(45, (24, 32), tmp_path / "train_only.h5", show_progress=False)
    train = D.make_dataset(pack, "train", size=(24, 32), augment=False)
    val = D.make_dataset(pack, "val", size=(24, 32))
    assert pack_val_count(45) == 2 and len(val) == 2 and len(train) == 43
    assert list(train.indices) + list(val.indices) == list(range(45))       # disjoint, nothing lost
    assert torch.equal(val[0]["depth"], D.PackDataset(pack, "train", transform=T.eval_transforms((24, 32)))[43]["depth"])


def test_frame_folders_are_read_in_metres_with_their_camera(tmp_path):
    from course_lib.data.realdata import real_frames_in
    from course_lib.errors import CourseError

    frame = tmp_path / "tum_desk"
    frame.mkdir()
    Image.fromarray(np.full((6, 8, 3), 90, np.uint8)).save(frame / "rgb.png")
    depth_mm = np.arange(48, dtype=np.uint16).reshape(6, 8) * 100
    Image.fromarray(depth_mm).save(frame / "depth.png")
    K = np.array([[5.0, 0, 4], [0, 5.0, 3], [0, 0, 1]], np.float32)
    np.save(frame / "intrinsics.npy", K)
    (frame_b := tmp_path / "another").mkdir()
    for name in ("rgb.png", "depth.png", "intrinsics.npy"):
        (frame_b / name).write_bytes((frame / name).read_bytes())
    frames = real_frames_in(tmp_path)
    assert [f.name for f in frames] == ["another", "tum_desk"]
    np.testing.assert_allclose(frames[1].depth_m, depth_mm / 1000.0, rtol=1e-6)
    np.testing.assert_array_equal(frames[1].K, K)
    assert frames[1].rgb.shape == (6, 8, 3)

    (frame / "depth.png").unlink()
    with pytest.raises(CourseError, match="tum_desk lacks depth.png"):
        real_frames_in(tmp_path)
    Image.fromarray(depth_mm[:5]).save(frame / "depth.png")
    with pytest.raises(CourseError, match="registered to the photo"):
        real_frames_in(tmp_path)


def test_training_data_record_tells_synthetic_rooms_from_photos(pack_path, tmp_path):
    from torch.utils.data import ConcatDataset, DataLoader, Subset

    from course_lib.data.cached import CachedSamples
    from data_prep.synthetic import convert_synthetic

    rooms = D.SyntheticRooms(4, size=(24, 32))
    for wrapped in (rooms, CachedSamples(rooms), Subset(rooms, [0, 1]), DataLoader(rooms, batch_size=2)):
        record = D.training_data_record(wrapped)
        assert record["synthetic"] is True and record["description"].startswith("SyntheticRooms(length=4")

    synthetic_pack = convert_synthetic(2, (24, 32), tmp_path / "rooms.h5", show_progress=False)
    record = D.training_data_record(D.PackDataset(synthetic_pack, "train"))
    assert record["synthetic"] is True and "course_lib synthetic rooms, seeds 0..1" in record["description"]

    photos = D.PackDataset(pack_path, "train")                   # a pack of anything else counts as photos
    assert D.training_data_record(photos)["synthetic"] is False
    mixed = D.training_data_record(ConcatDataset([rooms, photos]))
    assert mixed["synthetic"] is False and " + " in mixed["description"]

    class Frames(torch.utils.data.Dataset):                       # a kind it cannot tell, and a broken repr
        def __len__(self):
            return 1

        def __repr__(self):
            raise RuntimeError("no repr")

    assert D.training_data_record(Frames()) == {"description": "Frames", "synthetic": None}
    assert D.training_data_record(ConcatDataset([rooms, Frames()]))["synthetic"] is None
    long = D.training_data_record(ConcatDataset([rooms] * 20))["description"]
    assert len(long) == 400 and long.endswith("...")
