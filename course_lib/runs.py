"""Load a lesson's trained model if it is there, else train it: `train_or_load(...)`.

Lessons save what they train under `runs/NN_name/` (or `$COURSE_RUNS/NN_name/`; git ignores runs/).
A re-run, or a later lesson that needs the model, loads it instead of training again, but only when
the recipe that made it (model options, training config, data, loss) is the one asked for now, so a
quick-mode checkpoint never stands in for a default-mode one. Introduced in lesson 03.

    run = train_or_load("03_unet", lambda: build_model("unet", base_channels=16),
                        train_ds, val_ds, loss, TrainConfig(steps=600, ...))
    run.model, run.history, run.trained, run.seconds
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import torch

RUNS_ENV = "COURSE_RUNS"
RECIPE_FILE = "recipe.json"
# TrainConfig fields that change where files go or what is printed, not the weights
_NOT_RECIPE = ("out_dir", "progress", "tensorboard", "resume", "checkpoint_every", "log_every", "num_workers")


def runs_root() -> Path:
    """Where lessons keep their trained models: `$COURSE_RUNS`, else `runs/` beside the notebook."""
    return Path(os.environ.get(RUNS_ENV, "runs"))


@dataclass
class TrainedRun:
    model: torch.nn.Module   # in eval mode, on the CPU; model.camera = the camera it was trained for
    history: dict            # the curves fit logged (loaded from the checkpoint on a re-run)
    trained: bool            # True when this call trained it, False when it was loaded
    seconds: float           # training time of this call (0 when loaded)
    out_dir: Path


def _describe_data(data) -> str:
    """A dataset as text that is the same in every process: a Subset's own repr holds a memory address."""
    if isinstance(data, torch.utils.data.Subset):
        import hashlib

        indices = [int(i) for i in data.indices]
        digest = hashlib.sha1(",".join(map(str, indices)).encode()).hexdigest()[:12]
        return f"Subset({_describe_data(data.dataset)}, {len(indices)} indices, sha1 {digest})"
    return repr(data)


def _transform_of(data):
    """The transform a dataset applies to its items (through Subset wrappers); None if it has none."""
    while isinstance(data, torch.utils.data.Subset):
        data = data.dataset
    return getattr(data, "transform", None)


def recipe_of(model: torch.nn.Module, train_data, val_data, loss, config) -> dict:
    """What makes a trained model what it is, as plain JSON: compared before a checkpoint is reused.

    The data's transforms are part of it: the same rooms augmented another way make another model; so are
    pretrained encoder weights and a frozen encoder (both recorded only when present, so that the recipes
    of models from random initialisation read as they always did).
    """
    from .models.encoders import encoder_weights

    train_config = {k: v for k, v in asdict(config).items() if k not in _NOT_RECIPE}
    start = encoder_weights(model)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return json.loads(json.dumps({
        "model": getattr(model, "config", type(model).__name__),
        **({"encoder_weights": start} if start not in (None, "random initialisation") else {}),
        **({"frozen_parameters": frozen} if frozen else {}),
        "train_config": train_config,
        "train_data": f"{_describe_data(train_data)} x{len(train_data)}",
        "train_transform": repr(_transform_of(train_data)),
        "val_data": None if val_data is None else f"{_describe_data(val_data)} x{len(val_data)}",
        "val_transform": None if val_data is None else repr(_transform_of(val_data)),
        "loss": repr(loss),
        "torch": torch.__version__.split("+")[0],
    }, default=str))


