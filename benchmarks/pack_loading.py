"""Frames per second read from a depth pack through a torch DataLoader (lesson 02's loader numbers).

    python benchmarks/pack_loading.py                      # builds raw-RGB and JPEG-RGB packs of 480x640 frames
    python benchmarks/pack_loading.py --pack nyu.h5 --split train

Without --pack it writes two temporary packs of the same frames (NYU size, textured, depth with
holes): one storing raw RGB, one storing JPEG bytes, and times both with 0 and 2 workers.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from course_lib.data import loader_throughput
from course_lib.data.pack import PackWriter, open_pack


class PackTensors(torch.utils.data.Dataset):
    """The plainest Dataset over a PackSplit: (3, H, W) float RGB in [0, 1], (1, H, W) depth."""

    def __init__(self, split):
        self.split = split

    def __len__(self):
        return len(self.split)

    def __getitem__(self, i):
        item = self.split[i]
        rgb = torch.from_numpy(item["rgb"]).permute(2, 0, 1).float().div_(255)  # (3, H, W)
        return rgb, torch.from_numpy(item["depth"])[None]                        # (1, H, W) metres


def fake_frames(n: int, height: int, width: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(n):
        rgb = np.stack([(xx * 0.3 + 20 * i) % 256, (yy * 0.5 + 10 * np.sin(xx / 17)) % 256, (xx + yy) % 256], -1)
        rgb = np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)
        depth = (1.0 + 3.0 * xx / width + yy / height + 0.1 * i).astype(np.float32)
        depth[rng.random(depth.shape) < 0.05] = 0
        yield rgb, depth


def build_pack(path: Path, rgb_format: str, n: int, height: int, width: int) -> Path:
    with PackWriter(path, overwrite=True, attrs={"source": "benchmark frames"}) as writer:
        split = writer.create_split("train", n, height, width, rgb_format=rgb_format)
        for rgb, depth in fake_frames(n, height, width):
            split.append(rgb, depth)
    return path


def frames_per_second(split, num_workers: int, batch_size: int, epochs: int = 2) -> float:
    loader = torch.utils.data.DataLoader(PackTensors(split), batch_size=batch_size, shuffle=True,
                                         num_workers=num_workers, persistent_workers=num_workers > 0)
    return loader_throughput(loader, timed_passes=epochs)  # after an untimed warm-up pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", help="an existing pack (default: build raw and JPEG packs)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--frames", type=int, default=64, help="frames per built pack")
    parser.add_argument("--size", type=int, nargs=2, default=[480, 640], metavar=("H", "W"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        if args.pack:
            packs = {Path(args.pack).name: Path(args.pack)}
        else:
            h, w = args.size
            packs = {f"{fmt} RGB": build_pack(Path(tmp) / f"{fmt}.h5", fmt, args.frames, h, w)
                     for fmt in ("raw", "jpeg")}
        print(f"{'pack':<12} {'MB/frame':>8} {'workers':>7} {'frames/s':>9}")
        for name, path in packs.items():
            split = open_pack(path)[args.split]
            mb = path.stat().st_size / len(split) / 1e6
            for workers in args.workers:
                fps = frames_per_second(split, workers, args.batch_size)
                print(f"{name:<12} {mb:8.3f} {workers:7d} {fps:9.1f}")
            split.close()


if __name__ == "__main__":
    main()
