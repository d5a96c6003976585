"""Run the lessons headless with papermill and summarise them: `python -m course_lib run-notebooks`.

Each lesson runs in a fresh kernel with `COURSE_RESULTS` and `COURSE_LESSON` set, so the figures it
publishes with `course_lib.record` land in `OUT/NN_topic.json`; the executed notebook lands in
`OUT/NN_topic.ipynb`, and `OUT/summary.json` lists every lesson's status, seconds and figures.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .environment import QUICK_ENV
from .results import LESSON_ENV, RESULTS_ENV, load_figures

LESSON_NAME = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NOTEBOOKS = REPO_ROOT / "notebooks"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@dataclass
class LessonRun:
    lesson: str
    status: str  # "ok" or "failed"
    seconds: float
    figures: dict = field(default_factory=dict)
    error: str | None = None


def find_lessons(folder: str | os.PathLike = DEFAULT_NOTEBOOKS, only: list[str] | None = None) -> list[Path]:
    """The lesson notebooks `NN_topic.ipynb` in `folder`, in lesson order; `only` keeps the given NN."""
    folder = Path(folder)
    lessons = sorted(p for p in folder.glob("*.ipynb") if LESSON_NAME.match(p.name))
    if only:
        wanted = {str(n).zfill(2) for n in only}
        unknown = wanted - {p.name[:2] for p in lessons}
        if unknown:
            available = ", ".join(p.name[:2] for p in lessons) or "none"
            raise ValueError(f"no lesson numbered {', '.join(sorted(unknown))} in {folder} (lessons: {available})")
        lessons = [p for p in lessons if p.name[:2] in wanted]
    return lessons


@contextmanager
def _environ(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _describe_failure(exc: Exception) -> str:
    # papermill's PapermillExecutionError carries the cell's execution count and the exception.
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    # cell_index counts every cell from 0 (markdown too); exec_count is what Jupyter shows as In [n].
    index, count = getattr(exc, "cell_index", None), getattr(exc, "exec_count", None)
    where = f"cell {index + 1} (In [{count}])" if index is not None else "a cell"
    return f"{where} raised {ename}: {evalue}".strip()


def machine_description() -> str:
    """This machine in a few words, e.g. "2-core Intel Xeon Platinum 8481C, Linux, no GPU"."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus = "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            gpus = f"{len(names)}x {names[0]}" if len(names) > 1 else names[0]
    except ImportError:
        pass
    return f"{os.cpu_count()}-core {cpu}, {platform.system()}, {gpus}"


def _stamp_execution(executed: Path, quick: bool) -> None:
    """Record the mode and the machine in the executed notebook's metadata (`course`), beside papermill's
    start time and duration, so that a page built from it can say how and where it ran."""
    if not executed.exists():
        return
    notebook = json.loads(executed.read_text())
    notebook.setdefault("metadata", {})["course"] = {"mode": "quick" if quick else "default",
                                                     "machine": machine_description()}
    tmp = executed.with_name(executed.name + ".tmp")
    tmp.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(executed)


def run_lesson(path: Path, out_dir: Path, quick: bool, progress: bool = True,
               timeout_s: int | None = None) -> LessonRun:
    """Execute one lesson with papermill into `out_dir`; never raises for a failing lesson."""
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = path.stem
    figures_file = out_dir / f"{stem}.json"
    figures_file.unlink(missing_ok=True)
    # The inline backend is headless and stores each figure in the executed notebook (Agg would drop them).
    env = {RESULTS_ENV: out_dir.resolve(), LESSON_ENV: stem, "MPLBACKEND": INLINE_BACKEND}
    if quick:
        env[QUICK_ENV] = "1"
    start = time.perf_counter()
    error = None
    with _environ(**env):
        try:
            papermill.execute_notebook(
                str(path), str(out_dir / path.name),
                kernel_name="python3", cwd=str(path.parent), progress_bar=progress,
                execution_timeout=timeout_s, log_output=False,
            )
        except Exception as exc:  # a lesson that raises is reported, not propagated
            error = _describe_failure(exc)
    seconds = time.perf_counter() - start
    _stamp_execution(out_dir / path.name, quick)
    return LessonRun(stem, "failed" if error else "ok", round(seconds, 1), load_figures(figures_file), error)


def _format_figures(figures: dict, width: int = 60) -> str:
    text = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(runs: list[LessonRun]) -> str:
    """A plain-text table: lesson, status, seconds, recorded figures."""
    rows = [("lesson", "status", "seconds", "figures")]
    rows += [(r.lesson, r.status, f"{r.seconds:.1f}", _format_figures(r.figures)) for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}  {d}" for a, b, c, d in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def run_notebooks(folder=DEFAULT_NOTEBOOKS, out_dir="build/notebooks", quick: bool = False,
                  only: list[str] | None = None, progress: bool = True, timeout_s: int | None = None,
                  file=None) -> list[LessonRun]:
    """Execute the lessons in order, print a table, write `out_dir/summary.json`; return the runs."""
    file = file or sys.stdout
    out_dir = Path(out_dir)
    lessons = find_lessons(folder, only)
    if not lessons:
        raise ValueError(f"no lessons named NN_topic.ipynb in {folder}")
    runs = []
    for i, path in enumerate(lessons, 1):
        print(f"[{i}/{len(lessons)}] {path.name}{' (quick mode)' if quick else ''}", file=file, flush=True)
        run = run_lesson(path, out_dir, quick=quick, progress=progress, timeout_s=timeout_s)
        print(f"    {run.status} in {run.seconds:.1f} s" + (f": {run.error}" if run.error else ""),
              file=file, flush=True)
        runs.append(run)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps([asdict(r) for r in runs], indent=2))
    print(file=file)
    print(format_table(runs), file=file)
    print(f"\nexecuted notebooks and summary.json in {out_dir}", file=file)
    return runs