def train_or_load(name: str, build: Callable[[], torch.nn.Module], train_data, val_data, loss, config,
                  callbacks=(), weights: str = "last", retrain: bool = False) -> TrainedRun:
    """The model `build()` trained by `fit` with this recipe: loaded from `runs_root()/name` when that
    folder holds a finished run of the same recipe, else trained there (seeded first, so the same
    recipe always gives the same weights on a CPU).

    weights: "last" (the weights at the end of training) or "best" (the best validation).
    """
    from .camera import checkpoint_camera
    from .checkpoint import load_checkpoint
    from .environment import seed_everything
    from .train import fit

    if weights not in ("last", "best"):
        raise ValueError(f"weights must be 'last' or 'best', got {weights!r}")
    out_dir = runs_root() / name
    seed_everything(config.seed)       # before the model is built: its initial weights come from this seed
    model = build()
    recipe = recipe_of(model, train_data, val_data, loss, config)
    recipe_path, ckpt_path = out_dir / RECIPE_FILE, out_dir / f"{weights}.pt"
    if not retrain and recipe_path.exists() and ckpt_path.exists() and (out_dir / "last.pt").exists():
        same = json.loads(recipe_path.read_text()) == recipe
        last = load_checkpoint(out_dir / "last.pt", map_location="cpu")
        # finished: all its steps, or stopped early by `config.early_stopping` (patience used up)
        stopped_early = bool(config.early_stopping) and \
            int((last.get("best") or {}).get("bad_validations", 0)) >= int(config.patience)
        finished = int(last.get("step", -1)) >= int(config.steps) or stopped_early if not config.epochs else True
        if same and finished:
            checkpoint = last if weights == "last" else load_checkpoint(ckpt_path, model, map_location="cpu")
            if weights == "last":
                load_checkpoint(out_dir / "last.pt", model, map_location="cpu")
            print(f"loaded the trained model from {ckpt_path} (same recipe; delete {out_dir} to train again)")
            model.camera, model.camera_note = checkpoint_camera(last, str(out_dir / "last.pt"))
            return TrainedRun(model.cpu().eval(), dict(last.get("history") or checkpoint.get("history") or {}),
                              False, 0.0, out_dir)
        print(f"{out_dir} holds another recipe or an unfinished run: training again")
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe_path.unlink(missing_ok=True)        # written again only once training has finished
    start = time.perf_counter()
    history = fit(model, train_data, val_data, loss, replace(config, out_dir=str(out_dir), resume=False),
                  callbacks=list(callbacks))
    seconds = time.perf_counter() - start
    if weights == "best" and ckpt_path.exists():
        load_checkpoint(ckpt_path, model, map_location="cpu")
    last = load_checkpoint(out_dir / "last.pt", map_location="cpu")
    model.camera, model.camera_note = checkpoint_camera(last, str(out_dir / "last.pt"))
    recipe_path.write_text(json.dumps(recipe, indent=2))
    # fit may leave the weights channels_last; a loaded checkpoint is contiguous, and the two layouts
    # round differently (~1e-7 m): the standard layout makes a trained and a re-loaded model compute alike
    model = model.to(memory_format=torch.contiguous_format)
    return TrainedRun(model.cpu().eval(), history, True, seconds, out_dir)


# ----------------------------------------------------------------------------- the CPU recipe

@dataclass
class Recipe:
    """A training recipe: the TrainConfig and loss for `train_or_load`, and the data and model it was tuned for."""
    config: object                       # TrainConfig
    loss: object                         # a CombinedLoss from course_lib.losses.build_loss
    loss_spec: str
    image_size: tuple[int, int]          # (H, W) to train and evaluate at
    base_channels: int                   # build_model("unet", base_channels=...)
    train_rooms: int                     # distinct synthetic training rooms (wrap them in CachedSamples)

    def __str__(self) -> str:
        c = self.config
        return (f"U-Net base_channels={self.base_channels} at {self.image_size[0]}x{self.image_size[1]}, "
                f"{self.train_rooms} training rooms; loss {self.loss_spec}; {c.steps} steps of batch {c.batch_size}, "
                f"AdamW lr {c.lr:g} (weight decay {c.weight_decay:g}), {c.schedule} schedule with {c.warmup_steps} "
                f"warm-up steps; amp={c.amp}, channels_last={c.channels_last}; validation every {c.val_every} steps")


