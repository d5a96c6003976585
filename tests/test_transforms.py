"""Paired transforms: geometry moves depth and K with the image, photometry leaves depth alone,
resizing never invents depth. References are computed independently of the code under test."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.data import transforms as T
from course_lib.geometry import backproject


def make_sample(h=24, w=32, seed=0):
    """An asymmetric scene: a near box (1.0 m) on a sloping far wall, some holes, a K off-centre."""
    rng = np.random.default_rng(seed)
    depth = np.tile(np.linspace(3.0, 6.0, w, dtype=np.float32), (h, 1))  # left-right asymmetric
    depth[3:11, 4:13] = 1.0                                              # foreground box
    depth[rng.random((h, w)) < 0.1] = 0.0                                # Kinect-like holes
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    K = np.array([[30.0, 0, 14.3], [0, 31.0, 10.2], [0, 0, 1]], np.float32)
    return {"rgb": rgb, "depth": depth, "K": K}


def test_normalize_round_trip():
    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = T.normalize_image(rgb)
    assert x.shape == (3, 5, 7) and x.dtype == torch.float32
    expected = (rgb[..., 0] / 255.0 - 0.485) / 0.229
    assert np.allclose(x[0].numpy(), expected, atol=1e-5)
    assert np.array_equal(T.denormalize_image(x), rgb)


def test_flip_moves_depth_valid_and_rgb_identically():
    s = make_sample()
    out = T.RandomHorizontalFlip(p=1.0)(s, np.random.default_rng(0))
    assert np.array_equal(out["depth"], s["depth"][:, ::-1])
    assert np.array_equal(out["rgb"], s["rgb"][:, ::-1])
    assert np.array_equal(out["valid"] if "valid" in out else out["depth"] > 0, (s["depth"] > 0)[:, ::-1])
    # A pixel's colour and its depth stay together: the pairing survives the flip.
    v, u = 5, 7
    w = s["depth"].shape[1]
    assert np.array_equal(out["rgb"][v, w - 1 - u], s["rgb"][v, u])
    assert out["depth"][v, w - 1 - u] == s["depth"][v, u]


def test_flip_mirrors_principal_point_and_points():
    s = make_sample()
    w = s["depth"].shape[1]
    out = T.RandomHorizontalFlip(p=1.0)(s, np.random.default_rng(0))
    assert out["K"][0, 2] == pytest.approx(w - 1 - s["K"][0, 2])
    # The flipped view sees the mirror image of the scene: x -> -x, y and z unchanged.
    p, q = backproject(s["depth"], s["K"]), backproject(out["depth"], out["K"])
    assert np.allclose(q[:, ::-1, 0], -p[..., 0], atol=1e-5)
    assert np.allclose(q[:, ::-1, 1:], p[..., 1:], atol=1e-5)


def test_flip_never_when_p_zero():
    s = make_sample()
    out = T.RandomHorizontalFlip(p=0.0)(s, np.random.default_rng(0))
    assert np.array_equal(out["depth"], s["depth"]) and np.array_equal(out["K"], s["K"])


def test_crop_moves_K_so_backprojected_points_agree():
    s = make_sample()
    out = T.RandomCrop((10, 12))(s, np.random.default_rng(3))
    assert out["rgb"].shape == (10, 12, 3) and out["depth"].shape == (10, 12) and out["valid"].shape == (10, 12)
    # Find where the window was taken by matching the colour image, independently of the transform.
    h, w = s["depth"].shape
    hits = [(t, l) for t in range(h - 9) for l in range(w - 11)
            if np.array_equal(s["rgb"][t:t + 10, l:l + 12], out["rgb"])]
    assert len(hits) == 1
    top, left = hits[0]
    assert np.array_equal(out["depth"], s["depth"][top:top + 10, left:left + 12])
    p = backproject(s["depth"], s["K"])[top:top + 10, left:left + 12]
    q = backproject(out["depth"], out["K"])
    assert np.allclose(p, q, atol=1e-5)


def test_crop_larger_than_image_says_so():
    with pytest.raises(ValueError, match="larger than"):
        T.RandomCrop((100, 100))(make_sample(), np.random.default_rng(0))


def reference_nearest(a, size):
    """torch's 'nearest-exact' mode samples pixel centres: the reference for nearest resizing."""
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]
    return F.interpolate(t, size=size, mode="nearest-exact")[0, 0].numpy()


