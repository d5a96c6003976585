"""What a depth model reads from the picture: median(gt)/median(pred) under photometric changes.

    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/photometric_probe.py runs/sim_to_real_zoom1/last.pt

For each real frame in $COURSE_REALDATA (and four held-out synthetic rooms), the photo is changed
(gain, gray, gamma, contrast, blur) and run through the `predict` path (resized to the model's training
focal length). Geometry is untouched, so a model that reads depth from geometry keeps its ratio. A
ratio that moves with gain or contrast says the model reads brightness or contrast as distance.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_frames import load_frames  # noqa: E402


def variants(rgb):
    import numpy as np
    from scipy import ndimage

    f = rgb.astype(np.float32) / 255
    to8 = lambda x: (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)  # noqa: E731
    yield "as is", rgb
    for g in (0.5, 0.7, 1.4):
        yield f"gain {g}", to8(f * g)
    yield "gray", to8(f.mean(-1, keepdims=True).repeat(3, -1))
    yield "gamma 0.6", to8(f ** 0.6)
    yield "contrast 0.6", to8(0.5 + (f - f.mean()) * 0.6)
    yield "blur 3 px", ndimage.gaussian_filter(rgb, (3, 3, 0))


def main(argv=None) -> int:
    import numpy as np
    import torch

    from course_lib.checkpoint import load_model
    from course_lib.data import heldout_rooms
    from course_lib.predict import predict_photo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--realdata", default=None, help="folder of real samples (default: $COURSE_REALDATA)")
    args = parser.parse_args(argv)
    frames = load_frames(args.realdata)
    if not frames:
        return 2
    torch.set_num_threads(2)
    model = load_model(args.checkpoint).eval()
    rooms = heldout_rooms(4, (480, 640))
    items = [(f.name, f.rgb, f.K, f.depth_m) for f in frames]
    items += [(f"synthetic room {k}", s["rgb"], s["K"], s["depth"]) for k, s in enumerate(map(rooms.sample, range(4)))]
    names = [name for name, _ in variants(frames[0].rgb[:8, :8])]
    print("median(gt)/median(pred) (> 1: predicted too near)")
    print(f"{'frame':22s}" + "".join(f"{n:>13s}" for n in names))
    for name, rgb, K, gt in items:
        valid = gt > 0
        ratios = []
        for _, photo in variants(rgb):
            pred = np.asarray(predict_photo(model, photo, K)[0])
            ratios.append(np.median(gt[valid]) / np.median(pred[valid]))
        print(f"{name:22s}" + "".join(f"{r:13.2f}" for r in ratios), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