# lesson 03's recipe: a narrow U-Net, 1000 synthetic rooms at 96x128, log-RMSE, 1200 steps of AdamW with warm-up and
# cosine decay; the precision and layout are the library's choice (bf16 and channels_last where the CPU has native bf16)
CPU_RECIPE = dict(image_size=(96, 128), base_channels=16, train_rooms=1000, loss_spec="log_rmse",
                  config=dict(steps=1200, batch_size=8, lr=2e-3, schedule="cosine", warmup_steps=50,
                              amp="auto", channels_last="auto", val_every=250))


def cpu_recipe(loss_spec: str | None = None, **overrides) -> Recipe:
    """The recipe that trains a narrow U-Net (16 base channels) on 1000 synthetic rooms at 96x128 in a few
    minutes on a 2-core CPU: log-RMSE loss, 1200 steps of batch 8, AdamW at lr 2e-3 with 50 warm-up steps
    and cosine decay, in bf16 with channels_last where the CPU computes bf16 natively (`TrainConfig`'s
    "auto"), else in float32. Lesson 03 trains it; lessons 06, 07 and 09 train their models with it under
    shorter budgets, and the course's model for photos (`train --preset photo`) with all of it.

    Keyword arguments override TrainConfig fields (steps=..., lr=...); `loss_spec` replaces the loss (a
    `build_loss` spec, e.g. "log_rmse=1,grad=0.5" adds half of lesson 05's gradient term). The returned
    Recipe says the data and model it was tuned for.
    """
    from .losses import build_loss
    from .train import TrainConfig

    config = TrainConfig(**{**CPU_RECIPE["config"], **overrides})
    loss_spec = loss_spec or CPU_RECIPE["loss_spec"]
    return Recipe(config=config, loss=build_loss(loss_spec), loss_spec=loss_spec,
                  image_size=tuple(CPU_RECIPE["image_size"]), base_channels=CPU_RECIPE["base_channels"],
                  train_rooms=CPU_RECIPE["train_rooms"])


# ----------------------------------------------------------------------------- the one held-out set

HELDOUT = dict(rooms=64, size=(96, 128))        # every lesson that scores on rooms scores on these
HELDOUT_QUICK = dict(rooms=8, size=(48, 64))    # quick mode: only proves the code runs


def course_heldout(quick: bool = False, size=None, transform=None, raw_depth: bool = False):
    """The course's held-out set: 64 synthetic rooms at 96x128 (`heldout_rooms` seeds 10**9 ...), the same in
    every lesson, so one model has one number. Quick mode: 8 rooms at 48x64. `size` (H, W) renders the
    same rooms at another size, for a model that needs one (its numbers then say so). `raw_depth` adds each
    room's Kinect-like raw depth (lesson 08); the rooms and their exact depth stay the same."""
    from .data import heldout_rooms

    spec = HELDOUT_QUICK if quick else HELDOUT
    return heldout_rooms(spec["rooms"], size=tuple(size or spec["size"]), transform=transform, raw_depth=raw_depth)


# ----------------------------------------------------------------------------- the model later lessons evaluate

LESSON_03_RUN = "03_unet"                 # lesson 03's U-Net, trained by its default (not quick) mode
FALLBACK_RUN = "course_fallback_unet"     # what course_model trains when lesson 03's model is absent
FALLBACK = dict(image_size=(96, 128), base_channels=16, train_rooms=300, steps=400)
FALLBACK_QUICK = dict(image_size=(48, 64), base_channels=8, train_rooms=16, steps=10)


def finished_run_steps(name: str) -> int | None:
    """The number of steps the finished run `runs_root()/name` trained for; None when there is none."""
    folder = runs_root() / name
    if not ((folder / RECIPE_FILE).exists() and (folder / "last.pt").exists()):
        return None
    return int(json.loads((folder / RECIPE_FILE).read_text())["train_config"].get("steps") or 0)


