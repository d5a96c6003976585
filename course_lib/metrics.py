"""The standard depth metrics, the evaluation crops, and a streaming accumulator.

Definitions (Eigen et al. 2014; as computed by BTS, AdaBins and DenseDepth), in metres, over the
valid pixels (min_depth < gt < max_depth, inside the crop, and `valid` if given), the prediction
clamped to [min_depth, max_depth]:

    d1, d2, d3  fraction with max(gt/pred, pred/gt) < 1.25, 1.25**2, 1.25**3   (higher is better)
    abs_rel     mean(|pred - gt| / gt)
    sq_rel      mean((pred - gt)^2 / gt)
    rmse        sqrt(mean((pred - gt)^2))
    rmse_log    sqrt(mean((ln pred - ln gt)^2))
    log10       mean(|log10 pred - log10 gt|)
    silog       100 * sqrt(mean(e^2) - mean(e)^2),  e = ln pred - ln gt

reduce="image": each metric per image, then the mean over images (BTS, AdaBins, ZoeDepth).
reduce="pixel": every valid pixel of every image pooled into one set (DenseDepth's evaluation).
They differ when images have different numbers of valid pixels.

Crops are defined on a 480x640 frame; for another size the bounds are scaled by h/480 (rows) and
w/640 (columns) and rounded half up: the eigen crop of 240x320 is rows 23:236, cols 21:301.

Introduced in lesson 03 (a first evaluation); explained in lesson 08.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

METRIC_NAMES = ("d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog")
HIGHER_IS_BETTER = frozenset({"d1", "d2", "d3"})
LOWER_IS_BETTER = frozenset(METRIC_NAMES) - HIGHER_IS_BETTER

CROPS_480x640 = {  # (top, bottom, left, right), Python slice bounds on a 480x640 frame
    "eigen": (45, 471, 41, 601),   # Eigen et al. 2014, as in BTS, AdaBins, ZoeDepth
    "dense": (20, 460, 24, 616),   # DenseDepth's eigen_test_crop.npy
}

# Sufficient statistics per image (sums over its valid pixels); metrics are functions of these.
_STATS = ("n", "d1", "d2", "d3", "abs_rel", "sq_rel", "sq_err", "log_sq", "log10", "log_sum")


# ----------------------------------------------------------------------------- crops

def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _crop_bounds(name: str, h: int, w: int) -> tuple[int, int, int, int]:
    top, bottom, left, right = CROPS_480x640[name]
    sy, sx = h / 480, w / 640
    return (_round_half_up(top * sy), _round_half_up(bottom * sy),
            _round_half_up(left * sx), _round_half_up(right * sx))


def crop_mask(name, h: int, w: int) -> np.ndarray:
    """(h, w) bool mask of a named crop ("eigen", "dense") or everything (None); bounds scaled from 480x640."""
    mask = np.zeros((h, w), dtype=bool)
    if name is None:
        mask[:] = True
        return mask
    if name not in CROPS_480x640:
        raise ValueError(f"unknown crop {name!r}; use 'eigen', 'dense' or None")
    top, bottom, left, right = _crop_bounds(name, h, w)
    mask[top:bottom, left:right] = True
    return mask


def eigen_crop_mask(h: int = 480, w: int = 640) -> np.ndarray:
    """The Eigen crop: rows 45:471, cols 41:601 of 480x640 (scaled and rounded half up for other sizes)."""
    return crop_mask("eigen", h, w)


def dense_crop_mask(h: int = 480, w: int = 640) -> np.ndarray:
    """DenseDepth's crop: rows 20:460, cols 24:616 of 480x640 (scaled and rounded half up for other sizes)."""
    return crop_mask("dense", h, w)


# ----------------------------------------------------------------------------- inputs

def _to_bhw(x, name: str) -> torch.Tensor:
    """numpy or torch, (H, W) / (B, H, W) / (B, 1, H, W) -> float64 torch (B, H, W)."""
    if x is None:
        return None
    t = torch.as_tensor(np.asarray(x)) if not torch.is_tensor(x) else x.detach()
    if t.ndim == 2:
        t = t.unsqueeze(0)
    elif t.ndim == 4 and t.shape[1] == 1:
        t = t[:, 0]
    elif t.ndim != 3:
        raise ValueError(f"{name} must be (H, W), (B, H, W) or (B, 1, H, W), got shape {tuple(t.shape)}")
    return t if t.dtype == torch.bool else t.to(torch.float64)


