"""The training loop of the course: `fit(model, train_data, val_data, loss, TrainConfig(...))`.

One loop for every lesson and for the command line, on a laptop CPU, one GPU or many (torchrun):
mixed precision, channels_last, torch.compile, gradient accumulation and clipping, a warm-up +
cosine / one-cycle schedule, validation with the standard depth metrics, early stopping, an EMA of
the weights, checkpoints that resume exactly, CSV / TensorBoard logs, progress bars and callbacks.

    from course_lib.train import TrainConfig, fit
    history = fit(model, SyntheticRooms(2000, size=(96, 128)), heldout_rooms(), loss,
                  TrainConfig(steps=300, batch_size=8, lr=1e-3, out_dir="runs/unet"))

Introduced in lesson 03 (a first training); lesson 11 opens the engine room (precision, speed), lesson 12
the rest (gradient accumulation, resume, DDP).
"""
from __future__ import annotations

import contextlib
import csv
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from itertools import count, islice
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from .checkpoint import (clean_state_dict, load_checkpoint, load_model, load_weights, rng_state,  # noqa: F401
                         save_checkpoint, set_rng_state, unwrap_model)
from .distributed import (DistInfo, SeededItems, ShardedSampler, all_gather_object, barrier, broadcast_object,
                          cleanup_distributed, setup_distributed)
from .camera import camera_from_data
from .models.encoders import encoder_weights
from .data import training_data_record
from .environment import seed_everything
from .errors import CourseError

HIGHER_IS_BETTER = ("d1", "d2", "d3", "delta1", "delta2", "delta3")


@dataclass
class TrainConfig:
    """Everything `fit` needs besides the model, the data and the loss. The defaults run on a CPU in seconds."""
    # how long: `steps` optimizer steps, or `epochs` passes over the training set when set
    steps: int = 100
    epochs: int | None = None
    batch_size: int = 8                 # per process: global batch = batch_size * processes * grad_accum_steps
    val_batch_size: int | None = None   # default: batch_size
    grad_accum_steps: int = 1
    # optimizer (AdamW) and learning-rate schedule
    lr: float = 1e-3
    weight_decay: float = 1e-4
    encoder_lr_scale: float = 0.1       # a pretrained `model.encoder` learns at lr * encoder_lr_scale
    schedule: str = "cosine"            # "cosine" | "onecycle" | "constant", after `warmup_steps` linear warm-up
    warmup_steps: int = 0
    clip_grad_norm: float | None = 1.0
    # speed
    device: str = "auto"
    amp: str = "auto"                   # "bf16" | "fp16" | "off" | "auto": bf16 where the device computes it
                                        # natively (a GPU that has it, a CPU with AVX512-BF16 or AMX), else float32
    channels_last: bool | str = "auto"  # True | False | "auto" (= True exactly when autocast runs in bf16 or fp16)
    compile: bool = False
    compile_backend: str | None = None  # e.g. "aot_eager" to test compile without a C++ compiler
    sync_bn: bool = False               # SyncBatchNorm across processes (DDP only)
    # validation, model selection, early stopping, weight averaging
    val_every: int | None = 50          # steps between validations (and one at the end); None = only at the end
    best_metric: str = "val_abs_rel"    # picks best.pt; min or max follows from the name (d1.. are higher-better)
    early_stopping: str | None = None   # metric name, e.g. "val_abs_rel": stop after `patience` worse validations
    patience: int = 5
    ema: float | None = None            # e.g. 0.999: keep an exponential moving average of the weights
    # files, logs, reproducibility
    out_dir: str | None = None          # None: no files; else last.pt, best.pt, log.csv (and tensorboard/)
    checkpoint_every: int | None = 100  # steps between writes of last.pt (it is always written at the end)
    log_every: int = 10
    progress: bool = True
    tensorboard: bool = False
    resume: bool = False                # continue from out_dir/last.pt when it exists
    seed: int = 0
    num_workers: int = 0


@dataclass
class TrainState:
    """What callbacks see: the raw model, where training stands, the history and the latest figures."""
    config: TrainConfig
    model: torch.nn.Module
    total_steps: int
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    history: dict = field(default_factory=dict)
    last_log: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    best: dict = field(default_factory=dict)
    is_main: bool = True
    ema: "EMA | None" = None
    should_stop: bool = False           # a callback may set it to end training after this step


