"""evaluate() with fake models on a dataset built here: protocol plumbing, saving, pictures."""
import csv
import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from course_lib.evaluate import EvalProtocol, EvalResult, evaluate, plot_error_histogram, plot_error_maps
from course_lib.metrics import METRIC_NAMES, depth_metrics

H, W = 48, 64


class TinyDepthSet(torch.utils.data.Dataset):
    """Items of the course's format; the image's first channel carries the depth so fake models can 'see' it."""

    def __init__(self, n=5, raw=True, seed=0):
        rng = np.random.default_rng(seed)
        self.depth = rng.uniform(0.5, 8.0, size=(n, 1, H, W)).astype(np.float32)
        self.raw = self.depth.copy()
        for i in range(n):                             # different hole fractions per image
            self.raw[i][rng.random((1, H, W)) < 0.1 * (i + 1)] = 0.0
        self.with_raw = raw

    def __len__(self):
        return len(self.depth)

    def __getitem__(self, i):
        depth = torch.from_numpy(self.depth[i])
        item = {"image": depth.repeat(3, 1, 1), "depth": depth, "valid": depth > 0,
                "K": torch.eye(3), "index": i}
        if self.with_raw:
            item["raw_depth"] = torch.from_numpy(self.raw[i])
        return item


class ScaledDepth(nn.Module):
    """Returns factor x the depth hidden in the image, plus an optional left-to-right ramp."""

    output_stride = 1

    def __init__(self, factor=1.0, ramp=0.0):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.factor, self.ramp = factor, ramp

    def forward(self, images):
        x = torch.linspace(0, 1, images.shape[-1], device=images.device)
        return self.factor * images[:, :1] + self.ramp * x + 0 * self.dummy


class ConstantDepth(nn.Module):
    """A constant depth at 1/s of the input size (a model with output_stride s)."""

    def __init__(self, value=3.0, stride=2):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.value, self.output_stride = value, stride

    def forward(self, images):
        b, _, h, w = images.shape
        s = self.output_stride
        return torch.full((b, 1, math.ceil(h / s), math.ceil(w / s)), self.value) + 0 * self.dummy


def stacked(ds, key):
    return np.stack([ds[i][key].numpy() for i in range(len(ds))])


def test_describe():
    assert EvalProtocol(gt="raw").describe() == \
        "eigen crop, 0.001-10 m, raw GT, per-image mean, no flip, no median scaling"
    text = EvalProtocol(crop=None, reduce="pixel", flip=True, median_scaling=True, max_depth=80).describe()
    assert text == "no crop, 0.001-80 m, filled GT, pooled pixels, flip averaging, median scaling"
    with pytest.raises(ValueError, match="crop"):
        EvalProtocol(crop="garg")
    with pytest.raises(ValueError, match="gt"):
        EvalProtocol(gt="sparse")


def test_scaled_prediction_gives_closed_form_metrics():
    ds = TinyDepthSet()
    result = evaluate(ScaledDepth(1.1), ds, EvalProtocol(), batch_size=2, device="cpu", progress=False)
    s = result.summary
    assert s["abs_rel"] == pytest.approx(0.1, rel=1e-5)
    assert s["d1"] == 1.0 and s["silog"] == pytest.approx(0.0, abs=1e-3)
    assert s["log10"] == pytest.approx(math.log10(1.1), rel=1e-5)
    assert [r["index"] for r in result.per_image] == list(range(5))
    assert set(result.per_image[0]) == {"index", *METRIC_NAMES}


@pytest.mark.parametrize("gt, reduce", [("filled", "image"), ("raw", "image"), ("raw", "pixel")])
def test_protocol_matches_direct_metrics(gt, reduce):
    ds = TinyDepthSet()
    model = ConstantDepth(3.0, stride=2)
    protocol = EvalProtocol(crop="eigen", gt=gt, reduce=reduce)
    result = evaluate(model, ds, protocol, batch_size=3, device="cpu", progress=False)
    ground = stacked(ds, "depth" if gt == "filled" else "raw_depth")
    expected = depth_metrics(np.full_like(ground, 3.0), ground, crop="eigen", reduce=reduce)
    for k in METRIC_NAMES:
        assert result.summary[k] == pytest.approx(expected[k], rel=1e-6, abs=1e-9), k