def _valid_mask(gt, min_depth, max_depth, crop, valid):
    """(B, H, W) bool: min_depth < gt < max_depth, inside the crop, and `valid`."""
    mask = (gt > min_depth) & (gt < max_depth)             # NaN compares False
    if crop is not None:
        if isinstance(crop, str):
            c = crop_mask(crop, gt.shape[-2], gt.shape[-1])
        else:
            c = np.asarray(crop.cpu() if torch.is_tensor(crop) else crop).astype(bool)
            if c.shape != tuple(gt.shape[-2:]):
                raise ValueError(f"crop mask shape {c.shape} differs from the depth size {tuple(gt.shape[-2:])}")
        mask &= torch.as_tensor(c, device=gt.device)
    if valid is not None:
        mask &= valid.to(gt.device).bool()
    return mask


def _check_pair(pred, gt):
    if pred.shape != gt.shape:
        raise ValueError(
            f"prediction {tuple(pred.shape)} and ground truth {tuple(gt.shape)} differ in shape (as (B, H, W)); "
            "metrics compare pixel to pixel: predict at the input size with course_lib.models.predict(model, "
            "images), or resize the prediction to the ground truth.")
    if torch.isnan(pred).any():
        raise ValueError(f"the prediction contains {int(torch.isnan(pred).sum())} NaN values; "
                         "metrics would be meaningless (check the model or its input).")


def image_statistics(pred, gt, min_depth=1e-3, max_depth=10.0, crop=None, valid=None) -> torch.Tensor:
    """Per-image sums over valid pixels, (B, len(_STATS)) float64: count, threshold hits, error sums.

    The building block of depth_metrics and MetricAccumulator: metrics are ratios and roots of these.
    """
    pred, gt, valid = _to_bhw(pred, "pred"), _to_bhw(gt, "gt"), _to_bhw(valid, "valid")
    pred = pred.to(gt.device)
    _check_pair(pred, gt)
    if valid is not None and valid.shape != gt.shape:
        raise ValueError(f"valid {tuple(valid.shape)} and ground truth {tuple(gt.shape)} differ in shape")
    mask = _valid_mask(gt, min_depth, max_depth, crop, valid)
    p = pred.clamp(min_depth, max_depth)
    g = torch.where(mask, gt, torch.ones_like(gt))              # safe values outside the mask
    p = torch.where(mask, p, torch.ones_like(p))
    ratio = torch.maximum(g / p, p / g)
    e = torch.log(p) - torch.log(g)
    terms = [
        mask.double(),
        (ratio < 1.25).double(), (ratio < 1.25 ** 2).double(), (ratio < 1.25 ** 3).double(),
        (p - g).abs() / g, (p - g) ** 2 / g, (p - g) ** 2,
        e ** 2, (torch.log10(p) - torch.log10(g)).abs(), e,
    ]
    zero = torch.zeros_like(g)
    return torch.stack([torch.where(mask, t, zero).flatten(1).sum(1) for t in terms], dim=1)


def metrics_from_statistics(stats) -> dict:
    """Metrics from sums of sufficient statistics (one row: one image, or all pixels pooled)."""
    s = dict(zip(_STATS, (float(v) for v in stats)))
    n = s["n"]
    if n <= 0:
        raise ValueError("no valid pixel: cannot compute depth metrics")
    mean_e = s["log_sum"] / n
    return {
        "d1": s["d1"] / n, "d2": s["d2"] / n, "d3": s["d3"] / n,
        "abs_rel": s["abs_rel"] / n, "sq_rel": s["sq_rel"] / n,
        "rmse": math.sqrt(s["sq_err"] / n), "rmse_log": math.sqrt(s["log_sq"] / n),
        "log10": s["log10"] / n,
        "silog": 100.0 * math.sqrt(max(s["log_sq"] / n - mean_e ** 2, 0.0)),
    }


# ----------------------------------------------------------------------------- one call

