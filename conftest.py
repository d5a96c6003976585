"""Test configuration shared by the unit tests and the lessons executed through nbval.

Set here, not by the caller, so that a bare `pytest` always runs the lessons in quick mode, without
a display, and without writing into the repository. Kernels started by nbval inherit this environment.
"""
import os
import tempfile

os.environ["COURSE_QUICK"] = "1"
os.environ["MPLBACKEND"] = "Agg"
os.environ.setdefault("COURSE_RESULTS", tempfile.mkdtemp(prefix="course-results-"))
# Two cores in CI: avoid oversubscribing them from several processes.
os.environ.setdefault("OMP_NUM_THREADS", "2")

import pytest  # noqa: E402


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU (marked cuda)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
