"""Metric depth on the real NYU frames, at the training focal length and at the photos' own size.

    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/real_frames.py --checkpoint runs/03_unet/last.pt

For each real frame with depth (official test frame 1339 and three raw basement frames, 480x640 raw
Kinect depth, holes excluded, Eigen crop) it prints delta1, abs_rel, the median-scaled delta1 and
median(gt)/median(pred), twice: the way `predict` runs a model (resized to the focal length it was
trained for, prediction upsampled to 480x640) and with `--native-size` (the photo fed at 480x640).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


HEADER = f"{'mode':<22}{'frame':<22}{'model at':>10}{'d1':>8}{'abs_rel':>9}{'d1 med-scaled':>15}{'gt/pred':>9}"


def load_frames(folder=None) -> list:
    """The real frames with depth in `folder` (default $COURSE_REALDATA); [] with one line on stderr if none."""
    from course_lib.data.realdata import real_nyu_frames, realdata_folder

    frames = real_nyu_frames(folder)
    if not frames:
        print(f"no real frames with depth in {realdata_folder(folder)}: set COURSE_REALDATA or --realdata",
              file=sys.stderr)
    return frames


def print_rows(mode: str, rows: list[dict]) -> dict:
    """One line per frame of `evaluate_frames` rows, then their mean (returned)."""
    for r in rows:
        print(f"{mode:<22}{r['name']:<22}{'x'.join(map(str, r['run_size'])):>10}{r['d1']:>8.3f}"
              f"{r['abs_rel']:>9.3f}{r['d1_median_scaled']:>15.3f}{r['median_ratio']:>9.2f}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("d1", "abs_rel", "d1_median_scaled", "median_ratio")}
    print(f"{mode:<22}{'mean of ' + str(len(rows)):<22}{'':>10}{mean['d1']:>8.3f}{mean['abs_rel']:>9.3f}"
          f"{mean['d1_median_scaled']:>15.3f}{mean['median_ratio']:>9.2f}")
    return mean


def training_rooms(n: int, size=(96, 128)):
    """The first n synthetic training rooms of the recipe's size, without augmentation."""
    from course_lib.data import make_dataset

    return make_dataset("synthetic", "train", size, length=n, augment=False)


def rooms_median_depth(size=(96, 128), n: int = 48) -> float:
    """The median depth over every pixel of n synthetic training rooms (lesson 08's floor): the one depth
    a model that never looks at the photo would guess, knowing only the rooms it was trained on."""
    from course_lib.evaluate import median_depth

    return median_depth(training_rooms(n, size), n)


def print_floor(frames, crop, depth_m: float) -> None:
    """Two lines: the floors on `frames`, one constant depth (`evaluate_constant`) and the average training
    room (`MedianDepthMap` of 200 rooms)."""
    from course_lib.evaluate import MedianDepthMap, evaluate_constant, evaluate_frames

    keys = ("d1", "d1_median_scaled", "median_ratio", "silog")
    rows = evaluate_constant(depth_m, frames, crop=crop)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    print(f"the floor on these {len(rows)} frames: a constant {depth_m:.2f} m (the training rooms' median depth) scores "
          f"delta1 {mean['d1']:.3f}, silog {mean['silog']:.1f}; a flat wall at each frame's true median scores "
          f"median-scaled delta1 {mean['d1_median_scaled']:.3f}")
    average = evaluate_frames(MedianDepthMap.of(training_rooms(200)), frames, crop=crop)
    a = {k: float(np.mean([r[k] for r in average])) for k in keys}
    print(f"  and the average training room (the per-pixel median of 200 rooms' depth, the same map for every "
          f"photo): delta1 {a['d1']:.3f}, median-scaled {a['d1_median_scaled']:.3f}, silog {a['silog']:.1f}")


def draw_predictions(model, frames, rows, path, title: str) -> None:
    """Photo, measured depth and prediction of each frame (`evaluate_frames` rows: its scores), two frames
    side by side, one colour scale per frame, saved to `path` (sim_to_real.py and other_frames.py)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.predict import predict_photo
    from course_lib.viz import colorize_depth

    cols = 3 * min(2, len(frames))                       # two frames side by side
    nrows = (len(frames) + 1) // 2 if len(frames) > 1 else 1
    fig, axes = plt.subplots(nrows, cols, figsize=(2.4 * cols, 1.9 * nrows), squeeze=False)
    for k, (frame, r) in enumerate(zip(frames, rows)):
        pred, _ = predict_photo(model, frame.rgb, frame.K)
        vmax = float(np.percentile(frame.depth_m[frame.depth_m > 0], 99))
        cells = axes[k // 2, 3 * (k % 2):3 * (k % 2) + 3]
        for ax, image, label in zip(cells, (frame.rgb, colorize_depth(frame.depth_m, vmax=vmax),
                                            colorize_depth(np.asarray(pred), vmax=vmax)),
                                    (frame.name[:28], f"measured, median {np.median(frame.depth_m[frame.depth_m > 0]):.2f} m",
                                     f"d1 {r['d1']:.2f}, shape {r['d1_median_scaled']:.2f}, gt/pred {r['median_ratio']:.2f}")):
            ax.imshow(image)
            ax.set_title(label, fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title + " (black: not measured; one colour scale per frame)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))    # room for the title
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)


def main(argv=None) -> int:
    from course_lib.checkpoint import load_model
    from course_lib.evaluate import evaluate_frames

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--realdata", default=None, help="folder of real samples (default: $COURSE_REALDATA)")
    args = parser.parse_args(argv)
    frames = load_frames(args.realdata)
    if not frames:
        return 2
    model = load_model(args.checkpoint)
    print(f"{args.checkpoint}: trained at {model.camera.describe()}; {len(frames)} real frames, 480x640 raw "
          "Kinect depth (holes excluded), eigen crop, 0.001-10 m, per-image mean")
    print(HEADER)
    print("-" * len(HEADER))
    for native in (False, True):
        print_rows("--native-size" if native else "training focal length",
                   evaluate_frames(model, frames, native_size=native))
    return 0


if __name__ == "__main__":
    sys.exit(main())