def depth_metrics(pred, gt, min_depth: float = 1e-3, max_depth: float = 10.0, crop=None,
                  reduce: str = "image", valid=None, skip_empty: bool = False) -> dict:
    """The standard depth metrics as python floats: d1 d2 d3 abs_rel sq_rel rmse rmse_log log10 silog.

    pred, gt: metres, numpy or torch, (H, W), (B, H, W) or (B, 1, H, W), the same size. crop: "eigen",
    "dense", None or an (H, W) bool mask. reduce: "image" (per-image, then mean) or "pixel" (pooled).
    An image without any valid pixel raises ValueError (naming it), or with skip_empty=True is left
    out with a warning. Lesson 08.

    >>> depth_metrics([[1.0, 2.0]], [[1.0, 2.0]])["abs_rel"]
    0.0
    """
    acc = MetricAccumulator(min_depth, max_depth, crop, reduce, skip_empty=skip_empty)
    acc.update(pred, gt, valid)
    return acc.compute()


def median_scale(pred, gt, valid=None, min_depth: float = 1e-3, max_depth: float = 10.0,
                 return_scale: bool = False, crop=None):
    """Per-image median scaling (Eigen 2014, monodepth): pred * median(gt) / median(pred) over valid pixels.

    For scale-ambiguous models (self-supervised, or to separate scale error from shape error). Returns
    the scaled prediction in the input's type and shape (and the (B,) scales if return_scale).
    Valid pixels are those the metrics use (range, `crop`, `valid`).
    Lesson 08.
    """
    is_numpy = not torch.is_tensor(pred)
    shape = np.shape(pred) if is_numpy else pred.shape
    p, g, v = _to_bhw(pred, "pred"), _to_bhw(gt, "gt"), _to_bhw(valid, "valid")
    p = p.to(g.device)
    _check_pair(p, g)
    mask = _valid_mask(g, min_depth, max_depth, crop, v)
    scales = []
    for b in range(g.shape[0]):
        if not mask[b].any():
            raise ValueError(f"median_scale: image {b} has no valid ground-truth pixel")
        # the mean of the two middle values for an even count, like numpy.median
        scales.append(float(np.median(g[b][mask[b]].cpu().numpy()) / np.median(p[b][mask[b]].cpu().numpy())))
    scale_t = torch.tensor(scales, dtype=torch.float64, device=p.device).view(-1, 1, 1)
    if is_numpy:
        out = (p * scale_t).cpu().numpy().reshape(shape).astype(np.asarray(pred).dtype)
    else:
        out = (pred.detach().reshape(p.shape).double() * scale_t).reshape(shape).to(pred.dtype)
    return (out, np.array(scales)) if return_scale else out


def flip_average(model_fn, images: torch.Tensor) -> torch.Tensor:
    """Predict on images (B, 3, H, W) and their horizontal mirror, flip the second back, average.

    A common test-time augmentation (BTS, AdaBins report with it). model_fn: images -> (B, 1, H, W).
    """
    out = model_fn(images)
    out_flipped = model_fn(torch.flip(images, dims=[-1]))
    return (out + torch.flip(out_flipped, dims=[-1])) / 2


# ----------------------------------------------------------------------------- streaming

