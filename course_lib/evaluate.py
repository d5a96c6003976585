"""Evaluate a depth model over a dataset with a stated protocol; keep per-image results.

A published number means little without its protocol: the crop, the depth range, which ground truth
(raw Kinect depth with holes, or the filled maps), per-image or pooled averaging, flip averaging and
median scaling all move it. `EvalProtocol` names each choice, and every saved result carries it.

Introduced in lesson 08 (evaluation); used by the CLI `evaluate` command.
"""
from __future__ import annotations

import csv
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .environment import pick_device
from .metrics import METRIC_NAMES, MetricAccumulator, crop_mask, flip_average, format_metrics, median_scale


@dataclass
class EvalProtocol:
    """The choices behind a depth number. Defaults: the BTS/AdaBins NYU protocol on filled ground truth.

    crop: "eigen" | "dense" | None; gt: "filled" (item["depth"]) or "raw" (item["raw_depth"], holes
    excluded); reduce: "image" (mean of per-image metrics) or "pixel" (pooled); flip: average with the
    mirrored prediction; median_scaling: rescale each prediction by median(gt) / median(pred).
    """
    crop: str | None = "eigen"
    min_depth: float = 1e-3
    max_depth: float = 10.0
    gt: str = "filled"
    reduce: str = "image"
    flip: bool = False
    median_scaling: bool = False
    skip_empty: bool = False

    def __post_init__(self):
        if self.crop not in ("eigen", "dense", None):
            raise ValueError(f"crop must be 'eigen', 'dense' or None, got {self.crop!r}")
        if self.gt not in ("filled", "raw"):
            raise ValueError(f"gt must be 'filled' (item['depth']) or 'raw' (item['raw_depth']), got {self.gt!r}")
        if self.reduce not in ("image", "pixel"):
            raise ValueError(f"reduce must be 'image' or 'pixel', got {self.reduce!r}")
        if not 0 <= self.min_depth < self.max_depth:
            raise ValueError(f"need 0 <= min_depth < max_depth, got {self.min_depth} and {self.max_depth}")

    def describe(self) -> str:
        """One line, e.g. 'eigen crop, 0.001-10 m, raw GT, per-image mean, no flip, no median scaling'."""
        parts = [f"{self.crop} crop" if self.crop else "no crop",
                 f"{self.min_depth:g}-{self.max_depth:g} m",
                 f"{self.gt} GT",
                 "per-image mean" if self.reduce == "image" else "pooled pixels",
                 "flip averaging" if self.flip else "no flip",
                 "median scaling" if self.median_scaling else "no median scaling"]
        if self.skip_empty:
            parts.append("empty images skipped")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EvalResult:
    """Per-image metrics, their summary, and the protocol they were measured under."""
    per_image: list = field(default_factory=list)   # [{"index": i, "d1": ..., ...}, ...]
    summary: dict = field(default_factory=dict)     # metric -> float
    protocol: EvalProtocol = field(default_factory=EvalProtocol)
    num_skipped: int = 0
    gt_size: tuple | None = None        # (H, W) of the ground truth, where the metrics are computed
    run_size: tuple | None = None       # (h, w) the model ran at (its training focal length, or native)

    def sizes(self) -> str:
        """'model at 120x160, metrics at 480x640', or '' when unknown."""
        if not self.gt_size:
            return ""
        gt = f"{self.gt_size[0]}x{self.gt_size[1]}"
        if not self.run_size or tuple(self.run_size) == tuple(self.gt_size):
            return f"model and metrics at {gt}"
        return f"model at {self.run_size[0]}x{self.run_size[1]}, metrics at {gt}"

    def table(self, digits: int = 3) -> str:
        """The summary as a small table, headed by the protocol, the sizes and the number of images."""
        head = f"{len(self.per_image)} images; {self.protocol.describe()}"
        if self.sizes():
            head += f"; {self.sizes()}"
        return head + "\n" + format_metrics(self.summary, style="table", digits=digits)

    def to_dict(self) -> dict:
        return {"summary": self.summary, "protocol": self.protocol.to_dict(),
                "protocol_description": self.protocol.describe(), "num_images": len(self.per_image),
                "num_skipped": self.num_skipped, "gt_size": list(self.gt_size) if self.gt_size else None,
                "run_size": list(self.run_size) if self.run_size else None, "per_image": self.per_image}

    def save(self, folder_or_prefix) -> list[Path]:
        """Write JSON (summary + protocol + per-image) and CSV (per-image); returns the two paths.

        A folder (existing, or given with a trailing slash) gets eval.json and eval_per_image.csv;
        anything else is a prefix: PREFIX.json and PREFIX_per_image.csv.
        """
        target = Path(folder_or_prefix)
        if target.is_dir() or str(folder_or_prefix).endswith(("/", "\\")):
            target.mkdir(parents=True, exist_ok=True)
            json_path, csv_path = target / "eval.json", target / "eval_per_image.csv"
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            json_path = target.with_name(target.name + ".json")
            csv_path = target.with_name(target.name + "_per_image.csv")
        json_path.write_text(json.dumps(self.to_dict(), indent=2))
        columns = ["index", *METRIC_NAMES]
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.per_image)
        return [json_path, csv_path]

    @classmethod
    def load(cls, json_path) -> "EvalResult":
        data = json.loads(Path(json_path).read_text())
        sizes = [tuple(data[k]) if data.get(k) else None for k in ("gt_size", "run_size")]
        return cls(data["per_image"], data["summary"], EvalProtocol(**data["protocol"]), data.get("num_skipped", 0),
                   *sizes)


