"""The camera travels with the model: recorded at training, used by predict and evaluate, refused when malformed."""
import json

import numpy as np
import pytest
import torch

from course_lib.camera import (TrainingCamera, camera_from_data, checkpoint_camera, nyu_camera, predict_at_camera,
                               size_at_camera, upsample_depth)
from course_lib.checkpoint import load_model
from course_lib.cli import main
from course_lib.data import heldout_rooms
from course_lib.data.synthetic import HELDOUT_SEED_BASE, render_room
from course_lib.errors import CheckpointError, CourseError
from course_lib.evaluate import EvalProtocol, evaluate
from course_lib.geometry import nyu_intrinsics
from course_lib.models import build_model
from course_lib.predict import predict_depth

TRAIN_SIZE = (48, 64)             # tests/conftest.py: small_trained_checkpoint, trained on FLAT_ROOMS
FLAT_ROOMS = {"photo_light": 0.0, "surfaces": 0.0, "doorways": 0.0}   # renderer 1's rooms


@pytest.fixture(scope="module")
def trained(small_trained_checkpoint):
    return small_trained_checkpoint


def test_fit_records_the_camera_of_the_data(trained):
    ckpt = torch.load(trained, weights_only=True)
    assert ckpt["camera"]["image_size"] == list(TRAIN_SIZE)
    np.testing.assert_allclose(ckpt["camera"]["K"], nyu_intrinsics(*TRAIN_SIZE), rtol=1e-6)
    model = load_model(trained)
    assert model.camera == nyu_camera(TRAIN_SIZE) and model.camera_note is None


def test_two_views_of_one_room_agree_only_at_the_training_focal_length(trained):
    """The same room at 48x64 and at 96x128 (fx 52 and 104 px). Measured with this recipe: median
    |log ratio| between the two predictions 0.095 at the training focal length, 0.20 at native size."""
    model = load_model(trained)

    def disagreement(native: bool) -> float:
        errors = []
        for i in range(6):
            small = render_room(HELDOUT_SEED_BASE + i, 48, 64, **FLAT_ROOMS)
            big = render_room(HELDOUT_SEED_BASE + i, 96, 128, **FLAT_ROOMS)
            d_small = predict_depth(model, small["rgb"], small["K"], native_size=native)
            d_big = predict_depth(model, big["rgb"], big["K"], native_size=native)
            d_small = upsample_depth(torch.from_numpy(d_small)[None, None], (96, 128))[0, 0].numpy()
            errors.append(np.median(np.abs(np.log(d_big / d_small))))
        return float(np.mean(errors))

    at_camera, native = disagreement(False), disagreement(True)
    assert at_camera < 0.13, at_camera
    assert native > 1.5 * at_camera, (native, at_camera)


def test_evaluate_runs_at_the_training_focal_length_and_reports_sizes(trained):
    model = load_model(trained)
    rooms = heldout_rooms(4, size=(96, 128), **FLAT_ROOMS)
    right = evaluate(model, rooms, EvalProtocol(crop=None), progress=False)
    native = evaluate(model, rooms, EvalProtocol(crop=None), progress=False, camera=None)
    assert right.run_size == TRAIN_SIZE and right.gt_size == (96, 128)
    assert native.run_size == (96, 128)
    assert "model at 48x64, metrics at 96x128" in right.table()
    assert right.summary["abs_rel"] < native.summary["abs_rel"]


def test_size_at_camera_and_bad_focal_lengths():
    camera = nyu_camera((240, 320))
    assert size_at_camera((480, 640), nyu_intrinsics(480, 640), camera) == (240, 320)
    assert size_at_camera((120, 160), nyu_intrinsics(120, 160), camera) == (240, 320)
    for fx in (0.0, -5.0, float("nan")):
        K = nyu_intrinsics(480, 640)
        K[0, 0] = fx
        with pytest.raises(CourseError, match="must be positive"):
            size_at_camera((480, 640), K, camera)
    K = nyu_intrinsics(480, 640)
    K[0, 0] = K[1, 1] = 1e5                      # a telephoto photo shrinks to nothing at fx 259 px
    with pytest.raises(CourseError, match="smaller than 8 pixels"):
        size_at_camera((480, 640), K, camera)


