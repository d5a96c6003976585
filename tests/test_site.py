"""The course's website (`python -m course_lib site`): built from lessons executed in quick mode, then read
in a real (headless) Chromium driven by Playwright.

The test site is built from two real lessons, executed in quick mode by the site command itself (it runs
the lessons missing from --from), and one hand-made executed notebook holding every kind of output the
site must handle: figures, an SVG, an HTML table, text with carriage returns, a long output, math, a
progress bar and an interactive widget with its first frame. docs/testing.md says why not all lessons.
Screenshots go to build/site-screenshots/. The browser tests skip without Chromium or playwright, except
with COURSE_REQUIRE_BROWSER=1 (CI), where that is a failure; the other tests need no browser.
"""
from __future__ import annotations

import base64
import functools
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from course_lib.cli import main
from course_lib.site import LinkMap, course_lib_names, course_modules, lesson_failure, math_to_mathml

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "build" / "site-screenshots"
# 00: math, figures and tables; 03: a training run with its progress bar and live curves. Lesson 01's widget
# is stood for by the hand-made notebook (see docs/testing.md).
REAL_LESSONS = ("00", "03")
SYNTHETIC = "90_site_outputs"


# ----------------------------------------------------------------------------- hand-made notebooks

def _png(width: int, height: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    ramp = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    ramp.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _cell(kind: str, source: str, outputs=None, count=None, tags=()) -> dict:
    cell = {"cell_type": kind, "metadata": {"tags": list(tags)}, "source": source}
    if kind == "code":
        cell.update(outputs=outputs or [], execution_count=count)
    return cell


def _notebook(cells: list[dict], metadata: dict | None = None) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         **(metadata or {})}}


def _widget(model: str, **state) -> dict:
    return {"model_name": model, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
            "state": state}


def synthetic_lesson() -> tuple[dict, dict]:
    """(the lesson as stored, the lesson as executed): every kind of output a lesson page must show."""
    long_text = "\n".join(f"line {i}" for i in range(60))
    widgets = {
        "bar": _widget("HBoxModel", children=["IPY_MODEL_bar_left", "IPY_MODEL_bar_progress", "IPY_MODEL_bar_right"]),
        "bar_left": _widget("HTMLModel", value="train:\u2007100%"),
        "bar_progress": _widget("FloatProgressModel", value=20.0, max=20.0),
        "bar_right": _widget("HTMLModel", value="\u200720/20\u2007[00:01&lt;00:00]"),
        "browser": _widget("VBoxModel", children=["IPY_MODEL_slider", "IPY_MODEL_frame"]),
        "slider": _widget("IntSliderModel", description="frame", value=0, min=0, max=9),
        "frame": {"model_name": "OutputModel", "model_module": "@jupyter-widgets/output", "state": {"outputs": [
            {"output_type": "display_data", "metadata": {}, "data": {"image/png": _png(480, 200),
                                                                    "text/plain": "<Figure>"}}]}},
    }
    view = lambda model_id, text: {"output_type": "display_data", "metadata": {}, "data": {  # noqa: E731
        "application/vnd.jupyter.widget-view+json": {"model_id": model_id, "version_major": 2, "version_minor": 0},
        "text/plain": text}}
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="80"><rect width="320" height="80" fill="teal"/></svg>'
    cells = [
        ("markdown", "# 90 · What a lesson page shows\n\nA formula, $\\delta_1 = \\max(g/p,\\ p/g) < 1.25$, and "
                     "one on its own line:\n\n$$\\text{silog} = 100\\sqrt{\\bar{e^2} - \\bar{e}^2}$$\n\n"
                     "Code keeps its dollars: `echo $HOME`. See [the testing guide](../docs/testing.md), "
                     "[lesson 03](03_unet_from_scratch.ipynb) and [a file off the site](../benchmarks/RESULTS.md).",
         None, ()),
        ("code", "QUICK = True", [], ("parameters",)),
        ("code", "from course_lib.metrics import depth_metrics\nfrom course_lib import viz\nviz.colorize_depth",
         [{"output_type": "stream", "name": "stdout", "text": "step 1\rstep 2\rstep 3 done\n"},
          {"output_type": "stream", "name": "stdout", "text": "\x1b[32mgreen\x1b[0m text\n"}], ()),
        ("code", "show_figure()", [{"output_type": "display_data", "metadata": {},
                                    "data": {"image/png": _png(640, 240), "text/plain": "<Figure>"}}], ()),
        ("code", "svg", [{"output_type": "display_data", "metadata": {}, "data": {"image/svg+xml": svg}}], ()),
        ("code", "table", [{"output_type": "execute_result", "metadata": {}, "execution_count": 5, "data": {
            "text/html": "<table><thead><tr><th>model</th><th>delta1</th></tr></thead>"
                         "<tbody><tr><td>unet</td><td>0.74</td></tr></tbody></table>",
            "text/plain": "model delta1"}}], ()),
        ("code", "print(long_text)", [{"output_type": "stream", "name": "stdout", "text": long_text + "\n"}], ()),
        ("code", "fit(...)", [view("bar", "train: 0%")], ()),
        ("code", "depth_browser(rooms)", [view("browser", "VBox(...)")], ()),
    ]
    stored = _notebook([_cell(kind, source, tags=tags) for kind, source, _, tags in cells])
    executed_cells, count = [], 0
    for kind, source, outputs, tags in cells:
        if kind == "code":
            count += 1
        executed_cells.append(_cell(kind, source, outputs, count if kind == "code" else None, tags))
    executed = _notebook(executed_cells, {
        "papermill": {"start_time": "2026-12-01T10:00:00+00:00", "duration": 3.2, "exception": None},
        "course": {"mode": "quick", "machine": "2-core test machine, Linux, no GPU"},
        "widgets": {"application/vnd.jupyter.widget-state+json": {"state": widgets, "version_major": 2,
                                                                  "version_minor": 0}},
    })
    return stored, executed


