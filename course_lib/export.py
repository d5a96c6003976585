"""ONNX export of a depth network, with dynamic height and width, checked against PyTorch.

The exported graph takes (B, 3, H, W) ImageNet-normalised float32 images of any size and returns
(B, 1, H, W) depth in metres at the input size (the model's stride-s output is upsampled inside the
graph, as `course_lib.models.predict` does). onnxruntime then runs it without PyTorch.

Introduced in lesson 10 (deployment); the CLI's `export` command calls it.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .errors import CourseError
from .models.encoders import encoder_weights


class DepthAtInputSize(torch.nn.Module):
    """Wraps a depth model so that it returns depth at the input size: (B, 3, H, W) -> (B, 1, H, W)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.output_stride = int(getattr(model, "output_stride", 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        from .models.blocks import upsample_to_input

        depth = self.model(image)                                              # (B, 1, H/s, W/s)
        if self.output_stride == 1:
            return depth
        return upsample_to_input(depth, image.shape[-2:], self.output_stride)  # (B, 1, H, W)


def _export_dynamo(module, sample, path: Path) -> None:
    from torch.export import Dim

    dynamic = {"image": {0: Dim("batch", min=1, max=1024), 2: Dim("height", min=8, max=8192),
                         3: Dim("width", min=8, max=8192)}}
    program = torch.onnx.export(module, (sample,), dynamo=True, dynamic_shapes=dynamic, input_names=["image"],
                                output_names=["depth"], verbose=False)
    program.save(str(path))


def _export_torchscript(module, sample, path: Path) -> None:
    axes = {0: "batch", 2: "height", 3: "width"}
    torch.onnx.export(module, (sample,), str(path), dynamo=False, input_names=["image"], output_names=["depth"],
                      dynamic_axes={"image": axes, "depth": axes}, opset_version=17)


def export_onnx(model: torch.nn.Module, path: str | os.PathLike, sample_size: tuple[int, int] = (240, 320),
                check_sizes=None, rtol: float = 1e-4, camera=None) -> Path:
    """Write `model` as ONNX to `path` (dynamic batch, height and width); returns the path.

    Tries the torch.export-based exporter first and falls back to the TorchScript exporter. With
    check_sizes [(H, W), ...], every exporter's file must match PyTorch within `rtol` at those sizes
    before it is accepted. The file is written under a temporary name and renamed, so a failed
    export leaves nothing behind. The metadata records the camera the model expects
    (`course_lib.camera`: image size and K; default `model.camera`): resize inputs to its focal length;
    and, for a model `load_model` read, what it learnt from (`course_lib.trained_on`, `model.trained_on`);
    for a model with an encoder, where its weights started from (`course_lib.encoder_weights`).
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = DepthAtInputSize(model).cpu().float().eval()
    # Trace at an odd size: the models skip padding when H and W already divide their stride, and a
    # graph traced through that shortcut would only work at such sizes. At an odd size it pads.
    h, w = (int(s) | 1 for s in sample_size)
    sample = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    tmp = path.with_name(f".{path.stem}.tmp.onnx")
    errors = []
    for name, exporter in (("dynamo", _export_dynamo), ("torchscript", _export_torchscript)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exporter(module, sample, tmp)
            proto = onnx.load(str(tmp))
            onnx.checker.check_model(proto)
            config = getattr(model, "config", None)
            cam = camera if camera is not None else getattr(model, "camera", None)
            meta = {"course_lib.exporter": name, "course_lib.output": "depth in metres at the input size",
                    "course_lib.model_config": json.dumps(config, default=str) if config is not None else ""}
            trained_on = getattr(model, "trained_on", None)      # what it learnt from (load_model sets it)
            if isinstance(trained_on, dict):
                meta["course_lib.trained_on"] = json.dumps(trained_on)
            weights_source = encoder_weights(model)             # where its encoder's weights started from
            if weights_source is not None:
                meta["course_lib.encoder_weights"] = weights_source
            if cam is not None:
                meta["course_lib.camera"] = json.dumps(cam.to_dict())
                meta["course_lib.input"] = (f"ImageNet-normalised RGB resized so that fx = {cam.fx_px:.2f} px "
                                            f"(trained at {cam.image_size[0]}x{cam.image_size[1]})")
            for key, value in meta.items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = key, value
            onnx.save(proto, str(tmp))
            if check_sizes:
                parity = check_onnx_parity(model, tmp, check_sizes)
                worst = max(v["max_rel_error"] for v in parity.values())
                if not worst <= rtol:
                    raise ValueError(f"relative error {worst:.2e} > {rtol:g} at sizes {list(parity)}")
            os.replace(tmp, path)
            return path
        except Exception as exc:  # try the next exporter; report all if none works
            errors.append(f"{name}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + ".data")):
                if leftover.exists():
                    leftover.unlink()
    raise CourseError(f"could not export {type(model).__name__} to ONNX ({'; '.join(errors)[:400]}); "
                      "check that the model runs on the CPU in float32.")


def onnx_exporter_name(path: str | os.PathLike) -> str:
    """Which exporter wrote a file of export_onnx ("dynamo" or "torchscript")."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}.get("course_lib.exporter", "unknown")


@torch.no_grad()
def check_onnx_parity(model: torch.nn.Module, path: str | os.PathLike, sizes) -> dict:
    """Run the ONNX file with onnxruntime and PyTorch on the same random images at each (H, W).

    Returns {(H, W): {"max_abs_error": metres, "max_rel_error": max |onnx - torch| / |torch|}}.
    """
    import onnxruntime as ort
    from .models import predict

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    reference_model = model.cpu().float().eval()
    results = {}
    for i, (h, w) in enumerate(sizes):
        image = torch.randn(1, 3, int(h), int(w), generator=torch.Generator().manual_seed(100 + i))
        expected = predict(reference_model, image).numpy().astype(np.float64)     # (1, 1, H, W)
        got = session.run(None, {input_name: image.numpy()})[0].astype(np.float64)
        if got.shape != expected.shape:
            raise CourseError(f"the ONNX file {path} returned shape {got.shape} at {h}x{w}, PyTorch {expected.shape}; "
                              "its height and width are not dynamic.")
        diff = np.abs(got - expected)
        results[(int(h), int(w))] = {"max_abs_error": float(diff.max()),
                                     "max_rel_error": float((diff / np.maximum(np.abs(expected), 1e-6)).max())}
    return results


def onnx_camera(path: str | os.PathLike):
    """The TrainingCamera recorded in an exported file's metadata (None when it records none)."""
    import onnx

    from .camera import TrainingCamera

    proto = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in proto.metadata_props}
    if "course_lib.camera" not in meta:
        return None
    return TrainingCamera.from_dict(json.loads(meta["course_lib.camera"]), f"ONNX file {path}")
