"""How busy and how bright the pictures are, near and far: real NYU photos against the synthetic rooms.

    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/image_detail.py
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/image_detail.py --size 96 128 --rooms 40

Detail is the mean absolute Laplacian of the gray image (0..1) at the size the course's CPU recipe
trains at: each real photo loses its black border and is resized with LANCZOS (as `predict` resizes a
photo), each room is rendered at that size; one more row renders the default rooms at 240x320 and shrinks
them the same way (`benchmarks/sim_to_real/sim_to_real.py --render-size 240 320` trains on such rooms). For the images
with depth it is also split by depth into the nearest and the farthest third of the pixels, and the mean
gray level of those thirds is printed beside it. A network trained on rooms whose detail or light sits in one place can learn "busy means
near" or "dark means near"; benchmarks/sim_to_real/photometric_probe.py tests that on a trained model.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

BORDER = 8   # pixels of NYU's black frame around the 640x480 photos


def laplacian(gray: np.ndarray) -> np.ndarray:
    """|4 g - (its four neighbours)| on the interior pixels, (H-2, W-2)."""
    return np.abs(4 * gray[1:-1, 1:-1] - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:])


def detail(rgb: np.ndarray, depth: np.ndarray | None = None) -> tuple[float, ...]:
    """The mean absolute Laplacian over the image, in the nearest and in the farthest third of the pixels,
    then the mean gray level of those two thirds; nan where there is no depth."""
    gray = rgb.astype(np.float32).mean(-1) / 255
    lap = laplacian(gray)
    if depth is None:
        return (float(lap.mean()),) + (float("nan"),) * 4
    d, gray = depth[1:-1, 1:-1], gray[1:-1, 1:-1]
    valid = d > 0
    near, far = np.quantile(d[valid], [1 / 3, 2 / 3])
    near, far = valid & (d <= near), valid & (d > far)
    return (float(lap.mean()), float(lap[near].mean()), float(lap[far].mean()), float(gray[near].mean()),
            float(gray[far].mean()))


def _photo(rgb: np.ndarray, size) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    image = Image.fromarray(rgb[BORDER:h - BORDER, BORDER:w - BORDER])
    return np.asarray(image.resize((size[1], size[0]), Image.Resampling.LANCZOS))


def _depth(depth_m: np.ndarray, size) -> np.ndarray:
    from PIL import Image

    h, w = depth_m.shape
    image = Image.fromarray(depth_m[BORDER:h - BORDER, BORDER:w - BORDER].astype(np.float32))
    return np.asarray(image.resize((size[1], size[0]), Image.Resampling.NEAREST))   # no mixing across edges


def main(argv=None) -> int:
    from course_lib.data.files import read_rgb
    from course_lib.data.realdata import real_nyu_frames, real_nyu_photos
    from course_lib.data.synthetic import render_room

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    parser.add_argument("--rooms", type=int, default=40, help="synthetic rooms per kind (scene seeds 0..N-1)")
    parser.add_argument("--realdata", default=None, help="folder of real samples (default: $COURSE_REALDATA)")
    args = parser.parse_args(argv)
    size = tuple(args.size)

    rows = []
    frames = real_nyu_frames(args.realdata)
    photos = [_photo(read_rgb(path.read_bytes(), str(path)), size) for path in real_nyu_photos(args.realdata)]
    if frames or photos:
        with_depth = [detail(_photo(f.rgb, size), _depth(f.depth_m, size)) for f in frames]
        rows += [(f"real: {f.name}", *d) for f, d in zip(frames, with_depth)]
        every = [d[0] for d in with_depth] + [detail(p)[0] for p in photos]
        near_far = np.mean([d[1:] for d in with_depth], axis=0) if with_depth else (np.nan,) * 4
        rows.append((f"real NYU photos ({len(every)}; near/far: the {len(frames)} with depth)", np.mean(every),
                     *near_far))
    else:
        print("no real photos: set COURSE_REALDATA to compare with them", file=sys.stderr)
    for name, options in (("rooms, default", {}), ("rooms, busy walls (surfaces=1)", {"surfaces": 1.0}),
                          ("rooms, clutter=1", {"clutter": 1.0}), ("rooms, long_views=1", {"long_views": 1.0}),
                          ("rooms, doorways=1", {"doorways": 1.0}),
                          ("rooms, flat (photo_light=0)", {"photo_light": 0.0})):
        values = np.array([detail(room["rgb"], room["depth"])
                           for room in (render_room(seed, *size, **options) for seed in range(args.rooms))])
        rows.append((f"{name} ({args.rooms})", *values.mean(axis=0)))
    # the default rooms made as a photo reaches the network: rendered at 240x320, then shrunk (LANCZOS, as above)
    from PIL import Image
    values = np.array([detail(np.asarray(Image.fromarray(render_room(seed, 240, 320)["rgb"]).resize(
        (size[1], size[0]), Image.Resampling.LANCZOS)), render_room(seed, *size)["depth"]) for seed in range(args.rooms)])
    rows.append((f"rooms, default, rendered at 240x320 and shrunk ({args.rooms})", *values.mean(axis=0)))

    print(f"detail: mean absolute Laplacian of the gray image (0..1) at {size[0]}x{size[1]}; gray: mean gray level")
    print(f"{'images':<58}{'detail':>8}{'near':>8}{'far':>8}{'gray near':>11}{'gray far':>10}")
    for name, *figures in rows:
        print(f"{name:<58}" + "".join(f"{v:>{w}.3f}" for v, w in zip(figures, (8, 8, 8, 11, 10))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
