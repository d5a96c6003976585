import io
import json

import numpy as np
import pytest
import torch

import course_lib
from course_lib import describe_environment, is_quick_mode, pick_device, record, seed_everything
from course_lib.results import load_figures


def test_pick_device_auto_is_available_device():
    device = pick_device("auto")
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert device.type == expected
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_pick_device_cuda_without_gpu_says_so():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pick_device("cuda")


def test_seed_everything_repeats_random_streams():
    seed_everything(123)
    a = (torch.rand(3), np.random.rand(3), __import__("random").random())
    seed_everything(123)
    b = (torch.rand(3), np.random.rand(3), __import__("random").random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    seed_everything(124)
    assert not torch.equal(a[0], torch.rand(3))


def test_quick_mode_follows_environment(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    assert is_quick_mode()
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert not is_quick_mode()


def test_describe_environment_prints_the_facts(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    out = io.StringIO()
    info = describe_environment(file=out)
    text = out.getvalue()
    for key in ("python", "torch", "torchvision", "cpu_count", "cuda_available", "gpus", "quick_mode", "device"):
        assert key in info
    assert torch.__version__ in text and "quick mode   on" in text
    assert info["quick_mode"] is True
    assert ("GPU 0" in text) == torch.cuda.is_available()


def test_record_merges_figures_into_json(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RESULTS", str(tmp_path))
    monkeypatch.setenv("COURSE_LESSON", "07_demo")
    assert record("rmse_m", np.float32(0.5)) == np.float32(0.5)
    record("steps", torch.tensor(12))
    record("note", "ok")
    data = json.loads((tmp_path / "07_demo.json").read_text())
    assert data == {"rmse_m": 0.5, "steps": 12, "note": "ok"}
    assert load_figures(tmp_path / "07_demo.json") == data
    with pytest.raises(TypeError):
        record("bad", [1, 2])


def test_public_api():
    for name in ("describe_environment", "pick_device", "seed_everything", "record", "is_quick_mode"):
        assert callable(getattr(course_lib, name))
