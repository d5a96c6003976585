"""Test configuration shared by the unit tests and the lessons executed through nbval.

Set here, not by the caller, so that a bare `pytest` always runs the lessons in quick mode, without
a display, and without writing into the repository. Kernels started by nbval inherit this environment.
"""
import os
import tempfile

os.environ["COURSE_QUICK"] = "1"
os.environ["MPLBACKEND"] = "Agg"
os.environ.setdefault("COURSE_RESULTS", tempfile.mkdtemp(prefix="course-results-"))
# Lessons keep trained models under $COURSE_RUNS: a fresh folder, so tests never reuse a model left behind.
os.environ.setdefault("COURSE_RUNS", tempfile.mkdtemp(prefix="course-runs-"))
# Two cores in CI: avoid oversubscribing them from several processes.
os.environ.setdefault("OMP_NUM_THREADS", "2")

import pytest  # noqa: E402


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


NBVAL_CELL_TIMEOUT_S = 900


def pytest_configure(config):
    # The lessons run through nbval as if called with
    # `--nbval-lax --nbval-current-env --nbval-cell-timeout=900`: only cells that raise fail
    # (outputs are not compared), in this environment's kernel.
    if config.pluginmanager.hasplugin("nbval"):
        config.option.nbval_lax = True
        config.option.nbval_current_env = True
        if not getattr(config.option, "nbval_cell_timeout", None) or str(config.option.nbval_cell_timeout) == "2000":
            config.option.nbval_cell_timeout = NBVAL_CELL_TIMEOUT_S


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU (marked cuda)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
