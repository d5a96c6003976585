"""Depth metrics against plain numpy implementations of the published formulas."""
import math
import warnings

import numpy as np
import pytest
import torch

from course_lib.metrics import (
    LOWER_IS_BETTER, METRIC_NAMES, MetricAccumulator, crop_mask, dense_crop_mask, depth_metrics,
    eigen_crop_mask, flip_average, format_metrics, median_scale,
)


# ----------------------------------------------------------------------------- reference

def reference_one_image(pred, gt, min_depth, max_depth, mask=None):
    """Formulas written out pixel by pixel, for one (H, W) image."""
    values = []
    for p, g, m in zip(pred.ravel(), gt.ravel(), (np.ones(gt.size, bool) if mask is None else mask.ravel())):
        if m and min_depth < g < max_depth:
            values.append((min(max(p, min_depth), max_depth), g))
    return values


def reference_metrics(pairs):
    n = len(pairs)
    out = {f"d{k}": sum(max(g / p, p / g) < 1.25 ** k for p, g in pairs) / n for k in (1, 2, 3)}
    out["abs_rel"] = sum(abs(p - g) / g for p, g in pairs) / n
    out["sq_rel"] = sum((p - g) ** 2 / g for p, g in pairs) / n
    out["rmse"] = math.sqrt(sum((p - g) ** 2 for p, g in pairs) / n)
    out["rmse_log"] = math.sqrt(sum((math.log(p) - math.log(g)) ** 2 for p, g in pairs) / n)
    out["log10"] = sum(abs(math.log10(p) - math.log10(g)) for p, g in pairs) / n
    e = [math.log(p) - math.log(g) for p, g in pairs]
    mean_e2 = sum(x * x for x in e) / n
    mean_e = sum(e) / n
    out["silog"] = 100 * math.sqrt(max(mean_e2 - mean_e ** 2, 0.0))
    return out


def reference(pred, gt, min_depth=1e-3, max_depth=10.0, reduce="image", masks=None):
    pred, gt = np.asarray(pred, float).reshape(-1, *np.shape(gt)[-2:]), np.asarray(gt, float).reshape(-1, *np.shape(gt)[-2:])
    per_image = [reference_one_image(pred[b], gt[b], min_depth, max_depth, None if masks is None else masks[b])
                 for b in range(len(gt))]
    if reduce == "pixel":
        return reference_metrics([pair for img in per_image for pair in img])
    each = [reference_metrics(img) for img in per_image]
    return {k: sum(m[k] for m in each) / len(each) for k in METRIC_NAMES}


def assert_close(a, b, tol=1e-9):
    for k in METRIC_NAMES:
        assert a[k] == pytest.approx(b[k], rel=tol, abs=tol), k


def random_pair(rng, shape=(3, 16, 20), holes=0.2):
    gt = rng.uniform(0.5, 12.0, size=shape)          # some beyond max_depth=10
    gt[rng.random(shape) < holes] = 0.0
    pred = gt * rng.uniform(0.6, 1.6, size=shape) + rng.normal(0, 0.2, size=shape)
    pred[rng.random(shape) < 0.02] = -1.0            # clamped to min_depth
    return pred, gt


# ----------------------------------------------------------------------------- formulas

def test_hand_computed_2x2():
    gt = np.array([[1.0, 2.0], [4.0, 0.0]])            # the 0 is a hole
    pred = np.array([[1.0, 3.0], [2.0, 5.0]])
    m = depth_metrics(pred, gt)
    # ratios 1, 1.5, 2 -> d1 = 1/3, d2 (1.5625) = 2/3, d3 (1.953) = 2/3
    assert m["d1"] == pytest.approx(1 / 3)
    assert m["d2"] == pytest.approx(2 / 3)
    assert m["d3"] == pytest.approx(2 / 3)
    assert m["abs_rel"] == pytest.approx((0 + 0.5 + 0.5) / 3)
    assert m["sq_rel"] == pytest.approx((0 + 1 / 2 + 4 / 4) / 3)
    assert m["rmse"] == pytest.approx(math.sqrt((0 + 1 + 4) / 3))
    e = [0.0, math.log(1.5), math.log(0.5)]
    assert m["rmse_log"] == pytest.approx(math.sqrt(sum(x * x for x in e) / 3))
    assert m["log10"] == pytest.approx((0 + math.log10(1.5) + math.log10(2)) / 3)
    var = sum(x * x for x in e) / 3 - (sum(e) / 3) ** 2
    assert m["silog"] == pytest.approx(100 * math.sqrt(var))


