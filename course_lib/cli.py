"""The command line: `python -m course_lib SUBCOMMAND ...` (also installed as `course`).

Each subcommand lives in a function `cmd_NAME(args) -> int` registered in `build_parser`.
Errors meant for the user (`CourseError`) are printed as one line with exit code 2.
"""
from __future__ import annotations

import argparse
import sys

from .errors import CourseError


def cmd_info(args) -> int:
    from .environment import describe_environment

    describe_environment()
    return 0


def cmd_run_notebooks(args) -> int:
    from .notebooks import run_notebooks

    runs = run_notebooks(args.notebooks, args.out, quick=args.quick, only=args.only,
                         progress=not args.no_progress, timeout_s=args.timeout)
    failed = [r for r in runs if r.status != "ok"]
    for r in failed:
        print(f"lesson {r.lesson} failed: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib",
                                     description="Monocular depth estimation course: tools behind the lessons.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="print the Python, torch, GPU and quick-mode facts of this machine")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("run-notebooks", help="execute the lessons headless with papermill and print a summary")
    p.add_argument("--quick", action="store_true", help="quick mode: prove the code runs (COURSE_QUICK=1)")
    p.add_argument("--only", nargs="+", metavar="NN", help="run only these lesson numbers, e.g. --only 00 03")
    p.add_argument("--out", default="build/notebooks", help="folder for executed notebooks and summary.json")
    p.add_argument("--notebooks", default=None, help="folder holding the lessons (default: the course's notebooks/)")
    p.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: no limit)")
    p.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    p.set_defaults(func=cmd_run_notebooks)

    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "notebooks", "unset") is None:
        from .notebooks import DEFAULT_NOTEBOOKS
        args.notebooks = DEFAULT_NOTEBOOKS
    try:
        return args.func(args)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as exc:
        if args.command == "run-notebooks":
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