def test_predict_at_camera_refuses_batches_of_mixed_focal_lengths():
    model = build_model("unet", base_channels=4, depth=2)
    K = torch.from_numpy(np.stack([nyu_intrinsics(32, 48), nyu_intrinsics(64, 96)]))
    with pytest.raises(ValueError, match="different focal lengths"):
        predict_at_camera(model, torch.zeros(2, 3, 32, 48), K, nyu_camera((32, 48)))


def test_malformed_and_missing_cameras():
    assert TrainingCamera.from_dict(nyu_camera().to_dict()) == nyu_camera()
    for bad in ({"image_size": [240]}, {"K": [[1]]}, {"image_size": [240, 320], "K": [[1, 0], [0, 1]]},
                {"image_size": [240, 320], "K": [[0, 0, 1], [0, 250, 1], [0, 0, 1]]}, "nonsense"):
        with pytest.raises(CheckpointError):
            TrainingCamera.from_dict(bad)
    camera, note = checkpoint_camera({"model": {}}, "old.pt")
    assert camera == nyu_camera((240, 320)) and "old.pt does not record the camera" in note
    assert camera_from_data(heldout_rooms(1, size=(30, 40))) == nyu_camera((30, 40))


def test_the_camera_of_augmented_training_data_is_the_unzoomed_one():
    """Random scale-crops zoom item 0 (a longer focal length); the recorded camera must not."""
    from course_lib.data import make_dataset
    from course_lib.data.cached import CachedSamples

    from course_lib.data import train_transforms

    train = make_dataset("synthetic", "train", (48, 64), length=4, transform=train_transforms((48, 64), scale=(1.0, 1.25)))
    zoomed = [train[0]["K"][0, 0].item() for _ in range(8)]
    assert max(zoomed) > nyu_camera((48, 64)).fx_px * 1.01            # the augmentation does zoom
    state = torch.get_rng_state()
    assert camera_from_data(train) == nyu_camera((48, 64))
    assert camera_from_data(CachedSamples(train)) == nyu_camera((48, 64))
    assert camera_from_data(torch.utils.data.Subset(train, [2, 3])) == nyu_camera((48, 64))
    assert torch.equal(torch.get_rng_state(), state)                  # training draws stay as they were


def _photo(path, h=48, w=64):
    from PIL import Image

    Image.fromarray(render_room(HELDOUT_SEED_BASE, h, w)["rgb"]).save(path)
    return path


