"""Metrics on a real NYU Depth V2 frame (official test frame 1339, raw Kinect depth with holes).

The folder comes from COURSE_REALDATA (the `realdata` fixture of conftest.py): skipped without it on a
learner's machine, a failure in CI.
"""
import math

import numpy as np
import pytest

from course_lib.metrics import depth_metrics, eigen_crop_mask


@pytest.fixture(scope="module")
def depth_m(realdata):
    from PIL import Image

    path = realdata / "nyu_official_test_1339" / "depth.png"
    depth_mm = np.array(Image.open(path))
    assert depth_mm.dtype == np.uint16 and depth_mm.shape == (480, 640)
    return depth_mm.astype(np.float64) / 1000.0                     # millimetres -> metres, 0 = hole


def test_against_itself_is_perfect(depth_m):
    m = depth_metrics(depth_m, depth_m, crop="eigen")
    assert m["d1"] == 1.0 and m["d2"] == 1.0 and m["d3"] == 1.0
    for k in ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog"):
        assert m[k] == pytest.approx(0.0, abs=1e-6), k


def test_scaled_by_1_1_matches_formula(depth_m):
    # max_depth 12 so that no prediction (at most 1.1 x 10 m) is clamped
    m = depth_metrics(depth_m * 1.1, depth_m, crop="eigen", max_depth=12.0)
    valid = (depth_m > 1e-3) & (depth_m < 12.0) & eigen_crop_mask(480, 640)
    gt = depth_m[valid]
    assert m["abs_rel"] == pytest.approx(0.1, rel=1e-9)
    assert m["d1"] == 1.0
    assert m["rmse"] == pytest.approx(0.1 * math.sqrt(np.mean(gt ** 2)), rel=1e-9)
    assert m["sq_rel"] == pytest.approx(0.01 * np.mean(gt), rel=1e-9)
    assert m["log10"] == pytest.approx(math.log10(1.1), rel=1e-9)
    assert m["rmse_log"] == pytest.approx(math.log(1.1), rel=1e-9)
    assert m["silog"] == pytest.approx(0.0, abs=1e-4)


def test_holes_are_excluded(depth_m):
    from course_lib.metrics import image_statistics

    hole_fraction = float((depth_m == 0).mean())
    assert 0.2 < hole_fraction < 0.5                                # about a third is missing
    crop = eigen_crop_mask(480, 640)
    stats = image_statistics(depth_m, depth_m, crop="eigen")
    expected = int(((depth_m > 0) & (depth_m < 10.0) & crop).sum())
    assert int(stats[0, 0]) == expected
    # a prediction that is wrong only inside the holes scores perfectly
    pred = np.where(depth_m > 0, depth_m, 7.0)
    assert depth_metrics(pred, depth_m, crop="eigen")["abs_rel"] == 0.0