class EMA:
    """An exponential moving average of a model's weights: ema = decay * ema + (1 - decay) * weights."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.999):
        import copy

        self.decay = decay
        self.module = copy.deepcopy(unwrap_model(model)).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        current = unwrap_model(model).state_dict()
        for name, average in self.module.state_dict().items():
            if average.dtype.is_floating_point:
                average.lerp_(current[name], 1.0 - self.decay)
            else:  # e.g. BatchNorm's num_batches_tracked
                average.copy_(current[name])


# ----------------------------------------------------------------------------- pieces of the loop

def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `amp` on `device` (None = full precision); warns when it falls back.

    "auto" picks bf16 where the device computes it natively: a CUDA GPU that supports it, or a CPU with
    AVX512-BF16 or AMX (`environment.cpu_has_fast_bf16`). Elsewhere float32: on an AVX2-only CPU bf16 is
    emulated and slower than float32, though amp="bf16" still runs it there when asked.
    """
    from .environment import cpu_has_fast_bf16

    if amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"amp must be 'bf16', 'fp16', 'off' or 'auto', got {amp!r}")
    bf16_ok = device.type == "cpu" or (device.type == "cuda" and torch.cuda.is_bf16_supported())
    if amp == "auto":
        native = (device.type == "cuda" and bf16_ok) or (device.type == "cpu" and cpu_has_fast_bf16())
        return torch.bfloat16 if native else None
    if amp == "bf16":
        if bf16_ok:
            return torch.bfloat16
        warnings.warn(f"amp='bf16' is not supported on {device}; training in float32.", stacklevel=3)
        return None
    if amp == "fp16":
        if device.type == "cuda":
            return torch.float16
        warnings.warn(f"amp='fp16' needs a CUDA GPU (found {device}); training in float32. "
                      "On a CPU use amp='bf16'.", stacklevel=3)
    return None


