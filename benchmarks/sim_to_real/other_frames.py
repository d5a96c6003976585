"""Score trained models on a folder of real RGB-D frames (more NYU frames, or other sensors and datasets).

    python benchmarks/sim_to_real/other_frames.py FRAMES runs/sim_to_real_zoom1*/last.pt [--crop eigen]

FRAMES is a folder with one subfolder per frame: rgb.png (8-bit), depth.png (uint16 millimetres, 0 = no
measurement, registered to the photo) and intrinsics.npy (the photo's 3x3 camera matrix in pixels). The
course ships none; collect them from a public RGB-D dataset (NYU Depth V2, TUM RGB-D, SUN3D, iBims-1,
ScanNet, ...) and convert them to that layout. Each checkpoint runs the way `python -m course_lib
predict` runs it: the photo resized to the model's training focal length, the prediction upsampled to
the photo's size. Metrics over the measured pixels, 0.001-10 m, no crop unless `--crop eigen` (NYU's
frames, whose white border the Eigen crop removes). For each checkpoint it prints, per frame (by the
number it is listed under first), delta1 / the median-scaled delta1 (the shape alone) /
median(gt)/median(pred) (> 1: predicted too near), then the means and the mean silog (Eigen's
scale-invariant log error, lower is better), and how well the scale follows the scene: the correlation
and slope of each frame's median predicted depth against its median measured depth over the frames (1
and 1 for a model that gets every room's scale; 0 for one that predicts the same room everywhere). First
it prints the floors a model must beat on these frames, both blind to the photo: one constant depth
everywhere (the median depth of 48 training rooms), whose median-scaled delta1 is a flat wall's at each
frame's true median depth, and the average training room (the per-pixel median of 200 rooms' depth maps,
`course_lib.evaluate.MedianDepthMap`). Checkpoints whose names differ only in a trailing _seed<S> are
also averaged together, as `sim_to_real.py --seeds` does. `--pictures DIR` draws each checkpoint's
predictions beside the photos and the measured depth.

    python benchmarks/sim_to_real/other_frames.py rooms:24 runs/sim_to_real_zoom1*/last.pt

scores the same way on the first N held-out synthetic rooms rendered at a photo's size (480x640, the
NYU camera): the models' own kind of rooms through the same path, so that what the real frames show can
be set beside what the models do where nothing is foreign to them.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_frames import draw_predictions, print_floor, rooms_median_depth  # noqa: E402  (beside this file)


def heldout_frames(n: int, size=(480, 640)) -> list:
    """The first n held-out synthetic rooms as frames with exact depth, rendered at a photo's size."""
    from course_lib.data import heldout_rooms
    from course_lib.data.realdata import RealFrame

    rooms = heldout_rooms(n, size)
    return [RealFrame(f"room_{i:02d}", r["rgb"], r["depth"], r["K"]) for i, r in enumerate(map(rooms.sample, range(n)))]


def main(argv=None) -> int:
    import torch

    from course_lib.checkpoint import load_model
    from course_lib.data.realdata import real_frames_in
    from course_lib.errors import CourseError
    from course_lib.evaluate import evaluate_frames
    from course_lib.metrics import crop_mask

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", help="folder of frame folders (rgb.png, depth.png, intrinsics.npy), or rooms:N "
                                       "for the first N held-out synthetic rooms at 480x640")
    parser.add_argument("checkpoints", nargs="+", help="checkpoints (last.pt) to score")
    parser.add_argument("--crop", choices=["eigen", "dense"], default=None,
                        help="score inside this crop of NYU's frames (their white border; default: none)")
    parser.add_argument("--pictures", default=None, metavar="DIR",
                        help="also draw each checkpoint's predictions beside the photos and the measured depth, "
                             "one PNG per checkpoint in DIR")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        rooms = re.fullmatch(r"rooms:(\d+)", args.frames)
        frames = heldout_frames(int(rooms.group(1))) if rooms else real_frames_in(args.frames)
    except (CourseError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not frames:
        print(f"error: {args.frames} holds no frame folders", file=sys.stderr)
        return 2
    for number, f in enumerate(frames, 1):
        valid = f.depth_m > 0
        print(f"[{number}] {f.name}: {f.rgb.shape[0]}x{f.rgb.shape[1]}, fx {f.K[0, 0]:.1f} px, median depth "
              f"{np.median(f.depth_m[valid]):.2f} m, {valid.mean():.0%} measured")
    # each frame's median measured depth over the pixels the metrics use (0.001-10 m, inside the crop)
    true_medians = np.array([np.median(f.depth_m[(f.depth_m > 0.001) & (f.depth_m < 10)
                                                 & crop_mask(args.crop, *f.depth_m.shape)]) for f in frames])
    print_floor(frames, args.crop, rooms_median_depth())
    print("per frame [number above]: delta1 / median-scaled delta1 / median(gt)/median(pred)")
    groups: dict[str, list[tuple[float, float, float, float]]] = {}
    for path in args.checkpoints:
        try:
            model = load_model(path)
        except (CourseError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        rows = evaluate_frames(model, frames, crop=args.crop)
        mean = tuple(float(np.mean([r[k] for r in rows])) for k in ("d1", "d1_median_scaled", "median_ratio", "silog"))
        predicted = true_medians / np.array([r["median_ratio"] for r in rows])     # each frame's median prediction
        name = Path(path).parent.name
        if args.pictures:
            picture = Path(args.pictures) / f"{name}_on_{Path(args.frames).name.replace(':', '')}.png"
            draw_predictions(model, frames, rows, picture, f"{name} on {args.frames}")
            print(f"picture: {picture}")
        groups.setdefault(re.sub(r"_seed\d+$", "", name), []).append(mean)
        print(f"{name:<44} " + "  ".join(f"[{number}] {r['d1']:.2f}/{r['d1_median_scaled']:.2f}/"
                                        f"{r['median_ratio']:.2f}" for number, r in enumerate(rows, 1))
              + f"  | mean {mean[0]:.3f} / {mean[1]:.3f} / {mean[2]:.2f}, silog {mean[3]:.1f}"
              + (f"; median depth predicted vs measured: correlation {np.corrcoef(true_medians, predicted)[0, 1]:.2f}, "
                 f"slope {np.polyfit(true_medians, predicted, 1)[0]:.2f}" if len(rows) > 2 else ""))
    print("\nmean over the checkpoints of each run (its training seeds): delta1 / median-scaled / ratio / silog")
    for name, means in groups.items():
        m = np.mean(means, axis=0)
        print(f"{name:<44} {len(means)} model(s)  {m[0]:.3f} / {m[1]:.3f} / {m[2]:.2f} / {m[3]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
