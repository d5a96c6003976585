"""Headline figures a lesson publishes, so that `run-notebooks` can print them in its table.

A lesson calls `record("final_rmse_m", 0.41)`. The figure is merged into the JSON file
`$COURSE_RESULTS/$COURSE_LESSON.json` (`run-notebooks` sets both), or `results/figures.json`
beside the notebook when run by hand. Introduced in lesson 00.
"""
from __future__ import annotations

import json
import numbers
import os
from pathlib import Path

RESULTS_ENV = "COURSE_RESULTS"
LESSON_ENV = "COURSE_LESSON"


def figures_path() -> Path:
    """Where `record` writes: `$COURSE_RESULTS/$COURSE_LESSON.json`, defaulting to `results/figures.json`."""
    folder = Path(os.environ.get(RESULTS_ENV, "results"))
    return folder / f"{os.environ.get(LESSON_ENV, 'figures')}.json"


def _plain(value):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if hasattr(value, "item"):  # numpy or torch scalars
        return _plain(value.item())
    if isinstance(value, (str, bool)) or value is None:
        return value
    raise TypeError(f"record() takes a number, string or bool; got {type(value).__name__}")


def load_figures(path: str | os.PathLike | None = None) -> dict:
    """The figures recorded so far in `path` (default: `figures_path()`), or {} when there are none."""
    path = Path(path) if path is not None else figures_path()
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def record(name: str, value):
    """Publish one headline figure of this lesson; print it and return the value unchanged."""
    path = figures_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = load_figures(path)
    figures[name] = _plain(value)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(figures, indent=2))
    tmp.replace(path)
    shown = f"{value:.4g}" if isinstance(figures[name], float) else figures[name]
    print(f"recorded {name} = {shown}")
    return value