def test_raw_and_filled_differ_and_image_vs_pixel_differ():
    ds = TinyDepthSet()
    model = ScaledDepth(1.0, ramp=1.0)
    runs = {(gt, red): evaluate(model, ds, EvalProtocol(gt=gt, reduce=red), device="cpu", progress=False).summary
            for gt in ("filled", "raw") for red in ("image", "pixel")}
    assert runs[("filled", "image")]["abs_rel"] != pytest.approx(runs[("raw", "image")]["abs_rel"], rel=1e-6)
    assert runs[("raw", "image")]["abs_rel"] != pytest.approx(runs[("raw", "pixel")]["abs_rel"], rel=1e-6)
    # filled GT has the same valid count in every image: image and pixel means of abs_rel agree
    assert runs[("filled", "image")]["abs_rel"] == pytest.approx(runs[("filled", "pixel")]["abs_rel"], rel=1e-9)


def test_median_scaling_removes_global_scale():
    ds = TinyDepthSet(3)
    result = evaluate(ScaledDepth(2.0), ds, EvalProtocol(median_scaling=True), device="cpu", progress=False)
    assert result.summary["abs_rel"] == pytest.approx(0.0, abs=1e-6) and result.summary["d1"] == 1.0


def test_flip_averaging():
    ds = TinyDepthSet(2)
    result = evaluate(ScaledDepth(1.0, ramp=0.5), ds, EvalProtocol(flip=True, crop=None), device="cpu",
                      progress=False)
    # the depth here is not mirror-symmetric: flipping the image flips the depth the model sees, and
    # flipping back restores it, while the ramp averages to its symmetric mean 0.25
    depth = stacked(ds, "depth")
    expected = depth_metrics(depth + 0.25, depth)
    assert result.summary["rmse"] == pytest.approx(expected["rmse"], rel=1e-5)


def test_limit_and_training_mode_restored():
    ds = TinyDepthSet(5)
    model = ScaledDepth(1.1).train()
    result = evaluate(model, ds, limit=3, batch_size=2, device="cpu", progress=False)
    assert len(result.per_image) == 3 and model.training


def test_raw_requested_without_raw_depth():
    with pytest.raises(ValueError, match="raw_depth"):
        evaluate(ScaledDepth(), TinyDepthSet(2, raw=False), EvalProtocol(gt="raw"), device="cpu", progress=False)


def test_save_and_table(tmp_path):
    ds = TinyDepthSet(4)
    protocol = EvalProtocol(gt="raw", reduce="pixel")
    result = evaluate(ScaledDepth(1.2), ds, protocol, device="cpu", progress=False)
    json_path, csv_path = result.save(tmp_path / "runs" / "scaled")
    assert json_path.name == "scaled.json" and csv_path.name == "scaled_per_image.csv"
    data = json.loads(json_path.read_text())
    assert data["protocol"]["gt"] == "raw" and data["protocol_description"] == protocol.describe()
    assert data["summary"]["abs_rel"] == pytest.approx(0.2, rel=1e-5) and len(data["per_image"]) == 4
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == 4 and float(rows[2]["abs_rel"]) == pytest.approx(0.2, rel=1e-5)
    folder_paths = result.save(f"{tmp_path}/folder/")
    assert all(p.parent == tmp_path / "folder" for p in folder_paths)
    again = EvalResult.load(json_path)
    assert again.protocol == protocol and again.summary == result.summary
    table = result.table()
    assert protocol.describe() in table and "abs_rel" in table and "4 images" in table


def test_pictures():
    import matplotlib
    matplotlib.use("Agg")
    ds = TinyDepthSet(3)
    fig = plot_error_maps(ScaledDepth(1.1, ramp=0.3), ds, [0, 2], EvalProtocol(gt="raw"), device="cpu")
    assert len([ax for ax in fig.axes if ax.images]) == 2 * 4
    result = evaluate(ScaledDepth(1.1, ramp=0.3), ds, device="cpu", progress=False)
    fig2 = plot_error_histogram(result, "rmse")
    assert fig2.axes[0].get_xlabel() == "per-image rmse"
    with pytest.raises(ValueError, match="abs_rel"):
        plot_error_histogram(result, "accuracy")


