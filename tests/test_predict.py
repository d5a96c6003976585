"""Photos of every kind in, depth pictures and files out (course_lib.predict)."""
import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.errors import DataFormatError
from course_lib.geometry import NYU_CX, NYU_CY, NYU_FX, NYU_FY, read_ply
from course_lib.models import build_model
from course_lib.predict import depth_to_mm16, expand_inputs, load_photo, predict_file


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("unet", base_channels=8, depth=3).eval()


def _pattern(h, w):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgb_grayscale_rgba_and_16bit_become_rgb(tmp_path):
    rgb = _pattern(12, 17)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert np.array_equal(load_photo(tmp_path / "rgb.png"), rgb)

    gray = rgb[..., 0]
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    out = load_photo(tmp_path / "gray.png")
    assert out.shape == (12, 17, 3) and all(np.array_equal(out[..., c], gray) for c in range(3))

    rgba = np.dstack([rgb, np.full((12, 17), 255, np.uint8)])
    rgba[:, :5, 3] = 0                                    # transparent columns: shown over white
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    out = load_photo(tmp_path / "rgba.png")
    assert np.all(out[:, :5] == 255) and np.array_equal(out[:, 5:], rgb[:, 5:])

    values16 = (np.arange(12 * 17, dtype=np.uint32).reshape(12, 17) * 300).astype(np.uint16)
    Image.fromarray(values16).save(tmp_path / "sixteen.png")
    out = load_photo(tmp_path / "sixteen.png")
    expected = np.round(values16.astype(np.float64) / 65535 * 255)
    assert out.dtype == np.uint8 and np.abs(out[..., 0].astype(int) - expected).max() <= 1


def test_exif_rotation_is_applied(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)                          # left half red, right half blue
    stored[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6                                      # orientation 6: rotate 90 degrees clockwise to show
    Image.fromarray(stored).save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    out = load_photo(tmp_path / "rotated.jpg")
    assert out.shape == (40, 20, 3)                       # portrait once turned upright
    assert out[:15, :, 0].mean() > 200 and out[:15, :, 2].mean() < 50     # top: the red left half
    assert out[25:, :, 2].mean() > 200 and out[25:, :, 0].mean() < 50     # bottom: the blue right half


def test_max_size_shrinks_keeping_the_aspect(tmp_path):
    Image.fromarray(_pattern(60, 90)).save(tmp_path / "big.png")
    assert load_photo(tmp_path / "big.png", max_size=45).shape == (30, 45, 3)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
                         ids=["empty", "text", "truncated-png"])