def failed_lesson() -> dict:
    """An executed lesson whose third cell raised, as papermill leaves it (with its error banner)."""
    banner = _cell("markdown", '<span style="color:red">An Exception was encountered at In [2].</span>',
                   tags=("papermill-error-cell-tag",))
    error = {"output_type": "error", "ename": "ValueError", "evalue": "depth must be in metres\nmore",
             "traceback": ["Traceback ...", "ValueError: depth must be in metres"]}
    return _notebook([banner, _cell("markdown", "# 91 · Broken"), _cell("code", "x = 1", [], 1),
                      _cell("code", "raise ValueError('depth must be in metres')", [error], 2)],
                     {"papermill": {"exception": True, "duration": 1.0, "start_time": "2026-12-01T10:00:00"}})


def _write(path: Path, notebook: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook))
    return path


# ----------------------------------------------------------------------------- no browser needed

def test_a_failed_lesson_is_not_published_and_the_old_site_stays(tmp_path, capsys):
    lessons, executed, out = tmp_path / "notebooks", tmp_path / "executed", tmp_path / "site"
    stored, good = synthetic_lesson()
    _write(lessons / f"{SYNTHETIC}.ipynb", stored)
    _write(executed / f"{SYNTHETIC}.ipynb", good)
    _write(lessons / "91_broken.ipynb", _notebook([_cell("markdown", "# 91 · Broken")]))
    _write(executed / "91_broken.ipynb", failed_lesson())
    out.mkdir()
    (out / "course-site.json").write_text("{}")                 # an earlier site
    (out / "index.html").write_text("the earlier site")

    code = main(["site", "--out", str(out), "--from", str(executed), "--notebooks", str(lessons)])

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and err.count(". ") == 0, f"not one sentence: {err!r}"
    assert "lesson 91_broken is not published" in err and "cell 3 (In [2]) raised ValueError: depth must be in metres" in err
    assert (out / "index.html").read_text() == "the earlier site"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["executed", "notebooks", "site"], "a half-built site was left"


def test_lesson_failure_counts_the_lessons_own_cells():
    assert lesson_failure(failed_lesson()) == "cell 3 (In [2]) raised ValueError: depth must be in metres"
    assert lesson_failure(synthetic_lesson()[1]) is None
    crashed = _notebook([_cell("code", "x", [], 1)], {"papermill": {"exception": True}})
    assert "exception" in lesson_failure(crashed)


def test_the_site_never_replaces_a_folder_it_did_not_build(tmp_path, capsys):
    lessons, executed, out = tmp_path / "notebooks", tmp_path / "executed", tmp_path / "mine"
    stored, good = synthetic_lesson()
    _write(lessons / f"{SYNTHETIC}.ipynb", stored)
    _write(executed / f"{SYNTHETIC}.ipynb", good)
    (out / "notes.txt").parent.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["site", "--out", str(out), "--from", str(executed), "--notebooks", str(lessons)]) == 2
    assert "is not a site built by this command" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "a temporary folder was left"


def test_course_lib_names_found_in_code():
    code = ("import course_lib.metrics as m\nfrom course_lib import viz, record\nfrom course_lib.models import build_model\n"
            "import numpy as np\nm.depth_metrics(p, g)\nviz.colorize_depth(d).shape\nnp.zeros(3)\n")
    assert course_lib_names(code) == {"course_lib.metrics", "course_lib.metrics.depth_metrics", "course_lib.viz",
                                      "course_lib.viz.colorize_depth", "course_lib.record",
                                      "course_lib.models.build_model"}
    assert course_lib_names("%matplotlib inline\nthis is not python (") == set()


