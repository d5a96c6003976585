"""The command line: `python -m course_lib SUBCOMMAND ...` (also installed as `course`).

Each subcommand lives in a function `cmd_NAME(args) -> int` registered in `build_parser`.
Errors meant for the user (`CourseError`) are printed as one line with exit code 2.
"""
from __future__ import annotations

import argparse
import sys

from .errors import CourseError


def cmd_info(args) -> int:
    from .environment import describe_environment

    describe_environment()
    return 0


def cmd_run_notebooks(args) -> int:
    from .notebooks import run_notebooks

    runs = run_notebooks(args.notebooks, args.out, quick=args.quick, only=args.only,
                         progress=not args.no_progress, timeout_s=args.timeout)
    failed = [r for r in runs if r.status != "ok"]
    for r in failed:
        print(f"lesson {r.lesson} failed: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def cmd_site(args) -> int:
    from .site import build_site

    try:
        build_site(args.out, args.executed, notebooks=args.notebooks, only=args.only, quick=args.quick,
                   repo_url=args.repo_url, site_url=args.site_url)
    except ValueError as exc:                 # an unknown lesson number
        raise CourseError(str(exc)) from None
    return 0


# ----------------------------------------------------------------------------- train / evaluate / predict / export

def _is_main_process() -> bool:
    import os
    return os.environ.get("RANK", "0") == "0"


def _say(*parts) -> None:
    if _is_main_process():
        print(*parts)


def _as_user_error(fn, *args, **kwargs):
    """Call fn; a ValueError or FileNotFoundError caused by the arguments becomes a one-line CourseError."""
    try:
        return fn(*args, **kwargs)
    except CourseError:
        raise
    except (ValueError, FileNotFoundError) as exc:
        raise CourseError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def _parse_options(items) -> dict:
    """["base_channels=16", "up=bilinear"] -> {"base_channels": 16, "up": "bilinear"}."""
    import ast

    options = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise CourseError(f"--model-option {item!r} is not KEY=VALUE, e.g. --model-option base_channels=16.")
        try:
            options[key.strip()] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key.strip()] = text
    return options


def _build_cli_model(args, checkpoint: dict | None):
    from .models import build_model, model_options

    if checkpoint is not None and args.model is None:      # --resume without --model: the run's own model
        return build_model(**checkpoint["model_config"])
    name = args.model or "unet"
    options = _parse_options(args.model_option)
    accepted = _as_user_error(model_options, name)
    if args.encoder is not None:
        if "encoder" not in accepted:
            raise CourseError(f"model {name!r} has no --encoder option (models with one: resnet_unet, fpn, densedepth).")
        options["encoder"] = args.encoder
    if args.pretrained:
        if "pretrained" not in accepted:
            raise CourseError(f"model {name!r} has no pretrained encoder; drop --pretrained.")
        options["pretrained"] = True
    return _as_user_error(build_model, name, **options)


def _train_val_datasets(args):
    from .data import make_dataset

    size = tuple(args.image_size)
    if args.data == "synthetic":
        train = _as_user_error(make_dataset, "synthetic", "train", size=size, length=args.train_size, seed=args.seed)
        val = _as_user_error(make_dataset, "synthetic", "val", size=size, length=args.val_size)
        if getattr(args, "cache_rooms", False):        # a preset's choice: the same items, each room rendered once
            from .data.cached import CachedSamples
            train, val = CachedSamples(train), CachedSamples(val)
        return train, val
    from .data.pack import open_pack

    splits = _as_user_error(lambda: open_pack(args.data).splits)
    if "train" not in splits:
        raise CourseError(f"the pack {args.data} has no 'train' split (it has {', '.join(splits)}); train on a pack "
                          "made for training, or pass --data synthetic.")
    train = _as_user_error(make_dataset, args.data, "train", size=size, length=args.train_size, seed=args.seed)
    val = _as_user_error(make_dataset, args.data, "val", size=size, length=args.val_size)
    if "val" not in splits:  # make_dataset held out the last training frames (NYU's split has no 'val')
        print(f"note: {args.data} has no 'val' split; validating on its last training frame(s) ({len(val)}), "
              "which are left out of training (the test split stays unseen).")
    return train, val


