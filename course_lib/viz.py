"""Pictures of depth: one colour map for every lesson, grids, error maps, histograms and curves.

Every function takes numpy arrays or torch tensors (batch and channel dimensions of size one are
squeezed) and returns either an RGB image (uint8) or a matplotlib Figure, never both.
Introduced in lesson 00; error maps in lesson 08; point clouds in lesson 10.
"""
from __future__ import annotations

import numpy as np

DEPTH_CMAP = "turbo"      # near = blue, far = red; used for every depth picture in the course
ERROR_CMAP = "inferno"    # for error maps (sequential, dark = small error)
INVALID_RGB = (0, 0, 0)   # pixels without a measurement are drawn black


def to_numpy(x) -> np.ndarray:
    """A numpy copy of a tensor or array, on the CPU, without gradient; image tensors (3, H, W) become (H, W, 3)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x)
    while x.ndim > 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim == 3 and x.shape[0] == 3 and x.shape[-1] != 3:
        x = np.transpose(x, (1, 2, 0))
    return x


def depth_range(*depths, percentile: float = 1.0) -> tuple[float, float]:
    """A shared (vmin, vmax) in metres over the valid pixels of several maps, robust to outliers."""
    values = np.concatenate([to_numpy(d)[to_numpy(d) > 0].ravel() for d in depths])
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [percentile, 100 - percentile])
    return float(lo), float(max(hi, lo + 1e-6))


def colorize_depth(depth_m, vmin: float | None = None, vmax: float | None = None,
                   cmap: str = DEPTH_CMAP, valid=None) -> np.ndarray:
    """(H, W) depth in metres -> (H, W, 3) uint8 RGB; pixels with depth <= 0 (or not `valid`) are black."""
    from matplotlib import colormaps

    depth = to_numpy(depth_m).astype(np.float32)
    mask = np.isfinite(depth) & (depth > 0)
    if valid is not None:
        mask &= to_numpy(valid).astype(bool)
    if vmin is None or vmax is None:
        lo, hi = depth_range(np.where(mask, depth, 0))
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    scaled = np.clip((depth - vmin) / max(vmax - vmin, 1e-6), 0, 1)
    rgb = (colormaps[cmap](np.nan_to_num(scaled))[..., :3] * 255).astype(np.uint8)
    rgb[~mask] = INVALID_RGB
    return rgb


def error_map(pred_m, gt_m, valid=None, kind: str = "abs_rel") -> np.ndarray:
    """Per-pixel error as a float map (NaN where there is no ground truth).

    kind: "abs_rel" |pred - gt| / gt, "abs" |pred - gt| in metres, "log" |ln pred - ln gt|.
    """
    pred, gt = to_numpy(pred_m).astype(np.float64), to_numpy(gt_m).astype(np.float64)
    mask = gt > 0 if valid is None else to_numpy(valid).astype(bool) & (gt > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "abs_rel":
            err = np.abs(pred - gt) / gt
        elif kind == "abs":
            err = np.abs(pred - gt)
        elif kind == "log":
            err = np.abs(np.log(np.maximum(pred, 1e-6)) - np.log(gt))
        else:
            raise ValueError(f"unknown error kind {kind!r}; use 'abs_rel', 'abs' or 'log'")
    return np.where(mask, err, np.nan).astype(np.float32)


def colorize_error(error, vmax: float | None = None, cmap: str = ERROR_CMAP) -> np.ndarray:
    """A float error map (NaN = no ground truth) -> (H, W, 3) uint8; NaN pixels are black."""
    from matplotlib import colormaps

    err = to_numpy(error).astype(np.float32)
    finite = np.isfinite(err)
    if vmax is None:
        vmax = float(np.percentile(err[finite], 99)) if finite.any() else 1.0
    rgb = (colormaps[cmap](np.clip(np.nan_to_num(err) / max(vmax, 1e-9), 0, 1))[..., :3] * 255).astype(np.uint8)
    rgb[~finite] = INVALID_RGB
    return rgb


def show_depth_grid(rows: list[list], titles: list[str] | None = None, row_labels: list[str] | None = None,
                    size: float = 3.0, share_depth_range: bool = True):
    """A grid of pictures: each entry an RGB image (H, W, 3) or a depth map (H, W) in metres.

    Depth maps in one row share a colour range so they can be compared. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    first = to_numpy(rows[0][0])
    aspect = first.shape[0] / first.shape[1]
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * aspect * n_rows + 0.4),
                             squeeze=False)
    for r, row in enumerate(rows):
        arrays = [to_numpy(x) for x in row]
        depths = [a for a in arrays if a.ndim == 2]
        vmin, vmax = depth_range(*depths) if (depths and share_depth_range) else (None, None)
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c >= len(arrays):
                continue
            a = arrays[c]
            ax.imshow(colorize_depth(a, vmin, vmax) if a.ndim == 2 else _as_uint8_rgb(a))
            if titles and r == 0 and c < len(titles):
                ax.set_title(titles[c], fontsize=10)
        if row_labels and r < len(row_labels):
            axes[r][0].text(-0.03, 0.5, row_labels[r], transform=axes[r][0].transAxes, rotation=90,
                            ha="right", va="center", fontsize=10)
    fig.tight_layout()
    return fig


def show_rgb_depth(rgb, depth_m, title: str | None = None, colorbar: bool = True, size: float = 4.0):
    """An image beside its depth map, with a colour bar in metres. Returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    rgb, depth = _as_uint8_rgb(to_numpy(rgb)), to_numpy(depth_m)
    vmin, vmax = depth_range(depth)
    aspect = depth.shape[0] / depth.shape[1]
    fig, (a, b) = plt.subplots(1, 2, figsize=(2 * size + 0.8, size * aspect + 0.5))
    a.imshow(rgb)
    a.set_title("RGB image")
    b.imshow(colorize_depth(depth, vmin, vmax))
    b.set_title("depth (black: no measurement)")
    for ax in (a, b):
        ax.axis("off")
    if colorbar:
        mappable = cm.ScalarMappable(colors.Normalize(vmin, vmax), cmap=DEPTH_CMAP)
        fig.colorbar(mappable, ax=b, fraction=0.046, pad=0.04, label="metres")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_depth_histogram(depths: dict, bins: int = 60, max_depth: float = 10.0, ax=None):
    """Histograms of valid depth (metres) for several named sets, e.g. {"NYU": d1, "synthetic": d2}."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    edges = np.linspace(0, max_depth, bins + 1)
    for name, d in depths.items():
        values = to_numpy(d).ravel()
        values = values[np.isfinite(values) & (values > 0)]
        ax.hist(values, bins=edges, density=True, histtype="step", linewidth=1.5, label=name)
    ax.set_xlabel("depth (m)")
    ax.set_ylabel("density")
    ax.legend()
    return ax.figure


def plot_curves(history: dict, keys: list[str] | None = None, x_key: str = "step", ax=None, logy: bool = False):
    """Line plot of logged series: `history` maps names to lists (and `x_key` to the x values)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    keys = keys or [k for k in history if k != x_key]
    for k in keys:
        y = history[k]
        x = history.get(x_key, range(len(y)))
        ax.plot(list(x)[: len(y)], y, label=k)
    ax.set_xlabel(x_key)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax.figure


def _as_uint8_rgb(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float32)
    if a.min() < 0 or a.max() > 1.0 + 1e-6:  # e.g. ImageNet-normalised: stretch for display
        a = (a - a.min()) / max(a.max() - a.min(), 1e-6)
    return (np.clip(a, 0, 1) * 255).astype(np.uint8)
