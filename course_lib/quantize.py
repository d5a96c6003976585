"""int8 post-training quantization of an exported depth network, and what it costs.

    python -m course_lib export --checkpoint runs/03_unet/last.pt --onnx unet.onnx --quantize int8

Static quantization (the default) stores weights as int8 and also runs the activations in int8, with
ranges measured on a few dozen calibration frames (synthetic rooms, or a pack's training frames)
shown to the float model at its training focal length; onnxruntime inserts QuantizeLinear /
DequantizeLinear pairs (the QDQ format) around each convolution. Dynamic quantization stores the
weights as int8 and measures each activation's range on the fly: nothing to calibrate, but a
convolution network gains little from it, because onnxruntime quantizes convolutions dynamically
only through ConvInteger, which is slower than its float kernels on many CPUs.

`quantization_report` measures, for the float and the int8 file at the model's training size: file
size, CPU latency per image (one thread and all threads), and held-out delta1 / abs_rel through
onnxruntime beside PyTorch's, with the largest per-pixel difference. Introduced in lesson 10.
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import CourseError

CALIBRATION_SEED = 77          # a block of training rooms, never the held-out ones
MODES = ("static", "dynamic")


def calibration_images(data, camera, count: int = 32) -> list[np.ndarray]:
    """`count` frames as (1, 3, h, w) float32 arrays at the training focal length of `camera`.

    data: "synthetic" (training rooms, seed block CALIBRATION_SEED) or the path of a depth pack
    (its train split, else its first split). Frames that are blank (one colour) are left out; a set
    with no usable frame raises CourseError.
    """
    from .camera import resize_images, size_at_camera
    from .data import PackDataset, SyntheticRooms

    if count < 1:
        raise CourseError(f"the calibration set needs at least one frame, got --calibration-frames {count}.")
    if str(data) == "synthetic":
        dataset = SyntheticRooms(count, size=camera.image_size, seed=CALIBRATION_SEED)
    else:
        from .data.pack import open_pack

        with open_pack(data) as pack:
            splits = [s for s in pack.splits if len(pack[s])]
        if not splits:
            raise CourseError(f"the calibration pack {data} holds no frames; give a pack with a 'train' split, "
                              "or calibrate on synthetic rooms (the default).")
        dataset = PackDataset(data, "train" if "train" in splits else splits[0])   # frames at their own size
    images = []
    for i in range(min(count, len(dataset))):
        item = dataset[i]
        image = item["image"][None]                                           # (1, 3, H, W)
        blank = float(image.std(dim=(-2, -1)).max()) < 1e-6                   # one colour: nothing to calibrate on
        if blank or not torch.isfinite(image).all():
            continue
        run_size = size_at_camera(image.shape[-2:], item["K"].tolist(), camera)
        images.append(resize_images(image, run_size).numpy().astype(np.float32))
    if not images:
        raise CourseError(f"the calibration data {data} has no usable frame (all {min(count, len(dataset))} are "
                          "blank or not finite); calibrate on real frames of a pack, or on synthetic rooms.")
    return images


def _copy_metadata(source: Path, target: Path, extra: dict) -> None:
    import onnx

    src = onnx.load(str(source), load_external_data=False)
    model = onnx.load(str(target))
    have = {p.key for p in model.metadata_props}
    for prop in src.metadata_props:
        if prop.key not in have:
            model.metadata_props.add(key=prop.key, value=prop.value)
    for key, value in extra.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(target))


def quantize_onnx(float_path, out_path, calibration: list[np.ndarray] | None = None, mode: str = "static",
                  per_channel: bool = True) -> Path:
    """Write an int8 copy of the float ONNX file `float_path` to `out_path`; returns the path.

    mode "static" needs `calibration` images (see `calibration_images`); "dynamic" needs none. The
    camera and model metadata of the float file are kept. Written under a temporary name and renamed.
    """
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quant_pre_process,
                                          quantize_dynamic, quantize_static)

    if mode not in MODES:
        raise CourseError(f"quantization mode must be one of {', '.join(MODES)}, got {mode!r}.")
    float_path, out_path = Path(float_path), Path(out_path)
    if mode == "static" and not calibration:
        raise CourseError("static int8 quantization needs calibration frames; none were given.")
    tmp_pre = out_path.with_name(f".{out_path.stem}.pre.onnx")
    tmp_out = out_path.with_name(f".{out_path.stem}.tmp.onnx")

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.frames = iter(calibration or [])

        def get_next(self):
            frame = next(self.frames, None)
            return None if frame is None else {"image": frame}

    try:
        # constant folding and shape inference first, as onnxruntime recommends for quantization
        quant_pre_process(str(float_path), str(tmp_pre), skip_symbolic_shape=True)
        if mode == "static":
            quantize_static(str(tmp_pre), str(tmp_out), Frames(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel)
        else:
            quantize_dynamic(str(tmp_pre), str(tmp_out), weight_type=QuantType.QInt8, per_channel=per_channel)
        _copy_metadata(float_path, tmp_out, {"course_lib.quantization": f"int8 {mode}"
                                             + (f", {len(calibration)} calibration frames" if calibration else "")})
        os.replace(tmp_out, out_path)
    except CourseError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CourseError(f"onnxruntime could not quantize {float_path} to int8 ({mode}): {reason}; this "
                          "architecture or one of its operators cannot be quantized that way: keep the float "
                          "file, or try --quantize-mode dynamic.") from None
    finally:
        for leftover in (tmp_pre, tmp_out):
            leftover.unlink(missing_ok=True)
    return out_path


# ----------------------------------------------------------------------------- what it costs

@dataclass
class QuantizationReport:
    size_hw: tuple
    rows: dict = field(default_factory=dict)     # "pytorch" / "float32" / "int8" -> figures

    def table(self) -> str:
        h, w = self.size_hw
        lines = [f"at the training size {h}x{w}; held-out synthetic rooms, no crop, 0.001-10 m, per-image mean",
                 f"{'model':<10}{'size MB':>9}{'ms 1 thread':>13}{'ms all threads':>16}{'delta1':>8}"
                 f"{'abs_rel':>9}{'max |diff| m':>14}"]
        for name, r in self.rows.items():
            size = f"{r['size_mb']:.2f}" if r.get("size_mb") is not None else "-"
            ms1 = f"{r['ms_1_thread']:.1f}" if r.get("ms_1_thread") is not None else "-"
            msn = f"{r['ms_all_threads']:.1f}" if r.get("ms_all_threads") is not None else "-"
            diff = f"{r['max_abs_diff_m']:.3f}" if r.get("max_abs_diff_m") is not None else "-"
            lines.append(f"{name:<10}{size:>9}{ms1:>13}{msn:>16}{r['d1']:>8.3f}{r['abs_rel']:>9.3f}{diff:>14}")
        return "\n".join(lines)


def _session(path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_latency_ms(path, size_hw, threads: int | None = None, runs: int = 7) -> float:
    """Median milliseconds per (1, 3, H, W) image with onnxruntime on the CPU (one warm-up run first)."""
    session = _session(path, threads)
    image = np.random.default_rng(0).standard_normal((1, 3, *size_hw)).astype(np.float32)
    session.run(None, {"image": image})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {"image": image})
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def quantization_report(model, float_path, int8_path, heldout_count: int = 32, runs: int = 7) -> QuantizationReport:
    """Size, latency and held-out accuracy of PyTorch, the float32 file and the int8 file at the training size."""
    from .data import heldout_rooms
    from .metrics import MetricAccumulator
    from .models import predict

    size = tuple(model.camera.image_size)
    rooms = heldout_rooms(heldout_count, size=size)
    sessions = {"float32": _session(float_path, None), "int8": _session(int8_path, None)}
    accs = {name: MetricAccumulator() for name in ("pytorch", *sessions)}
    max_diff = {name: 0.0 for name in sessions}
    model = model.cpu().float().eval()
    for i in range(len(rooms)):
        item = rooms[i]
        image, gt = item["image"][None], item["depth"][None]                 # (1, 3, H, W), (1, 1, H, W)
        reference = predict(model, image)
        accs["pytorch"].update(reference, gt, item["valid"][None])
        for name, session in sessions.items():
            out = torch.from_numpy(session.run(None, {"image": image.numpy()})[0])
            accs[name].update(out, gt, item["valid"][None])
            max_diff[name] = max(max_diff[name], float((out - reference).abs().max()))
    report = QuantizationReport(size)
    report.rows["pytorch"] = {**accs["pytorch"].compute()}
    for name, path in (("float32", float_path), ("int8", int8_path)):
        report.rows[name] = {**accs[name].compute(), "size_mb": Path(path).stat().st_size / 1e6,
                             "ms_1_thread": onnx_latency_ms(path, size, threads=1, runs=runs),
                             "ms_all_threads": onnx_latency_ms(path, size, threads=None, runs=runs),
                             "max_abs_diff_m": max_diff[name]}
    return report