def test_unreadable_files_give_one_clear_sentence(tmp_path, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    with pytest.raises(DataFormatError, match=r"bad.png: not a readable image \(") as info:
        load_photo(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(DataFormatError, match="not a readable image"):
        load_photo(tmp_path / "missing.jpg")


def test_depth_in_millimetres_for_16bit_png():
    depth = np.array([[0.0, 1.2344, 70.0], [np.nan, -1.0, 65.535]], np.float32)
    assert depth_to_mm16(depth).tolist() == [[0, 1234, 65535], [0, 0, 65535]]


def test_predict_file_writes_consistent_outputs(tmp_path, model):
    h, w = 37, 53                                         # odd: the model pads inside
    Image.fromarray(_pattern(h, w)).save(tmp_path / "room.png")
    written, _, _ = predict_file(model, tmp_path / "room.png", tmp_path / "out", npy=True, ply=True)
    assert set(written) == {"color", "mm16", "npy", "ply"}

    depth_m = np.load(written["npy"])
    assert depth_m.shape == (h, w) and depth_m.dtype == np.float32 and np.all(depth_m > 0)
    colour = np.asarray(Image.open(written["color"]))
    assert colour.shape == (h, w, 3) and colour.dtype == np.uint8
    mm = np.asarray(Image.open(written["mm16"]))
    assert mm.shape == (h, w) and mm.dtype in (np.uint16, np.int32)
    assert np.array_equal(mm.astype(np.int64), np.clip(np.rint(depth_m.astype(np.float64) * 1000), 0, 65535))

    # point cloud through NYU's camera scaled by the long side to 37x53 (square pixels as NYU's, the centre
    # moved with the crop of the short side; pixel-corner convention), written out by hand
    points, colors = read_ply(written["ply"])
    s = w / 640
    fx, fy = NYU_FX * s, NYU_FY * s
    cx, cy = (NYU_CX + 0.5) * s - 0.5, (NYU_CY + 0.5) * s - 0.5 + (h - 480 * s) / 2
    v, u = 10, 20
    expected = [(u - cx) / fx * depth_m[v, u], (v - cy) / fy * depth_m[v, u], depth_m[v, u]]
    assert len(points) == h * w and colors.shape == (h * w, 3)
    assert np.allclose(points[v * w + u], expected, rtol=1e-5)
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_given_intrinsics_are_scaled_with_the_photo(tmp_path, model):
    Image.fromarray(_pattern(40, 60)).save(tmp_path / "cam.png")
    written, _, _ = predict_file(model, tmp_path / "cam.png", tmp_path, ply=True, npy=True,
                           intrinsics=(100.0, 100.0, 29.5, 19.5), max_size=30)     # shrunk by 2
    depth_m = np.load(written["npy"])
    points, _ = read_ply(written["ply"])
    assert depth_m.shape == (20, 30)
    # K at the new size: fx 50, cx (29.5 + 0.5) / 2 - 0.5 = 14.5
    assert np.isclose(points[0, 0], (0 - 14.5) / 50.0 * depth_m[0, 0], rtol=1e-5)


def test_expand_inputs_lists_images_in_folders(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "b.JPG").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in expand_inputs([tmp_path])] == ["a.png", "b.JPG"]
    assert expand_inputs([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]


# ----------------------------------------------------------------------------- the camera of a learner's photo

def _exif_photo(path, hw, **tags):
    """A grey photo of hw = (H, W) with Exif-IFD tags written by Pillow (FocalLengthIn35mmFilm=0xA405, ...)."""
    from PIL import Image

    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    for tag, value in tags.items():
        ifd[int(tag[1:], 16)] = value
    Image.fromarray(np.full((*hw, 3), 128, np.uint8)).save(path, exif=exif)
    return path


def test_a_photo_without_exif_gets_square_pixels_in_any_shape():
    from course_lib.geometry import nyu_intrinsics
    from course_lib.predict import default_photo_intrinsics

    # a 4:3 landscape photo: exactly NYU's camera scaled, as before
    np.testing.assert_allclose(default_photo_intrinsics(480, 640), nyu_intrinsics(480, 640), rtol=1e-6)
    np.testing.assert_allclose(default_photo_intrinsics(48, 64), nyu_intrinsics(48, 64), rtol=1e-6)
    # 16:9 landscape, 1080x1920: NYU's 640 px become 1920 (x3) on both axes; the centre moves with the crop.
    # By hand: fx = 518.8579 * 3, fy = 519.4696 * 3, cx = (325.5824 + 0.5) * 3 - 0.5,
    # cy = (253.7362 + 0.5) * 3 - 0.5 + (1080 - 1440) / 2 (NYU scaled per axis gave fy 1168.8: non-square)
    K = default_photo_intrinsics(1080, 1920)
    np.testing.assert_allclose([K[0, 0], K[1, 1], K[0, 2], K[1, 2]],
                               [1556.5737, 1558.4088, 977.7472, 582.2086], rtol=1e-6)
    # portrait, 1920x1080: the same camera turned, so fx and fy swap and so do the principal point's roles
    P = default_photo_intrinsics(1920, 1080)
    np.testing.assert_allclose([P[0, 0], P[1, 1], P[0, 2], P[1, 2]], [K[1, 1], K[0, 0], K[1, 2], K[0, 2]], rtol=1e-6)


def test_exif_focal_length_sets_the_camera(tmp_path):
    from course_lib.predict import photo_camera

    # FocalLengthIn35mmFilm 26 mm on a 120x160 photo: its 200 px diagonal spans a 43.27 mm frame's
    path = _exif_photo(tmp_path / "phone.jpg", (120, 160), x0A405=26)
    K, source = photo_camera(path, (120, 160), (120, 160))
    f = 26 * 200 / (36 ** 2 + 24 ** 2) ** 0.5                    # 120.19 px
    np.testing.assert_allclose([K[0, 0], K[1, 1], K[0, 2], K[1, 2]], [f, f, 79.5, 59.5], rtol=1e-5)
    assert source.startswith("EXIF FocalLengthIn35mmFilm 26 mm")
    # FocalLength 4.2 mm on a sensor of 30 px per mm (FocalPlaneResolutionUnit 4 = mm): 126 px
    path = _exif_photo(tmp_path / "camera.jpg", (120, 160), x920A=4.2, xA20E=30.0, xA210=4)
    K, source = photo_camera(path, (60, 80), (120, 160))            # read shrunk to half: the focal length halves
    assert K[0, 0] == pytest.approx(63.0) and K[1, 1] == pytest.approx(63.0) and "FocalLength 4.2 mm" in source
    # --intrinsics win over EXIF; no EXIF: NYU's field of view, said so
    assert photo_camera(path, (120, 160), (120, 160), (100, 90, 80, 60))[1].startswith("--intrinsics")
    plain = _exif_photo(tmp_path / "plain.jpg", (120, 160))
    assert photo_camera(plain, (120, 160), (120, 160))[1].startswith("no focal length in the photo")


@pytest.mark.parametrize("hw", [(96, 128), (72, 128), (128, 72)], ids=["4:3", "16:9", "portrait 9:16"])
def test_predict_keeps_the_photos_shape_at_the_training_focal_length(hw, small_trained_checkpoint, tmp_path):
    """A photo without EXIF runs at the training focal length with its own aspect ratio (square pixels);
    NYU's camera stretched per axis squashed a 16:9 photo to 4:3 before the network saw it."""
    from course_lib.checkpoint import load_model
    from course_lib.predict import predict_file

    model = load_model(small_trained_checkpoint)
    path = _exif_photo(tmp_path / "photo.png", hw)
    written, (h, w), source = predict_file(model, path, tmp_path / "out")
    assert source.startswith("no focal length in the photo")
    assert abs((h / w) / (hw[0] / hw[1]) - 1) < 0.05, ((h, w), hw)
    depth16 = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(written["mm16"]))
    assert depth16.shape == hw
