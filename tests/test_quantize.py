"""int8 post-training quantization: metrics within a stated tolerance, camera kept, bad calibration refused."""
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from course_lib.camera import nyu_camera  # noqa: E402
from course_lib.checkpoint import load_model  # noqa: E402
from course_lib.cli import main  # noqa: E402
from course_lib.errors import CourseError  # noqa: E402
from course_lib.export import export_onnx, onnx_camera  # noqa: E402
from course_lib.quantize import calibration_images, quantization_report, quantize_onnx  # noqa: E402


@pytest.fixture(scope="module")
def exported(small_trained_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("quant")
    model = load_model(small_trained_checkpoint)
    float_path = export_onnx(model, folder / "unet.onnx", sample_size=model.camera.image_size)
    return model, float_path, folder


def test_static_int8_keeps_accuracy_and_camera(exported):
    """Measured on this model: held-out delta1 moves by under 0.01 and abs_rel by under 0.005."""
    model, float_path, folder = exported
    calibration = calibration_images("synthetic", model.camera, count=16)
    assert all(c.shape == (1, 3, 48, 64) for c in calibration)
    int8_path = quantize_onnx(float_path, folder / "unet.int8.onnx", calibration)
    assert onnx_camera(int8_path) == model.camera == nyu_camera((48, 64))
    report = quantization_report(model, float_path, int8_path, heldout_count=16, runs=2)
    pt, fp, q = report.rows["pytorch"], report.rows["float32"], report.rows["int8"]
    assert fp["d1"] == pytest.approx(pt["d1"], abs=1e-4)
    assert abs(q["d1"] - fp["d1"]) < 0.03 and abs(q["abs_rel"] - fp["abs_rel"]) < 0.015, report.table()
    assert 0 < q["max_abs_diff_m"] < 5.0, report.table()       # a few far pixels move most
    assert q["size_mb"] < 0.5 * fp["size_mb"]
    assert "int8" in report.table()
    print(report.table())


def test_dynamic_int8_needs_no_calibration(exported):
    model, float_path, folder = exported
    path = quantize_onnx(float_path, folder / "dyn.onnx", mode="dynamic")
    assert onnx_camera(path) == model.camera


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
