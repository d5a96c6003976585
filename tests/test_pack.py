"""The depth pack: round trips, validation of every frame, safe writing, clear errors, DataLoader workers."""
import io
import pickle

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.data.pack import FORMAT_NAME, PackExistsError, PackWriter, open_pack
from course_lib.errors import CourseError, DataFormatError

H, W = 12, 16


def frames(n, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        depth = rng.uniform(0.5, 9.5, (H, W)).astype(np.float32)
        depth[0, :3] = 0  # holes stay holes
        yield rgb, depth


def write_pack(path, n=4, **split_kw):
    K = np.array([[10, 0, 8], [0, 11, 6], [0, 0, 1]], np.float32)
    with PackWriter(path, attrs={"source": "unit test", "intrinsics": K}) as writer:
        split = writer.create_split("train", n, H, W, **split_kw)
        for rgb, depth in frames(n):
            split.append(rgb, depth, raw_depth=depth * (depth > 2) if split_kw.get("raw_depth") else None)
    return path


def test_round_trip_raw_rgb(tmp_path):
    path = write_pack(tmp_path / "p.h5", raw_depth=True)
    pack = open_pack(path)
    assert pack.splits == ["train"]
    assert pack.attrs["format"] == FORMAT_NAME and pack.attrs["units"] == "metres"
    split = pack["train"]
    assert len(split) == 4
    for i, (rgb, depth) in enumerate(frames(4)):
        item = split[i]
        assert item["rgb"].dtype == np.uint8 and item["rgb"].shape == (H, W, 3)
        np.testing.assert_array_equal(item["rgb"], rgb)
        assert item["depth"].dtype == np.float32
        np.testing.assert_array_equal(item["depth"], depth)
        np.testing.assert_array_equal(item["raw_depth"], depth * (depth > 2))
    assert split.intrinsics.shape == (3, 3) and split.intrinsics[0, 0] == 10
    np.testing.assert_array_equal(split[-1]["rgb"], list(frames(4))[-1][0])
    with pytest.raises(IndexError):
        split[4]
    # one frame per chunk, compressed
    with h5py.File(path) as f:
        assert f["train/rgb"].chunks == (1, H, W, 3) and f["train/depth"].chunks == (1, H, W)
        assert f["train/depth"].compression == "gzip"
        assert f["train"].attrs["height"] == H and f["train"].attrs["width"] == W


def test_jpeg_rgb_is_decoded_by_the_reader(tmp_path):
    smooth = np.zeros((H, W, 3), np.uint8)
    smooth[..., 0] = np.linspace(0, 255, W, dtype=np.uint8)[None, :]
    smooth[..., 1] = 200
    buffer = io.BytesIO()
    Image.fromarray(smooth).save(buffer, format="JPEG", quality=95)
    jpeg = buffer.getvalue()
    with PackWriter(tmp_path / "j.h5") as writer:
        split = writer.create_split("val", None, H, W, rgb_format="jpeg")
        split.append(jpeg, np.ones((H, W), np.float32))      # original bytes
        split.append(smooth, np.ones((H, W), np.float32))    # array, encoded by the writer
    with h5py.File(tmp_path / "j.h5") as f:
        assert "rgb" not in f["val"]
        assert f["val/rgb_jpeg"][0].tobytes() == jpeg        # stored byte for byte
    split = open_pack(tmp_path / "j.h5")["val"]
    assert len(split) == 2
    for i in range(2):
        rgb = split[i]["rgb"]
        assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
        assert np.abs(rgb.astype(int) - smooth).mean() < 4


def test_quantized_depth_is_returned_in_metres(tmp_path):
    codes = np.arange(H * W).reshape(H, W) % 256
    depth = (codes / 255 * 10).astype(np.float32)
    with PackWriter(tmp_path / "q.h5") as writer:
        split = writer.create_split("train", 1, H, W, depth_scale_m=10 / 255, max_depth_m=10)
        split.append(np.zeros((H, W, 3), np.uint8), depth)
    with h5py.File(tmp_path / "q.h5") as f:
        assert f["train/depth"].dtype == np.uint8
        np.testing.assert_array_equal(f["train/depth"][0], codes)
    np.testing.assert_allclose(open_pack(tmp_path / "q.h5")["train"][0]["depth"], depth, rtol=1e-6)


def test_depth_validation(tmp_path):
    rgb = np.zeros((H, W, 3), np.uint8)
    with PackWriter(tmp_path / "v.h5") as writer:
        split = writer.create_split("train", None, H, W)
        bad = np.full((H, W), 2.0, np.float32)
        bad[1, 1], bad[2, 2], bad[3, 3] = np.nan, np.inf, -np.inf
        split.append(rgb, bad)  # non-finite becomes 0 = no measurement
        with pytest.raises(DataFormatError, match="negative"):
            split.append(rgb, np.full((H, W), -1.0, np.float32))
        with pytest.raises(DataFormatError, match="millimetres"):
            split.append(rgb, np.full((H, W), 2500.0, np.float32))
        with pytest.raises(DataFormatError, match="uint16"):
            split.append(rgb, np.full((H, W), 2500, np.uint16))
        with pytest.raises(DataFormatError, match="shape"):
            split.append(rgb, np.ones((W, H), np.float32))
        with pytest.raises(DataFormatError, match="uint8"):
            split.append(rgb.astype(np.float32), np.ones((H, W), np.float32))
    depth = open_pack(tmp_path / "v.h5")["train"][0]["depth"]
    assert len(open_pack(tmp_path / "v.h5")["train"]) == 1
    assert depth[1, 1] == 0 and depth[2, 2] == 0 and depth[3, 3] == 0 and depth[0, 0] == 2.0


def test_overwrite_is_refused_unless_asked(tmp_path):
    path = write_pack(tmp_path / "p.h5")
    before = path.read_bytes()
    with pytest.raises(PackExistsError, match="--overwrite"):
        write_pack(path)
    assert path.read_bytes() == before
    assert isinstance(PackExistsError("x"), CourseError) and isinstance(PackExistsError("x"), FileExistsError)
    with PackWriter(path, overwrite=True) as writer:
        writer.create_split("test", 1, H, W).append(np.zeros((H, W, 3), np.uint8), np.ones((H, W), np.float32))
    assert open_pack(path).splits == ["test"]


def test_interrupted_write_leaves_nothing(tmp_path):
    path = tmp_path / "p.h5"
    with pytest.raises(KeyboardInterrupt):
        with PackWriter(path) as writer:
            split = writer.create_split("train", 10, H, W)
            for i, (rgb, depth) in enumerate(frames(10)):
                if i == 5:
                    raise KeyboardInterrupt  # Ctrl-C half way
                split.append(rgb, depth)
    assert list(tmp_path.iterdir()) == []
    # a declared count that is not reached is an error too, and also leaves nothing
    with pytest.raises(DataFormatError, match="declared 10 frames, wrote 3"):
        with PackWriter(path) as writer:
            split = writer.create_split("train", 10, H, W)
            for rgb, depth in frames(3):
                split.append(rgb, depth)
    assert list(tmp_path.iterdir()) == []


def test_not_a_pack_errors_name_the_file(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5 at all")
    with pytest.raises(DataFormatError, match="notes.h5.*not an HDF5"):
        open_pack(text)
    with pytest.raises(DataFormatError, match="no such file"):
        open_pack(tmp_path / "missing.h5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(DataFormatError, match="other.h5.*not a depth pack"):
        open_pack(other)


def test_missing_dataset_and_wrong_dtype_or_shape(tmp_path):
    path = write_pack(tmp_path / "a.h5")
    with h5py.File(path, "r+") as f:
        del f["train/depth"]
    with pytest.raises(DataFormatError, match="a.h5.*'depth' is missing"):
        open_pack(path)
    path = write_pack(tmp_path / "b.h5")
    with h5py.File(path, "r+") as f:
        del f["train/depth"]
        f["train"].create_dataset("depth", data=np.zeros((4, H, W), np.uint16))
    with pytest.raises(DataFormatError, match="b.h5.*depth.*uint16"):
        open_pack(path)
    path = write_pack(tmp_path / "c.h5")
    with h5py.File(path, "r+") as f:
        del f["train/rgb"]
        f["train"].create_dataset("rgb", data=np.zeros((4, H, W), np.uint8))
    with pytest.raises(DataFormatError, match="c.h5.*rgb has shape"):
        open_pack(path)


def test_truncated_pack_gives_a_clear_error(tmp_path):
    path = write_pack(tmp_path / "t.h5", n=6)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="t.h5.*truncated"):
        split = open_pack(path)["train"]
        for i in range(len(split)):
            split[i]


def test_split_pickles_and_reopens(tmp_path):
    split = open_pack(write_pack(tmp_path / "p.h5"))["train"]
    first = split[0]  # opens the file in this process
    clone = pickle.loads(pickle.dumps(split))
    assert clone._h5 is None
    np.testing.assert_array_equal(clone[0]["depth"], first["depth"])


class PackTensors(torch.utils.data.Dataset):
    """The smallest Dataset over a PackSplit: tensors, no transforms."""

    def __init__(self, split):
        self.split = split

    def __len__(self):
        return len(self.split)

    def __getitem__(self, i):
        item = self.split[i]
        return {"rgb": torch.from_numpy(item["rgb"]).permute(2, 0, 1), "depth": torch.from_numpy(item["depth"])[None],
                "index": i}


def test_dataloader_with_two_workers(tmp_path):
    split = open_pack(write_pack(tmp_path / "p.h5", n=8))["train"]
    split[0]  # the parent holds an open handle before the workers fork
    loader = torch.utils.data.DataLoader(PackTensors(split), batch_size=2, num_workers=2, shuffle=False)
    seen = []
    for batch in loader:
        for j, i in enumerate(batch["index"].tolist()):
            rgb, depth = list(frames(8))[i]
            np.testing.assert_array_equal(batch["rgb"][j].permute(1, 2, 0).numpy(), rgb)
            np.testing.assert_array_equal(batch["depth"][j, 0].numpy(), depth)
            seen.append(i)
    assert sorted(seen) == list(range(8))