@pytest.mark.parametrize("size", [(12, 16), (17, 23), (48, 64), (7, 40)])
def test_resize_nearest_never_invents_depth_and_keeps_invalid(size):
    s = make_sample()
    out = T.Resize(size)(s)
    d, valid = out["depth"], out["valid"]
    assert d.shape == size and out["rgb"].shape == (*size, 3)
    source_values = set(np.unique(s["depth"][s["depth"] > 0]).tolist())
    assert set(np.unique(d[valid]).tolist()) <= source_values           # nothing new
    assert np.array_equal(d, reference_nearest(s["depth"], size))        # the pixel-centre nearest
    assert not np.any(valid & (reference_nearest(s["depth"] > 0, size) == 0))  # holes stay holes
    assert np.all(d[~valid] == 0)


@pytest.mark.parametrize("mode", ["min", "median"])
def test_resize_pooling_never_invents_depth(mode):
    s = make_sample(24, 32)
    d, valid = T.resize_depth(s["depth"], (6, 8), mode)
    blocks = s["depth"].reshape(6, 4, 8, 4).transpose(0, 2, 1, 3).reshape(6, 8, 16)
    for i in range(6):
        for j in range(8):
            values = blocks[i, j][blocks[i, j] > 0]
            if values.size == 0:
                assert not valid[i, j] and d[i, j] == 0
            else:
                assert d[i, j] in set(values.tolist())
                if mode == "min":
                    assert d[i, j] == values.min()
                else:
                    assert d[i, j] == np.sort(values)[(values.size - 1) // 2]


def test_pooling_of_an_all_hole_block_stays_invalid():
    depth = np.full((8, 8), 2.0, np.float32)
    depth[:4, :4] = 0
    for mode in ("nearest", "min", "median"):
        d, valid = T.resize_depth(depth, (2, 2), mode)
        assert not valid[0, 0] and d[0, 0] == 0 and valid[1, 1] and d[1, 1] == 2.0


def test_bilinear_would_invent_depth_at_the_edge():
    """The reason for all of the above: bilinear resizing creates values between 1 m and 3+ m."""
    s = make_sample()
    t = torch.from_numpy(s["depth"])[None, None]
    bilinear = F.interpolate(t, size=(17, 23), mode="bilinear", align_corners=False)[0, 0].numpy()
    invented = ~np.isin(bilinear, s["depth"])
    assert invented.sum() > 10
    ours = T.Resize((17, 23))(s)["depth"]
    assert np.isin(ours, s["depth"]).all()


def test_resize_scales_K():
    s = make_sample(24, 32)
    out = T.Resize((12, 16))(s)
    assert out["K"][0, 0] == pytest.approx(15.0) and out["K"][1, 1] == pytest.approx(15.5)
    assert out["K"][0, 2] == pytest.approx((14.3 + 0.5) / 2 - 0.5)


def test_photometric_transforms_leave_depth_alone():
    s = make_sample()
    for t in (T.ColorJitter(0.5, 0.5, 0.5), T.ChannelSwap(p=1.0)):
        out = t(s, np.random.default_rng(5))
        assert np.array_equal(out["depth"], s["depth"]) and np.array_equal(out["K"], s["K"])
        assert out["rgb"].dtype == np.uint8 and out["rgb"].shape == s["rgb"].shape
        assert not np.array_equal(out["rgb"], s["rgb"])
    out = T.ChannelSwap(p=1.0)(s, np.random.default_rng(5))
    # A permutation: each output channel is one of the input channels.
    assert all(any(np.array_equal(out["rgb"][..., c], s["rgb"][..., k]) for k in range(3)) for c in range(3))


def test_train_transforms_sizes_and_values():
    s = make_sample(48, 64)
    out = T.train_transforms((24, 32))(s)
    assert out["rgb"].shape == (24, 32, 3) and out["depth"].shape == (24, 32)
    assert np.isin(out["depth"][out["valid"]], s["depth"][s["depth"] > 0]).all()
    item = T.to_item(out, index=3)
    assert item["image"].shape == (3, 24, 32) and item["depth"].shape == (1, 24, 32)
    assert item["valid"].dtype == torch.bool and item["K"].dtype == torch.float32 and item["index"] == 3


def test_augmentation_is_reproducible_given_torch_seed():
    s = make_sample(48, 64)
    pipeline = T.train_transforms((24, 32), channel_swap=0.5)
    torch.manual_seed(7)
    a = [pipeline(s) for _ in range(4)]
    torch.manual_seed(7)
    b = [pipeline(s) for _ in range(4)]
    for x, y in zip(a, b):
        assert np.array_equal(x["rgb"], y["rgb"]) and np.array_equal(x["depth"], y["depth"])
        assert np.array_equal(x["K"], y["K"])
    assert not all(np.array_equal(a[0]["rgb"], x["rgb"]) for x in a[1:])  # it does vary


def test_eval_transforms_do_not_touch_torch_rng():
    s = make_sample(48, 64)
    torch.manual_seed(0)
    T.eval_transforms((24, 32))(s)
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(1))


