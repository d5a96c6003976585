"""Where the camera stood: height above the floor, pitch and roll of the real NYU frames, from their depth.

    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/camera_pose.py

At a fixed focal length a network can read metric depth off the floor only if it knows how high the
camera is and how it is tilted; if the synthetic rooms put the camera lower, or tilt it otherwise, than
the person who held the Kinect did, every floor comes out too near. This fits the floor plane to each
real frame's raw Kinect depth (RANSAC over the back-projected points: the largest plane below the
camera whose normal is within 45 degrees of the image's vertical, inliers within 3 cm; then the lowest
plane parallel to it that holds 2 % of the points, since the largest may be a bed), and prints the
camera's height above it, the pitch (negative: looking down) and the roll, beside the ranges
`sample_scene` draws from. The same fit runs first on held-out synthetic rooms (raw depth, with holes,
at 480x640), whose true pose is known, so that the estimator's own error is printed too.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_frames import load_frames  # noqa: E402


def floor_pose(depth_m: np.ndarray, K: np.ndarray, seed: int = 0, trials: int = 2000,
               tolerance_m: float = 0.03) -> tuple[float, float, float, float]:
    """(height m, pitch deg, roll deg, share of the valid pixels on the floor) from one depth map (0 = none).

    The camera frame is x right, y down, z forward; the floor's normal n (pointing down, n_y > cos 45 deg)
    and distance h satisfy n . p = h for the floor points p. Pitch is the angle of the optical axis above
    the horizontal (negative: looking down), roll the tilt of the image's x axis."""
    from course_lib.geometry import backproject

    rng = np.random.default_rng(seed)
    points = backproject(depth_m, K)[depth_m > 0].astype(np.float64)     # (N, 3) camera frame, metres
    scored = points[rng.choice(len(points), min(len(points), 20000), replace=False)]
    best = (-1, None, 0.0)
    for _ in range(trials):
        a, b, c = points[rng.choice(len(points), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n = n / norm if n[1] > 0 else -n / norm
        h = float(a @ n)
        if n[1] < math.cos(math.radians(45)) or h < 0.3:
            continue
        count = int((np.abs(scored @ n - h) < tolerance_m).sum())
        if count > best[0]:
            best = (count, n, h)
    _, n, h = best
    # The largest horizontal plane may be a bed or a table top: the floor is the lowest plane parallel to
    # it that holds at least 2 % of the points.
    heights = points @ n
    counts, edges = np.histogram(heights, bins=np.arange(heights.min(), heights.max() + 0.04, 0.02))
    planes = np.flatnonzero(counts >= 0.02 * len(points))
    h = max(h, float(edges[planes.max()] + 0.01)) if len(planes) else h
    inliers = points[np.abs(heights - h) < tolerance_m]            # refit on every inlier (least squares)
    centroid = inliers.mean(0)
    n = np.linalg.svd(inliers - centroid, full_matrices=False)[2][-1]
    n = n if n[1] > 0 else -n
    h = float(centroid @ n)
    pitch = -math.degrees(math.asin(float(np.clip(n[2], -1, 1))))  # the floor's normal leans forward: looking down
    roll = math.degrees(math.atan2(float(n[0]), float(n[1])))
    return h, pitch, roll, len(inliers) / len(points)


def main(argv=None) -> int:
    from course_lib.data import heldout_rooms
    from course_lib.data.synthetic import sample_scene

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=16, help="held-out synthetic rooms to check the fit on")
    parser.add_argument("--realdata", default=None, help="folder of real samples (default: $COURSE_REALDATA)")
    args = parser.parse_args(argv)
    frames = load_frames(args.realdata)
    if not frames:
        return 2

    rooms = heldout_rooms(args.rooms, (480, 640), raw_depth=True)
    errors = []
    print("synthetic held-out rooms at 480x640, raw depth (the fit against the truth):")
    print(f"{'room':<22}{'height m':>10}{'true':>7}{'pitch deg':>11}{'true':>7}{'roll deg':>10}{'true':>7}{'floor':>7}")
    for k in range(args.rooms):
        sample = rooms.sample(k)
        camera = sample_scene(rooms.scene_seed(k)).camera
        height, pitch, roll, share = floor_pose(sample["raw_depth"], sample["K"], seed=k)
        truth = (camera.position_m[1], math.degrees(camera.pitch), math.degrees(camera.roll))
        note = ""
        if share < 0.04:
            note = "  (too little floor in view: not counted)"
        else:
            errors.append((abs(height - truth[0]), abs(pitch - truth[1]), abs(roll - truth[2])))
        print(f"{'synthetic room ' + str(k):<22}{height:>10.2f}{truth[0]:>7.2f}{pitch:>11.1f}{truth[1]:>7.1f}"
              f"{roll:>10.1f}{truth[2]:>7.1f}{share:>7.2f}{note}")
    error = np.median(errors, axis=0)
    worst = np.max(errors, axis=0)
    print(f"error over {len(errors)} rooms with 4 % or more floor: median height {error[0]:.3f} m, pitch "
          f"{error[1]:.2f} deg, roll {error[2]:.2f} deg; largest {worst[0]:.3f} m, {worst[1]:.2f} deg, {worst[2]:.2f} deg")

    print("\nreal NYU frames, raw Kinect depth at 480x640 (the synthetic sampler draws height 1.0-1.7 m, "
          "pitch -25..+5 deg, roll within +-5 deg):")
    print(f"{'frame':<22}{'height m':>10}{'pitch deg':>11}{'roll deg':>10}{'floor':>7}")
    for k, frame in enumerate(frames):
        height, pitch, roll, share = floor_pose(frame.depth_m, frame.K, seed=k)
        print(f"{frame.name:<22}{height:>10.2f}{pitch:>11.1f}{roll:>10.1f}{share:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
