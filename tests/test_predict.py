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
    written, _ = predict_file(model, tmp_path / "room.png", tmp_path / "out", npy=True, ply=True)
    assert set(written) == {"color", "mm16", "npy", "ply"}

    depth_m = np.load(written["npy"])
    assert depth_m.shape == (h, w) and depth_m.dtype == np.float32 and np.all(depth_m > 0)
    colour = np.asarray(Image.open(written["color"]))
    assert colour.shape == (h, w, 3) and colour.dtype == np.uint8
    mm = np.asarray(Image.open(written["mm16"]))
    assert mm.shape == (h, w) and mm.dtype in (np.uint16, np.int32)
    assert np.array_equal(mm.astype(np.int64), np.clip(np.rint(depth_m.astype(np.float64) * 1000), 0, 65535))

    # point cloud through NYU's camera scaled to 37x53 (pixel-corner convention), written out by hand
    points, colors = read_ply(written["ply"])
    sx, sy = w / 640, h / 480
    fx, fy = NYU_FX * sx, NYU_FY * sy
    cx, cy = (NYU_CX + 0.5) * sx - 0.5, (NYU_CY + 0.5) * sy - 0.5
    v, u = 10, 20
    expected = [(u - cx) / fx * depth_m[v, u], (v - cy) / fy * depth_m[v, u], depth_m[v, u]]
    assert len(points) == h * w and colors.shape == (h * w, 3)
    assert np.allclose(points[v * w + u], expected, rtol=1e-5)
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_given_intrinsics_are_scaled_with_the_photo(tmp_path, model):
    Image.fromarray(_pattern(40, 60)).save(tmp_path / "cam.png")
    written, _ = predict_file(model, tmp_path / "cam.png", tmp_path, ply=True, npy=True,
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
