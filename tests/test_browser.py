"""The lessons as a learner meets them: JupyterLab in a real (headless) Chromium, driven by Playwright.

One JupyterLab server for the module (loopback, token auth, quick mode, a copy of the lessons in a
temporary folder), stopped at the end whatever happens. Screenshots go to build/browser/. Part of
`pytest`; skipped in one line without Chromium or playwright (or with COURSE_BROWSER_TESTS=0), and with
COURSE_REQUIRE_BROWSER=1 (CI) a missing browser is a failure.
Playwright's own browser download is not needed: the system's Chromium is driven through its path.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "build" / "browser"
TOKEN = "course-browser-test"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(base URL, server log path): JupyterLab on a free loopback port, serving a copy of the lessons."""
    root = tmp_path_factory.mktemp("lab")
    for lesson in (REPO / "notebooks").glob("*.ipynb"):
        shutil.copy(lesson, root / lesson.name)
    port, log_path = _free_port(), root / "jupyter-server.log"
    settings = root / ".lab-settings"                    # no "get notified about Jupyter news?" pop-up
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    env = {**os.environ, "COURSE_QUICK": "1", "COURSE_RUNS": str(root / "runs"),
           "COURSE_RESULTS": str(root / "results"), "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
           "PYTHONPATH": str(REPO)}
    env.pop("MPLBACKEND", None)                         # the kernel's own inline backend, as for a learner
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
               "--ServerApp.open_browser=False", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
               "jupyterlab.NeverCheckForUpdate"] + (["--allow-root"] if os.geteuid() == 0 else [])
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.5)
        yield base, log_path
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):     # the server and its kernels: one process group
            try:
                os.killpg(server.pid, sig)
                server.wait(timeout=20)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def open_lesson(browser, base: str, lesson: str):
    """A page with `lesson` open in JupyterLab, its kernel started."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    # a workspace of its own, reset: JupyterLab would otherwise restore the notebooks earlier tests opened
    page.goto(f"{base}/lab/workspaces/{Path(lesson).stem}/tree/{lesson}?token={TOKEN}&reset")
    page.locator(NOTEBOOK).first.wait_for()
    page.get_by_text(re.compile(r"Python 3.*\| Idle")).first.wait_for()     # the kernel has started
    return page


# the notebook on show (hidden tabs stay in the DOM, marked lm-mod-hidden), and its toolbar
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
NOTEBOOK = f"{PANEL} .jp-Notebook"

_ALL_RUN = """() => {
    const prompts = [...document.querySelectorAll('PANEL .jp-CodeCell .jp-InputPrompt')];
    const numbered = prompts.filter(p => /\\[\\d+\\]/.test(p.textContent)).length;
    const running = prompts.some(p => p.textContent.includes('*'));
    const failed = document.querySelector("PANEL .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']");
    const idle = document.querySelector('PANEL .jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle';
    return idle && !running && (numbered === prompts.length || (failed !== null && numbered > 0));
}""".replace("PANEL", PANEL)


def run_all_and_wait(page, timeout_s: float = 240) -> None:
    """Run > Run All Cells, then wait until every code cell has run (or one failed) and the kernel is idle.

    Waits on the end state (numbered prompts, an idle kernel), not on the brief '*' of a running cell,
    so a slow or a fast machine cannot slip between two polls. The menu is tried again if nothing started.
    """
    page.locator(f"{NOTEBOOK} .jp-Cell").first.click()           # the notebook is the current widget
    for attempt in range(2):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        item = page.get_by_role("menuitem", name=re.compile(r"^Run All Cells"))
        item.wait_for(state="visible")
        item.click()
        try:
            page.wait_for_function(f"() => [...document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputPrompt')]"
                                   ".some(p => /\\*|\\[\\d+\\]/.test(p.textContent))", timeout=45_000)
            break
        except Exception:
            if attempt:
                raise AssertionError("Run > Run All Cells did not start any cell within 45 s") from None
            page.keyboard.press("Escape")
    try:
        page.wait_for_function(_ALL_RUN, timeout=timeout_s * 1000)
    except Exception:
        shot = screenshot(page, "FAILED_run_all.png")
        state = page.evaluate("""() => ({
            prompts: [...document.querySelectorAll('PANEL .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim()),
            kernel: document.querySelector('PANEL .jp-Notebook-ExecutionIndicator')?.dataset.status,
            tabs: document.querySelectorAll('.jp-NotebookPanel').length})""".replace("PANEL", PANEL))
        raise AssertionError(f"the lesson did not finish running within {timeout_s:.0f} s: {state}; see {shot}") from None


def close_page(page) -> None:
    """Shut the notebook's kernel down from the page (Kernel > Shut Down Kernel), then close the page:
    a page closed under a live kernel leaves the server a half-open websocket."""
    page.get_by_role("menuitem", name="Kernel", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Shut Down Kernel")).click()
    dialog = page.locator(".jp-Dialog")
    try:                       # JupyterLab asks to confirm in some versions
        dialog.get_by_role("button", name=re.compile("Shut Down", re.I)).click(timeout=3_000)
    except Exception:
        pass
    page.get_by_text(re.compile(r"No Kernel|Kernel.*shut", re.I)).first.wait_for(timeout=30_000)
    page.close()


def error_outputs(page) -> list[str]:
    """The text of every output that is an exception (JupyterLab marks those with the error mime type)."""
    texts = page.eval_on_selector_all(f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                      "els => els.map(e => e.innerText)")
    return [t for t in texts if re.search(r"Traceback|Error\b|Exception", t)]


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path), full_page=False)
    return path


def test_lesson_01_runs_and_its_depth_browser_responds(browser, lab):
    base, _ = lab
    page = open_lesson(browser, base, "01_nyu_depth_v2_data.ipynb")
    run_all_and_wait(page)
    assert error_outputs(page) == []
    slider = page.locator(f"{PANEL} .widget-slider").first
    slider.scroll_into_view_if_needed()
    box = slider.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][1]")
    picture = box.locator(".jp-OutputArea-output img").first
    picture.wait_for()
    before = picture.get_attribute("src")
    screenshot(page, "01_depth_browser_before.png")
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    page.wait_for_function("([el, old]) => { const img = el.querySelector('.jp-OutputArea-output img');"
                           " return img && img.src !== old; }", arg=[box.element_handle(), before], timeout=60_000)
    assert picture.get_attribute("src") != before
    assert slider.locator(".widget-readout").inner_text().strip() == "1"
    screenshot(page, "01_depth_browser_after.png")
    close_page(page)


def test_a_training_lesson_shows_one_progress_bar_and_a_live_curve(browser, lab):
    base, _ = lab
    lessons = sorted(p.name for p in (REPO / "notebooks").glob("03_*.ipynb"))
    assert len(lessons) == 1, f"expected one lesson 03 in notebooks/, found {lessons}"
    page = open_lesson(browser, base, lessons[0])
    run_all_and_wait(page, timeout_s=300)
    assert error_outputs(page) == []
    bars = page.locator(f"{NOTEBOOK} .widget-hprogress")          # tqdm.auto's ipywidgets bar
    assert bars.count() >= 1, "tqdm's progress bar did not render as a widget"
    # tqdm printing a line per update would leave a long text output; a widget leaves none
    longest = max(page.eval_on_selector_all(f"{PANEL} .jp-OutputArea-output", "els => els.map(e => e.innerText.split('\\n').length)"))
    assert longest < 100, f"an output of {longest} lines: a progress bar printing a line per step?"
    images = page.locator(f"{PANEL} .jp-OutputArea-output img")
    assert images.count() >= 3
    sizes = images.evaluate_all("els => els.map(e => [e.naturalWidth, e.naturalHeight])")
    assert all(w >= 300 for w, h in sizes if w), f"a figure narrower than 300 px is hard to read: {sizes}"
    bars.first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    screenshot(page, "03_training_page.png")
    outputs = bars.first.locator("xpath=ancestor::div[contains(@class,'jp-Cell-outputWrapper')][1]")
    SHOTS.mkdir(parents=True, exist_ok=True)
    outputs.screenshot(path=str(SHOTS / "03_training_progress_and_curves.png"))     # the bar and the curves, whole
    close_page(page)


def test_jupyterlab_log_has_no_extension_or_kernel_errors(browser, lab):
    _, log_path = lab
    log = log_path.read_text()
    bad = [line for line in log.splitlines()
           if re.search(r"\[E |Traceback|Failed to load|extension.*(error|fail)|KernelRestarter|Kernel died", line,
                        flags=re.IGNORECASE)]
    assert bad == [], "\n".join(bad[:10])