class MetricAccumulator:
    """Metrics over a stream of batches, mergeable across processes.

    Keeps sufficient statistics, not averages: `pixel_sums` (pooled sums of every per-pixel term,
    including squares and the log sum that rmse and silog need) and `image_sums` (the sum over images of
    each per-image metric) with `num_images`. Sums add, so update() over batches, merge() of two
    accumulators, or all_reduce_() across DDP ranks give the one-shot result. Lessons 08, 12.
    """

    def __init__(self, min_depth: float = 1e-3, max_depth: float = 10.0, crop=None, reduce: str = "image",
                 skip_empty: bool = False):
        if reduce not in ("image", "pixel"):
            raise ValueError(f"reduce must be 'image' (per-image mean) or 'pixel' (pooled), got {reduce!r}")
        self.min_depth, self.max_depth, self.crop, self.reduce = min_depth, max_depth, crop, reduce
        self.skip_empty = skip_empty
        self.reset()

    def reset(self) -> None:
        self.pixel_sums = torch.zeros(len(_STATS), dtype=torch.float64)
        self.image_sums = torch.zeros(len(METRIC_NAMES), dtype=torch.float64)
        self.num_images = 0
        self.num_skipped = 0
        self.num_seen = 0  # images passed to update(), for error messages

    def update(self, pred, gt, valid=None) -> list[dict | None]:
        """Add a batch; returns the metrics of each of its images (None for a skipped empty image)."""
        stats = image_statistics(pred, gt, self.min_depth, self.max_depth, self.crop, valid).cpu()
        per_image = []
        for b, row in enumerate(stats):
            if row[0] == 0:
                index = self.num_seen + b
                if not self.skip_empty:
                    raise ValueError(
                        f"image {index} (item {b} of this batch) has no valid ground-truth pixel (range {self.min_depth}-"
                        f"{self.max_depth} m, crop {self.crop}); check the depth units, or pass skip_empty=True")
                warnings.warn(f"image {index} has no valid ground-truth pixel and is skipped", stacklevel=2)
                self.num_skipped += 1
                per_image.append(None)
                continue
            m = metrics_from_statistics(row)
            per_image.append(m)
            self.image_sums += torch.tensor([m[k] for k in METRIC_NAMES], dtype=torch.float64)
            self.num_images += 1
            self.pixel_sums += row
        self.num_seen += len(stats)
        return per_image

    def state(self) -> torch.Tensor:
        """Every sum in one float64 vector: [num_images, image_sums..., pixel_sums...]."""
        return torch.cat([torch.tensor([float(self.num_images)], dtype=torch.float64),
                          self.image_sums, self.pixel_sums])

    def load_state(self, state: torch.Tensor) -> None:
        state = state.detach().cpu().to(torch.float64)
        k = len(METRIC_NAMES)
        self.num_images = int(round(float(state[0])))
        self.image_sums = state[1:1 + k].clone()
        self.pixel_sums = state[1 + k:].clone()

    def merge(self, other: "MetricAccumulator") -> "MetricAccumulator":
        """Add another accumulator's sums into this one (same protocol); returns self."""
        if (other.min_depth, other.max_depth, other.reduce) != (self.min_depth, self.max_depth, self.reduce):
            raise ValueError("cannot merge accumulators with different depth ranges or reductions")
        self.load_state(self.state() + other.state())
        self.num_skipped += other.num_skipped
        return self

    def all_reduce_(self, device=None) -> "MetricAccumulator":
        """Sum the statistics over all torch.distributed ranks (in place); a no-op when not distributed."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            if device is None:
                device = torch.device("cuda", torch.cuda.current_device()) \
                    if dist.get_backend() == "nccl" else torch.device("cpu")
            state = self.state().to(device)
            dist.all_reduce(state, op=dist.ReduceOp.SUM)
            self.load_state(state)
        return self

    def compute(self, reduce: str | None = None) -> dict:
        """The metrics so far as python floats (reduce defaults to the accumulator's)."""
        reduce = reduce or self.reduce
        if self.num_images == 0:
            raise ValueError("no image with valid ground truth was evaluated; nothing to average")
        if reduce == "image":
            return {k: float(v) / self.num_images for k, v in zip(METRIC_NAMES, self.image_sums)}
        return metrics_from_statistics(self.pixel_sums)


# ----------------------------------------------------------------------------- printing

def format_metrics(metrics: dict, style: str = "line", digits: int = 3) -> str:
    """A one-line ("d1 0.912  abs_rel 0.101 ...") or a two-row table string of the metrics present.

    Arrows in the table say which way is better.
    """
    names = [k for k in METRIC_NAMES if k in metrics] + [k for k in metrics if k not in METRIC_NAMES]
    values = [f"{metrics[k]:.{digits}f}" if isinstance(metrics[k], float) else str(metrics[k]) for k in names]
    if style == "line":
        return "  ".join(f"{k} {v}" for k, v in zip(names, values))
    if style != "table":
        raise ValueError(f"style must be 'line' or 'table', got {style!r}")
    heads = [k + (" ↑" if k in HIGHER_IS_BETTER else " ↓" if k in LOWER_IS_BETTER else "") for k in names]
    widths = [max(len(h), len(v)) for h, v in zip(heads, values)]
    head = " | ".join(h.rjust(w) for h, w in zip(heads, widths))
    rule = "-|-".join("-" * w for w in widths)
    row = " | ".join(v.rjust(w) for v, w in zip(values, widths))
    return "\n".join([head, rule, row])
