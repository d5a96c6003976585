"""Do the gradient and normal terms sharpen a decent model's depth edges? (lesson 05; benchmarks/RESULTS.md)

Fine-tunes one trained model with each loss for the same steps and prints, on the course's held-out rooms,
delta1, edge F1 on ln-depth edges at thresholds 0.05 and 0.1 (with precision and recall at 0.1), Hu et al.
2019's own edge F1 (Sobel of metric depth above 0.25 / 0.5 / 1, exact pixels), edge sharpness and the
normal error.

    python benchmarks/loss_edges.py notebooks/runs/03_unet/last.pt --steps 150 --lr 3e-4 \\
        --losses "mse;mse=1,grad=1,normal=1;mse=1,grad_l1=1,normal=1"
"""
import argparse
import time

import numpy as np
import torch

from course_lib import seed_everything
from course_lib.checkpoint import load_model
from course_lib.data import make_dataset
from course_lib.data.cached import CachedSamples
from course_lib.losses import build_loss, sobel_gradients
from course_lib.metrics import depth_metrics
from course_lib.models import predict
from course_lib.runs import course_heldout
from course_lib.structure_metrics import edge_f1, edge_sharpness, normal_angle_error
from course_lib.train import TrainConfig, fit


def hu_edge_f1(pred, gt, threshold):
    """Hu et al. 2019: edges where the Sobel magnitude of metric depth exceeds `threshold`, matched exactly."""
    def edges(d):
        dx, dy, _ = sobel_gradients(d)
        return torch.sqrt(dx ** 2 + dy ** 2) > threshold
    pe, ge = edges(pred), edges(gt)
    hits = (pe & ge).flatten(1).sum(1).float()
    precision = hits / pe.flatten(1).sum(1).clamp(min=1)
    recall = hits / ge.flatten(1).sum(1).clamp(min=1)
    return float((2 * precision * recall / (precision + recall).clamp(min=1e-12)).mean())


def report(name, model, images, gts):
    p = predict(model, images)
    d1 = depth_metrics(p, gts)["d1"]                        # per-image mean, 0.001-10 m, no crop
    strict = edge_f1(p, gts, threshold=0.1)
    print(f"{name:32s} delta1 {d1:.3f}  F1@0.05 {float(edge_f1(p, gts, threshold=0.05)['f1'].mean()):.3f}  "
          f"F1@0.1 {float(strict['f1'].mean()):.3f} (P {float(strict['precision'].mean()):.2f} "
          f"R {float(strict['recall'].mean()):.2f})  Hu " + " / ".join(f"{hu_edge_f1(p, gts, t):.3f}" for t in (0.25, 0.5, 1.0))
          + f"  sharpness {float(np.nanmean(edge_sharpness(p, gts, 0.1))):.2f}"
          f"  normal {float(np.nanmean(normal_angle_error(p, gts))):.1f} deg", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="the trained model to start from (a last.pt)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--rooms", type=int, default=400, help="training rooms at 96x128")
    parser.add_argument("--losses", default="mse;mse=1,grad=1,normal=1;hu", help="build_loss specs, ';'-separated")
    args = parser.parse_args()
    test = course_heldout()
    images = torch.stack([test[i]["image"] for i in range(len(test))])
    gts = torch.stack([test[i]["depth"] for i in range(len(test))])
    train = CachedSamples(make_dataset("synthetic", "train", (96, 128), length=args.rooms))
    report("start", load_model(args.checkpoint, weights="model"), images, gts)
    for spec in args.losses.split(";"):
        seed_everything(0)
        model = load_model(args.checkpoint, weights="model")
        start = time.perf_counter()
        fit(model, train, None, build_loss(spec), TrainConfig(steps=args.steps, batch_size=8, lr=args.lr, warmup_steps=10,
                                                               val_every=None, progress=False, seed=0, encoder_lr_scale=0.1))
        model = model.to(memory_format=torch.contiguous_format).eval()
        report(f"{spec} ({time.perf_counter() - start:.0f} s)", model, images, gts)


if __name__ == "__main__":
    main()
