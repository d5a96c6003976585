"""The machine a lesson runs on: device choice, seeding, quick mode, and a printable summary.

Introduced in lesson 00 (welcome and setup).
"""
from __future__ import annotations

import os
import platform
import random
import sys

import numpy as np

# torch is imported inside the functions: `import course_lib` (and so `python -m data_prep`) stays fast.

QUICK_ENV = "COURSE_QUICK"


def is_quick_mode() -> bool:
    """True when the environment asks for quick mode (`COURSE_QUICK=1`), as CI and nbval do."""
    return os.environ.get(QUICK_ENV, "0") == "1"


def cpu_has_fast_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AVX512-BF16 or AMX), so that bf16 autocast speeds
    training up. On an AVX2-only CPU bf16 is emulated and about ten times SLOWER than float32."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:                    # not Linux: Apple silicon and others, assume no
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_training_amp() -> str:
    """"bf16" where this CPU computes it natively, else "off": the choice `TrainConfig(amp="auto")` makes on a
    CPU, spelled out for code that names the precision it runs in."""
    return "bf16" if cpu_has_fast_bf16() else "off"


def pick_device(device="auto"):
    """Return a torch.device: for "auto" the first of cuda, mps, cpu that is available (a str or torch.device in).

    >>> pick_device("cpu")
    device(type='cpu')
    """
    import torch

    if isinstance(device, torch.device):
        return device
    if device != "auto":
        chosen = torch.device(device)
        if chosen.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} was asked for but CUDA is not available; "
                               "use device='auto' or 'cpu'.")
        return chosen
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device) so that a run can be repeated."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def environment_info() -> dict:
    """The facts `describe_environment` prints, as a dict (for logs and checkpoints)."""
    import torch
    import torchvision

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "gpus": [],
        "mps_available": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "device": str(pick_device("auto")),
        "quick_mode": is_quick_mode(),
    }
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            info["gpus"].append({"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                                 "capability": f"{props.major}.{props.minor}",
                                 "bf16": torch.cuda.is_bf16_supported()})
    return info


def describe_environment(file=None) -> dict:
    """Print the Python, torch, CUDA/GPU, CPU and quick-mode facts of this machine; return them as a dict."""
    info = environment_info()
    lines = [
        f"Python       {info['python']} on {info['platform']}",
        f"torch        {info['torch']}  (torchvision {info['torchvision']}, numpy {info['numpy']})",
        f"CPU          {info['cpu_count']} cores, torch uses {info['torch_threads']} threads",
    ]
    if info["gpus"]:
        for i, gpu in enumerate(info["gpus"]):
            lines.append(f"GPU {i}        {gpu['name']}, {gpu['memory_gib']} GiB, compute {gpu['capability']}, "
                         f"CUDA {info['cuda_version']}")
    else:
        lines.append("GPU          none found (CUDA build: %s)" % (info["cuda_version"] or "no"))
    if info["mps_available"]:
        lines.append("MPS          available (Apple GPU)")
    lines.append(f"device       {info['device']}  (what pick_device('auto') chooses)")
    lines.append(f"quick mode   {'on' if info['quick_mode'] else 'off'}  ({QUICK_ENV}="
                 f"{os.environ.get(QUICK_ENV, '0')})")
    print("\n".join(lines), file=file or sys.stdout)
    return info
