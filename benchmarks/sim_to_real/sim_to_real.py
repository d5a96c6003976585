"""Sim-to-real: train the course's CPU recipe on synthetic rooms only, then measure it on real NYU frames.

    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py    # the default rooms and augmentation
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --zoom 1.25  # with random zooms of 1-1.25x
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --camera-effects 0.5   # blur, noise, JPEG
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --jitter 0.5  # stronger colour jitter
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --random-textures 0.5  # domain randomisation
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --photo-light 0  # flat light, as before
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --surfaces 0.5  # busy walls and floors
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --clutter 0.5  # small things on tables, floor
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --long-views 0.5  # views along the room
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --doorways 0  # no openings (renderer 2)
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --seeds 0 1 2  # the spread of three seeds
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --encoder resnet18  # a ResNet-18 U-Net
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --encoder efficientnet_lite0 --pretrained
                                                  # the U-Net on EfficientNet-Lite0 from ImageNet weights (pip, offline)
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --base-channels 32  # a wider U-Net
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --loss log_rmse=1,grad=1,normal=1
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --render-size 240 320  # shrunk like photos
    COURSE_REALDATA=../shared/realdata python benchmarks/sim_to_real/sim_to_real.py --extra-frames FRAMES  # + other sensors

The recipe is `course_lib.runs.cpu_recipe()` (printed first; about 7 minutes on 2 CPU cores): a
16-channel U-Net at 96x128, 1000 synthetic rooms, log-RMSE + 0.5 x the gradient loss, 1200 steps of
batch 8 (`--encoder`, `--pretrained`, `--base-channels`, `--steps`, `--image-size` change the network and
the budget, `--loss` the loss
(`--loss log_rmse`: the recipe before the gradient term), nothing else). The
trained model lands in runs/sim_to_real_<tag>/ and is loaded on a re-run of the same recipe. It prints
the floors a model must beat on the real frames, both blind to the photo (one constant depth everywhere,
the median depth of 48 training rooms, whose median-scaled delta1 is a flat wall's; and the average
training room, the per-pixel median of 200 rooms' depth maps), then

- the synthetic held-out figure (the 64 `heldout_rooms` at 96x128, no crop), so that both sides are seen,
  on the default rooms (renderer version 3: each going on beyond a doorway), on the same rooms without
  doorways (doorways=0: renderer version 2's rooms), with busy walls and floors (surfaces=0.5), with clutter
  (clutter=0.5), half of them seen along their length (long_views=0.5), and lit flat without doorways
  (photo_light=0, surfaces=0, doorways=0: renderer version 1's rooms);
- for each real frame with depth in $COURSE_REALDATA: delta1, abs_rel, the median-scaled delta1 (the
  shape alone) and median(gt)/median(pred) (> 1: the room predicted too near), then the mean silog (Eigen's
  scale-invariant log error, the shape measured another way), through the path of
  `python -m course_lib predict` (the photo resized to the training focal length), with raw Kinect
  depth (holes excluded), the Eigen crop, 0.001-10 m, per-image mean;

and writes build/sim_to_real/rooms_<options>_beside_real.png (held-out rooms drawn like the training rooms,
beside the real photos; rooms_default_beside_real.png for the default rooms) and
build/sim_to_real/predictions_<tag>.png (the tag ends in _seed<S> for training seeds other than 0). With
`--seeds`, it trains and measures once per training seed and ends with each figure's mean and range over
the seeds: with four frames, the training seed alone moves the real delta1 by about 0.2, so a variant is
judged on three seeds or more. Four real frames are a check, not a test set: never tune on them alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]           # the repository
sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_frames import HEADER, draw_predictions, load_frames, print_floor, print_rows, rooms_median_depth  # noqa: E402  (the table of benchmarks/sim_to_real/real_frames.py)


def main(argv=None) -> int:
    import matplotlib
    matplotlib.use("Agg")
    import numpy as np
    import torch

    from course_lib.data.synthetic import CLOSE_VIEWS, CLUTTER, DOORWAYS, LONG_VIEWS, PHOTO_LIGHT, PHOTO_SURFACES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoom", type=float, default=1.0, help="train with random zooms of 1..ZOOM (default 1: none)")
    parser.add_argument("--camera-effects", type=float, default=0.0,
                        help="train with CameraEffects (blur, noise, JPEG), each with this probability (default 0: off)")
    parser.add_argument("--jitter", type=float, default=None,
                        help="brightness, contrast and saturation jitter of the training augmentation (default: the preset's)")
    parser.add_argument("--random-textures", type=float, default=0.0,
                        help="train on rooms whose surfaces get random textures with this probability (default 0)")
    parser.add_argument("--photo-light", type=float, default=PHOTO_LIGHT,
                        help=f"the share of training rooms lit and tone-mapped like photos (default {PHOTO_LIGHT:g}, "
                             "the library's; 0 with --doorways 0: every room flat, as renderer version 1 drew them)")
    parser.add_argument("--surfaces", type=float, default=PHOTO_SURFACES,
                        help=f"the share of training rooms with busy, darker walls and floors (brick, concrete, "
                             f"wooden panels; `photo_surfaces`; default {PHOTO_SURFACES:g}, the library's)")
    parser.add_argument("--clutter", type=float, default=CLUTTER,
                        help=f"the share of training rooms with small things on tables, seats and floor "
                             f"(`add_clutter`; default {CLUTTER:g}, the library's)")
    parser.add_argument("--close-views", type=float, default=CLOSE_VIEWS,
                        help=f"the share of training rooms seen from 0.9-1.8 m in front of the wall the camera "
                             f"faces (`sample_scene`; default {CLOSE_VIEWS:g}, the library's)")
    parser.add_argument("--long-views", type=float, default=LONG_VIEWS,
                        help=f"the share of training rooms seen along their length from near a short wall "
                             f"(default {LONG_VIEWS:g}, the library's)")
    parser.add_argument("--doorways", type=float, default=DOORWAYS,
                        help=f"the share of training rooms that go on beyond an opening in the wall the "
                             f"camera faces (`add_doorway`; default {DOORWAYS:g}, the library's; 0: renderer version 2's rooms)")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's steps (a shorter check)")
    parser.add_argument("--render-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="render the training rooms' images at H x W and shrink them to the recipe's size the "
                             "way `predict` shrinks a photo (bilinear, anti-aliased); depth stays exact at the "
                             "recipe's size (default: rendered directly at the recipe's size)")
    parser.add_argument("--base-channels", type=int, default=None,
                        help="override the U-Net's width (default: the recipe's 16; 32 costs about 2.4x the time)")
    parser.add_argument("--encoder", default=None,
                        help="train a U-Net on this encoder instead (`resnet_unet`, e.g. resnet18 or "
                             "efficientnet_lite0), from random initialisation unless --pretrained")
    parser.add_argument("--pretrained", action="store_true",
                        help="start the encoder from ImageNet weights (efficientnet_lite0: from its pip package, "
                             "offline; torchvision encoders: from the torch cache)")
    parser.add_argument("--encoder-lr-scale", type=float, default=None,
                        help="the encoder's learning rate as a fraction of the decoder's (default: the recipe's, 0.1)")
    parser.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="train and evaluate at H x W instead of the recipe's 96x128 (the focal length scales with it)")
    parser.add_argument("--loss", default=None,
                        help="override the recipe's loss (a `build_loss` spec, e.g. log_rmse=1,grad=1,normal=1)")
    parser.add_argument("--train-rooms", type=int, default=None,
                        help="override the recipe's number of distinct training rooms (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=None,
                        help="override the recipe's training seed (initial weights and augmentation draws; default 0)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="train and measure once per training seed, then print each figure's mean and range")
    parser.add_argument("--realdata", default=None, help="folder of real samples (default: $COURSE_REALDATA)")
    parser.add_argument("--extra-frames", default=None,
                        help="a folder of other real RGB-D frames, one subfolder each with rgb.png, depth.png "
                             "(uint16 mm, registered) and intrinsics.npy; measured too, without a crop, and "
                             "averaged apart from the NYU frames")
    parser.add_argument("--out", default=str(ROOT / "build" / "sim_to_real"), help="where the pictures go")
    args = parser.parse_args(argv)

    frames = load_frames(args.realdata)
    if not frames:
        return 2
    from course_lib.data.realdata import real_frames_in
    from course_lib.errors import CourseError
    try:
        extra = real_frames_in(args.extra_frames) if args.extra_frames else []
    except (CourseError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.environ.setdefault("COURSE_RUNS", str(ROOT / "runs"))
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    rooms_median = rooms_median_depth()
    print("NYU frames (eigen crop): ", end="")
    print_floor(frames, "eigen", rooms_median)
    if extra:
        print("other real frames (no crop): ", end="")
        print_floor(extra, None, rooms_median)
    seeds = args.seeds if args.seeds else [args.seed]
    results = [measure(args, frames, seed, extra) for seed in seeds]
    if len(results) > 1:
        print(f"\nover training seeds {', '.join(str(seed) for seed in seeds)}: mean (lowest-highest)")
        for key in results[0]:
            values = np.array([r[key] for r in results])
            print(f"  {key:<40} {values.mean():.3f} ({values.min():.3f}-{values.max():.3f})")
    return 0


def shrunk_rooms(rooms, render_size):
    """`rooms` (SyntheticRooms) with each image rendered at `render_size` (H, W) and shrunk to the rooms' size
    the way `predict` shrinks a photo to the training focal length (course_lib.camera.resize_images: bilinear,
    anti-aliased); depth and K stay those rendered at the rooms' size, exact at its pixel centres."""
    import numpy as np
    import torch

    from course_lib.camera import resize_images
    from course_lib.data.datasets import DepthDataset
    from course_lib.data.synthetic import render_room

    class ShrunkRooms(DepthDataset):
        def __init__(self):
            self.transform = rooms.transform

        def __len__(self):
            return len(rooms)

        def sample(self, index):
            sample = rooms.sample(index)
            big = render_room(rooms.scene_seed(index), *render_size, random_textures=rooms.random_textures,
                              photo_light=rooms.photo_light, surfaces=rooms.surfaces, clutter=rooms.clutter,
                              long_views=rooms.long_views, doorways=rooms.doorways)["rgb"]
            image = torch.from_numpy(big).permute(2, 0, 1)[None].float()
            image = resize_images(image, rooms.size)[0].permute(1, 2, 0).round().clamp(0, 255)
            sample["rgb"] = np.ascontiguousarray(image.to(torch.uint8).numpy())
            return sample

        def __repr__(self):
            return f"ShrunkRooms({rooms!r}, rendered at {render_size[0]}x{render_size[1]})"

    return ShrunkRooms()


