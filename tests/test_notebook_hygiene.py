"""Every lesson follows the notebook conventions of the course (COURSE_DESIGN: Notebooks)."""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_there_are_lessons():
    assert LESSONS, f"no notebooks in {NOTEBOOKS}"


def test_lesson_numbers_are_unique():
    numbers = [p.name[:2] for p in LESSONS]
    assert len(numbers) == len(set(numbers)), f"two lessons share a number: {numbers}"


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_conventions(path):
    assert re.fullmatch(r"\d{2}_[a-z0-9_]+\.ipynb", path.name), f"{path.name} is not named NN_topic.ipynb"
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for cell in code:
        assert not cell.get("outputs"), f"{path.name} has stored outputs"
        assert cell.get("execution_count") is None, f"{path.name} has stored execution counts"
    first = code[0]
    assert "parameters" in first.get("metadata", {}).get("tags", []), \
        f"{path.name}: the first code cell must be tagged 'parameters'"
    source = "".join(first["source"])
    assert "COURSE_QUICK" in source and "QUICK" in source, \
        f"{path.name}: the parameters cell must read COURSE_QUICK into QUICK"
    markdown = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert markdown and "".join(markdown[0]["source"]).lstrip().startswith("#"), \
        f"{path.name}: a lesson opens with a markdown title"
