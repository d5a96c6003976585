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

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# What the real-data tests and lessons read from $COURSE_REALDATA (see ../shared/realdata/README.md).
REALDATA_CONTENTS = ("splits.mat", "nyu_official_test_1339", "nyu_sync_basement", "nyu_test_photos")


def realdata_required() -> bool:
    """CI (CI=true, or COURSE_REQUIRE_REALDATA=1 as .ci/run sets) must run the real-data checks, not skip them."""
    return (os.environ.get("COURSE_REQUIRE_REALDATA") == "1"
            or os.environ.get("CI", "").strip().lower() in ("true", "1"))


def realdata_problem() -> str | None:
    """None when $COURSE_REALDATA holds the real NYU samples; else what is missing, in one sentence."""
    root = os.environ.get("COURSE_REALDATA")
    if not root:
        return "COURSE_REALDATA is not set (it names the folder of real NYU samples, ../shared/realdata in CI)"
    missing = [name for name in REALDATA_CONTENTS if not (Path(root) / name).exists()]
    if missing:
        return f"COURSE_REALDATA={root} lacks {', '.join(missing)}"
    return None


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The folder of real NYU samples: skipped without it on a learner's machine, a failure where it is required."""
    problem = realdata_problem()
    if problem is None:
        return Path(os.environ["COURSE_REALDATA"])
    if realdata_required():
        pytest.fail(f"the real-data checks must run here (CI / COURSE_REQUIRE_REALDATA=1) but {problem}.",
                    pytrace=False)
    pytest.skip(f"real NYU samples not available: {problem}")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


NBVAL_CELL_TIMEOUT_S = 900


def pytest_configure(config):
    # In CI the real-data tests (and the lessons' checks on real frames) must not skip in silence.
    problem = realdata_problem()
    if problem is not None and realdata_required():
        raise pytest.UsageError(f"the real-data checks must run here (CI / COURSE_REQUIRE_REALDATA=1) but "
                                f"{problem}.")
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
