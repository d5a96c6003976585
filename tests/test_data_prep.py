"""data_prep converters on fixtures that reproduce each public format exactly (at a tiny size)."""
import io
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from PIL import Image

from course_lib.data.pack import PackExistsError, open_pack
from course_lib.errors import DataFormatError
from course_lib.geometry import nyu_intrinsics
from data_prep.cli import main as data_prep_main
from data_prep.densedepth import convert_densedepth_zip, convert_eigen_npy
from data_prep.folder import convert_folder, pair_key
from data_prep.nyu_labeled import convert_nyu_labeled

REPO = Path(__file__).resolve().parents[1]
H, W = 48, 64  # upright frame size of the fixtures (NYU is 480 x 640)


def asymmetric_rgb(i):
    """A frame that shows any flip or transpose: bright square top-left, red ramp left -> right."""
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 250, W).astype(np.uint8)[None, :]
    rgb[:10, :12, 1] = 255
    rgb[..., 2] = 40 * i
    return rgb


def asymmetric_depth(i):
    rows, cols = np.mgrid[0:H, 0:W]
    return (1.0 + 3.0 * cols / W + 0.01 * rows + i).astype(np.float32)  # metres, deeper to the right


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "data_prep", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)


# ------------------------------------------------------------------------------- nyu_depth_v2_labeled.mat


def write_labeled_mat(path, n=5):
    """MATLAB 7.3 layout: HDF5 after a 512-byte user block, axes reversed from MATLAB's (H, W, 3, N)."""
    rgb = np.stack([asymmetric_rgb(i) for i in range(n)])                    # (N, H, W, 3)
    depth = np.stack([asymmetric_depth(i) for i in range(n)])                # (N, H, W)
    raw = depth.copy()
    raw[:, -8:, -8:] = 0                                                     # Kinect holes, bottom right
    labels = (np.arange(n)[:, None, None] * 10 + (np.mgrid[0:H, 0:W][1] > W // 2)).astype(np.uint16)
    with h5py.File(path, "w", userblock_size=512, libver="earliest") as f:
        f.create_dataset("images", data=rgb.transpose(0, 3, 2, 1))          # (N, 3, W, H)
        f.create_dataset("depths", data=depth.transpose(0, 2, 1))           # (N, W, H)
        f.create_dataset("rawDepths", data=raw.transpose(0, 2, 1))
        f.create_dataset("labels", data=labels.transpose(0, 2, 1))
        f.create_dataset("names", data=np.zeros((1, 3), np.uint64))         # MATLAB cell references, ignored
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\x00" * 8 + struct.pack("<H", 0x0200) + b"IM")
    return rgb, depth, raw, labels


def write_splits_mat(path, train, test):
    scipy.io.savemat(path, {"trainNdxs": np.array(train, np.uint16).reshape(-1, 1),
                            "testNdxs": np.array(test, np.uint16).reshape(-1, 1)})


@pytest.fixture
def nyu_files(tmp_path):
    mat, splits = tmp_path / "nyu_depth_v2_labeled.mat", tmp_path / "splits.mat"
    arrays = write_labeled_mat(mat)
    write_splits_mat(splits, train=[1, 3, 4], test=[2, 5])
    return mat, splits, arrays


def test_fixture_looks_like_the_real_file(nyu_files):
    mat, splits, _ = nyu_files
    assert mat.read_bytes()[:10] == b"MATLAB 7.3"
    with h5py.File(mat) as f:
        assert f.userblock_size == 512 and f["images"].shape == (5, 3, W, H) and f["depths"].shape == (5, W, H)
    loaded = scipy.io.loadmat(splits)
    assert loaded["testNdxs"].shape == (2, 1) and loaded["testNdxs"].dtype == np.uint16


def test_nyu_labeled_frames_are_upright_and_in_split_order(nyu_files, tmp_path):
    mat, splits, (rgb, depth, raw, labels) = nyu_files
    out = convert_nyu_labeled(mat, splits, tmp_path / "nyu.h5", show_progress=False)
    pack = open_pack(out)
    assert pack.splits == ["train", "test"]
    test = pack["test"]
    assert len(test) == 2 and len(pack["train"]) == 3
    np.testing.assert_array_equal(test.per_frame("labeled_index"), [2, 5])
    for j, labeled in enumerate([2, 5]):          # test frame j is labeled frame testNdxs[j] (1-based)
        item = test[j]
        np.testing.assert_array_equal(item["rgb"], rgb[labeled - 1])
        np.testing.assert_array_equal(item["depth"], depth[labeled - 1])
        np.testing.assert_array_equal(item["raw_depth"], raw[labeled - 1])
        np.testing.assert_array_equal(item["labels"], labels[labeled - 1])
        # upright and unmirrored, checked on the pattern itself
        assert item["rgb"][2, 2, 1] == 255 and item["rgb"][-2, -2, 1] == 0
        assert item["rgb"][5, -1, 0] > item["rgb"][5, 0, 0]
        assert item["depth"][0, -1] > item["depth"][0, 0] and item["raw_depth"][-1, -1] == 0
    np.testing.assert_array_equal(pack["train"].per_frame("labeled_index"), [1, 3, 4])
    np.testing.assert_allclose(test.intrinsics, nyu_intrinsics(H, W))
    assert "testNdxs" in test.attrs["split_origin"]


def test_nyu_labeled_val_split(nyu_files, tmp_path):
    mat, splits, _ = nyu_files
    pack = open_pack(convert_nyu_labeled(mat, splits, tmp_path / "nyu.h5", val_count=1, show_progress=False))
    assert pack.splits == ["train", "val", "test"]
    np.testing.assert_array_equal(pack["val"].per_frame("labeled_index"), [4])


def test_nyu_labeled_bad_inputs(nyu_files, tmp_path):
    mat, splits, _ = nyu_files
    with pytest.raises(DataFormatError, match="MATLAB 5"):       # the two files swapped
        convert_nyu_labeled(splits, mat, tmp_path / "x.h5", show_progress=False)
    with pytest.raises(DataFormatError, match="MATLAB 7.3"):
        convert_nyu_labeled(mat, mat, tmp_path / "x.h5", show_progress=False)
    write_splits_mat(tmp_path / "bad_splits.mat", train=[1, 2], test=[6])
    with pytest.raises(DataFormatError, match="outside"):
        convert_nyu_labeled(mat, tmp_path / "bad_splits.mat", tmp_path / "x.h5", show_progress=False)
    assert not (tmp_path / "x.h5").exists()


def test_cli_truncated_mat(nyu_files, tmp_path):
    mat, splits, _ = nyu_files
    truncated = tmp_path / "truncated.mat"
    truncated.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])
    result = run_cli("nyu-labeled", "--mat", truncated, "--splits", splits, "--out", tmp_path / "t.h5")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "truncated" in errors[0] and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*t.h5*"))