@pytest.mark.parametrize("reduce", ["image", "pixel"])
def test_random_inputs_match_reference(reduce):
    rng = np.random.default_rng(0)
    pred, gt = random_pair(rng)
    assert_close(depth_metrics(pred, gt, reduce=reduce), reference(pred, gt, reduce=reduce))


def test_accepts_numpy_torch_and_all_shapes():
    rng = np.random.default_rng(1)
    pred, gt = random_pair(rng, (2, 12, 14))
    expected = reference(pred, gt)
    assert_close(depth_metrics(torch.tensor(pred), torch.tensor(gt)), expected)
    assert_close(depth_metrics(pred[:, None], gt[:, None]), expected)
    assert_close(depth_metrics(torch.tensor(pred, dtype=torch.float32)[:, None], gt), expected, tol=1e-5)
    single = depth_metrics(pred[0], gt[0])
    assert_close(single, reference(pred[:1], gt[:1]))
    assert all(isinstance(v, float) for v in single.values())


def test_min_max_depth_and_clamping():
    gt = np.array([[0.5, 2.0, 3.0, 20.0]])
    pred = np.array([[0.1, 50.0, 3.0, 20.0]])
    m = depth_metrics(pred, gt, min_depth=1.0, max_depth=10.0)
    # valid: 2.0 and 3.0 only; pred 50 is clamped to 10
    assert m["abs_rel"] == pytest.approx((8.0 / 2.0 + 0.0) / 2)


def test_invalid_pixels_change_nothing():
    rng = np.random.default_rng(2)
    pred, gt = random_pair(rng, (2, 10, 12))
    valid = rng.random(gt.shape) < 0.7
    base = depth_metrics(pred, gt, valid=valid)
    assert_close(base, reference(pred, gt, masks=valid))
    pred2, gt2 = pred.copy(), gt.copy()
    pred2[~valid] = rng.uniform(0.1, 100, size=(~valid).sum())
    gt2[~valid] = rng.uniform(0.1, 9, size=(~valid).sum())
    assert depth_metrics(pred2, gt2, valid=valid) == base
    # holes (gt = 0) and out-of-range gt are excluded the same way
    hole = gt == 0
    pred3 = pred.copy()
    pred3[hole] = 1e4
    assert depth_metrics(pred3, gt) == depth_metrics(pred, gt)


def test_silog_scale_invariant_abs_rel_not():
    rng = np.random.default_rng(3)
    gt = rng.uniform(1.0, 4.0, size=(2, 9, 11))
    pred = gt * rng.uniform(0.8, 1.2, size=gt.shape)
    a, b = depth_metrics(pred, gt), depth_metrics(pred * 1.7, gt)
    assert b["silog"] == pytest.approx(a["silog"], rel=1e-9)
    assert abs(b["abs_rel"] - a["abs_rel"]) > 0.1


def test_reduce_image_vs_pixel_with_different_valid_counts():
    # image 0: 1 valid pixel with abs_rel 1.0; image 1: 3 valid pixels with abs_rel 0
    gt = np.array([[[1.0, 0, 0, 0]], [[1.0, 2.0, 3.0, 0]]])
    pred = np.array([[[2.0, 5, 5, 5]], [[1.0, 2.0, 3.0, 5]]])
    assert depth_metrics(pred, gt, reduce="image")["abs_rel"] == pytest.approx(0.5)
    assert depth_metrics(pred, gt, reduce="pixel")["abs_rel"] == pytest.approx(0.25)
    assert depth_metrics(pred, gt, reduce="image")["rmse"] == pytest.approx(0.5)
    assert depth_metrics(pred, gt, reduce="pixel")["rmse"] == pytest.approx(math.sqrt(1 / 4))


