"""course_model: lesson 03's U-Net when its run is there, else a small fallback trained once (lessons 08, 10)."""
import pytest
import torch

from course_lib.camera import nyu_camera
from course_lib.runs import LESSON_03_RUN, course_model, finished_run_steps


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path))
    return tmp_path


def test_no_finished_run_has_no_steps(runs):
    assert finished_run_steps(LESSON_03_RUN) is None


def test_quick_fallback_trains_once_and_records_the_unaugmented_camera(runs, capsys):
    first = course_model(quick=True)
    assert first.trained and first.out_dir.name == "course_fallback_unet_quick"
    assert "quick mode" in capsys.readouterr().out
    # the camera of the rooms as rendered, not of a randomly zoomed training item
    assert first.model.camera == nyu_camera((48, 64))
    again = course_model(quick=True)
    assert not again.trained
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        assert torch.equal(first.model(x), again.model(x))


def test_lesson_03_model_is_used_when_it_trained_long_enough(runs, capsys):
    from course_lib.data import make_dataset
    from course_lib.losses import build_loss
    from course_lib.models import build_model
    from course_lib.runs import train_or_load
    from course_lib.train import TrainConfig

    size = (32, 48)
    train_or_load(LESSON_03_RUN, lambda: build_model("unet", base_channels=4, depth=2),
                  make_dataset("synthetic", "train", size, length=4), make_dataset("synthetic", "val", size, length=2),
                  build_loss("l1"), TrainConfig(steps=2, batch_size=2, val_every=None, progress=False))
    assert finished_run_steps(LESSON_03_RUN) == 2
    run = course_model(min_steps=2)
    assert run.out_dir.name == LESSON_03_RUN and not run.trained
    assert run.model.camera == nyu_camera(size)
    assert "lesson 03's U-Net" in capsys.readouterr().out
    # quick mode always uses its own tiny model (lesson 03's is at another size and budget)
    assert course_model(quick=True, min_steps=2).out_dir.name == "course_fallback_unet_quick"