def test_cli_predict_states_the_size_and_refuses_bad_cameras(trained, tmp_path, capsys):
    photo = _photo(tmp_path / "room.png", 96, 128)
    assert main(["predict", "--checkpoint", str(trained), str(photo), "--out", str(tmp_path / "a"),
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "trained at 48x64, fx 51.9 px" in out and "; model at 48x64)" in out
    assert "camera: no focal length in the photo: NYU's field of view along its long side, fx 103.8 px" in out
    assert main(["predict", "--checkpoint", str(trained), str(photo), "--out", str(tmp_path / "b"),
                 "--device", "cpu", "--native-size"]) == 0
    assert "; model at 96x128)" in capsys.readouterr().out

    for intrinsics in (["0", "500", "64", "48"], ["-3", "500", "64", "48"]):
        assert main(["predict", "--checkpoint", str(trained), str(photo), "--out", str(tmp_path / "c"),
                     "--intrinsics", *intrinsics]) == 2
        assert "must be positive" in capsys.readouterr().err
    # a photo that would be 2 pixels wide at the training focal length
    assert main(["predict", "--checkpoint", str(trained), str(photo), "--out", str(tmp_path / "d"),
                 "--device", "cpu", "--intrinsics", "5000", "5000", "64", "48"]) == 2
    err = capsys.readouterr().err
    assert "smaller than 8 pixels" in err and len([l for l in err.splitlines() if l.startswith("error:")]) == 1
    assert not list((tmp_path / "d").glob("*"))

    broken = torch.load(trained, weights_only=True)
    broken["camera"] = {"image_size": [48, 64], "K": [[-1, 0, 0], [0, 50, 0], [0, 0, 1]]}
    torch.save(broken, tmp_path / "broken.pt")
    for command in (["predict", "--checkpoint", str(tmp_path / "broken.pt"), str(photo), "--out", str(tmp_path / "e")],
                    ["evaluate", "--checkpoint", str(tmp_path / "broken.pt"), "--limit", "2", "--no-progress"],
                    ["export", "--checkpoint", str(tmp_path / "broken.pt"), "--onnx", str(tmp_path / "x.onnx")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "records a camera with focal lengths fx=-1" in err, command
    assert not (tmp_path / "x.onnx").exists()


def test_cli_evaluate_at_the_training_focal_length_and_native(trained, tmp_path, capsys):
    args = ["evaluate", "--checkpoint", str(trained), "--crop", "none", "--limit", "4", "--no-progress",
            "--image-size", "96", "128"]
    assert main([*args, "--json", str(tmp_path / "e.json")]) == 0
    assert "model at 48x64, metrics at 96x128" in capsys.readouterr().out
    saved = json.loads((tmp_path / "e.json").read_text())
    assert saved["run_size"] == [48, 64] and saved["camera"]["image_size"] == [48, 64]
    assert main([*args, "--native-size"]) == 0
    assert "model and metrics at 96x128" in capsys.readouterr().out


def test_export_records_the_camera_and_the_training_data(trained, tmp_path):
    import onnxruntime  # noqa: F401  (installed with the course: a broken one fails, not skips)
    from course_lib.export import onnx_camera

    assert main(["export", "--checkpoint", str(trained), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert onnx_camera(tmp_path / "m.onnx") == nyu_camera(TRAIN_SIZE)
    # and what the model learnt from, as the checkpoint records it
    meta = {p.key: p.value for p in __import__("onnx").load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(meta["course_lib.trained_on"]) == load_model(trained).trained_on
    assert load_model(trained).trained_on["synthetic"] is True


def test_real_frames_run_at_the_training_focal_length(trained, realdata):
    from course_lib.data.realdata import real_nyu_frames
    from course_lib.evaluate import evaluate_frames

    frames = real_nyu_frames(realdata)
    assert [f.name for f in frames] == ["official_test_1339", "basement_00000", "basement_00050", "basement_00100"]
    assert all(f.depth_m.shape == (480, 640) and 0.3 < np.median(f.depth_m[f.depth_m > 0]) < 8 for f in frames)
    model = load_model(trained)
    rows = evaluate_frames(model, frames)
    assert all(r["run_size"] == TRAIN_SIZE for r in rows)            # 480x640 at fx 519 px -> 48x64 at fx 52 px
    # each row's figures, worked out here from the prediction: delta1 and median(gt) / median(pred) over the
    # measured pixels inside the Eigen crop (rows 45:471, cols 41:601), prediction clipped to 0.001-10 m
    for frame, row in zip(frames, rows):
        pred = np.clip(predict_depth(model, frame.rgb, frame.K).astype(np.float64), 1e-3, 10.0)   # (480, 640)
        crop = np.zeros((480, 640), bool)
        crop[45:471, 41:601] = True
        valid = crop & (frame.depth_m > 1e-3) & (frame.depth_m < 10.0)
        gt, p = frame.depth_m[valid].astype(np.float64), pred[valid]
        assert row["d1"] == pytest.approx(np.mean(np.maximum(gt / p, p / gt) < 1.25), abs=1e-6), frame.name
        assert row["median_ratio"] == pytest.approx(np.median(gt) / np.median(p), rel=1e-3), frame.name
    native = evaluate_frames(model, frames[:1], native_size=True)
    assert native[0]["run_size"] == (480, 640)