def test_constant_depth_floor_in_closed_form():
    from course_lib.data.realdata import RealFrame
    from course_lib.evaluate import evaluate_constant

    depth = np.full((10, 10), 2.0, np.float32)
    depth[6:] = 3.0                    # 60 % of the pixels at 2 m, 40 % at 3 m
    depth[0, 0] = 0.0                  # a hole: not scored
    frame = RealFrame("two_walls", np.zeros((10, 10, 3), np.uint8), depth, np.eye(3, dtype=np.float32))
    (row,) = evaluate_constant(2.2, [frame], crop=None)
    assert row["name"] == "two_walls"
    assert row["d1"] == pytest.approx(59 / 99)             # 2.2 m is within 25 % of 2 m, not of 3 m
    assert row["median_ratio"] == pytest.approx(2.0 / 2.2)
    assert row["d1_median_scaled"] == pytest.approx(59 / 99)   # a flat wall at the true median, 2 m
    assert row["abs_rel"] == pytest.approx((59 * 0.1 + 40 * 0.8 / 3) / 99, rel=1e-5)
    (far,) = evaluate_constant(3.0, [frame], crop=None)
    assert far["d1"] == pytest.approx(40 / 99) and far["d1_median_scaled"] == row["d1_median_scaled"]
    with pytest.raises(ValueError, match="positive"):
        evaluate_constant(0.0, [frame])


def test_median_depth_map_is_the_per_pixel_median_at_the_data_camera():
    from course_lib.camera import camera_from_data
    from course_lib.data import make_dataset
    from course_lib.data.realdata import RealFrame
    from course_lib.evaluate import MedianDepthMap, evaluate_frames

    rooms = make_dataset("synthetic", "train", (12, 16), length=5, augment=False)
    prior = MedianDepthMap.of(rooms)
    stack = np.stack([rooms[i]["depth"].numpy()[0] for i in range(5)])
    np.testing.assert_allclose(prior.depth[0, 0].numpy(), np.median(stack, axis=0))
    assert prior.camera == camera_from_data(rooms)
    images = torch.zeros(2, 3, 12, 16)
    assert torch.equal(prior(images), prior.depth.expand(2, 1, 12, 16))      # blind to the image
    # a photo whose depth is that very map, at the data's camera: scored perfect
    K = rooms[0]["K"].numpy()
    frame = RealFrame("the_average_room", np.zeros((12, 16, 3), np.uint8), np.median(stack, axis=0), K)
    (row,) = evaluate_frames(prior, [frame], crop=None)
    assert row["d1"] == 1.0 and row["median_ratio"] == pytest.approx(1.0) and row["run_size"] == (12, 16)
    with pytest.raises(ValueError, match="positive"):
        MedianDepthMap(np.zeros((2, 2)), prior.camera)

    class WithHoles(torch.utils.data.Dataset):      # raw depth: a hole (0) is no depth, not a depth of 0 m
        camera = prior.camera

        def __len__(self):
            return 3

        def __getitem__(self, i):
            depth = torch.full((1, 2, 2), float(i + 1))
            depth[0, 0, 0] = 0.0 if i else 5.0           # item 0 has 5 m there, items 1 and 2 a hole
            depth[0, 1, 1] = 0.0                         # a hole in every item
            return {"depth": depth}

    holey = MedianDepthMap.of(WithHoles()).depth[0, 0].numpy()
    assert holey[0, 0] == 5.0 and holey[0, 1] == 2.0 and holey[1, 1] == 2.0   # no depth anywhere: the overall median


def test_median_depth_leaves_out_holes():
    from course_lib.evaluate import median_depth

    frames = [{"depth": torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])}, {"depth": torch.tensor([[[2.0, 3.0], [0.0, 9.0]]])}]
    assert median_depth(frames) == 2.5                    # of 1, 2, 3, 9: the zeros are holes
    assert median_depth(frames, n=1) == 1.0
