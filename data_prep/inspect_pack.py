"""`inspect`: what is in a pack, as a learner checks it after converting (lesson 01)."""
from __future__ import annotations

import numpy as np

from course_lib.data.pack import open_pack


def describe_pack(path, max_frames: int = 32) -> str:
    """Splits, counts, frame sizes, attributes and depth statistics (over up to max_frames frames per split)."""
    pack = open_pack(path)
    lines = [f"{pack.path}", "attributes:"]
    for key, value in pack.attrs.items():
        text = np.array2string(np.asarray(value), precision=4, separator=", ").replace("\n", "") \
            if isinstance(value, np.ndarray) else str(value)
        lines.append(f"  {key}: {text}")
    for name in pack.splits:
        split = pack[name]
        extra = ", ".join(split.fields) or "none"
        lines.append(f"split {name}: {len(split)} frames of {split.height}x{split.width}, rgb {split.rgb_format}, "
                     f"extra: {extra}, origin: {split.attrs.get('split_origin', '?')}")
        picks = np.unique(np.linspace(0, len(split) - 1, min(max_frames, len(split))).astype(int)) if len(split) else []
        for key in ["depth"] + [k for k in split.fields if k == "raw_depth"]:
            values, valid_fraction = [], []
            for i in picks:
                depth = split[i][key]
                valid = depth > 0
                valid_fraction.append(valid.mean())
                values.append(depth[valid])
            values = np.concatenate(values) if values else np.zeros(0)
            if values.size:
                lines.append(f"  {key} (m, {len(picks)} frames): valid {np.mean(valid_fraction):.1%}, min "
                             f"{values.min():.3f}, median {np.median(values):.3f}, max {values.max():.3f}")
            else:
                lines.append(f"  {key}: no valid pixels in {len(picks)} frames")
        if len(split):
            lines.append(f"  intrinsics fx {split.intrinsics[0, 0]:.2f} fy {split.intrinsics[1, 1]:.2f} "
                         f"cx {split.intrinsics[0, 2]:.2f} cy {split.intrinsics[1, 2]:.2f}"
                         if split._intrinsics is not None else "  intrinsics: none stored")
    pack.close()
    return "\n".join(lines)
