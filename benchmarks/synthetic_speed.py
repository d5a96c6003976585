"""Frames per second of the synthetic rooms renderer (course_lib.data.synthetic.render_room).

    python benchmarks/synthetic_speed.py --size 240 320 --frames 100 --threads 1
    python benchmarks/synthetic_speed.py --clutter 1    # every room with clutter (more objects to ray-cast)
    python benchmarks/synthetic_speed.py --doorways 1   # every room going on beyond an opening

The renderer is plain numpy: elementwise ufuncs run on one thread whatever the settings, and the
thread limits set here (OMP/MKL/OpenBLAS, and torch when it is imported) only keep BLAS and torch
from using more cores, so the figure is for ONE CPU core. Both wall-clock and CPU-time rates are
printed: on a machine shared with other processes, the CPU-time rate is the fairer figure.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--raw-depth", action="store_true", help="also simulate Kinect raw depth")
    parser.add_argument("--random-textures", type=float, default=0.0,
                        help="probability of a random texture per surface (domain randomisation; default 0)")
    parser.add_argument("--surfaces", type=float, default=None,
                        help="share of rooms with busy walls and floors (default: the library's, PHOTO_SURFACES)")
    parser.add_argument("--clutter", type=float, default=None,
                        help="share of rooms with small things on tables, seats and floor "
                             "(default: the library's, CLUTTER)")
    parser.add_argument("--doorways", type=float, default=None,
                        help="share of rooms going on beyond an opening in the wall the camera faces "
                             "(default: the library's, DOORWAYS)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the frames; best and median shown")
    args = parser.parse_args(argv)

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(args.threads)

    import numpy as np

    from course_lib.data.synthetic import CLUTTER, DOORWAYS, PHOTO_SURFACES, render_room

    rooms = {"random_textures": args.random_textures,
             "surfaces": PHOTO_SURFACES if args.surfaces is None else args.surfaces,
             "clutter": CLUTTER if args.clutter is None else args.clutter,
             "doorways": DOORWAYS if args.doorways is None else args.doorways}

    h, w = args.size
    render_room(0, h, w, raw_depth=args.raw_depth)            # warm-up (imports, noise texture)
    walls, cpus = [], []
    for r in range(args.repeats):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for i in range(args.frames):
            render_room(1000 * r + i, h, w, raw_depth=args.raw_depth, **rooms)
        walls.append(args.frames / (time.perf_counter() - wall0))
        cpus.append(args.frames / (time.process_time() - cpu0))
    print(f"synthetic rooms {h}x{w}{' + raw depth' if args.raw_depth else ''}, {args.frames} frames x "
          f"{args.repeats} passes, threads={args.threads}, "
          f"{', '.join(f'{k}={v:g}' for k, v in rooms.items())}, numpy {np.__version__}")
    print(f"wall clock: best {max(walls):.1f} frames/s, median {float(np.median(walls)):.1f} frames/s")
    print(f"CPU time:   best {max(cpus):.1f} frames/s, median {float(np.median(cpus)):.1f} frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
