"""Checkpoints that are not quite the course's, and `predict` inputs that are easy to get wrong.

A bare state dict, a checkpoint without model_config, EMA weights asked for but not kept; two photos of
the same stem, --out naming a file, an empty folder. Each meets one sentence or the right files.
"""
import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.checkpoint import load_checkpoint, load_model, save_checkpoint
from course_lib.cli import main
from course_lib.data import SyntheticRooms
from course_lib.errors import CheckpointError
from course_lib.models import build_model
from course_lib.train import TrainConfig, fit


def small_unet():
    torch.manual_seed(0)
    return build_model("unet", base_channels=4, depth=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """last.pt of a 2-step run without an EMA on 24x32 rooms (a course checkpoint: model_config, NYU's camera)."""
    out = tmp_path_factory.mktemp("ckpt")
    fit(small_unet(), SyntheticRooms(8, size=(24, 32), seed=5), None, None,
        TrainConfig(steps=2, batch_size=4, val_every=None, progress=False, out_dir=str(out), device="cpu"))
    return out / "last.pt"


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def _photo(path, seed=0, size=(24, 32)):
    rgb = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


# ----------------------------------------------------------------------------------------- checkpoints


def test_a_bare_state_dict_is_not_taken_for_a_checkpoint(tmp_path, capsys):
    bare = tmp_path / "weights.pth"
    torch.save(small_unet().state_dict(), bare)                  # what torch.save(model.state_dict()) writes
    for load in (load_checkpoint, load_model):
        with pytest.raises(CheckpointError, match=r"weights.pth is not a course checkpoint .*'model' state dict"):
            load(bare)
    assert main(["predict", "--checkpoint", str(bare), str(_photo(tmp_path / "p.png")), "--out",
                 str(tmp_path / "out"), "--device", "cpu"]) == 2
    assert "is not a course checkpoint" in _one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_without_model_config_loads_into_a_model_built_by_hand(trained, tmp_path):
    ckpt = torch.load(trained, weights_only=True)
    del ckpt["model_config"]
    save_checkpoint(tmp_path / "anonymous.pt", ckpt)
    with pytest.raises(CheckpointError, match="does not say which model it holds .*load_checkpoint"):
        load_model(tmp_path / "anonymous.pt")
    model = build_model("unet", base_channels=4, depth=2)
    load_checkpoint(tmp_path / "anonymous.pt", model)
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt["model"][key]), key
    # and into the wrong architecture: one sentence naming what is missing
    with pytest.raises(CheckpointError, match="an unknown architecture .* but the model is unet"):
        load_checkpoint(tmp_path / "anonymous.pt", build_model("unet", base_channels=8, depth=2))


def test_ema_weights_asked_for_but_not_kept(trained):
    ckpt = load_checkpoint(trained)
    assert "ema" not in ckpt
    with pytest.raises(CheckpointError, match=r"has no 'ema' weights; use weights='model'"):
        load_model(trained, weights="ema")
    with pytest.raises(CheckpointError, match=r"has no 'ema' weights; use weights='model'"):
        load_checkpoint(trained, build_model(**ckpt["model_config"]), weights="ema")   # not the trained weights instead
    # "best" falls back to the trained weights when the run kept no average
    best = load_model(trained)
    for key, value in best.state_dict().items():
        assert torch.equal(value, ckpt["model"][key]), key


# ----------------------------------------------------------------------------------------- predict's inputs


def test_photos_that_share_a_stem_get_files_of_their_own(trained, tmp_path, capsys):
    """a/room.png, b/room.png, c/room_1.png and room.jpg: four photos, four sets of files, none overwritten."""
    photos = [_photo(tmp_path / "a" / "room.png", 1), _photo(tmp_path / "b" / "room.png", 2),
              _photo(tmp_path / "c" / "room_1.png", 3), _photo(tmp_path / "d" / "room.jpg", 4)]
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(trained), *map(str, photos), "--out", str(out), "--npy",
                 "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "4 of 4 images written" in printed
    depth_files = sorted(p.name for p in out.glob("*_depth.npy"))
    assert len(depth_files) == 4, depth_files
    # each file holds its own photo's depth: no two are the same array
    maps = [np.load(out / name) for name in depth_files]
    assert all(not np.array_equal(maps[i], maps[j]) for i in range(4) for j in range(i + 1, 4))
    # and each photo's line names the files written for it
    for photo in photos:
        line = next(line for line in printed.splitlines() if line.startswith(str(photo)))
        assert "_depth.png" in line


def test_out_naming_a_file_is_refused_and_the_file_left_alone(trained, tmp_path, capsys):
    target = tmp_path / "depth.png"
    target.write_bytes(b"not a folder")
    assert main(["predict", "--checkpoint", str(trained), str(_photo(tmp_path / "p.png")), "--out", str(target),
                 "--device", "cpu"]) == 2
    assert "--out" in _one_error_line(capsys) and target.read_bytes() == b"not a folder"


def test_an_empty_folder_is_one_sentence(trained, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no photos here")
    assert main(["predict", "--checkpoint", str(trained), str(tmp_path / "empty"), "--out", str(tmp_path / "out"),
                 "--device", "cpu"]) == 2
    assert "no image files found in" in _one_error_line(capsys)
    assert not (tmp_path / "out").exists()