def test_to_item_zeroes_bad_depth():
    s = make_sample()
    s["depth"][0, 0], s["depth"][0, 1] = np.nan, -1.0
    item = T.to_item(s)
    assert item["depth"][0, 0, 0] == 0 and item["depth"][0, 0, 1] == 0
    assert not item["valid"][0, 0, 0] and not item["valid"][0, 0, 1]


def test_invented_depth_mask_flags_bilinear_not_nearest():
    depth = np.full((40, 40), 4.0, np.float32)
    depth[:, :17] = 1.0                              # a 3 m step at column 17
    depth[30:, 30:] = 0.0                            # a hole
    t = torch.from_numpy(depth)[None, None]
    bilinear = F.interpolate(t, size=(15, 15), mode="bilinear", align_corners=False)[0, 0].numpy()
    flagged = T.invented_depth_mask(bilinear, depth)
    # Independently: values strictly between the two surfaces, or between 0 and 4 m at the hole.
    between = ((bilinear > 1.05) & (bilinear < 3.95)) | ((bilinear > 0) & (bilinear < 0.95))
    assert flagged.sum() > 0 and np.array_equal(flagged, between)
    nearest, _ = T.resize_depth(depth, (15, 15))
    assert not T.invented_depth_mask(nearest, depth).any()


def test_the_default_training_augmentation_keeps_the_evaluation_camera():
    """The network never sees K: the preset must not zoom, so every draw has the focal length of eval_transforms."""
    s = make_sample(48, 64)
    fx = T.eval_transforms((24, 32))(s)["K"][0, 0]
    torch.manual_seed(0)
    assert all(T.train_transforms((24, 32))(s)["K"][0, 0] == fx for _ in range(16))
    zooming = T.train_transforms((24, 32), scale=(1.0, 1.25))
    assert max(zooming(s)["K"][0, 0] for _ in range(16)) > fx * 1.01       # a zoom is a longer focal length


def test_camera_effects_change_the_photo_only_and_are_reproducible():
    s = make_sample(48, 64)
    effects = T.CameraEffects(p=1.0)
    torch.manual_seed(3)
    a = effects(s)
    torch.manual_seed(3)
    b = effects(s)
    assert np.array_equal(a["rgb"], b["rgb"]) and a["rgb"].dtype == np.uint8 and a["rgb"].shape == s["rgb"].shape
    assert not np.array_equal(a["rgb"], s["rgb"])
    assert a["depth"] is s["depth"] and np.array_equal(a["K"], s["K"])
    assert np.array_equal(T.CameraEffects(p=0.0)(s)["rgb"], s["rgb"])
    # off by default: the preset is exactly the one without them
    assert repr(T.train_transforms((24, 32))) == repr(T.train_transforms((24, 32), camera_effects=0.0))
    assert "CameraEffects" in repr(T.train_transforms((24, 32), camera_effects=0.5))