# ----------------------------------------------------------------------------- crops

def test_crops_at_480x640():
    eigen = eigen_crop_mask(480, 640)
    rows, cols = np.where(eigen.any(1))[0], np.where(eigen.any(0))[0]
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (45, 471, 41, 601)
    assert eigen.sum() == (471 - 45) * (601 - 41)
    dense = dense_crop_mask(480, 640)
    rows, cols = np.where(dense.any(1))[0], np.where(dense.any(0))[0]
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (20, 460, 24, 616)
    assert crop_mask(None, 4, 5).all()
    with pytest.raises(ValueError, match="eigen"):
        crop_mask("garg", 480, 640)


def test_crops_scale_to_240x320():
    for name, (t, b, l, r) in {"eigen": (45, 471, 41, 601), "dense": (20, 460, 24, 616)}.items():
        m = crop_mask(name, 240, 320)
        rows, cols = np.where(m.any(1))[0], np.where(m.any(0))[0]
        # half of each bound, rounded half up
        assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == tuple(int(math.floor(x / 2 + 0.5)) for x in (t, b, l, r))
        assert abs(m.mean() - crop_mask(name, 480, 640).mean()) < 0.01
    assert (np.where(eigen_crop_mask(240, 320).any(1))[0][[0, -1]] == [23, 235]).all()


def test_crop_restricts_pixels():
    rng = np.random.default_rng(4)
    pred, gt = random_pair(rng, (1, 48, 64), holes=0.0)
    mask = eigen_crop_mask(48, 64)
    assert_close(depth_metrics(pred, gt, crop="eigen"), reference(pred, gt, masks=mask[None]))
    assert_close(depth_metrics(pred, gt, crop=mask), reference(pred, gt, masks=mask[None]))


# ----------------------------------------------------------------------------- errors

def test_empty_valid_set_raises():
    gt = np.zeros((2, 4, 4))
    gt[0, 1, 1] = 2.0
    pred = np.ones_like(gt)
    with pytest.raises(ValueError, match="image 1"):
        depth_metrics(pred, gt)
    with pytest.raises(ValueError, match="no valid"):
        depth_metrics(pred[1:], gt[1:], reduce="pixel")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = depth_metrics(pred, gt, skip_empty=True)
    assert m["abs_rel"] == pytest.approx(0.5) and caught