def test_cli_overwrite_and_inspect(nyu_files, tmp_path, capsys):
    mat, splits, _ = nyu_files
    args = ["nyu-labeled", "--mat", str(mat), "--splits", str(splits), "--out", str(tmp_path / "nyu.h5"),
            "--no-progress"]
    assert data_prep_main(args) == 0
    capsys.readouterr()
    assert data_prep_main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert data_prep_main(args + ["--overwrite"]) == 0
    capsys.readouterr()
    assert data_prep_main(["inspect", str(tmp_path / "nyu.h5")]) == 0
    shown = capsys.readouterr().out
    assert "split test: 2 frames of 48x64" in shown and "raw_depth" in shown and "metres" in shown


# ------------------------------------------------------------------------------- DenseDepth nyu_data.zip


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(array, quality=90):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_densedepth_zip(path, n_train=3, n_test=2, extra=None, train_depth_bits=8, test_depth_bits=16,
                         compression=zipfile.ZIP_STORED):
    """DenseDepth's layout: CSV lists + train JPEG/8-bit PNG (255 = 10 m) + test PNG/16-bit PNG (mm)."""
    truth = {"train": [], "test": []}
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        rows = []
        for i in range(n_train):
            codes = (np.mgrid[0:H, 0:W][1] * 4 + i).astype(np.uint8)                   # 8-bit codes
            rgb = jpeg_bytes(asymmetric_rgb(i))
            names = (f"data/nyu2_train/scene_{i % 2}_out/{i}.jpg", f"data/nyu2_train/scene_{i % 2}_out/{i}.png")
            zf.writestr(names[0], rgb)
            zf.writestr(names[1], png_bytes(codes if train_depth_bits == 8 else codes.astype(np.uint16) * 40))
            rows.append(",".join(names))
            truth["train"].append((rgb, codes.astype(np.float64) / 255 * 10))
        zf.writestr("data/nyu2_train.csv", "\n".join(rows) + "\n")
        rows = []
        for i in range(n_test):
            depth_mm = (700 + 50 * np.mgrid[0:H, 0:W][1] + i).astype(np.uint16)      # 0.7 .. 3.9 m
            depth_mm[:4, :4] = 0
            names = (f"data/nyu2_test/{i:05d}_colors.png", f"data/nyu2_test/{i:05d}_depth.png")
            zf.writestr(names[0], png_bytes(asymmetric_rgb(i)))
            zf.writestr(names[1], png_bytes(depth_mm if test_depth_bits == 16 else (depth_mm // 20).astype(np.uint8)))
            rows.append(",".join(names))
            truth["test"].append((asymmetric_rgb(i), depth_mm.astype(np.float64) / 1000))
        zf.writestr("data/nyu2_test.csv", "\n".join(rows) + "\n")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return truth


def test_densedepth_units_and_jpeg_bytes(tmp_path):
    zpath = tmp_path / "nyu_data.zip"
    truth = write_densedepth_zip(zpath)
    with zipfile.ZipFile(zpath) as zf:  # the fixture really has the two bit depths
        assert Image.open(io.BytesIO(zf.read("data/nyu2_train/scene_0_out/0.png"))).mode == "L"
        assert Image.open(io.BytesIO(zf.read("data/nyu2_test/00000_depth.png"))).mode.startswith("I")
    pack = open_pack(convert_densedepth_zip(zpath, tmp_path / "dd.h5", show_progress=False))
    assert pack.splits == ["train", "test"] and len(pack["train"]) == 3 and len(pack["test"]) == 2
    with h5py.File(tmp_path / "dd.h5") as f:
        for i, (jpeg, _) in enumerate(truth["train"]):
            assert f["train/rgb_jpeg"][i].tobytes() == jpeg          # copied, not re-encoded
    for i, (jpeg, depth_m) in enumerate(truth["train"]):
        item = pack["train"][i]
        np.testing.assert_allclose(item["depth"], depth_m, rtol=1e-6, atol=1e-6)   # v / 255 * 10
        np.testing.assert_array_equal(item["rgb"], np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")))
    for i, (rgb, depth_m) in enumerate(truth["test"]):
        item = pack["test"][i]
        np.testing.assert_allclose(item["depth"], depth_m, rtol=1e-6)              # millimetres -> metres
        assert 0.7 <= item["depth"][item["depth"] > 0].min() and item["depth"].max() < 4.0
        np.testing.assert_array_equal(item["rgb"], rgb)


def test_densedepth_pack_size_bound(tmp_path):
    """Train frames at NYU size: the pack (JPEG bytes + 8-bit codes) stays within 1.5x the zip."""
    rng = np.random.default_rng(0)
    rows = []
    zpath = tmp_path / "nyu_data.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        yy, xx = np.mgrid[0:480, 0:640]
        for i in range(4):
            rgb = np.stack([(xx * 0.3 + i * 9) % 256, (yy * 0.4) % 256, (xx + yy) % 256], -1).astype(np.uint8)
            rgb = np.clip(rgb + rng.integers(0, 30, rgb.shape), 0, 255).astype(np.uint8)
            codes = np.clip(60 + xx / 8 + yy / 16 + rng.integers(0, 3, xx.shape), 0, 255).astype(np.uint8)
            names = (f"data/nyu2_train/s/{i}.jpg", f"data/nyu2_train/s/{i}.png")
            zf.writestr(names[0], jpeg_bytes(rgb))
            zf.writestr(names[1], png_bytes(codes))
            rows.append(",".join(names))
        zf.writestr("data/nyu2_train.csv", "\n".join(rows))
    out = convert_densedepth_zip(zpath, tmp_path / "dd.h5", splits=("train",), show_progress=False)
    assert out.stat().st_size <= 1.5 * zpath.stat().st_size, (out.stat().st_size, zpath.stat().st_size)


def test_densedepth_refuses_escaping_paths_and_unit_errors(tmp_path):
    evil = tmp_path / "evil.zip"
    write_densedepth_zip(evil, extra={"../evil.txt": b"x"})
    with pytest.raises(DataFormatError, match="evil.txt.*outside"):
        convert_densedepth_zip(evil, tmp_path / "x.h5", show_progress=False)
    absolute = tmp_path / "abs.zip"
    write_densedepth_zip(absolute, extra={"/etc/passwd_copy": b"x"})
    with pytest.raises(DataFormatError, match="outside"):
        convert_densedepth_zip(absolute, tmp_path / "x.h5", show_progress=False)

    mm_train = tmp_path / "mm_train.zip"
    write_densedepth_zip(mm_train, train_depth_bits=16)
    with pytest.raises(DataFormatError, match="16-bit PNG, expected 8-bit"):
        convert_densedepth_zip(mm_train, tmp_path / "x.h5", show_progress=False)
    byte_test = tmp_path / "byte_test.zip"
    write_densedepth_zip(byte_test, test_depth_bits=8)
    with pytest.raises(DataFormatError, match="8-bit PNG, expected 16-bit"):
        convert_densedepth_zip(byte_test, tmp_path / "x.h5", show_progress=False)
    assert not list(tmp_path.glob("*x.h5*"))   # the failure came mid-stream: nothing left behind


def damage_member(zpath, name):
    """Overwrite 16 bytes in the middle of one member's data; the zip's directory stays intact."""
    with zipfile.ZipFile(zpath) as zf:
        info = zf.getinfo(name)
    data = bytearray(zpath.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len                 # the local header is 30 bytes + names
    middle = start + info.compress_size // 2
    data[middle: middle + 16] = bytes(b ^ 0xFF for b in data[middle: middle + 16])
    zpath.write_bytes(bytes(data))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_densedepth_a_damaged_member_inside_a_valid_zip(tmp_path, compression):
    """The zip opens and lists its files, but the second test frame's depth is damaged (a CRC error when
    stored, a broken deflate stream when compressed): one sentence naming the member, and no pack left."""
    zpath = tmp_path / "nyu_data.zip"
    write_densedepth_zip(zpath, compression=compression)
    damage_member(zpath, "data/nyu2_test/00001_depth.png")
    with zipfile.ZipFile(zpath) as zf:                       # the damage is inside, not in the directory
        assert "data/nyu2_test/00001_depth.png" in zf.namelist()
    with pytest.raises(DataFormatError, match=r"member 'data/nyu2_test/00001_depth.png' is damaged") as info:
        convert_densedepth_zip(zpath, tmp_path / "dd.h5", show_progress=False)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.glob("*dd.h5*"))                 # the failure came mid-stream: nothing left behind
    result = run_cli("densedepth-zip", "--zip", zpath, "--out", tmp_path / "dd.h5", "--no-progress")
    assert result.returncode == 2 and result.stderr.strip().startswith("error:"), result.stderr
    assert result.stderr.strip().count("\n") == 0 and "00001_depth.png" in result.stderr


def test_cli_not_a_zip(tmp_path):
    fake = tmp_path / "nyu_data.zip"
    fake.write_bytes(b"PK\x03\x04 this is not really a zip")
    result = run_cli("densedepth-zip", "--zip", fake, "--out", tmp_path / "x.h5")
    assert result.returncode == 2 and result.stderr.strip().startswith("error:")
    assert "nyu_data.zip" in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------------------- eigen_test_*.npy


def test_eigen_npy(tmp_path):
    rgb = np.stack([asymmetric_rgb(i) for i in range(3)])
    depth = np.stack([asymmetric_depth(i) for i in range(3)])
    np.save(tmp_path / "eigen_test_rgb.npy", rgb)
    np.save(tmp_path / "eigen_test_depth.npy", depth)
    np.save(tmp_path / "eigen_test_crop.npy", np.array([20, 459, 24, 615]))
    test = open_pack(convert_eigen_npy(tmp_path, tmp_path / "eigen.h5", show_progress=False))["test"]
    assert len(test) == 3
    for i in range(3):
        np.testing.assert_array_equal(test[i]["rgb"], rgb[i])
        np.testing.assert_array_equal(test[i]["depth"], depth[i])
    assert list(test.attrs["eval_crop"]) == [20, 459, 24, 615]
    # a truncated array file is one clear error
    data = (tmp_path / "eigen_test_depth.npy").read_bytes()
    (tmp_path / "eigen_test_depth.npy").write_bytes(data[:1000])
    with pytest.raises(DataFormatError, match="eigen_test_depth.npy.*truncated"):
        convert_eigen_npy(tmp_path, tmp_path / "again.h5", show_progress=False)


# ------------------------------------------------------------------------------- folders (BTS naming)


def save_depth_png(path, depth_mm):
    Image.fromarray(depth_mm.astype(np.uint16)).save(path)


def test_pair_keys():
    root = Path("sync")
    assert pair_key(Path("sync/kitchen_0001/rgb_00042.jpg"), root) == "kitchen_0001/00042"
    assert pair_key(Path("sync/kitchen_0001/sync_depth_00042.png"), root) == "kitchen_0001/00042"
    assert pair_key(Path("sync/00007_colors.png"), root) == pair_key(Path("sync/00007_depth.png"), root) == "00007"


def test_folder_bts_layout(tmp_path, capsys):
    scene = tmp_path / "sync" / "basement_0001a"
    scene.mkdir(parents=True)
    truth = {}
    for k in (0, 50, 100):
        rgb = asymmetric_rgb(k // 50)
        depth_mm = np.round(asymmetric_depth(k // 50) * 1000).astype(np.uint16)
        depth_mm[-3:, :5] = 0
        Image.fromarray(rgb).save(scene / f"rgb_{k:05d}.jpg", quality=100)
        save_depth_png(scene / f"sync_depth_{k:05d}.png", depth_mm)
        truth[k] = (rgb, depth_mm)
    Image.fromarray(asymmetric_rgb(0)).save(scene / "rgb_00999.jpg")  # has no depth
    out = convert_folder(str(tmp_path / "sync/*/rgb_*.jpg"), str(tmp_path / "sync/*/sync_depth_*.png"), 0.001,
                         tmp_path / "bts.h5", split="test", intrinsics=["500", "501", "31.5", "23.5"],
                         show_progress=False)
    assert "1 RGB files without depth" in capsys.readouterr().err
    test = open_pack(out)["test"]
    assert len(test) == 3
    for j, k in enumerate((0, 50, 100)):   # natural order of the keys
        rgb, depth_mm = truth[k]
        item = test[j]
        np.testing.assert_allclose(item["depth"], depth_mm.astype(np.float64) / 1000, rtol=1e-6)
        assert (item["depth"] == 0).sum() == 15
        assert np.abs(item["rgb"].astype(int) - rgb).mean() < 3
    np.testing.assert_allclose(test.intrinsics, [[500, 0, 31.5], [0, 501, 23.5], [0, 0, 1]])


def test_folder_converts_exif_rotated_grayscale_and_rgba_photos(tmp_path):
    upright = asymmetric_rgb(1)
    depth_mm = np.full((H, W), 1500, np.uint16)
    # EXIF orientation 6: the pixels are stored turned a quarter, the viewer turns them back clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.rot90(upright, 1).copy()).save(tmp_path / "a_rgb.jpg", quality=100, exif=exif.tobytes())
    Image.fromarray(upright[..., 1]).save(tmp_path / "b_rgb.png")                         # grayscale
    Image.fromarray(np.dstack([upright, np.full((H, W), 255, np.uint8)])).save(tmp_path / "c_rgb.png")  # RGBA
    for name in "abc":
        save_depth_png(tmp_path / f"{name}_depth.png", depth_mm)
    split = open_pack(convert_folder(str(tmp_path / "*_rgb.*"), str(tmp_path / "*_depth.png"), 0.001,
                                     tmp_path / "mine.h5", show_progress=False))["train"]
    rotated, gray, rgba = split[0]["rgb"], split[1]["rgb"], split[2]["rgb"]
    assert rotated.shape == (H, W, 3)
    assert np.abs(rotated.astype(int) - upright).mean() < 4 and rotated[2, 2, 1] > 200   # upright again
    np.testing.assert_array_equal(gray, np.repeat(upright[..., 1:2], 3, axis=2))
    np.testing.assert_array_equal(rgba, upright)


def test_folder_refuses_wrong_depth_files(tmp_path):
    Image.fromarray(asymmetric_rgb(0)).save(tmp_path / "rgb_00001.png")
    Image.fromarray(np.full((H, W), 100, np.uint8)).save(tmp_path / "sync_depth_00001.png")  # 8-bit
    with pytest.raises(DataFormatError, match="8-bit.*cannot be millimetres"):
        convert_folder(str(tmp_path / "rgb_*.png"), str(tmp_path / "sync_depth_*.png"), 0.001, tmp_path / "x.h5",
                       show_progress=False)
    with pytest.raises(DataFormatError, match="RGB pixels, not a depth map"):   # the two globs swapped
        convert_folder(str(tmp_path / "sync_depth_*.png"), str(tmp_path / "rgb_*.png"), 0.001, tmp_path / "x.h5",
                       show_progress=False)
    save_depth_png(tmp_path / "sync_depth_00001.png", np.full((H // 2, W), 1000))              # size differs
    with pytest.raises(DataFormatError, match="must agree"):
        convert_folder(str(tmp_path / "rgb_*.png"), str(tmp_path / "sync_depth_*.png"), 0.001, tmp_path / "x.h5",
                       show_progress=False)
    save_depth_png(tmp_path / "sync_depth_00001.png", np.full((H, W), 3000))                   # 3 m in mm
    with pytest.raises(DataFormatError, match="depth-scale"):                                  # scale forgotten
        convert_folder(str(tmp_path / "rgb_*.png"), str(tmp_path / "sync_depth_*.png"), 1.0, tmp_path / "x.h5",
                       show_progress=False)
    assert not list(tmp_path.glob("*x.h5*"))


def test_cli_folder_mid_stream_failure_leaves_nothing(tmp_path):
    for k in range(3):
        Image.fromarray(asymmetric_rgb(k)).save(tmp_path / f"rgb_{k:05d}.png")
        if k == 2:
            (tmp_path / f"sync_depth_{k:05d}.png").write_bytes(png_bytes(np.full((H, W), 1000, np.uint16))[:60])
        else:
            save_depth_png(tmp_path / f"sync_depth_{k:05d}.png", np.full((H, W), 1000))
    result = run_cli("folder", "--rgb", tmp_path / "rgb_*.png", "--depth", tmp_path / "sync_depth_*.png",
                     "--depth-scale", "0.001", "--out", tmp_path / "out.h5")
    assert result.returncode == 2, result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "sync_depth_00002.png" in error[0] and "truncated" in error[0]
    assert not list(tmp_path.glob("*out.h5*"))


def test_pack_exists_error_from_converter(tmp_path):
    np.save(tmp_path / "eigen_test_rgb.npy", np.zeros((1, H, W, 3), np.uint8))
    np.save(tmp_path / "eigen_test_depth.npy", np.ones((1, H, W), np.float32))
    np.save(tmp_path / "eigen_test_crop.npy", np.array([2, 40, 3, 60]))
    convert_eigen_npy(tmp_path, tmp_path / "e.h5", show_progress=False)
    with pytest.raises(PackExistsError):
        convert_eigen_npy(tmp_path, tmp_path / "e.h5", show_progress=False)
    assert data_prep_main(["eigen-npy", "--dir", str(tmp_path), "--out", str(tmp_path / "e.h5"),
                           "--no-progress"]) == 2


# ------------------------------------------------------------------------------- synthetic rooms


def test_synthetic_pack_matches_render_room(tmp_path):
    from course_lib.data import synthetic
    from data_prep.synthetic import convert_synthetic

    split = open_pack(convert_synthetic(2, (48, 64), tmp_path / "syn.h5", seed=7, show_progress=False))["train"]
    assert len(split) == 2
    for j in range(2):
        room = synthetic.render_room(7 + j, height=48, width=64, raw_depth=True)
        np.testing.assert_array_equal(split[j]["rgb"], room["rgb"])
        np.testing.assert_allclose(split[j]["depth"], room["depth"], rtol=1e-6)        # stored as float32
        np.testing.assert_allclose(split[j]["raw_depth"], room["raw_depth"], rtol=1e-6)
    np.testing.assert_allclose(split.intrinsics, room["K"])
    np.testing.assert_array_equal(split.per_frame("seed"), [7, 8])


def test_synthetic_pack_refuses_heldout_seeds(tmp_path):
    from course_lib.data.synthetic import HELDOUT_SEED_BASE
    from data_prep.synthetic import convert_synthetic

    out = tmp_path / "s.h5"
    with pytest.raises(DataFormatError, match="held-out rooms"):
        convert_synthetic(4, (24, 32), out, seed=HELDOUT_SEED_BASE - 2, show_progress=False)
    assert not out.exists()
