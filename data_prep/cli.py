"""`python -m data_prep SUBCOMMAND ...`: converters from the public dataset formats to the depth pack.

Every converter streams frame by frame (bounded memory) with a progress bar, writes to a temporary
file renamed at the end, and refuses to overwrite an existing pack unless --overwrite is given.
A wrong, missing or truncated input ends with one `error: ...` line and exit code 2.
"""
from __future__ import annotations

import argparse
import sys

from course_lib.errors import CourseError


def cmd_nyu_labeled(args) -> int:
    from .nyu_labeled import convert_nyu_labeled

    out = convert_nyu_labeled(args.mat, args.splits, args.out, overwrite=args.overwrite, val_count=args.val_count,
                              show_progress=not args.no_progress)
    print(f"wrote {out}")
    return 0


def cmd_densedepth_zip(args) -> int:
    from .densedepth import convert_densedepth_zip

    out = convert_densedepth_zip(args.zip, args.out, overwrite=args.overwrite, splits=tuple(args.splits),
                                 limit=args.limit, show_progress=not args.no_progress)
    print(f"wrote {out}")
    return 0


def cmd_eigen_npy(args) -> int:
    from .densedepth import convert_eigen_npy

    out = convert_eigen_npy(args.dir, args.out, overwrite=args.overwrite, show_progress=not args.no_progress)
    print(f"wrote {out}")
    return 0


def cmd_folder(args) -> int:
    from .folder import convert_folder

    out = convert_folder(args.rgb, args.depth, args.depth_scale, args.out, split=args.split,
                         intrinsics=args.intrinsics, rgb_format=args.rgb_format, overwrite=args.overwrite,
                         max_depth_m=args.max_depth, show_progress=not args.no_progress)
    print(f"wrote {out}")
    return 0


def cmd_synthetic(args) -> int:
    from .synthetic import convert_synthetic

    out = convert_synthetic(args.count, tuple(args.size), args.out, seed=args.seed, split=args.split,
                            overwrite=args.overwrite, show_progress=not args.no_progress)
    print(f"wrote {out}")
    return 0


def cmd_inspect(args) -> int:
    from .inspect_pack import describe_pack

    print(describe_pack(args.pack, max_frames=args.frames))
    return 0


def _output_options(p):
    p.add_argument("--out", required=True, help="the pack to write (.h5)")
    p.add_argument("--overwrite", action="store_true", help="replace the output pack if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data_prep",
                                     description="Convert NYU Depth V2 (and your own RGB-D folders) into depth packs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("nyu-labeled", help="nyu_depth_v2_labeled.mat + splits.mat -> pack (795 train, 654 test)")
    p.add_argument("--mat", required=True, help="nyu_depth_v2_labeled.mat (MATLAB 7.3)")
    p.add_argument("--splits", required=True, help="the official splits.mat (trainNdxs, testNdxs)")
    p.add_argument("--val-count", type=int, default=0,
                   help="move the last N official training frames into a 'val' split (default 0)")
    _output_options(p)
    p.set_defaults(func=cmd_nyu_labeled)

    p = sub.add_parser("densedepth-zip", help="DenseDepth's nyu_data.zip -> pack (50K train as JPEG, 654 test)")
    p.add_argument("--zip", required=True, help="nyu_data.zip")
    p.add_argument("--splits", nargs="+", choices=["train", "test"], default=["train", "test"])
    p.add_argument("--limit", type=int, default=None, help="only the first N rows of each CSV (a quick try)")
    _output_options(p)
    p.set_defaults(func=cmd_densedepth_zip)

    p = sub.add_parser("eigen-npy", help="unpacked nyu_test.zip (eigen_test_*.npy) -> pack with a test split")
    p.add_argument("--dir", required=True, help="folder holding eigen_test_rgb.npy, _depth.npy, _crop.npy")
    _output_options(p)
    p.set_defaults(func=cmd_eigen_npy)

    p = sub.add_parser("folder", help="RGB photos + matching 16-bit depth PNGs (e.g. BTS sync folders) -> pack")
    p.add_argument("--rgb", required=True, help="glob of the photos, quoted: 'sync/*/rgb_*.jpg' ('**' recurses)")
    p.add_argument("--depth", required=True, help="glob of the depth PNGs, quoted: 'sync/*/sync_depth_*.png'")
    p.add_argument("--depth-scale", type=float, required=True,
                   help="metres per PNG unit: 0.001 for millimetres (NYU, Kinect, RealSense default)")
    p.add_argument("--split", default="train", help="split name to write (train, val or test)")
    p.add_argument("--intrinsics", nargs="+", metavar="V",
                   help="fx fy cx cy in pixels at the stored size, or a .npy/.txt 3x3 matrix (default: NYU's)")
    p.add_argument("--rgb-format", choices=["raw", "jpeg"], default="raw",
                   help="store pixels (raw) or JPEG files (copied when already plain JPEG)")
    p.add_argument("--max-depth", type=float, default=100.0, help="refuse depth beyond this many metres")
    _output_options(p)
    p.set_defaults(func=cmd_folder)

    p = sub.add_parser("synthetic", help="a fixed pack of synthetic rooms (exact depth, raw_depth with holes)")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--size", type=int, nargs=2, default=[240, 320], metavar=("H", "W"))
    p.add_argument("--seed", type=int, default=0, help="seed of the first room; room i has seed + i")
    p.add_argument("--split", default="train")
    _output_options(p)
    p.set_defaults(func=cmd_synthetic)

    p = sub.add_parser("inspect", help="print a pack's splits, sizes, attributes and depth statistics")
    p.add_argument("pack")
    p.add_argument("--frames", type=int, default=32, help="frames per split sampled for the statistics")
    p.set_defaults(func=cmd_inspect)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no pack was written", file=sys.stderr)
        return 130
