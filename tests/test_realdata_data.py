"""data_prep and the pack on real NYU Depth V2 files (COURSE_REALDATA through the `realdata` fixture of
conftest.py: skipped without it on a learner's machine, a failure in CI)."""
import numpy as np
import pytest
from PIL import Image

from course_lib.data.pack import open_pack
from data_prep.folder import convert_folder
from data_prep.nyu_labeled import load_official_splits


def test_official_splits(realdata):
    splits = load_official_splits(realdata / "splits.mat", num_frames=1449)
    train, test = splits["train"], splits["test"]
    assert train.shape == (795,) and test.shape == (654,)
    assert train.min() >= 1 and test.min() >= 1 and max(train.max(), test.max()) <= 1449
    assert np.intersect1d(train, test).size == 0
    assert len(np.union1d(train, test)) == 1449        # together they are all the labeled frames
    assert 1339 in test                                # the frame in nyu_official_test_1339/


def check_against_png(split, pngs):
    """Pack depth = PNG millimetres / 1000; holes (0 in the PNG) stay holes."""
    for i, png in enumerate(pngs):
        depth_mm = np.asarray(Image.open(png)).astype(np.float64)
        item = split[i]
        assert item["rgb"].shape == (480, 640, 3) and item["depth"].shape == (480, 640)
        depth = item["depth"]
        valid = depth > 0
        np.testing.assert_array_equal(valid, depth_mm > 0)
        assert 0.1 < valid.mean() < 1.0
        assert depth[valid].min() >= 0.5 and depth[valid].max() <= 10.0
        np.testing.assert_allclose(depth, depth_mm / 1000, rtol=1e-6)


def test_folder_bts_sync_basement(realdata, tmp_path):
    folder = realdata / "nyu_sync_basement"
    out = convert_folder(str(folder / "rgb_*.jpg"), str(folder / "sync_depth_*.png"), 0.001, tmp_path / "b.h5",
                         show_progress=False)
    split = open_pack(out)["train"]
    assert len(split) == 3
    check_against_png(split, sorted(folder.glob("sync_depth_*.png")))
    np.testing.assert_array_equal(split[0]["rgb"], np.asarray(Image.open(folder / "rgb_00000.jpg").convert("RGB")))


def test_folder_official_test_frame_with_its_intrinsics(realdata, tmp_path):
    folder = realdata / "nyu_official_test_1339"
    K = np.load(folder / "intrinsics.npy")
    values = [str(v) for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2])]
    out = convert_folder(str(folder / "rgb.png"), str(folder / "depth.png"), 0.001, tmp_path / "t.h5",
                         split="test", intrinsics=values, show_progress=False)
    split = open_pack(out)["test"]
    assert len(split) == 1
    check_against_png(split, [folder / "depth.png"])
    np.testing.assert_array_equal(split[0]["rgb"], np.asarray(Image.open(folder / "rgb.png").convert("RGB")))
    np.testing.assert_allclose(split.intrinsics, K, rtol=1e-6)
    # the same matrix given as the .npy file
    out = convert_folder(str(folder / "rgb.png"), str(folder / "depth.png"), 0.001, tmp_path / "t2.h5",
                         split="test", intrinsics=[str(folder / "intrinsics.npy")], show_progress=False)
    np.testing.assert_allclose(open_pack(out)["test"].intrinsics, K)