def measure(args, frames, seed, extra=()) -> dict:
    """Train (or load) the recipe with training seed `seed` (None: the recipe's), print its figures and draw
    its pictures; returns the figures that the summary over seeds averages."""
    import matplotlib.pyplot as plt
    import numpy as np

    from course_lib.data import SyntheticRooms, heldout_rooms, make_dataset, train_transforms
    from course_lib.data.cached import CachedSamples
    from course_lib.data.synthetic import CLOSE_VIEWS, CLUTTER, DOORWAYS, LONG_VIEWS, PHOTO_LIGHT, PHOTO_SURFACES
    from course_lib.evaluate import EvalProtocol, evaluate, evaluate_frames
    from course_lib.models import build_model, encoder_weights
    from course_lib.runs import cpu_recipe, train_or_load

    figures = {}
    recipe = cpu_recipe(loss_spec=args.loss, **({"steps": args.steps} if args.steps else {}),
                        **({"seed": seed} if seed is not None else {}), progress=False)
    if args.encoder_lr_scale is not None:
        recipe = dataclasses.replace(recipe, config=dataclasses.replace(recipe.config,
                                                                        encoder_lr_scale=args.encoder_lr_scale))
    if args.train_rooms:
        recipe = dataclasses.replace(recipe, train_rooms=args.train_rooms)
    if args.image_size:
        recipe = dataclasses.replace(recipe, image_size=tuple(args.image_size))
    size = recipe.image_size
    rooms_tag = "".join(f"_{name}{value:g}" for name, value, default in (
        ("light", args.photo_light, PHOTO_LIGHT), ("surfaces", args.surfaces, PHOTO_SURFACES),
        ("clutter", args.clutter, CLUTTER), ("long", args.long_views, LONG_VIEWS),
        ("close", args.close_views, CLOSE_VIEWS),
        ("doorways", args.doorways, DOORWAYS)) if value != default)
    tag = f"zoom{args.zoom:g}" + (f"_camera{args.camera_effects:g}" if args.camera_effects else "") + \
        (f"_jitter{args.jitter:g}" if args.jitter is not None else "") + \
        (f"_textures{args.random_textures:g}" if args.random_textures else "") + rooms_tag + \
        (f"_from{args.render_size[0]}x{args.render_size[1]}" if args.render_size else "") + \
        (f"_{args.encoder}" if args.encoder else "") + ("_imagenet" if args.pretrained else "") + \
        (f"_enclr{args.encoder_lr_scale:g}" if args.encoder_lr_scale is not None else "") + \
        (f"_{args.image_size[0]}x{args.image_size[1]}" if args.image_size else "") + \
        (f"_ch{args.base_channels}" if args.base_channels else "") + \
        (f"_{args.steps}steps" if args.steps else "") + (f"_{args.train_rooms}rooms" if args.train_rooms else "") + \
        (f"_loss_{re.sub('[^a-z0-9.]+', '-', args.loss.lower())}" if args.loss else "") + \
        (f"_seed{seed}" if seed else "")                                 # seed 0 is the recipe's own
    rooms_tag = "rooms" + (rooms_tag or "_default")                     # the training rooms' options alone
    augmentation = train_transforms(size, scale=(1.0, args.zoom), camera_effects=args.camera_effects,
                                    **({"jitter": args.jitter} if args.jitter is not None else {}))
    replaced = " (its network replaced: see `network:` below)" if args.encoder or args.base_channels else ""
    if args.pretrained and not args.encoder:
        raise SystemExit("--pretrained needs --encoder (the plain U-Net has no pretrained weights)")
    print(f"recipe: {recipe}{replaced}; training augmentation {augmentation}")

    train = SyntheticRooms(recipe.train_rooms, size, transform=augmentation,
                           random_textures=args.random_textures, photo_light=args.photo_light,
                           surfaces=args.surfaces, clutter=args.clutter, long_views=args.long_views,
                           doorways=args.doorways, close_views=args.close_views)
    train = CachedSamples(shrunk_rooms(train, args.render_size) if args.render_size else train)
    val = CachedSamples(make_dataset("synthetic", "val", size, length=32))
    if args.encoder:
        network = lambda: build_model("resnet_unet", encoder=args.encoder, pretrained=args.pretrained)  # noqa: E731
    else:
        network = lambda: build_model("unet", base_channels=args.base_channels or recipe.base_channels)  # noqa: E731
    run = train_or_load(f"sim_to_real_{tag}", network, train, val, recipe.loss, recipe.config)
    model = run.model
    print(f"{'trained' if run.trained else 'loaded'}: {run.out_dir} ({run.seconds:.0f} s of training)")
    print(f"network: {model.config}, {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters; "
          f"encoder weights from {encoder_weights(model)}")

    for name, light, rooms in (
            ("default", f"the default: photo_light={PHOTO_LIGHT:g}, surfaces={PHOTO_SURFACES:g}, "
                        f"clutter={CLUTTER:g}, doorways={DOORWAYS:g}", {}),
            ("plain", "no doorways: doorways=0, renderer version 2's rooms", {"doorways": 0.0}),
            ("busy walls", "busy walls: surfaces=0.5", {"surfaces": 0.5}),
            ("clutter", "with clutter: clutter=0.5", {"clutter": 0.5}),
            ("long views", "half seen along their length: long_views=0.5", {"long_views": 0.5}),
            ("flat", "flat: photo_light=0, surfaces=0, doorways=0: renderer version 1's rooms",
             {"photo_light": 0.0, "surfaces": 0.0, "doorways": 0.0})):
        synthetic = evaluate(model, heldout_rooms(64, size, **rooms), EvalProtocol(crop=None),
                             progress=False).summary
        figures[f"held-out delta1, {name} rooms"] = synthetic["d1"]
        print(f"synthetic held-out (64 rooms, {light}, {size[0]}x{size[1]}, no crop): delta1 {synthetic['d1']:.3f}, "
              f"abs_rel {synthetic['abs_rel']:.3f}, rmse {synthetic['rmse']:.3f} m")
        if args.render_size and name == "default":      # the held-out rooms made the way the training rooms were
            synthetic = evaluate(model, shrunk_rooms(heldout_rooms(64, size), args.render_size),
                                 EvalProtocol(crop=None), progress=False).summary
            figures["held-out delta1, default rooms shrunk"] = synthetic["d1"]
            print(f"synthetic held-out (64 rooms, the default, rendered at {args.render_size[0]}x{args.render_size[1]} "
                  f"and shrunk to {size[0]}x{size[1]}, no crop): delta1 {synthetic['d1']:.3f}, "
                  f"abs_rel {synthetic['abs_rel']:.3f}, rmse {synthetic['rmse']:.3f} m")

    rows = evaluate_frames(model, frames)
    print(f"real frames at the training focal length ({model.camera.describe()}); raw Kinect depth, eigen crop:")
    print(HEADER)
    mean = print_rows("training focal length", rows)
    print(f"mean over {len(rows)} real frames: delta1 {mean['d1']:.3f}, abs_rel {mean['abs_rel']:.3f}, "
          f"median-scaled delta1 {mean['d1_median_scaled']:.3f}, median(gt)/median(pred) {mean['median_ratio']:.2f}")
    silog = float(np.mean([r["silog"] for r in rows]))       # Eigen's scale-invariant log error: the shape again
    print(f"mean scale-invariant log error (silog, 100 x the std of ln pred - ln gt; lower is better): {silog:.2f}")
    figures.update({"real delta1": mean["d1"], "real abs_rel": mean["abs_rel"],
                    "real delta1, median-scaled": mean["d1_median_scaled"],
                    "real median(gt)/median(pred)": mean["median_ratio"], "real silog": silog})
    if extra:
        extra_rows = evaluate_frames(model, extra, crop=None)
        print(f"other real frames ({args.extra_frames}), at the training focal length, no crop:")
        print(HEADER)
        other = print_rows("training focal length", extra_rows)
        other_silog = float(np.mean([r["silog"] for r in extra_rows]))
        print(f"mean over {len(extra_rows)} other real frames: delta1 {other['d1']:.3f}, abs_rel {other['abs_rel']:.3f}, "
              f"median-scaled delta1 {other['d1_median_scaled']:.3f}, median(gt)/median(pred) "
              f"{other['median_ratio']:.2f}, silog {other_silog:.2f}")
        figures.update({"other real delta1": other["d1"], "other real delta1, median-scaled": other["d1_median_scaled"],
                        "other real median(gt)/median(pred)": other["median_ratio"], "other real silog": other_silog})

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rooms = heldout_rooms(len(frames), (240, 320), photo_light=args.photo_light, surfaces=args.surfaces,
                          clutter=args.clutter, long_views=args.long_views, doorways=args.doorways,
                          close_views=args.close_views)                       # rooms like the training rooms
    fig, axes = plt.subplots(2, len(frames), figsize=(3.2 * len(frames), 5.2))
    for k, frame in enumerate(frames):
        axes[0, k].imshow(rooms.sample(k)["rgb"])
        axes[0, k].set_title(f"synthetic room {k}", fontsize=9)
        axes[1, k].imshow(frame.rgb)
        axes[1, k].set_title(f"real: {frame.name}", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / f"{rooms_tag}_beside_real.png", dpi=90)
    plt.close(fig)

    draw_predictions(model, frames, rows, out / f"predictions_{tag}.png", f"synthetic-only U-Net ({tag})")
    print(f"pictures: {out / f'{rooms_tag}_beside_real.png'}, {out / f'predictions_{tag}.png'}")
    return figures


if __name__ == "__main__":
    sys.exit(main())
