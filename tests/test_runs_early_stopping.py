"""train_or_load loads a run that early stopping ended before its last step (lesson 09), instead of training it again."""
import torch

from course_lib.data import SyntheticRooms
from course_lib.models import build_model
from course_lib.runs import train_or_load
from course_lib.train import TrainConfig


def test_an_early_stopped_run_is_loaded_on_a_rerun(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path))
    data = SyntheticRooms(4, (32, 48))
    # lr 0 and BatchNorm statistics held: the validation metric never improves, so patience 1 stops early
    config = TrainConfig(steps=20, batch_size=2, lr=0.0, val_every=2, early_stopping="val_abs_rel", patience=1,
                         progress=False, log_every=1)

    def build():
        model = build_model("unet", base_channels=4, depth=2)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.0
        return model

    first = train_or_load("stopped", build, data, data, None, config)
    assert first.trained and first.history["val_step"][-1] == 4 and first.history["step"][-1] == 4
    again = train_or_load("stopped", build, data, data, None, config)
    assert not again.trained
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))