def _given_options(argv) -> set:
    """The train command's options written on the command line (argparse dests): the command parsed again
    with every default suppressed, so that `--steps 1000` counts as given even where 1000 is the default."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in commands.choices["train"]._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv))) - {"command", "func"}


def _text(value) -> str:
    if value is None:
        return "-"
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _apply_preset(args) -> dict | None:
    """Fill the options not given on the command line from `--preset NAME` (course_lib.presets) and print the
    whole recipe, saying which values were given instead; returns what the checkpoints record (None: no preset)."""
    if args.preset is None:
        return None
    from .presets import NOT_OPTIONS, describe_preset, resolve_preset

    values = resolve_preset(args.preset)
    given = getattr(args, "given", None)
    if given is None:                  # not called through main(): the options that differ from the defaults
        defaults = vars(build_parser().parse_args(["train", "--out", str(args.out)]))
        given = {key for key, value in vars(args).items() if key in defaults and defaults[key] != value}
    if "model" in given and args.model != values["model"]:   # another network: the preset's model options go
        for key in ("encoder", "pretrained", "model_option"):
            values.pop(key)
    overridden = {key: value for key, value in values.items() if key in given}
    for key, value in values.items():
        if key not in given:
            setattr(args, key, value)
    recipe = {key: getattr(args, key) for key in values}
    _say(f"preset {args.preset}: {describe_preset(args.preset)}")
    for key, value in recipe.items():
        flag = key if key in NOT_OPTIONS else "--" + key.replace("_", "-")
        _say(f"  {flag:<20} {_text(value)}"
             + (f"   (given on the command line; the preset's: {_text(overridden[key])})" if key in overridden else ""))
    return {"preset": args.preset, "recipe": recipe, "overridden": sorted(overridden)}


def _store_recipe(out, record: dict) -> None:
    """Write the preset's name and its resolved recipe into the run's last.pt and best.pt."""
    from .checkpoint import load_checkpoint, save_checkpoint

    for name in ("last.pt", "best.pt"):
        if (out / name).exists():
            checkpoint = load_checkpoint(out / name)
            checkpoint.update(record)
            save_checkpoint(out / name, checkpoint)


def cmd_train(args) -> int:
    from pathlib import Path

    from .checkpoint import load_checkpoint
    from .environment import seed_everything
    from .losses import build_loss
    from .train import TrainConfig, fit

    record = _apply_preset(args)       # first: the preset decides --steps and the rest
    out = Path(args.out)
    last = out / "last.pt"
    checkpoint = None
    if last.exists():
        if args.resume:
            checkpoint = load_checkpoint(last)
            if checkpoint["step"] >= args.steps and not args.epochs:
                _say(f"{out} already holds a run that reached step {checkpoint['step']} of {args.steps}; "
                     "nothing to do (raise --steps to train further).")
                return 0
        elif args.overwrite:
            if _is_main_process():
                for name in ("last.pt", "best.pt", "log.csv"):
                    (out / name).unlink(missing_ok=True)
        else:
            step = load_checkpoint(last)["step"]
            raise CourseError(f"{out} already holds a training run (last.pt at step {step}); continue it with "
                              "--resume, start over with --overwrite, or choose another --out.")
    elif args.resume:
        _say(f"no checkpoint in {out} yet: starting a new run there.")

    # The seed comes first: the model's initial weights, the data order and the augmentation all draw
    # from it, so the same command gives the same weights (on a CPU, bit for bit).
    seed_everything(args.seed)
    model = _build_cli_model(args, checkpoint)
    loss = _as_user_error(build_loss, args.loss)
    train_ds, val_ds = _train_val_datasets(args)
    if record is not None:
        augmentation = getattr(train_ds, "transform", None)
        record["recipe"]["augmentation"] = " ".join(repr(augmentation).split())
        _say(f"  {'augmentation':<20} {record['recipe']['augmentation']}")
    config = TrainConfig(steps=args.steps, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         weight_decay=args.weight_decay, grad_accum_steps=args.grad_accum, schedule=args.schedule,
                         warmup_steps=args.warmup_steps, device=args.device, amp=args.amp,
                         channels_last={"on": True, "off": False}.get(args.channels_last, "auto"),
                         compile=args.compile, sync_bn=args.sync_bn,
                         val_every=args.val_every, ema=args.ema, out_dir=str(out),
                         checkpoint_every=args.checkpoint_every, log_every=args.log_every,
                         progress=not args.no_progress, tensorboard=args.tensorboard, resume=args.resume,
                         seed=args.seed, num_workers=args.num_workers)
    if args.encoder_lr_scale is not None:               # else TrainConfig's
        config.encoder_lr_scale = args.encoder_lr_scale
    history = fit(model, train_ds, val_ds, loss, config)
    if record is not None and _is_main_process():
        _store_recipe(out, record)
    if history.get("loss"):
        _say(f"trained to step {history['step'][-1]}: loss {history['loss'][-1]:.4f}"
             + (f", val abs_rel {history['val_abs_rel'][-1]:.4f}" if history.get("val_abs_rel") else ""))
    _say(f"checkpoints and log in {out}: last.pt, best.pt, log.csv")
    return 0


def _crop_arg(text: str):
    return None if text == "none" else text


def cmd_evaluate(args) -> int:
    import json
    from pathlib import Path

    from .checkpoint import load_model
    from .data import make_dataset
    from .evaluate import EvalProtocol, evaluate

    model = load_model(args.checkpoint, device="cpu")
    _say_camera(model, args.native_size)
    protocol = _as_user_error(EvalProtocol, crop=_crop_arg(args.crop), gt=args.gt, flip=args.flip,
                              max_depth=args.max_depth, reduce=args.reduce)
    if args.image_size:
        size = tuple(args.image_size)
    elif args.data == "synthetic":
        size = tuple(model.camera.image_size)          # the held-out rooms at the training size
    else:
        from .data.pack import open_pack
        pack = _as_user_error(open_pack, args.data)
        if args.split not in pack.splits:
            raise CourseError(f"the pack {args.data} has no split {args.split!r}; it has {', '.join(pack.splits)}.")
        frames = pack[args.split]
        size = (frames.height, frames.width)
    dataset = _as_user_error(make_dataset, args.data, args.split, size=size, augment=False,
                             length=args.limit, raw_depth=args.gt == "raw")
    result = _as_user_error(evaluate, model, dataset, protocol, batch_size=args.batch_size, device=args.device,
                            num_workers=args.num_workers, progress=not args.no_progress,
                            camera=None if args.native_size else "model")
    print(f"{args.checkpoint} on {args.data} ({args.split}): {result.sizes()}"
          + (" (--native-size: the data's own size, whatever the training focal length)" if args.native_size
             else " (the model runs at its training focal length)"))
    print(result.table())
    if args.json:
        target = Path(args.json)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(json.dumps({"checkpoint": str(args.checkpoint), "data": str(args.data), "split": args.split,
                                   "image_size": list(size), "native_size": bool(args.native_size),
                                   "camera": model.camera.to_dict(), "trained_on": model.trained_on,
                                   **result.to_dict()}, indent=2))
        tmp.replace(target)
        print(f"wrote {target}")
    return 0


def _say_camera(model, native_size: bool) -> None:
    """One line: the camera the model was trained for, and what is done about it."""
    if model.camera_note:
        print(model.camera_note)
    if native_size:
        print(f"--native-size: the model runs at each input's own size, although it was trained at "
              f"{model.camera.describe()}; metric depth is then off by the ratio of the focal lengths.")
    else:
        print(f"the model was trained at {model.camera.describe()}: each input is resized to that focal "
              "length, and the depth is upsampled back to the input's full size.")


def cmd_predict(args) -> int:
    from pathlib import Path

    from .checkpoint import load_model
    from .environment import pick_device
    from .predict import expand_inputs, predict_file, trained_on_note

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise CourseError(f"--out {args.out} is a file; give a folder for the depth maps.")
    if args.intrinsics is not None and (args.intrinsics[0] <= 0 or args.intrinsics[1] <= 0):
        raise CourseError(f"--intrinsics fx and fy must be positive focal lengths in pixels, got {args.intrinsics[:2]}.")
    if args.max_size is not None and args.max_size < 8:
        raise CourseError(f"--max-size {args.max_size} is too small; use at least 8 pixels (e.g. 640).")
    model = load_model(args.checkpoint, device=_as_user_error(pick_device, args.device))
    _say_camera(model, args.native_size)
    note = trained_on_note(model)                      # a model that never saw a photo says so
    if note:
        print(note)
    files = expand_inputs(args.inputs)
    if not files:
        raise CourseError("no image files found in " + ", ".join(args.inputs) + "; give photos or folders of photos.")
    failed, used = 0, set()
    for path in files:
        # photos that share a stem (a/room.png, b/room.png) get room, room_1, ...: no name is written twice
        stem = path.stem
        for n in range(1, len(files) + 1):
            if stem not in used:
                break
            stem = f"{path.stem}_{n}"
        used.add(stem)
        try:
            written, (h, w), camera = predict_file(model, path, args.out, npy=args.npy, ply=args.ply,
                                                   intrinsics=args.intrinsics, max_size=args.max_size, name=stem,
                                                   native_size=args.native_size)
        except CourseError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path} (camera: {camera}; model at {h}x{w}) -> " + ", ".join(Path(p).name for p in written.values()))
    print(f"{len(files) - failed} of {len(files)} images written to {args.out}")
    return 0 if failed == 0 else 2


def cmd_export(args) -> int:
    from .checkpoint import load_model
    from .export import check_onnx_parity, export_onnx, onnx_exporter_name

    model = load_model(args.checkpoint, device="cpu")
    if model.camera_note:
        print(model.camera_note)
    h, w = (args.height or model.camera.image_size[0]), (args.width or model.camera.image_size[1])
    if h < 8 or w < 8:
        raise CourseError(f"--height/--width {h}x{w} is too small to export; use at least 8x8 (e.g. 240 320).")
    sizes = [(h, w), (h + h // 2 + 3, w + w // 4 + 5)]       # a second, odd-sized resolution
    path = export_onnx(model, args.onnx, sample_size=(h, w), check_sizes=sizes, rtol=1e-4, camera=model.camera)
    for (sh, sw), figures in check_onnx_parity(model, path, sizes).items():
        print(f"onnxruntime vs PyTorch at {sh}x{sw}: max relative error {figures['max_rel_error']:.2e}, "
              f"max absolute error {figures['max_abs_error']:.2e} m")
    print(f"wrote {path} (dynamic batch, height and width; {onnx_exporter_name(path)} exporter); it expects "
          f"images at the training focal length: {model.camera.describe()} (in its metadata)")
    if args.quantize:
        _export_int8(model, path, args)
    return 0


def _export_int8(model, float_path, args) -> None:
    from pathlib import Path

    from .quantize import calibration_images, quantization_report, quantize_onnx

    float_path = Path(float_path)
    int8_path = float_path.with_name(float_path.stem + ".int8.onnx")
    calibration = None
    if args.quantize_mode == "static":
        calibration = _as_user_error(calibration_images, args.calibration_data, model.camera,
                                     args.calibration_frames)
        print(f"calibrating on {len(calibration)} frames of {args.calibration_data} at "
              f"{calibration[0].shape[2]}x{calibration[0].shape[3]} (the training focal length)")
    quantize_onnx(float_path, int8_path, calibration, mode=args.quantize_mode)
    print(f"wrote {int8_path} (int8, {args.quantize_mode}; the same camera metadata)")
    print(quantization_report(model, float_path, int8_path, heldout_count=args.heldout_frames).table())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib",
                                     description="Monocular depth estimation course: tools behind the lessons.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="print the Python, torch, GPU and quick-mode facts of this machine")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("run-notebooks", help="execute the lessons headless with papermill and print a summary")
    p.add_argument("--quick", action="store_true", help="quick mode: prove the code runs (COURSE_QUICK=1)")
    p.add_argument("--only", nargs="+", metavar="NN", help="run only these lesson numbers, e.g. --only 00 03")
    p.add_argument("--out", default="build/notebooks", help="folder for executed notebooks and summary.json")
    p.add_argument("--notebooks", default=None, help="folder holding the lessons (default: the course's notebooks/)")
    p.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: no limit)")
    p.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    p.set_defaults(func=cmd_run_notebooks)

    p = sub.add_parser("site", help="build the course's website from the executed lessons (needs the site extra)")
    p.add_argument("--out", default="build/site", help="folder for the static site (an earlier site there is replaced)")
    p.add_argument("--from", dest="executed", default="build/notebooks",
                   help="folder of notebooks executed by run-notebooks (default: build/notebooks)")
    p.add_argument("--quick", action="store_true", help="execute the lessons missing from --from in quick mode")
    p.add_argument("--only", nargs="+", metavar="NN", help="publish only these lesson numbers, e.g. --only 00 03")
    p.add_argument("--notebooks", default=None, help="folder holding the lessons (default: the course's notebooks/)")
    p.add_argument("--repo-url", default=None, help="the repository's web address, for links to its other files")
    p.add_argument("--site-url", default=None, help="the address the site will be served from (for its sitemap)")
    p.set_defaults(func=cmd_site)

    p = sub.add_parser("train", help="train a depth network (also under torchrun --nproc_per_node=K -m course_lib train)")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="a named recipe (course_lib.presets): photo (the course's model for photos) or unet03 "
                        "(lesson 03's U-Net); the options given beside it override its values")
    p.add_argument("--model", default=None, help="unet | resnet_unet | fpn | eigen | densedepth (default unet)")
    p.add_argument("--encoder", default=None, help="backbone for resnet_unet / fpn / densedepth, e.g. resnet50")
    p.add_argument("--pretrained", action="store_true", help="start the encoder from ImageNet weights")
    p.add_argument("--model-option", action="append", metavar="KEY=VALUE", help="any build_model option, repeatable")
    p.add_argument("--data", default="synthetic", help="'synthetic' or the path of a depth pack (.h5)")
    p.add_argument("--image-size", type=int, nargs=2, default=[240, 320], metavar=("H", "W"))
    p.add_argument("--train-size", type=int, default=None, help="number of training items (synthetic) or first N frames")
    p.add_argument("--val-size", type=int, default=None, help="number of validation items")
    p.add_argument("--batch-size", type=int, default=8, help="per process")
    p.add_argument("--steps", type=int, default=1000, help="total optimizer steps")
    p.add_argument("--epochs", type=int, default=None, help="train for N epochs instead of --steps")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--encoder-lr-scale", type=float, default=None,
                   help="a pretrained encoder's learning rate as a fraction of --lr (default: TrainConfig's)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", default="cosine", choices=["cosine", "onecycle", "constant"])
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--loss", default="l1", help="loss spec, e.g. 'l1=0.1,ssim=1.0,grad_l1=1.0' or 'densedepth'")
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "fp16", "off"],
                   help="mixed precision; auto (default): bf16 where the GPU or CPU computes it natively, else off")
    p.add_argument("--channels-last", nargs="?", const="on", default="auto", choices=["auto", "on", "off"],
                   help="channels_last memory layout; auto (default): on exactly when --amp gives bf16 or fp16; "
                        "the flag alone means on")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across processes (torchrun)")
    p.add_argument("--ema", type=float, default=None, help="keep an EMA of the weights with this decay, e.g. 0.999")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, help="run folder: last.pt, best.pt, log.csv")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.add_argument("--overwrite", action="store_true", help="start over in an --out that holds a run")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--val-every", type=int, default=200)
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs to OUT/tensorboard")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a checkpoint under a stated protocol")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default="synthetic", help="'synthetic' (the held-out rooms) or a depth pack")
    p.add_argument("--split", default="test")
    p.add_argument("--crop", default="eigen", choices=["eigen", "dense", "none"])
    p.add_argument("--flip", action="store_true", help="average with the mirrored prediction")
    p.add_argument("--gt", default="filled", choices=["filled", "raw"], help="filled depth or raw Kinect depth")
    p.add_argument("--reduce", default="image", choices=["image", "pixel"], help="per-image mean or pooled pixels")
    p.add_argument("--max-depth", type=float, default=10.0)
    p.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="ground truth at this size (default: the pack's own; the training size for synthetic)")
    p.add_argument("--native-size", action="store_true",
                   help="run the model at the data's size, not at its training focal length (to see the effect)")
    p.add_argument("--limit", type=int, default=None, help="only the first N items")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", default=None, help="also write the summary, protocol and per-image metrics here")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="depth maps (PNG, 16-bit PNG, .npy, .ply) for photos or folders of photos")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("--out", required=True)
    p.add_argument("--npy", action="store_true", help="also write float32 depth in metres")
    p.add_argument("--ply", action="store_true", help="also write a coloured point cloud")
    p.add_argument("--intrinsics", type=float, nargs=4, default=None, metavar=("FX", "FY", "CX", "CY"),
                   help="camera of the photos in pixels (default: the focal length in each photo's EXIF, else "
                        "NYU's field of view along its long side, square pixels; each photo's line says which)")
    p.add_argument("--max-size", type=int, default=None, help="shrink photos so the longer side is at most this")
    p.add_argument("--native-size", action="store_true",
                   help="run the model at each photo's own size, not at its training focal length (wrong metric "
                        "depth unless the two agree; to see the effect)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="ONNX with dynamic height and width, checked against PyTorch")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--height", type=int, default=None, help="trace and check size (default: the training size)")
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--quantize", choices=["int8"], default=None,
                   help="also write ONNX.int8.onnx (post-training quantization) and print what it costs")
    p.add_argument("--quantize-mode", choices=["static", "dynamic"], default="static",
                   help="static: int8 activations calibrated on frames (default); dynamic: int8 weights only")
    p.add_argument("--calibration-data", default="synthetic", help="'synthetic' or a depth pack to calibrate on")
    p.add_argument("--calibration-frames", type=int, default=32)
    p.add_argument("--heldout-frames", type=int, default=32, help="held-out rooms for the accuracy comparison")
    p.set_defaults(func=cmd_export)

    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        args.given = _given_options(argv)
    if getattr(args, "notebooks", "unset") is None:
        from .notebooks import DEFAULT_NOTEBOOKS
        args.notebooks = DEFAULT_NOTEBOOKS
    try:
        return args.func(args)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as exc:
        if args.command == "run-notebooks":
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
