"""Print a markdown table of every model's size at 480x640: parameters, GFLOPs, activation memory.

    python benchmarks/model_table.py [--height 480 --width 640 --batch-size 1]

Measured with course_lib.models.model_summary on the meta device (shapes only: no weights are
downloaded and no arithmetic is done, so the table takes seconds on a laptop). GFLOPs = 2 x MACs of
the conv, transposed-conv and linear layers; activation memory = bytes of every leaf module's
forward output in float32 at batch 1, roughly what a training step keeps for the backward pass.
"""
from __future__ import annotations

import argparse

from course_lib.models import build_model, model_summary

ROWS = [
    ("unet", "unet", {}),
    ("unet-bilinear", "unet", {"up": "bilinear"}),
    ("resnet_unet-resnet18", "resnet_unet", {"encoder": "resnet18"}),
    ("resnet_unet-resnet34", "resnet_unet", {"encoder": "resnet34"}),
    ("resnet_unet-resnet50", "resnet_unet", {"encoder": "resnet50"}),
    ("resnet_unet-resnet101", "resnet_unet", {"encoder": "resnet101"}),
    ("resnet_unet-efficientnet_lite0", "resnet_unet", {"encoder": "efficientnet_lite0"}),
    ("fpn-resnet50", "fpn", {"encoder": "resnet50"}),
    ("fpn-resnet101", "fpn", {"encoder": "resnet101"}),
    ("fpn-efficientnet_lite0", "fpn", {"encoder": "efficientnet_lite0"}),
    ("eigen", "eigen", {}),
    ("densedepth-densenet121", "densedepth", {"encoder": "densenet121"}),
    ("densedepth-densenet161", "densedepth", {"encoder": "densenet161"}),
    ("densedepth-densenet169", "densedepth", {"encoder": "densenet169"}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    print("| model | output stride | output | parameters (M) | GFLOPs | activations (MiB) |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for label, name, options in ROWS:
        model = build_model(name, **options)
        s = model_summary(model, (args.height, args.width), args.batch_size)
        out = "x".join(map(str, s.output_shape[-2:]))
        print(f"| {label} | {model.output_stride} | {out} | {s.params / 1e6:.1f} | {s.gflops:.1f} | "
              f"{s.activation_mib:.0f} |", flush=True)
    print(f"\n{args.batch_size} x 3 x {args.height} x {args.width} input; GFLOPs = 2 x MACs (conv, "
          f"transposed conv, linear); activations = float32 leaf-module outputs (course_lib.models.summary).")


if __name__ == "__main__":
    main()
