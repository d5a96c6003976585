"""Training-step throughput and peak memory: fp32 eager, then bf16 + channels_last, then + torch.compile.

    python benchmarks/train_throughput.py --quick                      # small: both models at 240x320, CPU
    python benchmarks/train_throughput.py --sizes 240x320 480x640 --batch-size 8 --steps 20   # on a GPU

One training step = forward, masked L1 loss, backward, AdamW step (what course_lib.train.fit does per
step, without data loading), timed by course_lib.speed.time_train_steps: the rate is that of the
median step. Each (model, size, mode) runs in a fresh subprocess, so its peak memory is its own: on
CUDA torch.cuda.max_memory_allocated, on the CPU the process's peak resident set minus the resident
set before the model was built. The data loader's rate (SyntheticRooms rendered
on the fly, 0 and 2 workers) is measured beside it. Lessons 11 (precision and speed) and 12 (the loader).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

MODES = ("fp32", "bf16+cl", "bf16+cl+compile")   # course_lib.speed.SPEED_MODES, the ones compared here
MODELS = {"unet": {"name": "unet"}, "resnet_unet": {"name": "resnet_unet", "encoder": "resnet50"}}


def _rss_peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _rss_now_mib() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return _rss_peak_mib()


def measure_step(model_key: str, size, mode: str, batch_size: int, steps: int, warmup: int, device: str) -> dict:
    """Images per second (median step) and peak memory of `steps` timed training steps after `warmup` untimed ones:
    course_lib.speed.time_train_steps, the function lessons 06, 07, 09 and 11 time with."""
    from course_lib.models import build_model
    from course_lib.speed import SPEED_MODES, time_train_steps

    base_mib = _rss_now_mib()
    result = time_train_steps(lambda: build_model(**MODELS[model_key]), size, batch_size=batch_size, steps=steps,
                              warmup=warmup, device=device, **SPEED_MODES[mode])
    on_cuda = result["device"].startswith("cuda")
    if not on_cuda:
        result["peak_mib"] = _rss_peak_mib() - base_mib
    result.update(model=model_key, mode=mode, memory_kind="cuda max allocated" if on_cuda
                  else "RSS high-water minus RSS before the model")
    return result


def measure_loader(size, workers: int, items: int, batch_size: int) -> dict:
    import torch

    from course_lib.data import SyntheticRooms, loader_throughput

    dataset = SyntheticRooms(items, size=size, seed=1)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                                         persistent_workers=workers > 0)
    # an untimed pass starts the workers; the timed one measures the steady rate a training loop sees
    return {"size": f"{size[0]}x{size[1]}", "workers": workers, "images_per_s": loader_throughput(loader)}


def _run_child(args: list[str], timeout: float) -> dict:
    try:
        done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail[:200]}
    return json.loads(lines[-1])


def _size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--sizes", nargs="+", default=["240x320", "480x640"], help="HxW")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--loader-items", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per measurement")
    parser.add_argument("--quick", action="store_true", help="batch 2, 2 timed steps, 240x320 only")
    parser.add_argument("--json", default=None, help="also write every figure here")
    parser.add_argument("--child", nargs=4, metavar=("MODEL", "SIZE", "MODE", "BATCH"), help=argparse.SUPPRESS)
    parser.add_argument("--child-loader", nargs=3, metavar=("SIZE", "WORKERS", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        model, size, mode, batch = args.child
        print(json.dumps(measure_step(model, _size(size), mode, int(batch), args.steps, args.warmup, args.device)))
        return 0
    if args.child_loader:
        size, workers, batch = args.child_loader
        print(json.dumps(measure_loader(_size(size), int(workers), args.loader_items, int(batch))))
        return 0

    if args.quick:
        args.batch_size, args.steps, args.warmup, args.sizes = 2, 2, 1, ["240x320"]
        args.loader_items = min(args.loader_items, 16)
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device]
    rows, loaders = [], []
    for size in args.sizes:
        for workers in (0, 2):
            result = _run_child(["--child-loader", size, str(workers), str(args.batch_size),
                                 "--loader-items", str(args.loader_items)], args.timeout)
            result.setdefault("size", size)
            result.setdefault("workers", workers)
            loaders.append(result)
            print(json.dumps(result), flush=True)
        for model in args.models:
            for mode in args.modes:
                result = _run_child(["--child", model, size, mode, str(args.batch_size), *common], args.timeout)
                result.update({"model": model, "size": size, "mode": mode})
                rows.append(result)
                print(json.dumps(result), flush=True)

    print("\n| model | size | mode | batch | images/s | step (s) | peak memory (MiB) | speed-up vs fp32 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        base = next((r for r in rows if r["model"] == row["model"] and r["size"] == row["size"]
                     and r["mode"] == "fp32" and "error" not in r), None)
        if "error" in row:
            print(f"| {row['model']} | {row['size']} | {row['mode']} | {args.batch_size} | n/a | n/a | n/a | "
                  f"{row['error']} |")
            continue
        speedup = f"{row['images_per_s'] / base['images_per_s']:.2f}x" if base else "n/a"
        print(f"| {row['model']} | {row['size']} | {row['mode']} | {row['batch_size']} | {row['images_per_s']:.2f} | "
              f"{row['step_s']:.2f} | {row['peak_mib']:.0f} | {speedup} |")
    print("\n| data loader (SyntheticRooms) | workers | images/s |")
    print("| --- | --- | --- |")
    for row in loaders:
        figure = f"{row['images_per_s']:.1f}" if "images_per_s" in row else row.get("error", "n/a")
        print(f"| {row['size']} | {row['workers']} | {figure} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"steps": rows, "loaders": loaders, "argv": sys.argv[1:]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