def test_math_becomes_mathml_outside_code_only():
    text = math_to_mathml("a $x_1$ b `$HOME` and\n```\n$y$\n```\ncosts $5 and $6")
    assert text.count("<math") == 1 and "`$HOME`" in text and "\n$y$\n" in text and "costs $5 and $6" in text
    assert "_" not in text.split("<math", 1)[1].split("</math>")[0], "markdown would read an underscore in MathML"


def test_links_written_for_the_repository_point_into_the_site():
    links = LinkMap({"README.md": "index.md", "notebooks/03_u.ipynb": "lessons/03_u.md", "docs/a.md": "docs/a.md"})
    text = links.rewrite("[l](../notebooks/03_u.ipynb#x) [h](../README.md) [o](../pyproject.toml) [w](https://a.b)",
                         "docs/a.md", "docs/a.md")
    assert text == "[l](../lessons/03_u.md#x) [h](../index.md) o [w](https://a.b)"
    with_repo = LinkMap({}, "https://github.com/o/r").rewrite("[o](pyproject.toml)", "README.md", "index.md")
    assert with_repo == "[o](https://github.com/o/r/blob/HEAD/pyproject.toml)"


# ----------------------------------------------------------------------------- the site built from quick-mode lessons

@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """(site folder, seconds the command took): the site of two quick-mode lessons and the hand-made one."""
    root = tmp_path_factory.mktemp("site")
    lessons, executed, out = root / "notebooks", root / "executed", root / "site"
    lessons.mkdir()
    for number in REAL_LESSONS:
        (source,) = (REPO / "notebooks").glob(f"{number}_*.ipynb")
        shutil.copy(source, lessons / source.name)
    stored, done = synthetic_lesson()
    _write(lessons / f"{SYNTHETIC}.ipynb", stored)
    _write(executed / f"{SYNTHETIC}.ipynb", done)
    env = {**os.environ, "COURSE_RUNS": str(root / "runs"), "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "course_lib", "site", "--out", str(out), "--from", str(executed),
                             "--notebooks", str(lessons), "--quick"], capture_output=True, text=True, env=env,
                            cwd=REPO, timeout=1200)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(result.stdout[-600:])
    return out, seconds


def test_the_site_holds_every_lesson_module_guide_and_the_generated_help(built_site):
    site, _ = built_site
    stems = [p.stem for p in sorted((REPO / "notebooks").glob("*.ipynb")) if p.name[:2] in REAL_LESSONS]
    for stem in [*stems, SYNTHETIC]:
        assert (site / "lessons" / stem / "index.html").exists(), stem
    for module in course_modules():
        assert (site / "reference" / module / "index.html").exists(), module
    for guide in (REPO / "docs").glob("*.md"):
        assert (site / "docs" / guide.stem / "index.html").exists(), guide.name
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "usage: python -m course_lib site" in cli and "--from" in cli and "usage: python -m course_lib train" in cli
    marker = json.loads((site / "course-site.json").read_text())
    assert marker["quick_mode_lessons"] == [*REAL_LESSONS, "90"]


def test_a_lesson_page_shows_its_run_its_outputs_and_the_functions_it_uses(built_site):
    page = (built_site[0] / "lessons" / SYNTHETIC / "index.html").read_text()
    text = re.sub(r"<[^>]+>", "", page)
    assert "Quick-mode outputs" in text and "on 2026-12-01, on 2-core test machine, Linux, no GPU; it took 3 s" in text
    assert "Run this lesson yourself" in text and "run-notebooks --only 90" in text
    assert page.count("<math") == 2 and "echo $HOME" in text
    assert "step 3 done" in text and "step 1" not in text and "\x1b" not in page and "green text" in text
    assert "Output (60 lines)" in text                                # long outputs fold
    assert "train: 100% |██████████| 20/20 [00:01&lt;00:00]" in page   # a progress bar as its final line
    assert "needs a running kernel" in text and "controls: frame" in text
    assert "<td>unet</td>" in page
    assert 'href="../../reference/course_lib.metrics/#course_lib.metrics.depth_metrics"' in page
    assert 'href="../../reference/course_lib.viz/#course_lib.viz.colorize_depth"' in page
    assert 'href="../../docs/testing/"' in page and 'href="../03_unet_from_scratch/"' in page
    assert "a file off the site" in text and "RESULTS.md" not in page


# ----------------------------------------------------------------------------- in the browser

