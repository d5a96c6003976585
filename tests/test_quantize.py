"""int8 post-training quantization: metrics within a stated tolerance, camera kept, bad calibration refused."""
import numpy as np
import onnxruntime as ort       # a dependency of the course ([dev] and [export]): missing is a failure, not a skip
import pytest
import torch

from course_lib.camera import nyu_camera
from course_lib.checkpoint import load_model
from course_lib.cli import main
from course_lib.data import heldout_rooms
from course_lib.errors import CourseError
from course_lib.export import export_onnx, onnx_camera
from course_lib.models import predict
from course_lib.quantize import calibration_images, quantization_report, quantize_onnx


@pytest.fixture(scope="module")
def exported(small_trained_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("quant")
    model = load_model(small_trained_checkpoint)
    float_path = export_onnx(model, folder / "unet.onnx", sample_size=model.camera.image_size)
    return model, float_path, folder


def test_static_int8_keeps_accuracy_and_camera(exported):
    """Measured on this model (16 held-out rooms, 48x64, 2-core CPU): int8 moves delta1 by 0.010, abs_rel by
    0.003 and the worst pixel by 0.73 m (predictions 1.9-3.8 m); the float32 file stays within 3e-6 m of
    PyTorch. The bounds below are about twice those."""
    model, float_path, folder = exported
    calibration = calibration_images("synthetic", model.camera, count=16)
    assert all(c.shape == (1, 3, 48, 64) for c in calibration)
    int8_path = quantize_onnx(float_path, folder / "unet.int8.onnx", calibration)
    assert onnx_camera(int8_path) == model.camera == nyu_camera((48, 64))
    report = quantization_report(model, float_path, int8_path, heldout_count=16, runs=2)
    pt, fp, q = report.rows["pytorch"], report.rows["float32"], report.rows["int8"]
    assert fp["d1"] == pytest.approx(pt["d1"], abs=1e-4)
    assert abs(q["d1"] - fp["d1"]) < 0.02 and abs(q["abs_rel"] - fp["abs_rel"]) < 0.008, report.table()
    assert fp["max_abs_diff_m"] < 1e-4, report.table()          # the float32 file computes what PyTorch does
    assert 0.01 < q["max_abs_diff_m"] < 1.5, report.table()     # int8 really rounds; a few pixels move most
    assert q["size_mb"] < 0.5 * fp["size_mb"]
    assert "int8" in report.table()
    print(report.table())


def test_dynamic_int8_needs_no_calibration(exported):
    """The dynamic int8 file runs and predicts what the model does, to within int8 rounding.

    Measured on 16 held-out rooms: the median pixel differs from PyTorch by 0.7% (99th percentile 4.5%),
    delta1 by 0.002. A file that was not quantized would differ by 0; one that is broken, by far more.
    """
    model, float_path, folder = exported
    path = quantize_onnx(float_path, folder / "dyn.onnx", mode="dynamic")
    assert onnx_camera(path) == model.camera
    assert path.stat().st_size < 0.5 * float_path.stat().st_size          # int8 weights: about a quarter
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rooms = heldout_rooms(16, size=model.camera.image_size)
    relative = []
    for i in range(len(rooms)):
        image = rooms[i]["image"][None]                                     # (1, 3, 48, 64)
        reference = predict(model, image)                                   # (1, 1, 48, 64) metres
        out = torch.from_numpy(session.run(None, {"image": image.numpy()})[0])
        assert out.shape == reference.shape
        relative.append(((out - reference).abs() / reference).flatten())
    relative = torch.cat(relative)
    assert 1e-4 < float(relative.median()) < 0.02, float(relative.median())
    assert float(relative.quantile(0.99)) < 0.12, float(relative.quantile(0.99))


def test_a_calibration_set_without_usable_frames_is_refused(tmp_path, exported):
    from course_lib.data.pack import PackWriter

    model, float_path, _ = exported
    pack = tmp_path / "black.h5"
    with PackWriter(pack, attrs={"source": "unit test"}) as writer:
        split = writer.create_split("train", 3, 48, 64)
        for _ in range(3):                                   # black frames: a lens cap left on
            split.append(np.zeros((48, 64, 3), np.uint8), np.ones((48, 64), np.float32))
    with pytest.raises(CourseError, match="no usable frame"):
        calibration_images(pack, model.camera, count=8)
    with pytest.raises(CourseError, match="at least one frame"):
        calibration_images("synthetic", model.camera, count=0)


def test_cli_export_int8_prints_the_table(small_trained_checkpoint, tmp_path, capsys):
    assert main(["export", "--checkpoint", str(small_trained_checkpoint), "--onnx", str(tmp_path / "m.onnx"),
                 "--quantize", "int8", "--calibration-frames", "8", "--heldout-frames", "4"]) == 0
    out = capsys.readouterr().out
    assert "calibrating on 8 frames of synthetic at 48x64" in out
    assert (tmp_path / "m.int8.onnx").exists() and "ms 1 thread" in out and "int8" in out
