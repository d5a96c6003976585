"""How fast a training step runs: images per second of forward, loss, backward and an AdamW step.

Introduced in lesson 11 (precision and speed). The step is the one `course_lib.train.train_step` does,
without the data loader: fixed random images, so only the model's own cost is timed (the loader is
measured apart, by `course_lib.data.loader_throughput`). `benchmarks/train_throughput.py` times the
same step for the course's full-size models, each in its own process.

    build = lambda: build_model("unet", base_channels=16)
    time_train_steps(build, (120, 160), batch_size=8, steps=4, amp="bf16", channels_last=True)
    # {'images_per_s': ..., 'step_s': ..., 'warmup_s': ..., ...}
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch

# the modes lesson 11 compares: autocast dtype, memory format, torch.compile
SPEED_MODES = {
    "fp32": {"amp": "off", "channels_last": False, "compile": False},
    "fp32+cl": {"amp": "off", "channels_last": True, "compile": False},
    "bf16": {"amp": "bf16", "channels_last": False, "compile": False},
    "bf16+cl": {"amp": "bf16", "channels_last": True, "compile": False},
    "bf16+cl+compile": {"amp": "bf16", "channels_last": True, "compile": True},
}


def make_train_step(model: torch.nn.Module, images: torch.Tensor, depth: torch.Tensor,
                    amp_dtype: torch.dtype | None = None, compile: bool = False, lr: float = 1e-4) -> Callable[[], float]:
    """A function that runs one training step on (images (B, 3, H, W), depth (B, 1, H, W)); it returns the loss.

    Forward under autocast(amp_dtype), masked L1 in float32 at the target size, backward, AdamW
    step. The model (already on its device and memory format) is trained in place.
    """
    from .losses import l1_loss
    from .train import to_target_size

    net = torch.compile(model) if compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    stride = getattr(model, "output_stride", None)
    device_type = images.device.type

    def step() -> float:
        with torch.autocast(device_type=device_type, dtype=amp_dtype, enabled=amp_dtype is not None):
            pred = net(images)                                              # (B, 1, H/s, W/s)
        loss = l1_loss(to_target_size(pred.float(), depth, stride), depth)  # float32
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def time_train_steps(build: Callable[[], torch.nn.Module], size: tuple[int, int], batch_size: int = 8,
                     steps: int = 4, warmup: int = 1, amp: str = "off", channels_last: bool | str = False,
                     compile: bool = False, device: str = "cpu", seed: int = 0) -> dict:
    """Images per second of `steps` timed training steps of a fresh `build()` model, after `warmup` untimed ones.

    amp and channels_last: as TrainConfig's ("auto" decides as `fit` does; fp16 only on CUDA). The warm-up absorbs
    one-time costs (torch.compile compiles there; allocator caches fill), and `warmup_s` reports it.
    Each step is timed on its own and the rate comes from the median step (`step_s`), so one step slowed
    by another process on a shared machine does not move it; `step_times_s` lists them all. On CUDA,
    `peak_mib` is the most memory the timed steps allocated (weights, gradients, optimizer state and
    activations); on the CPU it is None (a process's resident-set peak is only meaningful in a process of
    its own: benchmarks/train_throughput.py measures it that way).
    """
    from .environment import pick_device
    from .train import resolve_amp, resolve_channels_last

    if steps < 1 or warmup < 0:
        raise ValueError(f"steps must be >= 1 and warmup >= 0, got steps={steps}, warmup={warmup}")
    dev = pick_device(device)
    amp_dtype = resolve_amp(amp, dev) if amp != "off" else None
    channels_last = resolve_channels_last(channels_last, amp_dtype)
    torch.manual_seed(seed)
    model = build().to(dev).train()
    h, w = size
    images = torch.randn(batch_size, 3, h, w, device=dev)
    depth = 1.0 + 4.0 * torch.rand(batch_size, 1, h, w, device=dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    step = make_train_step(model, images, depth, amp_dtype, compile)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    start = time.perf_counter()
    for _ in range(warmup):
        step()
    sync()
    warmup_s = time.perf_counter() - start
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    peak_mib = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    return {"images_per_s": batch_size / step_s, "step_s": step_s, "step_times_s": times, "warmup_s": warmup_s,
            "peak_mib": peak_mib,
            "batch_size": batch_size, "size": f"{h}x{w}", "amp": amp, "channels_last": channels_last,
            "compile": compile, "device": str(dev), "loss": loss}