@pytest.fixture(scope="module")
def served(built_site):
    """The site's base URL, served by a static file server on a free loopback port (as any host would)."""
    site, _ = built_site
    quiet = type("QuietHandler", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _open(browser, url: str, width: int = 1280, height: int = 900):
    """(page, problems): the page loaded, with every console error and request outside the site it made."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(60_000)
    problems: list[str] = []
    base = url.split("/", 3)[:3]
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    page.on("request", lambda r: None if r.url.startswith(("data:", "blob:")) or r.url.split("/", 3)[:3] == base
            else problems.append(f"request outside the site: {r.url}"))
    # a request cut short by moving on to the next page (the favicon, the search worker) is not a fault
    page.on("requestfailed", lambda r: None if "ERR_ABORTED" in (r.failure or "")
            else problems.append(f"failed request: {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    return page, problems


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(400)                   # the header's title animation settles
    page.screenshot(path=str(SHOTS / name))
    return SHOTS / name


def _site_file(site: Path, path: str) -> Path:
    target = site / urllib.parse.unquote(path).lstrip("/")
    return target / "index.html" if path.endswith("/") or target.is_dir() else target


@pytest.mark.browser
@pytest.mark.slow
def test_every_page_loads_cleanly_with_its_images_and_every_internal_link_resolves(built_site, served, browser):
    site, _ = built_site
    pages = sorted("/" + p.relative_to(site).parent.as_posix() + "/" for p in site.rglob("index.html"))
    pages = [p.replace("/./", "/") for p in pages]
    assert len(pages) >= 5 + len(course_modules())
    problems, links, images = {}, set(), 0
    page, found = _open(browser, served + pages[0])          # one tab visits every page in turn
    for path in pages:
        if path != pages[0]:
            page.goto(served + path, wait_until="load")
        shown = page.evaluate("""() => [...document.images].map(i => [i.currentSrc, i.complete, i.naturalWidth])""")
        found += [f"image not decoded: {src}" for src, complete, width in shown if not complete or width == 0]
        images += len(shown)
        for href in page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)"):
            if href.startswith(served):
                links.add((path, href[len(served):]))
        if found:
            problems[path] = list(found)
            found.clear()                    # the listeners keep appending to this list
    page.close()
    assert problems == {}, json.dumps(problems, indent=1)[:3000]
    assert images >= 6, f"only {images} images on the whole site"

    broken, ids = [], {}
    for source, link in sorted(links):
        address, _, anchor = link.partition("#")
        target = _site_file(site, urllib.parse.urlsplit(address).path)
        if not target.is_file():
            broken.append(f"{source} -> {link} (no file)")
            continue
        if anchor and target.suffix == ".html":
            if target not in ids:
                ids[target] = set(re.findall(r'\sid="([^"]+)"', target.read_text(encoding="utf-8")))
            if urllib.parse.unquote(anchor) not in ids[target]:
                broken.append(f"{source} -> {link} (no anchor)")
    assert broken == [], "\n".join(broken[:20])
    assert len(links) > 100


@pytest.mark.browser
@pytest.mark.slow
def test_search_finds_a_function_by_name(served, browser):
    page, problems = _open(browser, served + "/")
    page.locator("label.md-search__icon, .md-search__input").first.click()
    page.locator("input.md-search__input").fill("depth_metrics")
    page.locator(".md-search-result__item a").first.wait_for(timeout=120_000)   # the index loads in a worker
    hrefs = page.eval_on_selector_all(".md-search-result__item a", "els => els.map(a => a.href)")
    found = [h for h in hrefs if urllib.parse.urlsplit(h).path == "/reference/course_lib.metrics/"
             and urllib.parse.urlsplit(h).fragment == "course_lib.metrics.depth_metrics"]
    assert found, hrefs[:10]
    _shot(page, "search_depth_metrics.png")
    page.goto(found[0])
    page.locator("[id='course_lib.metrics.depth_metrics']").wait_for()
    _shot(page, "reference_depth_metrics.png")
    assert problems == []
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_lesson_page_shows_its_figures_on_a_laptop_and_a_phone(served, browser):
    (lesson,) = [p.stem for p in (REPO / "notebooks").glob("03_*.ipynb")]
    page, problems = _open(browser, f"{served}/lessons/{lesson}/")
    figures = page.locator(".nb-output img")
    sizes = figures.evaluate_all("els => els.map(e => [e.naturalWidth, e.naturalHeight])")
    assert len(sizes) >= 2 and all(w >= 300 for w, _ in sizes), sizes     # figures, the live curve's last frame
    assert page.locator(".admonition.warning").first.inner_text().startswith("Quick-mode outputs")
    assert page.locator("a[href*='#course_lib.']").count() >= 3            # the course_lib functions it uses
    figures.nth(1).scroll_into_view_if_needed()
    _shot(page, "lesson_03_figures.png")
    page.close()

    phone, phone_problems = _open(browser, f"{served}/lessons/{lesson}/", width=390, height=844)
    overflow = phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow} px wider than a phone's screen"
    phone.locator(".nb-output img").first.scroll_into_view_if_needed()
    _shot(phone, "lesson_03_phone.png")
    phone.close()
    assert problems == [] and phone_problems == []
