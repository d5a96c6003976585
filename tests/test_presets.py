"""`python -m course_lib train --preset NAME`: the recipe a preset stands for, overrides, the checkpoint, predict."""
import numpy as np
import pytest
from PIL import Image

from course_lib.checkpoint import load_checkpoint
from course_lib.cli import main
from course_lib.presets import PRESETS, resolve_preset
from course_lib.runs import CPU_RECIPE, PHOTO_MODEL, cpu_recipe, photo_recipe

# the tiny run: every value that makes it tiny is given on the command line, the rest is the preset's
TINY = ["--steps", "2", "--train-size", "4", "--batch-size", "2", "--image-size", "64", "96", "--val-size", "2",
        "--num-workers", "0", "--no-progress", "--device", "cpu", "--log-every", "1"]


def test_photo_preset_is_the_measured_recipe():
    values = resolve_preset("photo")
    recipe = cpu_recipe()
    assert (values["model"], values["encoder"], values["pretrained"]) == ("resnet_unet", "efficientnet_lite0", True)
    assert PHOTO_MODEL == {"name": "resnet_unet", "encoder": "efficientnet_lite0", "pretrained": True}
    assert values["encoder_lr_scale"] == photo_recipe().config.encoder_lr_scale == 0.1
    # measured with half of lesson 05's gradient term (lesson 03's own recipe is log-RMSE alone)
    assert values["loss"] == "log_rmse=1,grad=0.5" != CPU_RECIPE["loss_spec"]
    assert values["data"] == "synthetic" and values["cache_rooms"] is True
    c = recipe.config
    assert (values["steps"], values["batch_size"], values["lr"], values["schedule"], values["warmup_steps"],
            values["weight_decay"], values["val_every"]) == (c.steps, c.batch_size, c.lr, c.schedule, c.warmup_steps,
                                                             c.weight_decay, c.val_every)
    # the figures in benchmarks/RESULTS.md were measured with this budget: a change of it is a new measurement
    assert values["image_size"] == [96, 128] and values["train_size"] == 1000 and values["steps"] == 1200
    assert values["batch_size"] == 8 and values["lr"] == 2e-3


def test_unet03_preset_is_lesson_03s_recipe():
    values = resolve_preset("unet03")
    recipe = cpu_recipe()
    assert values["model"] == "unet" and values["encoder"] is None and values["pretrained"] is False
    assert values["model_option"] == [f"base_channels={recipe.base_channels}"]
    assert "encoder_lr_scale" not in values
    assert values["image_size"] == list(recipe.image_size) and values["train_size"] == recipe.train_rooms
    assert values["loss"] == recipe.loss_spec and values["steps"] == recipe.config.steps
    assert set(PRESETS) == {"photo", "unet03"}


def test_unknown_preset_is_one_sentence_listing_the_presets(tmp_path, capsys):
    assert main(["train", "--preset", "fotos", "--out", str(tmp_path / "run")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "unknown preset 'fotos'" in err[0]
    assert "photo (" in err[0] and "unet03 (" in err[0]
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("photo")
    assert main(["train", "--preset", "photo", *TINY, "--out", str(out)]) == 0
    return out


def test_tiny_photo_run_records_its_preset_and_recipe(photo_run, capsys):
    ckpt = load_checkpoint(photo_run / "last.pt")
    assert ckpt["step"] == 2 and ckpt["preset"] == "photo"
    assert ckpt["model_config"]["name"] == "resnet_unet" and ckpt["model_config"]["encoder"] == "efficientnet_lite0"
    assert ckpt["encoder_weights"] != "random initialisation"          # ImageNet weights from the pip package
    recipe, preset = ckpt["recipe"], resolve_preset("photo")
    # given on the command line: the tiny values; the rest: the preset's
    assert recipe["steps"] == 2 and recipe["train_size"] == 4 and recipe["image_size"] == [64, 96]
    assert recipe["batch_size"] == 2
    assert set(ckpt["overridden"]) == {"steps", "train_size", "image_size", "batch_size"}
    for key in ("model", "encoder", "pretrained", "lr", "loss", "schedule", "warmup_steps", "encoder_lr_scale"):
        assert recipe[key] == preset[key], key
    assert "RandomHorizontalFlip" in recipe["augmentation"] and "ColorJitter" in recipe["augmentation"]
    assert ckpt["config"]["lr"] == preset["lr"] and ckpt["config"]["encoder_lr_scale"] == preset["encoder_lr_scale"]
    assert ckpt["config"]["batch_size"] == 2 and ckpt["config"]["steps"] == 2
    assert load_checkpoint(photo_run / "best.pt")["preset"] == "photo"
    # the camera travels with the model: the validation rooms' intrinsics at the training size
    assert ckpt["camera"]["image_size"] == [64, 96]


def test_predict_runs_the_preset_model_at_its_training_focal_length(photo_run, tmp_path, capsys):
    photo = tmp_path / "room.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(photo)
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(photo_run / "last.pt"), str(photo), "--out", str(tmp_path / "d"),
                 "--npy", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    ckpt = load_checkpoint(photo_run / "last.pt")
    fx = ckpt["camera"]["K"][0][0]
    assert f"trained at 64x96, fx {fx:.1f} px" in out                    # the camera the model was trained for
    assert "model at 64x96" in out           # the 240x320 photo (NYU's field of view) resized to that focal length
    assert np.load(tmp_path / "d" / "room_depth.npy").shape == (240, 320)  # back at the photo's own size


def test_an_explicit_flag_equal_to_the_default_still_overrides(tmp_path, capsys):
    """--val-every 200 is the parser's default and not the preset's: given, it wins."""
    out = tmp_path / "run"
    assert main(["train", "--preset", "unet03", *TINY, "--image-size", "32", "48", "--val-every", "200",
                 "--model-option", "base_channels=4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "preset unet03" in printed and "--val-every" in printed and "given on the command line" in printed
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["recipe"]["val_every"] == 200 and ckpt["config"]["val_every"] == 200
    assert ckpt["model_config"]["base_channels"] == 4 and ckpt["preset"] == "unet03"
    assert ckpt["recipe"]["loss"] == resolve_preset("unet03")["loss"]



def test_lessons_use_a_finished_photo_preset_run(photo_run, tmp_path, monkeypatch, capsys):
    """photo_model() takes `runs/photo` when `train --preset photo` finished there; an unfinished run is not one."""
    import shutil

    import torch

    from course_lib.runs import PHOTO_PRESET_RUN, finished_photo_preset, photo_model

    runs = tmp_path / "runs"
    shutil.copytree(photo_run, runs / PHOTO_PRESET_RUN)
    monkeypatch.setenv("COURSE_RUNS", str(runs))
    run = photo_model()
    assert "trained by `train --preset photo`" in capsys.readouterr().out
    assert run.out_dir == runs / PHOTO_PRESET_RUN and not run.trained
    reference = load_checkpoint(photo_run / "last.pt")["model"]
    assert all(torch.equal(v, reference[k]) for k, v in run.model.state_dict().items())
    # the same run cut short (as if interrupted), or another preset's run, is not the model for photos
    assert finished_photo_preset(runs / PHOTO_PRESET_RUN / "last.pt") is not None
    ckpt = load_checkpoint(photo_run / "last.pt")
    torch.save({**ckpt, "step": 1}, tmp_path / "cut.pt")
    torch.save({**ckpt, "preset": "unet03"}, tmp_path / "other.pt")
    assert finished_photo_preset(tmp_path / "cut.pt") is None and finished_photo_preset(tmp_path / "other.pt") is None
    assert finished_photo_preset(tmp_path / "absent.pt") is None
