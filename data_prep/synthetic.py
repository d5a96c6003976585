"""`synthetic`: a fixed pack of procedural rooms (course_lib.data.synthetic), for a lesson that wants a file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from course_lib.data.datasets import SYNTHETIC_PACK_SOURCE
from course_lib.data.pack import PackWriter
from course_lib.errors import DataFormatError

from .common import progress


def convert_synthetic(count: int, size: tuple[int, int], out, seed: int = 0, split: str = "train",
                      overwrite: bool = False, show_progress: bool = True) -> Path:
    """Render rooms seed, seed+1, ..., seed+count-1 at size (H, W) into one split, with raw_depth."""
    from course_lib.data.synthetic import HELDOUT_SEED_BASE, render_room  # late: only this subcommand needs it

    if count < 1:
        raise DataFormatError(f"--count must be at least 1, got {count}.")
    if seed < 0 or seed + count > HELDOUT_SEED_BASE:
        raise DataFormatError(f"seeds {seed}..{seed + count - 1} reach the held-out rooms (seeds from "
                              f"{HELDOUT_SEED_BASE} on, which every lesson evaluates on); choose --seed between 0 "
                              f"and {HELDOUT_SEED_BASE - count}.")
    h, w = (int(v) for v in size)
    first = render_room(seed, height=h, width=w, raw_depth=True)
    K = np.asarray(first["K"], np.float32)
    attrs = {"source": f"{SYNTHETIC_PACK_SOURCE}, seeds {seed}..{seed + count - 1}",
             "split_origin": f"render_room(seed) for seed in range({seed}, {seed + count})", "intrinsics": K,
             "first_seed": seed}
    with PackWriter(out, overwrite=overwrite, attrs=attrs) as writer:
        sw = writer.create_split(split, count, h, w, raw_depth=True, per_frame={"seed": "int64"})
        seeds = range(seed, seed + count)
        for s in (progress(seeds, count, f"synthetic {split}") if show_progress else seeds):
            room = first if s == seed else render_room(s, height=h, width=w, raw_depth=True)
            if not np.allclose(room["K"], K):
                raise DataFormatError(f"render_room({s}) has different intrinsics from room {seed}; a pack split "
                                      "stores one camera matrix.")
            sw.append(room["rgb"], room["depth"], raw_depth=room["raw_depth"], seed=s)
    return Path(out)
