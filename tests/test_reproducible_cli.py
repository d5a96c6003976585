"""The same command with the same seed gives the same weights, also across a SIGKILL and --resume."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "course_lib", "train", "--model", "unet", "--model-option", "base_channels=8",
           "--model-option", "depth=3", "--data", "synthetic", "--image-size", "32", "48", "--train-size", "24",
           "--val-size", "4", "--batch-size", "4", "--lr", "1e-3", "--val-every", "20", "--log-every", "5",
           "--num-workers", "0", "--no-progress", "--device", "cpu", "--seed", "3"]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _train(out: Path, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run([*COMMAND, "--out", str(out), *extra], env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def _max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


@pytest.mark.slow
def test_two_identical_commands_give_identical_weights(tmp_path):
    _train(tmp_path / "a", "--steps", "12")
    _train(tmp_path / "b", "--steps", "12")
    a, b = _weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "b" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a), f"max difference {_max_difference(a, b)}"
    # and another seed gives another model: the seed is what decides
    _train(tmp_path / "c", "--steps", "12", "--seed", "4")
    assert _max_difference(a, _weights(tmp_path / "c" / "last.pt")) > 0


@pytest.mark.slow
def test_sigkill_then_resume_ends_where_the_uninterrupted_run_ends(tmp_path):
    steps = ["--steps", "60", "--checkpoint-every", "10"]
    _train(tmp_path / "straight", *steps)

    killed = tmp_path / "killed"
    process = subprocess.Popen([*COMMAND, "--out", str(killed), *steps], env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (killed / "last.pt").exists():                  # the first mid-run checkpoint
            assert process.poll() is None and time.monotonic() < deadline, "the run ended before its checkpoint"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    stopped_at = torch.load(killed / "last.pt", weights_only=True)["step"]
    assert 0 < stopped_at < 60, "the kill came after the run finished: nothing was interrupted"

    resumed = _train(killed, *steps, "--resume")
    assert f"resuming from {killed / 'last.pt'} at step {stopped_at}" in resumed.stdout
    a, b = _weights(tmp_path / "straight" / "last.pt"), _weights(killed / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a), f"max difference {_max_difference(a, b)}"


@pytest.mark.slow
def test_extending_a_finished_run_names_both_schedule_lengths(tmp_path):
    _train(tmp_path / "run", "--steps", "6", "--schedule", "onecycle")
    extended = _train(tmp_path / "run", "--steps", "10", "--schedule", "onecycle", "--resume")
    assert "planned its learning-rate schedule for 6 steps" in extended.stdout
    assert "now runs to 10" in extended.stdout
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 10