def resolve_channels_last(channels_last: bool | str, amp_dtype: torch.dtype | None) -> bool:
    """Whether to train in the channels_last layout: as given, or for "auto" exactly when autocast runs in
    bf16 or fp16 (the reduced-precision convolution kernels want it; in float32 it helps less, or not at all)."""
    if channels_last == "auto":
        return amp_dtype is not None
    if isinstance(channels_last, bool):
        return channels_last
    raise ValueError(f"channels_last must be True, False or 'auto', got {channels_last!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    """Warm-up then cosine decay to zero, one-cycle, or constant; stepped once per optimizer step."""
    warmup = max(int(config.warmup_steps), 0)
    if config.schedule == "onecycle":
        pct_start = min(max(warmup / total_steps, 1e-3), 0.99) if warmup else 0.3
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                                   total_steps=total_steps, pct_start=pct_start)
    if config.schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine', 'onecycle' or 'constant', got {config.schedule!r}")

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(total_steps - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)


def to_target_size(pred: torch.Tensor, target: torch.Tensor, output_stride: int | None = None) -> torch.Tensor:
    """(B, 1, H/s, W/s) -> (B, 1, H, W) the way models.predict does it (bilinear x s, then crop)."""
    if pred.shape[-2:] == target.shape[-2:]:
        return pred
    if output_stride:
        from .models.blocks import upsample_to_input
        return upsample_to_input(pred, target.shape[-2:], output_stride)
    return F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)


def compute_loss(loss_fn, pred, depth, valid, output_stride: int | None = None) -> tuple[torch.Tensor, dict]:
    """Call a loss that returns either a tensor or (total, {name: part}).

    A CombinedLoss gets the prediction at the model's resolution (it brings pred and target to one
    size itself, by its `resize` rule); any other loss gets it upsampled to the target size.
    """
    from .losses import CombinedLoss

    if not isinstance(loss_fn, CombinedLoss):
        pred = to_target_size(pred, depth, output_stride)
    out = loss_fn(pred, depth, valid)
    if isinstance(out, tuple):
        return out[0], dict(out[1])
    return out, {}


def metric_mode(name: str) -> str:
    """'max' for accuracies (d1, d2, d3), 'min' for errors (abs_rel, rmse, ...)."""
    return "max" if name.removeprefix("val_") in HIGHER_IS_BETTER else "min"


def _to_device(batch: dict, device: torch.device, channels_last: bool):
    non_blocking = device.type == "cuda"
    images = batch["image"].to(device, non_blocking=non_blocking)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    depth = batch["depth"].to(device, non_blocking=non_blocking)
    valid = batch["valid"].to(device, non_blocking=non_blocking) if "valid" in batch else depth > 0
    return images, depth, valid


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None)


def make_train_loader(data, config: TrainConfig, info: DistInfo):
    """A DataLoader whose order is a pure function of (seed, epoch, position), sharded across processes.

    A DataLoader passed in is used as it is (its sampler's set_epoch is called; on resume the
    consumed batches of the current epoch are skipped by reading them).
    """
    if isinstance(data, DataLoader):
        return data, None
    if len(data) < config.batch_size * info.world_size:
        raise CourseError(f"the training set has {len(data)} items, fewer than one batch "
                          f"({config.batch_size} x {info.world_size} processes); lower batch_size or add data.")
    sampler = ShardedSampler(len(data), seed=config.seed, shuffle=True, rank=info.rank,
                             world_size=info.world_size, with_seeds=True)
    loader = DataLoader(SeededItems(data), batch_size=config.batch_size, sampler=sampler, drop_last=True,
                        num_workers=config.num_workers, pin_memory=info.device.type == "cuda",
                        persistent_workers=config.num_workers > 0,
                        generator=torch.Generator().manual_seed(config.seed))
    return loader, sampler


def make_val_loader(data, config: TrainConfig, info: DistInfo):
    """Each process evaluates every world_size-th item, in order, none twice."""
    if data is None or isinstance(data, DataLoader):
        return data
    sampler = ShardedSampler(len(data), shuffle=False, rank=info.rank, world_size=info.world_size,
                             with_seeds=False, drop_uneven=False)
    return DataLoader(data, batch_size=config.val_batch_size or config.batch_size, sampler=sampler,
                      num_workers=config.num_workers, pin_memory=info.device.type == "cuda")


def _batches(loader, sampler, epoch: int, start_batch: int):
    """Endless (epoch, batches consumed in that epoch, batch), starting part-way through `epoch`."""
    for epoch in count(epoch):
        if sampler is not None:
            sampler.set_epoch(epoch, start=start_batch * loader.batch_size)
            stream = iter(loader)
        else:
            if hasattr(loader.sampler, "set_epoch"):
                loader.sampler.set_epoch(epoch)
            stream = islice(iter(loader), start_batch, None)
        consumed = start_batch
        for batch in stream:
            consumed += 1
            yield epoch, consumed, batch
        start_batch = 0


@torch.no_grad()
def validate(model: torch.nn.Module, loader, device=None, amp_dtype: torch.dtype | None = None,
             channels_last: bool = False, info: DistInfo | None = None, loss_fn=None) -> dict:
    """Standard depth metrics (and the loss) over a validation loader, keys prefixed "val_".

    Under DDP each process measures its share and the sums are added across processes.
    """
    from .metrics import MetricAccumulator

    device = device or next(model.parameters()).device
    stride = getattr(unwrap_model(model), "output_stride", None)
    was_training = model.training
    model.eval()
    accumulator = MetricAccumulator(skip_empty=True)   # an image without ground truth is skipped, not fatal
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    loss_count = torch.zeros((), dtype=torch.float64, device=device)
    for batch in loader:
        images, depth, valid = _to_device(batch, device, channels_last)
        with _autocast(device, amp_dtype):
            pred = model(images)                          # (B, 1, H/s, W/s)
        if loss_fn is not None:
            loss_sum += compute_loss(loss_fn, pred.float(), depth, valid, stride)[0].double() * len(images)
            loss_count += len(images)
        pred = to_target_size(pred.float(), depth, stride)   # (B, 1, H, W)
        accumulator.update(pred, depth, valid=valid)
    if info is not None and info.is_distributed:
        accumulator.all_reduce_()
        if loss_fn is not None:
            torch.distributed.all_reduce(loss_sum)
            torch.distributed.all_reduce(loss_count)
    model.train(was_training)
    metrics = {f"val_{k}": float(v) for k, v in accumulator.compute().items()}
    if loss_fn is not None and loss_count.item() > 0:
        metrics["val_loss"] = float(loss_sum / loss_count)
    return metrics


def oom_message(config: TrainConfig, images_shape) -> str:
    return (f"CUDA ran out of memory in a training step with input {tuple(images_shape)}; lower batch_size "
            f"(now {config.batch_size}, and raise grad_accum_steps to keep the global batch) or the image size, "
            f"use amp='bf16' (now {config.amp!r}) and channels_last=True, or pick a smaller model.")


def write_log_csv(history: dict, path: Path) -> None:
    """history -> CSV, one row per step; validation columns are filled at validation steps."""
    rows: dict[int, dict] = {}
    train_keys = [k for k in history if not k.startswith("val_")]
    val_keys = [k for k in history if k.startswith("val_") and k != "val_step"]
    for i, step in enumerate(history.get("step", [])):
        rows.setdefault(step, {}).update({k: history[k][i] for k in train_keys if i < len(history[k])})
    for i, step in enumerate(history.get("val_step", [])):
        rows.setdefault(step, {"step": step}).update({k: history[k][i] for k in val_keys if i < len(history[k])})
    columns = ["step"] + [k for k in train_keys if k != "step"] + val_keys
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for step in sorted(rows):
            writer.writerow(rows[step])
    os.replace(tmp, path)


def _append(history: dict, record: dict) -> None:
    for key, value in record.items():
        history.setdefault(key, []).append(value)


def _plain(value):
    """Build options as weights_only-loadable plain values (paths become strings)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _call(callbacks, event: str, state: TrainState) -> None:
    for callback in callbacks:
        method = getattr(callback, event, None)
        if method is not None:
            method(state)


