"""Interactive explorers for Jupyter (ipywidgets), each backed by a plain plotting function.

A lesson first calls the plotting function (`show_frame`), so the figure appears in headless runs
(papermill, nbval) too, then offers the widget (`depth_browser`) for a person to play with. Without
ipywidgets, or outside a notebook, the widget functions say so and return None.
Introduced in lesson 01 (NYU Depth V2 data).
"""
from __future__ import annotations

import numpy as np

from .viz import colorize_depth, depth_range, plot_depth_histogram, to_numpy


def frame_arrays(sample: dict) -> dict:
    """rgb (H, W, 3) uint8, depth (H, W) m, valid (H, W) bool, raw_depth (H, W) m or None, from either
    a dataset item (normalised "image" tensor) or a pack frame / numpy sample ("rgb" array)."""
    from .data.transforms import denormalize_image

    rgb = denormalize_image(sample["image"]) if "image" in sample else np.asarray(sample["rgb"])
    depth = to_numpy(sample["depth"]).astype(np.float32)
    valid = to_numpy(sample["valid"]).astype(bool) if "valid" in sample else np.isfinite(depth) & (depth > 0)
    raw = to_numpy(sample["raw_depth"]).astype(np.float32) if "raw_depth" in sample else None
    return {"rgb": rgb, "depth": depth, "valid": valid, "raw_depth": raw}


def show_frame(sample: dict, title: str | None = None, max_depth_m: float = 10.0, size: float = 3.2):
    """One frame in four panels: RGB | depth (colour-mapped) | raw depth or the invalid mask | histogram.

    `sample` is a dataset item or a pack frame. Black in a depth picture = no measurement.
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    from .viz import DEPTH_CMAP

    f = frame_arrays(sample)
    depth, valid, raw = f["depth"], f["valid"], f["raw_depth"]
    shown = [np.where(valid, depth, 0)] + ([raw] if raw is not None else [])
    vmin, vmax = depth_range(*shown)
    h, w = depth.shape
    fig, axes = plt.subplots(1, 4, figsize=(4 * size + 1.0, size * h / w + 0.7),
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.1]})
    axes[0].imshow(f["rgb"])
    axes[0].set_title("RGB")
    axes[1].imshow(colorize_depth(depth, vmin, vmax, valid=valid))
    axes[1].set_title(f"depth, {100 * (~valid).mean():.0f}% invalid")
    if raw is not None:
        holes = ~(np.isfinite(raw) & (raw > 0))
        axes[2].imshow(colorize_depth(raw, vmin, vmax))
        axes[2].set_title(f"raw depth, {100 * holes.mean():.0f}% holes")
    else:
        overlay = (0.5 * f["rgb"]).astype(np.uint8)
        overlay[~valid] = (255, 0, 255)  # magenta: no measurement
        axes[2].imshow(overlay)
        axes[2].set_title("invalid pixels (magenta)")
    for ax in axes[:3]:
        ax.axis("off")
    fig.colorbar(cm.ScalarMappable(colors.Normalize(vmin, vmax), cmap=DEPTH_CMAP), ax=axes[1],
                 fraction=0.046, pad=0.02, label="m")
    histograms = {"depth": np.where(valid, depth, 0)}
    if raw is not None:
        histograms["raw"] = raw
    plot_depth_histogram(histograms, max_depth=max_depth_m, ax=axes[3])
    axes[3].set_title("valid depth")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _frames(source):
    """(length, get(i)) for a Dataset, a PackSplit, a Subset or a list of samples."""
    return len(source), (lambda i: source[i])


def depth_browser(source, index: int = 0, title: str | None = None, **show_kwargs):
    """A slider over the frames of `source` (a Dataset, a pack split or a list), drawing `show_frame`.

    Returns the ipywidgets box (display it as a cell's last value), or None without ipywidgets.
    """
    try:
        import ipywidgets as W
        from IPython.display import display
    except ImportError:
        print("depth_browser needs ipywidgets (pip install ipywidgets); showing one frame instead.")
        return None
    import matplotlib.pyplot as plt

    n, get = _frames(source)
    if n == 0:
        raise ValueError("depth_browser: the source has no frames")
    slider = W.IntSlider(value=min(index, n - 1), min=0, max=n - 1, description="frame",
                         continuous_update=False, layout=W.Layout(width="60%"))
    out = W.Output()

    def draw(change=None):
        i = slider.value
        with out:
            out.clear_output(wait=True)
            fig = show_frame(get(i), title=f"{title or type(source).__name__} [{i}]", **show_kwargs)
            display(fig)
            plt.close(fig)

    slider.observe(draw, names="value")
    draw()
    return W.VBox([slider, out])