# ----------------------------------------------------------------------------- prediction

def _predict(model, images: torch.Tensor) -> torch.Tensor:
    """Depth at the input size, (B, 1, H, W): course_lib.models.predict when present, else upsample here."""
    try:
        from .models import predict
    except ImportError:
        predict = None
    if predict is not None:
        return predict(model, images)
    from .losses import upsample_like

    out = model(images)                                                # (B, 1, H/s, W/s)
    return upsample_like(out, images.shape[-2:]) if out.shape[-2:] != images.shape[-2:] else out


def predict_for_protocol(model, images: torch.Tensor, protocol: EvalProtocol) -> torch.Tensor:
    """The prediction the protocol evaluates: with flip averaging if asked (median scaling is per image, later)."""
    fn = lambda x: _predict(model, x)                                  # noqa: E731
    return flip_average(fn, images) if protocol.flip else fn(images)


def ground_truth(batch: dict, protocol: EvalProtocol):
    """(depth (B, 1, H, W), valid (B, 1, H, W)) that the protocol compares against."""
    valid = batch.get("valid")
    if protocol.gt == "filled":
        return batch["depth"], valid
    if "raw_depth" not in batch:
        raise ValueError("protocol asks for raw ground truth (gt='raw') but the dataset items have no "
                         "'raw_depth'; use EvalProtocol(gt='filled') or a dataset built with raw depth.")
    raw = batch["raw_depth"]
    raw_valid = raw > 0
    return raw, raw_valid if valid is None else raw_valid & valid.bool()


# ----------------------------------------------------------------------------- the loop

@torch.no_grad()
def evaluate(model, dataset, protocol: EvalProtocol | None = None, batch_size: int = 8, device="auto",
             num_workers: int = 0, limit: int | None = None, progress: bool = True,
             camera="model") -> EvalResult:
    """Metrics of `model` on `dataset` (items: image, depth, valid, K, [raw_depth], [index]) under `protocol`.

    camera: "model" (default) runs the model at the focal length it was trained for (`model.camera`,
    set by load_model and course_lib.runs), resizing each image by its K, and upsamples the prediction
    to the ground truth's size, where the metrics are computed; a TrainingCamera to choose one; None to
    run at the data's own size. A model without a camera runs at the data's size.
    The model is put in eval mode (and back afterwards if it was training). Returns an EvalResult with
    one entry per image. Lesson 08.
    """
    from .camera import TrainingCamera, predict_at_camera

    from torch.utils.data import DataLoader, Subset

    protocol = protocol or EvalProtocol()
    device = pick_device(device)
    if limit is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    acc = MetricAccumulator(protocol.min_depth, protocol.max_depth, protocol.crop, protocol.reduce,
                            skip_empty=protocol.skip_empty)
    was_training = model.training
    model.eval().to(device)
    if camera == "model":
        camera = getattr(model, "camera", None)
    if camera is not None and not isinstance(camera, TrainingCamera):
        raise ValueError(f"camera must be 'model', None or a TrainingCamera, got {camera!r}")
    per_image, seen, gt_size, run_size = [], 0, None, None
    batches = loader
    if progress:
        from tqdm.auto import tqdm
        batches = tqdm(loader, desc="evaluate", unit="batch")
    try:
        for batch in batches:
            images = batch["image"].to(device)
            K = batch["K"] if camera is not None else None
            pred, run_size = predict_at_camera(model, images, K, camera,        # (B, 1, H, W)
                                               lambda x: predict_for_protocol(model, x, protocol))
            pred, gt_size = pred.float(), tuple(images.shape[-2:])
            gt, valid = ground_truth(batch, protocol)
            gt = gt.to(device)
            valid = None if valid is None else valid.to(device)
            if protocol.median_scaling:
                pred = median_scale(pred, gt, valid, protocol.min_depth, protocol.max_depth, crop=protocol.crop)
            metrics = acc.update(pred, gt, valid)
            indices = batch["index"].tolist() if "index" in batch else range(seen, seen + len(metrics))
            for index, m in zip(indices, metrics):
                if m is not None:
                    per_image.append({"index": int(index), **m})
            seen += len(metrics)
    finally:
        model.train(was_training)
    return EvalResult(per_image, acc.compute(), protocol, acc.num_skipped, gt_size, run_size)