def test_shape_mismatch_and_nan_raise():
    with pytest.raises(ValueError, match="predict"):
        depth_metrics(np.ones((1, 1, 4, 4)), np.ones((1, 1, 8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        depth_metrics(np.full((4, 4), np.nan), np.ones((4, 4)))


# ----------------------------------------------------------------------------- accumulator

@pytest.mark.parametrize("reduce", ["image", "pixel"])
def test_accumulator_over_batches_equals_one_shot(reduce):
    rng = np.random.default_rng(5)
    pred, gt = random_pair(rng, (7, 10, 12))
    acc = MetricAccumulator(reduce=reduce, crop=None)
    for start in range(0, 7, 3):
        acc.update(pred[start:start + 3], gt[start:start + 3])
    assert_close(acc.compute(), depth_metrics(pred, gt, reduce=reduce), tol=1e-12)
    assert_close(acc.compute(), reference(pred, gt, reduce=reduce))


@pytest.mark.parametrize("reduce", ["image", "pixel"])
def test_merge_equals_combined(reduce):
    rng = np.random.default_rng(6)
    pred, gt = random_pair(rng, (6, 10, 12))
    a, b = MetricAccumulator(reduce=reduce), MetricAccumulator(reduce=reduce)
    a.update(pred[:2], gt[:2])
    b.update(pred[2:], gt[2:])
    merged = a.merge(b).compute()
    assert_close(merged, reference(pred, gt, reduce=reduce))
    whole = MetricAccumulator(reduce=reduce)
    whole.update(pred, gt)
    assert_close(merged, whole.compute(), tol=1e-12)
    assert torch.allclose(a.state(), whole.state(), rtol=1e-12)


def test_all_reduce_is_noop_without_distributed():
    rng = np.random.default_rng(7)
    pred, gt = random_pair(rng, (2, 6, 6))
    acc = MetricAccumulator()
    acc.update(pred, gt)
    before = acc.compute()
    assert acc.all_reduce_().compute() == before


def test_update_returns_per_image_metrics():
    rng = np.random.default_rng(8)
    pred, gt = random_pair(rng, (3, 8, 8))
    per_image = MetricAccumulator().update(pred, gt)
    for b in range(3):
        assert_close(per_image[b], reference(pred[b:b + 1], gt[b:b + 1]))


# ----------------------------------------------------------------------------- helpers

def test_median_scale():
    rng = np.random.default_rng(9)
    gt = rng.uniform(1, 5, size=(2, 5, 7))
    pred = gt * np.array([3.0, 0.5])[:, None, None]
    scaled, scales = median_scale(pred, gt, return_scale=True)
    assert np.allclose(scaled, gt) and np.allclose(scales, [1 / 3, 2.0])
    scaled_t = median_scale(torch.tensor(pred)[:, None], torch.tensor(gt)[:, None])
    assert scaled_t.shape == (2, 1, 5, 7) and torch.allclose(scaled_t[:, 0], torch.tensor(gt))
    # the median ignores holes
    gt_h = gt.copy()
    gt_h[:, 0, :] = 0
    assert np.allclose(median_scale(pred, gt_h)[:, 1:], gt[:, 1:])


def test_flip_average():
    images = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    ramp = torch.linspace(0, 1, 6)

    def model_fn(x):                                      # not flip-equivariant: adds a left-right ramp
        return x[:, :1] + ramp

    out = flip_average(model_fn, images)
    # averaging x + ramp with flip(flip(x) + ramp) = x + flip(ramp): the ramp becomes its symmetric mean
    assert torch.allclose(out, images[:, :1] + (ramp + ramp.flip(0)) / 2)


def test_names_and_format():
    assert set(METRIC_NAMES) == {"d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog"}
    assert LOWER_IS_BETTER == set(METRIC_NAMES) - {"d1", "d2", "d3"}
    m = depth_metrics(np.array([[1.0, 2.0]]), np.array([[1.0, 2.5]]))
    line = format_metrics(m)
    assert "\n" not in line and "abs_rel 0.100" in line
    table = format_metrics(m, style="table")
    assert len(table.splitlines()) == 3 and "silog" in table


def _all_reduce_worker(rank, init_file, pred, gt, out_file):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        acc = MetricAccumulator(reduce="pixel")
        acc.update(pred[rank::2], gt[rank::2])               # each rank sees half of the images
        acc.all_reduce_()
        if rank == 0:
            torch.save({"pixel": acc.compute("pixel"), "image": acc.compute("image")}, out_file)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_all_reduce_across_two_processes(tmp_path):
    import torch.multiprocessing as mp

    rng = np.random.default_rng(10)
    pred, gt = random_pair(rng, (6, 8, 10))
    out_file = tmp_path / "merged.pt"
    mp.spawn(_all_reduce_worker, args=(str(tmp_path / "init"), pred, gt, str(out_file)), nprocs=2)
    merged = torch.load(out_file, weights_only=True)
    assert_close(merged["pixel"], reference(pred, gt, reduce="pixel"))
    assert_close(merged["image"], reference(pred, gt, reduce="image"))