# ----------------------------------------------------------------------------- the loop, step by step
#
# fit() reads top to bottom as a short loop; each step below is one function a lesson can show alone:
#   set-up      prepare_model, build_optimizer, plan_total_steps, setup_run  -> TrainRun, TrainState
#   resume      resume_from_last        (weights, optimizer, schedule, scaler, EMA, data position, RNG)
#   wrappers    wrap_model              (DDP across processes, torch.compile)
#   one step    train_step              (grad_accum_steps micro-batches under autocast, clip, step)
#   logging     LossMeter, log_step     (mean loss of the global batch, lr, images/s; CSV/TensorBoard)
#   validation  run_validation          (metrics, best.pt, early stopping)
#   checkpoint  checkpoint_dict, save_run_checkpoint, save_last


@dataclass
class TrainRun:
    """What one call of `fit` works with besides the TrainState: built by `setup_run`, read by every step."""
    config: TrainConfig
    info: DistInfo                       # rank, world_size, device (course_lib.distributed)
    raw_model: torch.nn.Module           # the model itself: what is saved, averaged (EMA) and trained in place
    optimizer: torch.optim.Optimizer
    scheduler: object                    # stepped once per optimizer step
    scaler: torch.amp.GradScaler         # enabled for fp16 only: scales the loss so small gradients survive
    loss_fn: object                      # (pred, depth, valid) -> tensor or (total, {name: part})
    amp_dtype: torch.dtype | None        # autocast dtype (bfloat16 / float16), None = float32
    channels_last: bool                  # images and weights in the channels_last layout (resolve_channels_last)
    train_loader: DataLoader
    sampler: ShardedSampler | None       # None when a DataLoader was passed in
    val_loader: DataLoader | None
    total_steps: int                     # optimizer steps of the whole run
    batches_per_epoch: int
    accum: int                           # micro-batches per optimizer step (grad_accum_steps)
    stride: int | None                   # the model's output stride s: predictions are (B, 1, H/s, W/s)
    camera: object                       # course_lib.camera.TrainingCamera (or None): saved in checkpoints
    out_dir: Path | None
    ema: EMA | None = None
    callbacks: tuple = ()
    net: torch.nn.Module | None = None   # raw_model inside DDP and/or torch.compile (set by wrap_model)
    ddp: torch.nn.parallel.DistributedDataParallel | None = None
    progress: object = None              # tqdm bar (rank 0)
    writer: object = None                # TensorBoard SummaryWriter (rank 0)
    trained_on: dict | None = None       # course_lib.data.training_data_record(train_data): saved in checkpoints

    @property
    def device(self) -> torch.device:
        return self.info.device


