"""Named training recipes for `python -m course_lib train --preset NAME --out DIR`.

A preset is a recipe the course already trains, turned into the values of the train command's options:

    photo    the course's model for photos: a U-Net decoder on EfficientNet-Lite0 with ImageNet weights
             (`runs.PHOTO_MODEL`, weights from the pip package, no download), the encoder at the learning-rate
             scale of `runs.photo_recipe`, trained with lesson 03's full CPU recipe (`runs.cpu_recipe()`) and
             the loss `runs.PHOTO_PRESET_LOSS` (log-RMSE plus half of lesson 05's gradient term):
             the recipe `benchmarks/sim_to_real/sim_to_real.py --encoder efficientnet_lite0 --pretrained`
             measured on real NYU frames (benchmarks/RESULTS.md). Lesson 06 trains the same network with
             the same encoder scale under its shorter budget (`runs.PHOTO`).
    unet03   lesson 03's U-Net with the same CPU recipe.

Nothing here holds a number: every value is read from `course_lib.runs`, so a preset and the lesson it
names cannot drift apart. Options given on the command line override the preset's values.
"""
from __future__ import annotations

from .errors import CourseError


def _model_values(spec: dict) -> dict:
    """build_model options -> the train command's --model, --encoder, --pretrained and --model-option."""
    options = dict(spec)
    values = {"model": options.pop("name"), "encoder": options.pop("encoder", None),
              "pretrained": bool(options.pop("pretrained", False))}
    values["model_option"] = [f"{key}={value!r}" for key, value in options.items()] or None
    return values


def _recipe_values(recipe, encoder: bool) -> dict:
    """A `runs.Recipe` -> the train command's data, size, budget, optimizer, loss and precision options."""
    config = recipe.config
    channels_last = {True: "on", False: "off"}.get(config.channels_last, config.channels_last)
    return {"data": "synthetic", "train_size": recipe.train_rooms, "image_size": list(recipe.image_size),
            "batch_size": config.batch_size, "steps": config.steps, "lr": config.lr,
            "weight_decay": config.weight_decay,
            **({"encoder_lr_scale": config.encoder_lr_scale} if encoder else {}),
            "schedule": config.schedule, "warmup_steps": config.warmup_steps, "loss": recipe.loss_spec,
            "amp": config.amp, "channels_last": channels_last, "val_every": config.val_every,
            # each synthetic room rendered once and augmented anew on every read (`CachedSamples`): the
            # items are the same, only faster to make, as the lessons and the benchmark train them
            "cache_rooms": True}


def _photo() -> dict:
    from .runs import PHOTO_MODEL, PHOTO_PRESET_LOSS, cpu_recipe, photo_recipe

    recipe = cpu_recipe(loss_spec=PHOTO_PRESET_LOSS, encoder_lr_scale=photo_recipe().config.encoder_lr_scale)
    return {**_model_values(PHOTO_MODEL), **_recipe_values(recipe, encoder=True)}


def _unet03() -> dict:
    from .runs import cpu_recipe

    recipe = cpu_recipe()
    return {**_model_values(dict(name="unet", base_channels=recipe.base_channels)),
            **_recipe_values(recipe, encoder=False)}


# name: (what it trains, the function that resolves it)
PRESETS = {
    "photo": ("the course's model for photos: EfficientNet-Lite0 U-Net from ImageNet weights, lesson 03's CPU "
              "recipe with log-RMSE + 0.5 x gradient", _photo),
    "unet03": ("lesson 03's U-Net (16 base channels) with its CPU recipe", _unet03),
}

# preset keys that are not options of the train command
NOT_OPTIONS = ("cache_rooms",)


def preset_names() -> str:
    return ", ".join(PRESETS)


def resolve_preset(name: str) -> dict:
    """The train command's option values (argparse dests) that preset `name` stands for."""
    if name not in PRESETS:
        raise CourseError(f"unknown preset {name!r}; the presets are: "
                          + "; ".join(f"{key} ({about})" for key, (about, _) in PRESETS.items()) + ".")
    return PRESETS[name][1]()


def describe_preset(name: str) -> str:
    return PRESETS[name][0]