# ----------------------------------------------------------------------------- pictures for lesson 08

@torch.no_grad()
def plot_error_maps(model, dataset, indices, protocol: EvalProtocol | None = None, device="auto",
                    error_kind: str = "abs_rel", camera="model"):
    """One row per dataset index: RGB | ground truth | prediction | error map (black: not evaluated).

    The error map shows only the pixels the protocol evaluates (range, crop, ground-truth kind).
    camera: as in `evaluate` (the model runs at its training focal length by default).
    Returns the matplotlib Figure.
    """
    from .data.transforms import denormalize_image
    from .viz import colorize_error, error_map, show_depth_grid

    from .camera import predict_at_camera

    protocol = protocol or EvalProtocol()
    device = pick_device(device)
    camera = getattr(model, "camera", None) if camera == "model" else camera
    was_training = model.training
    model.eval().to(device)
    rows, labels, errors = [], [], []
    try:
        for i in indices:
            item = dataset[int(i)]
            batch = {k: (v.unsqueeze(0) if torch.is_tensor(v) else v) for k, v in item.items()}
            pred, _ = predict_at_camera(model, batch["image"].to(device), batch.get("K") if camera else None, camera,
                                        lambda x: predict_for_protocol(model, x, protocol))
            pred = pred.float().cpu()
            gt, valid = ground_truth(batch, protocol)
            if protocol.median_scaling:
                pred = median_scale(pred, gt, valid, protocol.min_depth, protocol.max_depth, crop=protocol.crop)
            gt_np = gt[0, 0].numpy()
            mask = (gt_np > protocol.min_depth) & (gt_np < protocol.max_depth)
            mask &= crop_mask(protocol.crop, *gt_np.shape)
            if valid is not None:
                mask &= valid[0, 0].numpy().astype(bool)
            pred_np = pred[0, 0].clamp(protocol.min_depth, protocol.max_depth).numpy()
            err = error_map(pred_np, gt_np, mask, kind=error_kind)
            errors.append(err)
            rows.append([denormalize_image(item["image"]), np.where(mask, gt_np, 0), pred_np, err])
            labels.append(f"#{int(i)}  mean {error_kind} {np.nanmean(err):.3f}")
    finally:
        model.train(was_training)
    finite = np.concatenate([e[np.isfinite(e)] for e in errors])
    vmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    for row in rows:                                                   # one error scale for all rows
        row[3] = colorize_error(row[3], vmax=vmax)
    titles = ["RGB", f"ground truth ({protocol.gt})", "prediction", f"{error_kind} error (0-{vmax:.2f})"]
    return show_depth_grid(rows, titles=titles, row_labels=labels)