def prepare_model(model: torch.nn.Module, config: TrainConfig, info: DistInfo,
                  amp_dtype: torch.dtype | None = None) -> torch.nn.Module:
    """The model on its device (in place), with SyncBatchNorm under DDP and channels_last when asked.

    channels_last stores a (B, C, H, W) tensor as (B, H, W, C) in memory: convolutions run faster
    that way on recent CPUs and on tensor-core GPUs, above all in bf16 (lesson 11). `config.channels_last`
    "auto" means: when `amp_dtype` (the autocast dtype, None = float32) is bf16 or fp16.
    """
    if config.sync_bn and info.is_distributed:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(info.device)
    if resolve_channels_last(config.channels_last, amp_dtype):
        model.to(memory_format=torch.channels_last)
    return model


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; a pretrained encoder at lr * encoder_lr_scale; no weight decay on biases and norms (lesson 06)."""
    from .models import param_groups

    groups = param_groups(model, config.lr, config.encoder_lr_scale, config.weight_decay)
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)


def plan_total_steps(config: TrainConfig, batches_per_epoch: int) -> int:
    """Optimizer steps of the run: `steps`, or `epochs` x (batches per epoch // grad_accum_steps)."""
    accum = max(int(config.grad_accum_steps), 1)
    return (config.epochs * max(batches_per_epoch // accum, 1)) if config.epochs else int(config.steps)


def setup_run(model: torch.nn.Module, train_data, val_data, loss, config: TrainConfig, info: DistInfo,
              amp_dtype: torch.dtype | None, callbacks=()) -> tuple[TrainRun, TrainState]:
    """Set-up: model, optimizer, gradient scaler, EMA, data loaders, schedule, and a fresh TrainState."""
    from .losses import build_loss

    raw_model = prepare_model(model, config, info, amp_dtype)
    optimizer = build_optimizer(raw_model, config)
    stride = getattr(raw_model, "output_stride", None)
    scaler = torch.amp.GradScaler(info.device.type, enabled=amp_dtype == torch.float16)
    ema = EMA(raw_model, config.ema) if config.ema else None
    # the camera the model learns metric depth for: recorded in every checkpoint (course_lib.camera)
    camera = camera_from_data(val_data if val_data is not None else train_data)
    trained_on = training_data_record(train_data)      # synthetic rooms only? `predict` says so on photos
    train_loader, sampler = make_train_loader(train_data, config, info)
    val_loader = make_val_loader(val_data, config, info)
    total_steps = plan_total_steps(config, len(train_loader))
    scheduler = build_scheduler(optimizer, config, total_steps)
    run = TrainRun(config=config, info=info, raw_model=raw_model, optimizer=optimizer, scheduler=scheduler,
                   scaler=scaler, loss_fn=loss if loss is not None else build_loss("l1"), amp_dtype=amp_dtype,
                   channels_last=resolve_channels_last(config.channels_last, amp_dtype),
                   train_loader=train_loader, sampler=sampler, val_loader=val_loader, total_steps=total_steps,
                   batches_per_epoch=len(train_loader), accum=max(int(config.grad_accum_steps), 1),
                   stride=stride, camera=camera, out_dir=Path(config.out_dir) if config.out_dir else None,
                   ema=ema, callbacks=tuple(callbacks), trained_on=trained_on)
    best_metric = config.best_metric if not config.early_stopping else "val_" + config.early_stopping.removeprefix("val_")
    state = TrainState(config=config, model=raw_model, total_steps=total_steps, is_main=info.is_main, ema=ema,
                       best={"metric": best_metric, "value": None, "step": None, "bad_validations": 0})
    return run, state


def resume_from_last(run: TrainRun, state: TrainState) -> bool:
    """Resume: with config.resume and out_dir/last.pt, restore everything the next step depends on.

    Weights, optimizer moments, schedule, fp16 scaler, EMA, the position in the data (epoch, batch)
    and every random generator (per process under DDP): the resumed run then equals the straight one
    bit for bit. Returns whether it resumed.
    """
    last_path = run.out_dir / "last.pt" if run.out_dir else None
    if not (run.config.resume and last_path is not None and last_path.exists()):
        return False
    info, scheduler, total_steps = run.info, run.scheduler, run.total_steps
    ckpt = load_checkpoint(last_path, run.raw_model, map_location=run.device)
    run.optimizer.load_state_dict(ckpt["optimizer"])
    # OneCycleLR keeps its length in its state: a run extended to more steps keeps the new one
    new_length = {k: getattr(scheduler, k) for k in ("total_steps", "_schedule_phases") if hasattr(scheduler, k)}
    scheduler.load_state_dict(ckpt["scheduler"])
    planned = _planned_steps(ckpt)
    if planned is not None and planned != total_steps:
        for key, value in new_length.items():
            setattr(scheduler, key, value)
        if info.is_main:
            print(f"note: the run in {run.out_dir} planned its learning-rate schedule for {planned} steps; it "
                  f"now runs to {total_steps}, so the schedule from step {int(ckpt['step'])} on follows "
                  f"the {total_steps}-step one (the learning rate changes from the first run's).")
    if run.scaler.is_enabled() and ckpt.get("scaler"):
        run.scaler.load_state_dict(ckpt["scaler"])
    if run.ema is not None and "ema" in ckpt:
        run.ema.module.load_state_dict(ckpt["ema"])
    state.step, state.epoch = int(ckpt["step"]), int(ckpt["epoch"])
    state.batch_in_epoch = int(ckpt.get("batch_in_epoch", 0))
    state.history = dict(ckpt.get("history") or {})
    state.metrics = dict(ckpt.get("metrics") or {})
    state.best = dict(ckpt.get("best") or state.best)
    ranks = ckpt.get("rng_by_rank")
    set_rng_state(ranks[info.rank] if ranks and len(ranks) == info.world_size else ckpt["rng"])
    if info.is_main:
        print(f"resuming from {last_path} at step {state.step} of {total_steps}")
    return True


def wrap_model(run: TrainRun) -> None:
    """Wrappers: DDP (averages gradients across processes in backward), then torch.compile; sets run.net."""
    net = run.raw_model
    if run.info.is_distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    run.ddp = net if run.info.is_distributed else None
    if run.config.compile:
        net = torch.compile(net, **({"backend": run.config.compile_backend} if run.config.compile_backend else {}))
    run.net = net


def open_logs(run: TrainRun, state: TrainState) -> None:
    """Rank 0: create out_dir, a TensorBoard writer when asked, and the progress bar."""
    if not run.info.is_main:
        return
    if run.out_dir is not None:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        if run.config.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                run.writer = SummaryWriter(str(run.out_dir / "tensorboard"))
            except ImportError:
                warnings.warn("tensorboard is not installed; no TensorBoard logs (pip install tensorboard).")
    if run.config.progress:
        from tqdm.auto import tqdm
        run.progress = tqdm(total=run.total_steps, initial=state.step, desc="train", dynamic_ncols=True)


def close_logs(run: TrainRun) -> None:
    if run.progress is not None:
        run.progress.close()
    if run.writer is not None:
        run.writer.close()


class LossMeter:
    """The loss and its parts summed over the micro-batches since the last log, and the time since then."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0                   # micro-batches
        self.batch_size = 0              # images in the latest micro-batch (per process)
        self.started = time.perf_counter()

    def add(self, parts: dict, batch_size: int) -> None:
        for key, value in parts.items():
            value = value.detach().float() if torch.is_tensor(value) else torch.tensor(float(value))
            self.sums[key] = self.sums.get(key, 0) + value
        self.count += 1
        self.batch_size = batch_size


def train_step(run: TrainRun, state: TrainState, batches, meter: LossMeter) -> float:
    """One optimizer step = `accum` micro-batches; returns the learning rate the step used.

    Per micro-batch: images (B, 3, H, W) -> pred (B, 1, H/s, W/s) under autocast (bf16/fp16), the
    loss in float32 against depth (B, 1, H, W), backward of loss / accum (scaled up under fp16), so
    the summed gradient is that of the mean over B * accum images. Under DDP the gradients are
    averaged across processes at the last micro-batch only (no_sync before it). Then clip, step.
    """
    config, accum = run.config, run.accum
    images = None
    try:
        for micro in range(accum):
            state.epoch, state.batch_in_epoch, batch = next(batches)
            images, depth, valid = _to_device(batch, run.device, run.channels_last)  # (B,3,H,W), (B,1,H,W) x2
            last_micro = micro == accum - 1
            sync = run.ddp.no_sync() if run.ddp is not None and not last_micro else contextlib.nullcontext()
            with sync:
                with _autocast(run.device, run.amp_dtype):
                    pred = run.net(images)                                      # (B, 1, H/s, W/s)
                total, parts = compute_loss(run.loss_fn, pred.float(), depth, valid, run.stride)  # float32
                run.scaler.scale(total / accum).backward()
            meter.add({"loss": total, **parts}, len(images))
        if config.clip_grad_norm:
            run.scaler.unscale_(run.optimizer)   # clip the true gradients, not the fp16-scaled ones
            torch.nn.utils.clip_grad_norm_(run.raw_model.parameters(), config.clip_grad_norm)
        run.scaler.step(run.optimizer)           # skips the step when fp16 gradients overflowed
        run.scaler.update()
        run.optimizer.zero_grad(set_to_none=True)
        lr_used = max(g["lr"] for g in run.optimizer.param_groups)
        run.scheduler.step()
    except torch.cuda.OutOfMemoryError as exc:
        raise CourseError(oom_message(config, images.shape if images is not None else ())) from exc
    if state.batch_in_epoch >= run.batches_per_epoch:
        state.epoch, state.batch_in_epoch = state.epoch + 1, 0   # the next batch opens a new epoch
    if run.ema is not None:
        run.ema.update(run.raw_model)
    state.step += 1
    return lr_used


def log_step(run: TrainRun, state: TrainState, meter: LossMeter, lr: float) -> dict:
    """Logging: the mean loss (and parts) since the last log, of the global batch; lr; images/s.

    Appends the record to state.history, resets the meter; rank 0 updates the progress bar and
    TensorBoard and calls on_log. A non-finite loss stops training with a message.
    """
    info = run.info
    record = {"step": state.step, "epoch": state.epoch}
    means = torch.stack([torch.as_tensor(v, dtype=torch.float32, device=run.device) for v in meter.sums.values()])
    if info.is_distributed:  # the loss of the global batch: average over processes
        torch.distributed.all_reduce(means)
        means /= info.world_size
    record.update({k: float(v) / meter.count for k, v in zip(meter.sums, means.tolist())})
    record["lr"] = lr
    elapsed = time.perf_counter() - meter.started
    record["images_per_s"] = meter.count * meter.batch_size * info.world_size / max(elapsed, 1e-9)
    if not math.isfinite(record["loss"]):
        raise CourseError(f"the training loss became {record['loss']} at step {state.step}; lower lr "
                          f"(now {run.config.lr}), keep clip_grad_norm on, or use amp='bf16' instead of fp16.")
    _append(state.history, record)
    state.last_log = record
    meter.reset()
    if info.is_main:
        if run.progress is not None:
            run.progress.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
        if run.writer is not None:
            for k, v in record.items():
                if k not in ("step", "epoch"):
                    run.writer.add_scalar(f"train/{k}", v, state.step)
        _call(run.callbacks, "on_log", state)
    state.should_stop = broadcast_object(state.should_stop, info)  # a callback on rank 0 may stop all
    return record


def run_validation(run: TrainRun, state: TrainState) -> dict:
    """Validation: metrics of the EMA (or raw) model; best.pt when the watched metric improved; early stopping."""
    config = run.config
    metrics = validate(run.ema.module if run.ema is not None else run.raw_model, run.val_loader, run.device,
                       run.amp_dtype, run.channels_last, run.info, run.loss_fn)
    state.metrics = metrics
    _append(state.history, {"val_step": state.step, **metrics})
    name, best = state.best["metric"], state.best["value"]
    if name in metrics:
        value = metrics[name]
        better = best is None or (value < best if metric_mode(name) == "min" else value > best)
        if better:
            state.best.update(value=value, step=state.step, bad_validations=0)
            if run.out_dir is not None:
                save_run_checkpoint(run, state, "best.pt")
        else:
            state.best["bad_validations"] += 1
            if config.early_stopping and state.best["bad_validations"] >= config.patience:
                state.should_stop = True
    if run.info.is_main:
        if run.writer is not None:
            for k, v in metrics.items():
                run.writer.add_scalar(k.replace("val_", "val/", 1), v, state.step)
        if run.progress is not None:
            run.progress.write(f"step {state.step}: " + "  ".join(
                f"{k[4:]} {v:.4f}" for k, v in metrics.items() if k[4:] in ("abs_rel", "rmse", "d1", "loss")))
        _call(run.callbacks, "on_validation", state)
    return metrics


def checkpoint_dict(run: TrainRun, state: TrainState) -> dict:
    """Everything a resume needs, in the course checkpoint format (course_lib.checkpoint)."""
    raw_model, config, info = run.raw_model, run.config, run.info
    ckpt = {"model": raw_model.state_dict(), "model_config": _plain(getattr(raw_model, "config", None)),
            "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
            "scaler": run.scaler.state_dict(), "step": state.step, "epoch": state.epoch,
            "total_steps": run.total_steps,
            "batch_in_epoch": state.batch_in_epoch, "rng": rng_state(), "config": asdict(config),
            "metrics": state.metrics, "best": state.best, "history": state.history,
            "camera": run.camera.to_dict() if run.camera is not None else None, "trained_on": run.trained_on,
            "encoder_weights": encoder_weights(raw_model)}
    if info.is_distributed:  # every process's generators, so dropout resumes identically on each
        ckpt["rng_by_rank"] = all_gather_object(ckpt["rng"], info)
    if run.ema is not None:
        ckpt["ema"] = run.ema.module.state_dict()
    return ckpt


def save_run_checkpoint(run: TrainRun, state: TrainState, name: str) -> None:
    """Checkpointing: write out_dir/name on rank 0 (every process takes part: gathering generators is collective)."""
    ckpt = checkpoint_dict(run, state)
    if run.info.is_main and run.out_dir is not None:
        save_checkpoint(run.out_dir / name, ckpt)
    barrier(run.info)


def save_last(run: TrainRun, state: TrainState) -> None:
    """last.pt (what a resume continues from) and log.csv."""
    save_run_checkpoint(run, state, "last.pt")
    if run.info.is_main:
        write_log_csv(state.history, run.out_dir / "log.csv")


def fit(model: torch.nn.Module, train_data, val_data=None, loss=None, config: TrainConfig | None = None,
        callbacks=()) -> dict:
    """Train `model` in place; return the history (dict of lists: step, loss, its parts, lr; val_step, val_*).

    train_data / val_data: Datasets of the course's item dicts (image, depth, valid, ...) or DataLoaders.
    loss: callable (pred, depth, valid) -> tensor or (total, {name: part}), e.g. losses.build_loss(
    "l1=0.1,ssim=1,grad_l1=1"); default: masked L1 in metres.
    Started by torchrun, every process calls fit and they train one model together (DDP).
    With `config.out_dir`, writes last.pt / best.pt (course checkpoint format) and log.csv there;
    an existing last.pt is continued with `config.resume=True`, else overwritten.
    Callbacks: objects with any of on_step / on_log / on_validation / on_end(state).
    """
    config = config or TrainConfig()
    info = setup_distributed(config.device)        # rank, world size, device; a process group under torchrun
    seed_everything(config.seed + info.rank)
    amp_dtype = resolve_amp(config.amp, info.device)
    run = None
    try:
        run, state = setup_run(model, train_data, val_data, loss, config, info, amp_dtype, callbacks)
        resume_from_last(run, state)
        wrap_model(run)
        open_logs(run, state)
        run.net.train()
        batches = _batches(run.train_loader, run.sampler, state.epoch, state.batch_in_epoch)
        meter = LossMeter()
        last_val_step = state.history["val_step"][-1] if state.history.get("val_step") else None
        while state.step < run.total_steps and not state.should_stop:
            lr = train_step(run, state, batches, meter)
            if run.progress is not None:
                run.progress.update(1)
            _call(callbacks, "on_step", state)
            if state.step % config.log_every == 0 or state.step == run.total_steps:
                log_step(run, state, meter, lr)
            if run.val_loader is not None and config.val_every and state.step % config.val_every == 0:
                run_validation(run, state)
                last_val_step = state.step
                state.should_stop = broadcast_object(state.should_stop, info)
            if run.out_dir is not None and config.checkpoint_every and state.step % config.checkpoint_every == 0:
                save_last(run, state)
        # the end: a last validation, last.pt and log.csv
        if run.val_loader is not None and last_val_step != state.step:
            run_validation(run, state)
        if run.out_dir is not None:
            save_last(run, state)
        if info.is_main:
            _call(callbacks, "on_end", state)
        return state.history
    finally:
        if run is not None:
            close_logs(run)
        cleanup_distributed(info)


def _planned_steps(checkpoint: dict) -> int | None:
    """The schedule length the checkpointed run was planned for (its `total_steps`), when it says."""
    planned = checkpoint.get("total_steps")
    if planned is None and isinstance(checkpoint.get("config"), dict) and not checkpoint["config"].get("epochs"):
        planned = checkpoint["config"].get("steps")
    return int(planned) if planned is not None else None


# ----------------------------------------------------------------------------- live curves in a notebook

class LivePlot:
    """Callback that redraws the loss and validation curves while a notebook trains.

    In a notebook the figure is replaced in place every `every` logs; elsewhere (scripts, papermill
    without a live kernel front-end) nothing is drawn until the end, once. Introduced in lesson 03.
    """

    def __init__(self, train_keys=("loss",), val_keys=("val_abs_rel",), every: int = 1):
        self.train_keys, self.val_keys, self.every = list(train_keys), list(val_keys), every
        self.calls, self.figure, self.handle = 0, None, None
        self.live = _in_notebook()

    def draw(self, history: dict):
        import matplotlib.pyplot as plt

        val_keys = [k for k in self.val_keys if history.get(k)]
        fig, axes = plt.subplots(1, 1 + bool(val_keys), figsize=(10 if val_keys else 5, 3.2), squeeze=False)
        for key in self.train_keys:
            if history.get(key):
                axes[0, 0].plot(history["step"][: len(history[key])], history[key], label=key)
        axes[0, 0].set_xlabel("step")
        axes[0, 0].set_yscale("log")
        axes[0, 0].legend()
        for key in val_keys:
            axes[0, 1].plot(history["val_step"], history[key], marker="o", label=key)
        if val_keys:
            axes[0, 1].set_xlabel("step")
            axes[0, 1].legend()
        fig.tight_layout()
        self.figure = fig
        return fig

    def _redraw(self, state: TrainState) -> None:
        self.calls += 1
        if not self.live or self.calls % self.every:
            return
        self._show(self.draw(state.history))

    on_log = _redraw
    on_validation = _redraw

    def on_end(self, state: TrainState) -> None:
        fig = self.draw(state.history)
        if self.live:
            self._show(fig)

    def _show(self, fig) -> None:
        """Show `fig` in this cell, replacing the previous curves in place through a display handle
        (clearing the whole cell output would also remove the progress bar above it)."""
        import matplotlib.pyplot as plt
        from IPython.display import display

        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"