def course_model(quick: bool = False, min_steps: int = 100) -> TrainedRun:
    """Lesson 03's U-Net when `runs_root()/03_unet` holds a finished run of at least `min_steps` steps, else a
    small U-Net trained here with lesson 03's CPU recipe on fewer rooms and steps (`runs_root()/course_fallback_unet`,
    loaded on a re-run; `_quick` and tiny in quick mode, which never uses lesson 03's model). Prints which.
    Lessons 08 and 10.
    """
    from .checkpoint import load_checkpoint, load_model

    steps = finished_run_steps(LESSON_03_RUN)
    if not quick and steps is not None and steps >= min_steps:
        path = runs_root() / LESSON_03_RUN / "last.pt"
        model = load_model(path, weights="model")            # the weights lesson 03 evaluated
        print(f"using lesson 03's U-Net from {path} ({steps} steps, trained at {model.camera.describe()})")
        return TrainedRun(model, dict(load_checkpoint(path, map_location="cpu").get("history") or {}),
                          False, 0.0, path.parent)
    from .data import make_dataset
    from .data.cached import CachedSamples
    from .models import build_model

    spec = FALLBACK_QUICK if quick else FALLBACK
    why = "quick mode" if quick else (f"{runs_root() / LESSON_03_RUN} holds no finished run of at least {min_steps} "
                                      "steps (run lesson 03 to use its model)")
    print(f"{why}: using a small U-Net trained by this lesson instead ({spec['train_rooms']} rooms, "
          f"{spec['steps']} steps at {spec['image_size'][0]}x{spec['image_size'][1]})")
    recipe = cpu_recipe(steps=spec["steps"], val_every=None, progress=False)
    train = CachedSamples(make_dataset("synthetic", "train", spec["image_size"], length=spec["train_rooms"]))
    # un-augmented validation rooms: fit records the camera of the validation data (a randomly zoomed
    # training item would record a wrong focal length)
    val = CachedSamples(make_dataset("synthetic", "val", spec["image_size"], length=8))
    run = train_or_load(FALLBACK_RUN + ("_quick" if quick else ""),
                        lambda: build_model("unet", base_channels=spec["base_channels"]),
                        train, val, recipe.loss, recipe.config)
    # fit trains in channels_last; the standard layout makes a trained and a loaded model compute alike
    run.model = run.model.to(memory_format=torch.contiguous_format)
    return run


# ----------------------------------------------------------------------------- the course's model for photos

PHOTO_RUN = "06_lite0_unet_imagenet"      # lesson 06's EfficientNet-Lite0 U-Net from ImageNet weights (x0.1 encoder lr)
# lesson 06's budget for it (and for every model it compares); the fallback is what `photo_model` trains when
# lesson 06 has not been run
PHOTO = dict(image_size=(96, 128), train_rooms=400, steps=300)
# `train --preset photo`: the same network on lesson 03's full CPU recipe with half of lesson 05's gradient term
# added to log-RMSE, the recipe measured on real NYU frames (benchmarks/RESULTS.md, "The model for photos")
PHOTO_PRESET_LOSS = "log_rmse=1,grad=0.5"
PHOTO_PRESET_RUN = "photo"                # `train --preset photo --out <runs_root()>/photo`: lessons 08 and 10 use it
PHOTO_FALLBACK = dict(image_size=(96, 128), train_rooms=200, steps=150)
PHOTO_FALLBACK_QUICK = dict(image_size=(64, 96), train_rooms=16, steps=4)


def photo_recipe(steps: int = PHOTO["steps"], **overrides) -> Recipe:
    """Lesson 06's recipe for a pretrained encoder: lesson 03's CPU recipe with log-RMSE alone (the gradient
    term waits for lesson 05), `steps` steps, the encoder at a tenth of the decoder's learning rate."""
    return cpu_recipe(loss_spec="log_rmse", steps=steps, val_every=None,
                      **{"encoder_lr_scale": 0.1, **overrides})