def plot_error_histogram(result: EvalResult, metric: str = "abs_rel", bins: int = 30, ax=None):
    """Histogram of a per-image metric over the evaluated images, with its mean and median marked."""
    import matplotlib.pyplot as plt

    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRIC_NAMES)}")
    values = np.array([r[metric] for r in result.per_image], dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(values, bins=bins, color="0.6", edgecolor="0.3")
    ax.axvline(values.mean(), color="C3", label=f"mean {values.mean():.3f}")
    ax.axvline(np.median(values), color="C0", linestyle="--", label=f"median {np.median(values):.3f}")
    ax.set_xlabel(f"per-image {metric}")
    ax.set_ylabel("images")
    ax.set_title(result.protocol.describe(), fontsize=8)
    ax.legend()
    return ax.figure


# ----------------------------------------------------------------------------- photos with depth (real frames)

def evaluate_frames(model, frames, crop: str | None = "eigen", native_size: bool = False,
                    max_depth: float = 10.0) -> list[dict]:
    """Per-frame metrics of `model` on photos with depth: objects with .name, .rgb (H, W, 3) uint8,
    .depth_m (H, W) metres (0 = no measurement) and .K (course_lib.data.realdata.RealFrame).

    Each photo goes through the same path as `python -m course_lib predict`: resized to the model's
    training focal length (unless native_size), depth upsampled back to the photo's size, metrics there
    over the measured pixels. Besides the standard metrics each row has "d1_median_scaled" (the shape
    alone) and "median_ratio" = median(gt) / median(pred) (> 1: the model puts the room too near), and
    "run_size", the (h, w) the model ran at. Lessons 08 and 10.
    """
    from .predict import predict_photo

    rows = []
    for frame in frames:
        pred, run_hw = predict_photo(model, frame.rgb, frame.K, native_size=native_size)   # (H, W) metres
        rows.append({**_frame_row(frame, pred, crop, max_depth), "run_size": tuple(run_hw)})
    return rows


def evaluate_constant(depth_m: float, frames, crop: str | None = "eigen", max_depth: float = 10.0) -> list[dict]:
    """The floor every model on `frames` must beat: one constant depth for every pixel of every photo.

    Rows as `evaluate_frames` gives them, for a "model" that never looks at the image (say, the median
    depth of its training rooms). Its "d1_median_scaled" is a flat wall at each frame's true median depth:
    the shape score of no shape at all. Lesson 08 and the sim-to-real benchmarks print it beside the models.
    """
    if not depth_m > 0:
        raise ValueError(f"the constant depth must be positive, got {depth_m}")
    return [_frame_row(frame, np.full(frame.depth_m.shape, depth_m, dtype=np.float32), crop, max_depth)
            for frame in frames]


def median_depth(dataset, n: int = 48) -> float:
    """The median depth over every measured pixel of the first n items of `dataset`: the one depth to guess
    for a photo without looking at it, knowing only those frames (`evaluate_constant`'s usual argument)."""
    depths = np.concatenate([np.asarray(dataset[i]["depth"]).ravel() for i in range(min(n, len(dataset)))])
    return float(np.median(depths[depths > 0]))


class MedianDepthMap(torch.nn.Module):
    """A "model" that never looks at the photo: every image gets the same depth map, the per-pixel median
    of the depth of `n` frames of `dataset` (its training frames: the average room), at their camera.

    It runs through the same path as a network (`evaluate`, `evaluate_frames`, `predict`: resized to its
    camera, upsampled back), so it is the floor of layout a trained model must beat: what knowing only the
    training data, and nothing of the photo, gives. Lesson 08 and the sim-to-real benchmarks score it.
    """

    output_stride = 1

    def __init__(self, depth_m: np.ndarray, camera):
        super().__init__()
        depth = torch.as_tensor(np.asarray(depth_m, dtype=np.float32))
        if depth.ndim != 2 or not bool((depth > 0).all()):
            raise ValueError(f"MedianDepthMap needs an (h, w) map of positive depths, got shape {tuple(depth.shape)}")
        self.depth = torch.nn.Parameter(depth[None, None], requires_grad=False)
        self.camera = camera

    @classmethod
    def of(cls, dataset, n: int = 200) -> "MedianDepthMap":
        """The per-pixel median over the first n items of `dataset` (items with "depth" (1, h, w) and "K")."""
        from .camera import camera_from_data

        n = min(n, len(dataset))
        stack = np.stack([np.asarray(dataset[i]["depth"])[0] for i in range(n)])
        stack = np.where(stack > 0, stack, np.nan)                # holes of raw depth are not depths
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)       # a pixel with no depth in any item: filled below
            depth = np.nanmedian(stack, axis=0)
        fallback = np.nanmedian(stack) if np.isfinite(stack).any() else 1.0
        return cls(np.where(np.isfinite(depth), depth, fallback), camera_from_data(dataset))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.depth.to(images.dtype).expand(images.shape[0], 1, *self.depth.shape[-2:])


def _frame_row(frame, pred: np.ndarray, crop, max_depth: float) -> dict:
    """One frame's metrics of a (H, W) prediction in metres, plus d1_median_scaled and median_ratio."""
    from .metrics import depth_metrics

    metrics = depth_metrics(pred, frame.depth_m, crop=crop, max_depth=max_depth)
    scaled, scale = median_scale(pred, frame.depth_m, frame.depth_m > 0, max_depth=max_depth, crop=crop,
                                 return_scale=True)
    metrics["d1_median_scaled"] = depth_metrics(scaled, frame.depth_m, crop=crop, max_depth=max_depth)["d1"]
    return {"name": frame.name, **metrics, "median_ratio": float(scale[0])}
