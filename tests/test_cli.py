"""python -m course_lib train / evaluate / predict / export, end to end on tiny settings."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.checkpoint import load_checkpoint
from course_lib.cli import build_parser, main
from course_lib.errors import CheckpointError
from course_lib.models import build_model

TINY = ["--model", "unet", "--model-option", "base_channels=8", "--model-option", "depth=3", "--data", "synthetic",
        "--image-size", "32", "48", "--train-size", "16", "--val-size", "4", "--batch-size", "4", "--val-every", "2",
        "--log-every", "1", "--checkpoint-every", "2", "--num-workers", "0", "--no-progress", "--device", "cpu"]


def _error_lines(capsys):
    err = capsys.readouterr().err
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *TINY, "--steps", "4", "--loss", "l1=1,grad_l1=0.5", "--out", str(out)]) == 0
    return out


def test_train_writes_checkpoints_and_log(run_dir):
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert ckpt["step"] == 4 and ckpt["model_config"]["name"] == "unet"
    assert (run_dir / "best.pt").exists() and (run_dir / "log.csv").exists()
    assert "val_abs_rel" in ckpt["metrics"] and "grad_l1" in ckpt["history"]
    assert ckpt["config"]["amp"] == "auto" and ckpt["config"]["channels_last"] == "auto"   # the library's choice


def test_precision_and_layout_flags():
    train = ["train", "--out", "runs/x"]
    parse = build_parser().parse_args
    assert parse(train).amp == "auto" and parse(train).channels_last == "auto"
    assert parse(train + ["--channels-last"]).channels_last == "on"          # the flag alone, as before
    assert parse(train + ["--channels-last", "off", "--amp", "bf16"]).channels_last == "off"


def test_fresh_run_into_a_used_folder_is_refused_then_resumed(run_dir, tmp_path, capsys):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(run_dir, out)
    before = (out / "last.pt").read_bytes()
    assert main(["train", *TINY, "--steps", "6", "--out", str(out)]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "--resume" in lines[0] and "step 4" in lines[0]
    assert (out / "last.pt").read_bytes() == before               # untouched

    assert main(["train", *TINY, "--steps", "6", "--out", str(out), "--resume"]) == 0
    assert load_checkpoint(out / "last.pt")["step"] == 6

    # a checkpoint of another architecture: one sentence naming both
    assert main(["train", "--model", "resnet_unet", "--encoder", "resnet18", *TINY[6:], "--steps", "8",
                 "--out", str(out), "--resume"]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "unet(" in lines[0] and "resnet_unet(" in lines[0]

    assert main(["train", *TINY, "--steps", "2", "--out", str(out), "--overwrite"]) == 0
    assert load_checkpoint(out / "last.pt")["step"] == 2


def test_load_checkpoint_names_both_architectures(run_dir):
    other = build_model("unet", base_channels=16, depth=3)
    with pytest.raises(CheckpointError, match=r"holds unet\(base_channels=8.*but the model is unet\(base_channels=16"):
        load_checkpoint(run_dir / "last.pt", other)


def test_evaluate_prints_the_protocol_and_writes_json(run_dir, tmp_path, capsys):
    out_json = tmp_path / "eval" / "metrics.json"
    assert main(["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--data", "synthetic", "--crop", "none",
                 "--image-size", "32", "48", "--limit", "4", "--device", "cpu", "--no-progress",
                 "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "abs_rel" in printed and "no crop" in printed and "filled GT" in printed
    saved = json.loads(out_json.read_text())
    assert saved["num_images"] == 4 and 0 < saved["summary"]["abs_rel"] < 10
    assert saved["trained_on"]["synthetic"] is True                 # what the model learnt from


def test_unusable_checkpoints_and_arguments_give_one_line(tmp_path, capsys):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    assert main(["evaluate", "--checkpoint", str(garbage)]) == 2
    assert len(_error_lines(capsys)) == 1
    assert main(["predict", "--checkpoint", str(tmp_path / "missing.pt"), "x.png", "--out", str(tmp_path)]) == 2
    assert "does not exist" in _error_lines(capsys)[0]
    for bad in (["--loss", "l1=heavy"], ["--data", str(tmp_path / "no_such_pack.h5")], ["--model", "transformer"]):
        assert main(["train", *TINY, "--steps", "1", "--out", str(tmp_path / "bad"), *bad]) == 2, bad
        assert len(_error_lines(capsys)) == 1
    assert not (tmp_path / "bad" / "last.pt").exists()


def _write_photos(folder: Path) -> list[Path]:
    folder.mkdir()
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "colour.png")
    Image.fromarray(rgb[..., 1]).save(folder / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((30, 40), 128, np.uint8)])).save(folder / "alpha.png")
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(folder / "sixteen.png")
    exif = Image.Exif()
    exif[0x0112] = 8                                            # rotate 90 degrees counter-clockwise to show
    Image.fromarray(rgb).save(folder / "rotated.jpg", exif=exif.tobytes())
    Image.fromarray(rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)).save(folder / "odd.png")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    return sorted(folder.iterdir())


def test_predict_writes_every_photo_and_reports_the_corrupt_one(run_dir, tmp_path, capsys):
    photos = _write_photos(tmp_path / "photos")
    out = tmp_path / "depth"
    code = main(["predict", "--checkpoint", str(run_dir / "last.pt"), str(tmp_path / "photos"), "--out", str(out),
                 "--npy", "--ply", "--device", "cpu"])
    assert code == 2                                            # not every file succeeded
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "corrupt.jpg: not a readable image" in lines[0]
    good = [p.stem for p in photos if p.stem != "corrupt"]
    for stem in good:
        for suffix in ("_depth.png", "_depth16.png", "_depth.npy", ".ply"):
            assert (out / f"{stem}{suffix}").exists(), stem + suffix
    assert not list(out.glob("corrupt*"))
    assert np.load(out / "rotated_depth.npy").shape == (40, 30)  # upright: portrait
    assert np.load(out / "odd_depth.npy").shape == (33, 47)

    # all readable: exit 0
    assert main(["predict", "--checkpoint", str(run_dir / "last.pt"), str(photos[0]), "--out", str(out),
                 "--device", "cpu"]) == 0


def test_predict_says_when_the_model_never_saw_a_photo(run_dir, tmp_path, capsys):
    """A model trained on the synthetic rooms alone: its checkpoint says so, and predict says what that means."""
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert ckpt["trained_on"]["synthetic"] is True and "SyntheticRooms(" in ckpt["trained_on"]["description"]
    photo = tmp_path / "room.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photo)
    assert main(["predict", "--checkpoint", str(run_dir / "last.pt"), str(photo), "--out", str(tmp_path / "a"),
                 "--device", "cpu"]) == 0
    assert "synthetic rooms only" in capsys.readouterr().out

    for record in ({"description": "PackDataset('nyu.h5', split='train')", "synthetic": False}, None):
        ckpt["trained_on"] = record                               # trained on photos; an older checkpoint
        torch.save(ckpt, tmp_path / "other.pt")
        assert main(["predict", "--checkpoint", str(tmp_path / "other.pt"), str(photo), "--out",
                     str(tmp_path / "b"), "--device", "cpu"]) == 0
        assert "synthetic rooms only" not in capsys.readouterr().out


def test_predict_on_real_nyu_photos(run_dir, tmp_path, realdata):
    photos = sorted((realdata / "nyu_test_photos").glob("*"))[:2]
    assert main(["predict", "--checkpoint", str(run_dir / "last.pt"), *map(str, photos), "--out", str(tmp_path),
                 "--max-size", "160", "--ply", "--device", "cpu"]) == 0
    for photo in photos:
        mm = np.asarray(Image.open(tmp_path / f"{photo.stem}_depth16.png"))
        assert max(mm.shape) == 160 and mm.min() > 0


def test_export_checks_parity(run_dir, tmp_path, capsys):
    import onnxruntime  # noqa: F401  (installed with the course: a broken one fails, not skips)
    target = tmp_path / "model.onnx"
    assert main(["export", "--checkpoint", str(run_dir / "last.pt"), "--onnx", str(target),
                 "--height", "32", "--width", "48"]) == 0
    printed = capsys.readouterr().out
    assert target.exists() and printed.count("max relative error") == 2
    figures = [float(line.split("max relative error ")[1].split(",")[0]) for line in printed.splitlines()
               if "max relative error" in line]
    assert max(figures) <= 1e-4


def test_cli_runs_as_a_module(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "course_lib", "evaluate", "--checkpoint", str(tmp_path / "none.pt")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "does not exist" in done.stderr


def test_pack_without_val_split_validates_on_held_out_training_frames(tmp_path, capsys):
    """NYU's official split has no 'val': the best checkpoint must not be chosen on the test set."""
    from data_prep.synthetic import convert_synthetic

    pack = convert_synthetic(20, (32, 48), tmp_path / "train_only.h5", show_progress=False)
    args = [a if a != "synthetic" else str(pack) for a in TINY]
    assert main(["train", *args, "--steps", "2", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "no 'val' split; validating on its last training frame(s) (1)" in out
    assert "val_abs_rel" in load_checkpoint(tmp_path / "run" / "last.pt")["metrics"]