# the network of the course's model for photos: build_model(**PHOTO_MODEL); `train --preset photo` reads it too
PHOTO_MODEL = dict(name="resnet_unet", encoder="efficientnet_lite0", pretrained=True)


def build_photo_model() -> torch.nn.Module:
    """The course's model for photos: a U-Net decoder on EfficientNet-Lite0 with ImageNet weights (pip, offline)."""
    from .models import build_model

    return build_model(**PHOTO_MODEL)


def finished_photo_preset(path) -> dict | None:
    """The checkpoint at `path` when it is a `train --preset photo` run that finished all its steps, else None."""
    from .checkpoint import load_checkpoint

    path = Path(path)
    if not path.exists():
        return None
    checkpoint = load_checkpoint(path, map_location="cpu")
    total = checkpoint.get("total_steps")
    if checkpoint.get("preset") != "photo" or total is None or int(checkpoint.get("step", -1)) < int(total):
        return None
    return checkpoint


def photo_model(quick: bool = False, min_steps: int = 100) -> TrainedRun:
    """The course's model for photos, the first of these that is there (prints which):

    1. the run of `python -m course_lib train --preset photo --out runs/photo` (`runs_root()/photo`, run from
       the lessons' folder), when it finished all its steps (never in quick mode);
    2. lesson 06's ImageNet EfficientNet-Lite0 U-Net (`runs_root()/06_lite0_unet_imagenet`), a finished run of
       at least `min_steps` steps (quick mode: lesson 06's quick run);
    3. the same network trained here on fewer rooms and steps (`runs_root()/photo_fallback`, loaded on a
       re-run; `_quick` and tiny in quick mode).

    Lessons 08 and 10 run it on real photos.
    """
    from .checkpoint import load_checkpoint, load_model

    preset_path = runs_root() / PHOTO_PRESET_RUN / "last.pt"
    checkpoint = None if quick else finished_photo_preset(preset_path)
    if checkpoint is not None:
        model = load_model(preset_path, weights="model")
        print(f"using the model for photos trained by `train --preset photo` from {preset_path} "
              f"({checkpoint['step']} steps, trained at {model.camera.describe()})")
        return TrainedRun(model, dict(checkpoint.get("history") or {}), False, 0.0, preset_path.parent)
    if not quick and preset_path.exists():
        print(f"{preset_path} is not a finished `train --preset photo` run: not used")

    name = ("06_quick_" if quick else "06_") + PHOTO_RUN[3:]
    steps = finished_run_steps(name)
    if steps is not None and (quick or steps >= min_steps):
        path = runs_root() / name / "last.pt"
        model = load_model(path, weights="model")
        print(f"using lesson 06's EfficientNet-Lite0 U-Net (ImageNet weights) from {path} ({steps} steps, "
              f"trained at {model.camera.describe()})")
        return TrainedRun(model, dict(load_checkpoint(path, map_location="cpu").get("history") or {}),
                          False, 0.0, path.parent)
    from .data import make_dataset
    from .data.cached import CachedSamples

    spec = PHOTO_FALLBACK_QUICK if quick else PHOTO_FALLBACK
    print(f"{runs_root() / name} holds no finished run{'' if quick else f' of at least {min_steps} steps'} (run "
          f"lesson 06 to use its model): training the same network here on {spec['train_rooms']} rooms for "
          f"{spec['steps']} steps at {spec['image_size'][0]}x{spec['image_size'][1]}")
    recipe = photo_recipe(steps=spec["steps"], progress=False)
    train = CachedSamples(make_dataset("synthetic", "train", spec["image_size"], length=spec["train_rooms"]))
    val = CachedSamples(make_dataset("synthetic", "val", spec["image_size"], length=8))   # records the camera
    run = train_or_load("photo_fallback" + ("_quick" if quick else ""), build_photo_model, train, val,
                        recipe.loss, recipe.config)
    run.model = run.model.to(memory_format=torch.contiguous_format)
    return run
