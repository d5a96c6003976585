"""float32 vs int8 ONNX for trained depth networks: file size, CPU latency and held-out accuracy.

    python benchmarks/quantization.py                      # trains two small models first (a few minutes)
    python benchmarks/quantization.py --checkpoints runs/03_unet/last.pt runs/06_resnet18/last.pt

Each model is exported (course_lib.export), quantized to int8 with static calibration on 32 synthetic
training rooms (course_lib.quantize), and measured at its training size: file size, median latency per
image with onnxruntime on one thread and on all threads, and delta1 / abs_rel on 32 held-out rooms
through onnxruntime beside PyTorch's, with the largest per-pixel difference.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Without checkpoints: two architectures trained the same way (96x128 rooms, scale-invariant log loss).
RECIPES = {
    "unet_b16": dict(name="unet", base_channels=16),
    "resnet_unet_r18": dict(name="resnet_unet", encoder="resnet18", pretrained=False),
}


def train_default(name: str, steps: int):
    from course_lib.data import SyntheticRooms, heldout_rooms
    from course_lib.environment import cpu_training_amp
    from course_lib.losses import build_loss
    from course_lib.models import build_model
    from course_lib.runs import train_or_load
    from course_lib.train import TrainConfig

    size = (96, 128)
    config = TrainConfig(steps=steps, batch_size=8, lr=2e-3, schedule="onecycle", amp=cpu_training_amp(),
                         val_every=None, checkpoint_every=None, progress=False)
    run = train_or_load(f"bench_quant_{name}", lambda: build_model(**RECIPES[name]), SyntheticRooms(4000, size),
                        heldout_rooms(8, size), build_loss("silog"), config)
    return run.model, run.out_dir / "last.pt"


def main(argv=None) -> int:
    from course_lib.checkpoint import load_model
    from course_lib.export import export_onnx
    from course_lib.quantize import calibration_images, quantization_report, quantize_onnx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", nargs="*", default=None, help="trained checkpoints (default: train two)")
    parser.add_argument("--steps", type=int, default=300, help="training steps of the default models")
    parser.add_argument("--heldout", type=int, default=32)
    parser.add_argument("--mode", choices=["static", "dynamic"], default="static")
    args = parser.parse_args(argv)

    if args.checkpoints:
        models = [(Path(p).parent.name, load_model(p), Path(p)) for p in args.checkpoints]
    else:
        models = [(name, *train_default(name, args.steps)) for name in RECIPES]
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, path in models:
            float_path = export_onnx(model, Path(tmp) / f"{name}.onnx", sample_size=model.camera.image_size)
            calibration = calibration_images("synthetic", model.camera, 32) if args.mode == "static" else None
            int8_path = quantize_onnx(float_path, Path(tmp) / f"{name}.int8.onnx", calibration, mode=args.mode)
            report = quantization_report(model, float_path, int8_path, heldout_count=args.heldout)
            print(f"\n{name} ({path}), int8 {args.mode}")
            print(report.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
