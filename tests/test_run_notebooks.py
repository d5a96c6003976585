"""`python -m course_lib run-notebooks` and the nbval configuration, on throw-away lessons."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib.notebooks import find_lessons, format_table, LessonRun

ROOT = Path(__file__).resolve().parent.parent


def _lesson(path: Path, *cells: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    first = nbformat.v4.new_code_cell('import os\nQUICK = os.environ.get("COURSE_QUICK", "0") == "1"')
    first.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test lesson"), first] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def lessons(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _lesson(folder / "00_passes.ipynb",
            "from course_lib import record\nassert QUICK, 'quick mode must reach the kernel'\nrecord('answer', 42)",
            "import matplotlib.pyplot as plt\nplt.plot([1, 2]);")
    _lesson(folder / "01_raises.ipynb", "x = 1", "raise ValueError('deliberate failure')")
    return folder


def _run_cli(*args, cwd=ROOT):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "course_lib", "run-notebooks", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_failing_lesson_fails_the_run_and_is_named(lessons, tmp_path):
    out = tmp_path / "out"
    proc = _run_cli("--quick", "--notebooks", str(lessons), "--out", str(out), "--no-progress")
    assert proc.returncode != 0
    assert "lesson 01_raises failed" in proc.stderr
    assert "ValueError: deliberate failure" in proc.stderr
    assert "cell 4 (In [3])" in proc.stderr  # position in the notebook and execution count
    summary = json.loads((out / "summary.json").read_text())
    assert [(s["lesson"], s["status"]) for s in summary] == [("00_passes", "ok"), ("01_raises", "failed")]
    assert summary[0]["figures"] == {"answer": 42}
    executed = nbformat.read(out / "00_passes.ipynb", as_version=4)
    assert any("image/png" in o.get("data", {}) for c in executed.cells for o in c.get("outputs", [])), \
        "figures must be stored in the executed notebook"
    # the table lists both lessons with the recorded figure
    assert "00_passes" in proc.stdout and "answer=42" in proc.stdout and "failed" in proc.stdout


def test_only_selects_lessons_and_passing_run_exits_zero(lessons, tmp_path):
    proc = _run_cli("--quick", "--only", "00", "--notebooks", str(lessons), "--out", str(tmp_path / "o"),
                    "--no-progress")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert [s["lesson"] for s in summary] == ["00_passes"]


def test_unknown_lesson_number_is_one_clear_error(lessons, tmp_path):
    proc = _run_cli("--only", "42", "--notebooks", str(lessons), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "no lesson numbered 42" in proc.stderr and "Traceback" not in proc.stderr


def test_pytest_fails_when_a_lesson_raises(lessons):
    """The repository's own pytest configuration (nbval, quick mode from conftest) fails a raising lesson."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"),
                           "--rootdir", str(ROOT), "--confcutdir", str(ROOT), "-p", "conftest",
                           str(lessons / "00_passes.ipynb"), str(lessons / "01_raises.ipynb")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "COURSE_QUICK"})
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "1 failed" in proc.stdout and "passed" in proc.stdout, proc.stdout[-2000:]


def test_find_lessons_orders_and_filters(tmp_path):
    for name in ("02_b.ipynb", "00_a.ipynb", "notes.ipynb", "1_bad.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in find_lessons(tmp_path)] == ["00_a.ipynb", "02_b.ipynb"]
    assert [p.name for p in find_lessons(tmp_path, only=["2"])] == ["02_b.ipynb"]


def test_format_table_lists_figures():
    table = format_table([LessonRun("03_unet", "ok", 12.34, {"rmse": 0.51234})])
    assert "03_unet" in table and "12.3" in table and "rmse=0.5123" in table
