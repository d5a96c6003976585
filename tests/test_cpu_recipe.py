"""cpu_recipe: the measured CPU training recipe lessons 03, 06, 07 and 09 share, and its overrides."""
import pytest

from course_lib.losses import CombinedLoss
from course_lib.runs import cpu_recipe
from course_lib.train import TrainConfig


def test_cpu_recipe_settings_and_overrides():
    recipe = cpu_recipe()
    assert isinstance(recipe.config, TrainConfig) and isinstance(recipe.loss, CombinedLoss)
    # the library picks the precision and layout: bf16 and channels_last only where the CPU computes bf16 natively
    assert recipe.config.amp == "auto" and recipe.config.channels_last == "auto"
    assert recipe.image_size == (96, 128) and recipe.base_channels == 16 and recipe.train_rooms > 0
    short = cpu_recipe(steps=7, lr=1e-4)
    assert short.config.steps == 7 and short.config.lr == 1e-4
    assert cpu_recipe().config.steps == recipe.config.steps      # overrides do not leak into the next call
    assert "96x128" in str(short) and "7 steps" in str(short)
    # the loss: log-RMSE (lesson 03), or another spec, e.g. with lesson 05's gradient term
    assert recipe.loss.weights == {"log_rmse": 1.0} and recipe.loss_spec in str(recipe)
    edges = cpu_recipe(loss_spec="log_rmse=1,grad=0.5", steps=7)
    assert edges.loss.weights == {"log_rmse": 1.0, "grad": 0.5} and edges.config.steps == 7
    assert cpu_recipe().loss.weights == recipe.loss.weights      # nor does the loss


def test_cpu_recipe_rejects_unknown_settings():
    with pytest.raises(TypeError):
        cpu_recipe(stepz=3)


def test_course_heldout_with_raw_depth_is_the_same_rooms():
    from course_lib.runs import course_heldout

    plain, with_raw = course_heldout(quick=True), course_heldout(quick=True, raw_depth=True)
    assert len(plain) == len(with_raw) == 8
    a, b = plain.sample(3), with_raw.sample(3)
    assert (a["rgb"] == b["rgb"]).all() and (a["depth"] == b["depth"]).all() and "raw_depth" in b
