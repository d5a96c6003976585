"""The course as a static website: `python -m course_lib site --out build/site`.

The site is built from lessons that `run-notebooks` executed (`build/notebooks` by default): each
lesson becomes a page with its outputs (text, tables, figures; a live training curve as its final
image), the date, machine and time of its run, the commands to run it yourself, and links to the
`course_lib` functions its code uses. Beside the lessons: the README as the home page, every
`docs/*.md`, the command line's `--help` texts, and a reference page per `course_lib` module made from
its docstrings and signatures (mkdocstrings). MkDocs with the Material theme builds the HTML; its
search runs in the browser, offline.

A lesson whose execution failed is not published: the build stops with one sentence naming the lesson
and the cell. The site is built in a temporary folder beside `--out` and moved there at the end, so a
failed build leaves the previous site as it was. Needs the `site` extra: `pip install -e ".[site]"`.
"""
from __future__ import annotations

import ast
import base64
import html
import json
import logging
import os
import posixpath
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CourseError
from .notebooks import DEFAULT_NOTEBOOKS, REPO_ROOT, find_lessons, run_notebooks

SITE_NAME = "Monocular depth estimation with PyTorch"
MARKER = "course-site.json"           # written into every site; --out is only replaced when it holds one
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
LONG_OUTPUT_LINES = 40                # longer text outputs fold into a collapsible block
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Lesson:
    """One executed lesson: `stem` like "03_unet_from_scratch", its executed notebook (a dict)."""
    stem: str
    executed_path: Path
    notebook: dict
    title: str = ""
    used: list[str] = field(default_factory=list)      # canonical paths of the course_lib objects it uses

    @property
    def number(self) -> str:
        return self.stem[:2]

    @property
    def page(self) -> str:
        return f"lessons/{self.stem}.md"


@dataclass
class SiteSummary:
    out: Path
    lessons: list[str]
    pages: int
    size_bytes: int
    seconds: float


# ----------------------------------------------------------------------------- failed lessons

def lesson_failure(notebook: dict) -> str | None:
    """Where an executed notebook failed, e.g. "cell 12 (In [7]) raised ValueError: ...", or None.

    Cells are counted from 1 over the lesson's own cells (papermill's inserted error banners are skipped),
    so the number is the cell's place in the notebook a learner opens.
    """
    number = 0
    for cell in notebook.get("cells", []):
        if PAPERMILL_ERROR_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        number += 1
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                evalue = (output.get("evalue") or "").strip().splitlines()
                message = f"{output.get('ename', 'an error')}" + (f": {evalue[0]}" if evalue else "")
                return f"cell {number} (In [{cell.get('execution_count') or ' '}]) raised {message}"
    if notebook.get("metadata", {}).get("papermill", {}).get("exception"):
        return "its execution stopped with an exception (papermill recorded one, no cell shows it)"
    return None


def _read_executed(path: Path) -> dict:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CourseError(f"{path} is not a readable notebook ({exc}); run the lesson again with run-notebooks.")
    if not isinstance(notebook, dict) or "cells" not in notebook:
        raise CourseError(f"{path} is not a Jupyter notebook (no cells); run the lesson again with run-notebooks.")
    return notebook


# ----------------------------------------------------------------------------- math and links in markdown

_CODE = re.compile(r"(^(`{3,}|~{3,})[^\n]*\n.*?^\2[ \t]*$|`+[^`]*?`+)", re.M | re.S)   # fences, code spans
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?!\d)", re.S)
_MARKDOWN_SPECIAL = re.compile(r"[*_`\[\]\\|]")


def _outside_code(text: str, convert) -> str:
    """Apply `convert` to the parts of markdown `text` that are not code fences or code spans."""
    parts, last = [], 0
    for match in _CODE.finditer(text):
        parts.append(convert(text[last:match.start()]))
        parts.append(match.group(0))
        last = match.end()
    parts.append(convert(text[last:]))
    return "".join(parts)


def _mathml(tex: str, display: bool) -> str:
    from latex2mathml.converter import convert

    try:
        markup = convert(tex.strip(), display="block" if display else "inline")
    except Exception:                        # a formula the converter cannot read stays as written
        return html.escape(f"$${tex}$$" if display else f"${tex}$")
    # text between tags must not look like markdown (an underscore, a bar in a table)
    markup = re.sub(r">([^<]+)<", lambda m: ">" + _MARKDOWN_SPECIAL.sub(lambda c: f"&#{ord(c.group())};", m.group(1)) + "<",
                    markup)
    return f'\n\n<div class="arithmatex">{markup}</div>\n\n' if display else markup


def math_to_mathml(markdown: str) -> str:
    """$inline$ and $$display$$ LaTeX as MathML, which browsers draw without a script or a download."""
    def convert(text: str) -> str:
        return _MATH.sub(lambda m: _mathml(m.group(1), True) if m.group(1) is not None else _mathml(m.group(2), False),
                         text)
    return _outside_code(markdown, convert)


_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\((<[^>\n]*>|[^)\s]+)((?:\s+\"[^\"\n]*\")?)\)")
_REFERENCE_LINK = re.compile(r"^(\s{0,3}\[[^\]\n]+\]:\s+)(\S+)", re.M)


class LinkMap:
    """Repository paths -> site pages, so that a link written for GitHub works on the site.

    README.md is the home page, notebooks/NN_topic.ipynb its lesson page, docs/* stays docs/*, a
    course_lib source file its reference page; a link to any other file of the repository points to
    `repo_url` when one is given, else it becomes plain text.
    """

    def __init__(self, site_paths: dict[str, str], repo_url: str | None = None):
        self.site_paths = site_paths        # repository path -> site path (both posix, relative)
        self.repo_url = repo_url.rstrip("/") if repo_url else None

    def rewrite(self, markdown: str, source: str, page: str) -> str:
        """`markdown` written at repository path `source`, placed on site page `page`."""
        def inline(match: re.Match) -> str:
            bang, text, target, title = match.groups()
            new = self._target(target.strip("<>"), source, page)
            if new is None:
                return match.group(0)
            if new == "":                        # nowhere to point to: the link's text stays
                return text
            return f"{bang}[{text}]({new}{title})"

        def reference(match: re.Match) -> str:
            new = self._target(match.group(2), source, page)
            return match.group(0) if not new else match.group(1) + new

        return _outside_code(markdown, lambda text: _REFERENCE_LINK.sub(reference, _LINK.sub(inline, text)))

    def _target(self, target: str, source: str, page: str) -> str | None:
        """The link's new target; None to leave it as written, "" when it has nowhere to point to."""
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target, re.I):
            return None                     # a URL, an anchor on the same page, a site-absolute path
        path, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        anchor = f"#{anchor}" if anchor else ""
        if repo_path in self.site_paths:
            relative = posixpath.relpath(self.site_paths[repo_path], posixpath.dirname(page) or ".")
            return relative + anchor
        if self.repo_url and not repo_path.startswith(".."):
            return f"{self.repo_url}/blob/HEAD/{repo_path}{anchor}"
        return ""


# ----------------------------------------------------------------------------- course_lib names in code

def _code_without_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def course_lib_names(code: str) -> set[str]:
    """Dotted `course_lib...` names that `code` imports or reaches through an imported module.

    `from course_lib.metrics import depth_metrics` gives course_lib.metrics.depth_metrics;
    `from course_lib import viz` then `viz.colorize_depth(...)` gives course_lib.viz.colorize_depth.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    aliases: dict[str, str] = {}        # local name -> dotted path
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                node.module.split(".")[0] == "course_lib":
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "course_lib":
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else "course_lib"
    names.update(aliases.values())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                chain.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id in aliases:
                names.add(".".join([aliases[inner.id], *reversed(chain)]))
    return names


def _resolve(package, dotted: str):
    """The griffe object for `dotted` ("course_lib.x.y"), following re-exports; None if there is none."""
    try:
        obj = package[dotted.split(".", 1)[1]] if "." in dotted else package
    except (KeyError, ValueError):
        return None
    try:
        return obj.final_target if obj.is_alias else obj
    except Exception:                  # an alias to something outside course_lib (torch, numpy)
        return None


def used_objects(package, code: str) -> list[str]:
    """Canonical paths of the public course_lib functions and classes that `code` uses, sorted."""
    found = set()
    for dotted in course_lib_names(code):
        parts = dotted.split(".")
        # the longest prefix that names something: `viz.colorize_depth.__doc__` still counts
        for end in range(len(parts), 1, -1):
            obj = _resolve(package, ".".join(parts[:end]))
            if obj is not None:
                break
        else:
            continue
        if obj.kind.value in ("function", "class") and obj.path.startswith("course_lib.") and \
                not any(part.startswith("_") for part in obj.path.split(".")):
            found.add(obj.path)
    return sorted(found)


# ----------------------------------------------------------------------------- a lesson as a page

def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def _fence(text: str, language: str = "text", classes: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    ticks = "`" * (longest + 1)
    info = f"{{ .{language} .{classes} }}" if classes else language
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


def _terminal_text(text: str) -> str:
    """What a terminal would show: colour codes dropped, each line after its last carriage return."""
    text = ANSI.sub("", text).replace("\r\n", "\n")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def _text_block(text: str, classes: str = "") -> str:
    text = _terminal_text(text).rstrip("\n")
    if not text.strip():
        return ""
    block = _fence(text, "text", classes)
    lines = text.count("\n") + 1
    if lines > LONG_OUTPUT_LINES:
        indented = "\n".join("    " + line if line else "" for line in block.splitlines())
        return f'??? abstract "Output ({lines} lines)"\n\n{indented}'
    return block


class PageWriter:
    """Turns one executed lesson into markdown, its images written beside the page."""

    def __init__(self, lesson: Lesson, docs_dir: Path, links: LinkMap):
        self.lesson, self.links = lesson, links
        self.image_dir = docs_dir / "lessons" / lesson.stem
        self.widgets = lesson.notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        self.images = 0

    def _image(self, data: str, suffix: str, cell_number: int) -> str:
        self.images += 1
        name = f"cell{cell_number:02d}_{self.images}.{suffix}"
        self.image_dir.mkdir(parents=True, exist_ok=True)
        if suffix == "svg":
            (self.image_dir / name).write_text(_text(data), encoding="utf-8")
        else:
            (self.image_dir / name).write_bytes(base64.b64decode(_text(data)))
        return f"![Output of cell {cell_number}]({self.lesson.stem}/{name})"

    def _rich(self, data: dict, cell_number: int) -> str:
        if WIDGET_VIEW in data:
            return self._widget(data[WIDGET_VIEW].get("model_id", ""), cell_number)
        for mime, suffix in (("image/png", "png"), ("image/jpeg", "jpg"), ("image/svg+xml", "svg")):
            if mime in data:
                return self._image(data[mime], suffix, cell_number)
        if "text/html" in data:
            return f'<div class="nb-html" markdown="0">\n{_text(data["text/html"]).strip()}\n</div>'
        if "text/markdown" in data:
            return math_to_mathml(_text(data["text/markdown"]))
        if "text/plain" in data:
            return _text_block(_text(data["text/plain"]))
        return ""

    # widgets: a tqdm bar becomes its final line of text; any other widget says it needs a kernel and shows
    # the outputs it held when the run ended (the lesson draws its first frame before offering the widget)
    def _widget_children(self, model_id: str) -> list[str]:
        state = self.widgets.get(model_id, {}).get("state", {})
        return [c.removeprefix("IPY_MODEL_") for c in state.get("children", []) if isinstance(c, str)]

    def _widget(self, model_id: str, cell_number: int) -> str:
        model = self.widgets.get(model_id)
        if model is None:
            return ('!!! note "Interactive widget"\n    This widget needs a running kernel: open the lesson in '
                    'JupyterLab to use it.')
        children = [self.widgets.get(c, {}) for c in self._widget_children(model_id)]
        kinds = [c.get("model_name") for c in children]
        if model.get("model_name") == "HBoxModel" and "FloatProgressModel" in kinds and "HTMLModel" in kinds:
            parts = []
            for child in children:
                state = child.get("state", {})
                if child.get("model_name") == "HTMLModel":
                    parts.append(html.unescape(state.get("value", "")).replace("\u2007", " ").strip())
                elif child.get("model_name") == "FloatProgressModel":
                    share = state.get("value", 0) / (state.get("max") or 1)
                    parts.append("|" + "█" * round(10 * share) + " " * (10 - round(10 * share)) + "|")
            return _fence(" ".join(p for p in parts if p), "text", "nb-progress")
        controls, outputs, stack, seen = [], [], [model_id], set()
        while stack:
            current = stack.pop(0)
            if current in seen:
                continue
            seen.add(current)
            entry = self.widgets.get(current, {})
            state, name = entry.get("state", {}), entry.get("model_name", "")
            if name == "OutputModel":
                outputs.extend(state.get("outputs", []))
            elif state.get("description") and name.endswith(("SliderModel", "DropdownModel", "ToggleButtonsModel",
                                                                "CheckboxModel", "TextModel", "RadioButtonsModel")):
                controls.append(f"*{state['description']}*")
            stack.extend(self._widget_children(current))
        what = f" (controls: {', '.join(controls)})" if controls else ""
        note = (f'!!! note "Interactive widget"\n    This widget{what} needs a running kernel: open the lesson '
                f'in JupyterLab to use it.' + (" Its first frame:" if outputs else ""))
        frame = [self._output(o, cell_number) for o in outputs]
        return "\n\n".join([note, *[f for f in frame if f]])

    def _output(self, output: dict, cell_number: int) -> str:
        kind = output.get("output_type")
        if kind == "stream":
            return _text_block(_text(output.get("text")), "nb-stderr" if output.get("name") == "stderr" else "")
        if kind in ("display_data", "execute_result"):
            return self._rich(output.get("data", {}), cell_number)
        return ""

    def _outputs(self, cell: dict, cell_number: int) -> str:
        merged: list[dict] = []
        for output in cell.get("outputs", []):           # consecutive prints of one stream read as one block
            if output.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream" \
                    and merged[-1].get("name") == output.get("name"):
                merged[-1] = {**merged[-1], "text": _text(merged[-1]["text"]) + _text(output.get("text"))}
            else:
                merged.append(output)
        blocks = [b for b in (self._output(o, cell_number) for o in merged) if b]
        if not blocks:
            return ""
        return '<div class="nb-output" markdown>\n\n' + "\n\n".join(blocks) + "\n\n</div>"

    def markdown(self, facts: str, run_note: str, used: str) -> str:
        pieces, number, header_done = [], 0, False
        for cell in self.lesson.notebook["cells"]:
            if PAPERMILL_ERROR_TAG in cell.get("metadata", {}).get("tags", []):
                continue
            number += 1
            source = _text(cell.get("source"))
            if cell.get("cell_type") == "markdown":
                text = self.links.rewrite(source, f"notebooks/{self.lesson.stem}.ipynb", self.lesson.page)
                pieces.append(math_to_mathml(text))
            elif cell.get("cell_type") == "code":
                if source.strip():
                    pieces.append(_fence(source, "python"))
                outputs = self._outputs(cell, number)
                if outputs:
                    pieces.append(outputs)
            if not header_done and cell.get("cell_type") == "markdown":
                pieces += [facts, run_note]             # after the lesson's header: how and where it ran
                header_done = True
        if not header_done:
            pieces[:0] = [f"# {self.lesson.title}", facts, run_note]
        pieces.append(used)
        return "\n\n".join(p for p in pieces if p) + "\n"


def lesson_title(notebook: dict, stem: str) -> str:
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            match = re.search(r"^#\s+(.+?)\s*#*\s*$", _text(cell.get("source")), re.M)
            if match:
                return match.group(1)
    return stem.replace("_", " ")


def run_facts(notebook: dict) -> tuple[str, bool]:
    """One admonition saying when, where, how long and in which mode the lesson ran; and whether quick."""
    papermill = notebook.get("metadata", {}).get("papermill", {})
    course = notebook.get("metadata", {}).get("course", {})
    quick = course.get("mode") == "quick"
    when = (papermill.get("start_time") or "")[:10] or "an unrecorded date"
    took = papermill.get("duration")
    took = (f"{took:.0f} s" if took < 120 else f"{took / 60:.1f} min") if isinstance(took, (int, float)) else \
        "an unrecorded time"
    machine = course.get("machine", "an unrecorded machine")
    mode = course.get("mode", "unrecorded")
    text = f"The outputs below are from a run on {when}, on {machine}; it took {took} in {mode} mode."
    if quick:
        return ('!!! warning "Quick-mode outputs"\n    ' + text + " Quick mode only proves that the code runs: "
                "tiny images and a few steps, so the figures do not show what the lesson teaches."), True
    return '!!! info "This run"\n    ' + text, False


def run_note(stem: str) -> str:
    number = stem[:2]
    commands = "\n".join([
        f"jupyter lab notebooks/{stem}.ipynb                  # work through it cell by cell",
        f"python -m course_lib run-notebooks --only {number}          # run it headless (papermill) into build/notebooks",
        f"python -m course_lib run-notebooks --only {number} --quick  # quick mode: a few steps, proves the code runs",
        f"papermill notebooks/{stem}.ipynb out.ipynb  # papermill itself (set COURSE_QUICK=1 for quick mode)",
    ])
    body = "\n".join("    " + line for line in _fence(commands, "bash").splitlines())
    return f'??? tip "Run this lesson yourself"\n    From the repository\'s root, after `pip install -e .`:\n\n{body}'


def used_list(lesson: Lesson, module_pages: dict[str, str]) -> str:
    if not lesson.used:
        return ""
    lines = ["## course_lib functions used here", ""]
    for path in lesson.used:
        module = next((m for m in sorted(module_pages, key=len, reverse=True) if path.startswith(m + ".")), None)
        if module is None:
            lines.append(f"- `{path}`")
            continue
        target = posixpath.relpath(module_pages[module], "lessons")
        lines.append(f"- [`{path.removeprefix('course_lib.')}`]({target}#{path})")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- reference pages

def course_modules(package_dir: Path = REPO_ROOT / "course_lib") -> list[str]:
    """Every module of course_lib by its dotted name, packages before their modules, `__main__` left out."""
    names = []
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__main__" or any(p.startswith(".") or p == "__pycache__" for p in parts):
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return sorted(set(names), key=lambda n: n.split("."))


def module_page(name: str) -> str:
    return f"# {name}\n\n::: {name}\n    options:\n      show_root_heading: false\n"


def cli_page() -> str:
    """The command line's --help texts, produced by its own parser (never copied)."""
    import argparse

    from .cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"                      # argparse wraps help at $COLUMNS
    try:
        parser = build_parser()
        lines = ["# Command line", "",
                 "Every subcommand of `python -m course_lib` (also installed as `course`), as its `--help` "
                 "prints it.", "", _fence(parser.format_help())]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    lines += ["", f"## {name}", "", _fence(sub.format_help())]
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the site

EXTRA_CSS = """
.nb-output { border-left: 3px solid var(--md-accent-fg-color--transparent, #ddd); padding-left: .6rem;
             margin: -.4rem 0 1.2rem; }
.nb-output img { display: block; max-width: 100%; height: auto; background: white; }
.nb-html { overflow-x: auto; }
.nb-html table { font-size: .7rem; border-collapse: collapse; }
.nb-html th, .nb-html td { padding: .2rem .5rem; border-bottom: 1px solid var(--md-default-fg-color--lightest); }
.arithmatex { overflow-x: auto; overflow-y: hidden; }
math[display="block"] { margin: .8em 0; }
"""


def _heading(markdown: str, fallback: str) -> str:
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", markdown, re.M)
    return match.group(1).strip() if match else fallback


def _nav_reference(modules: list[str]) -> list:
    groups: dict[str, list] = {}
    for name in modules:
        package = name.rsplit(".", 1)[0] if name.count(".") else name
        if name in modules and any(m.startswith(name + ".") for m in modules):
            package = name                                   # a package page heads its own group
        groups.setdefault(package, []).append({name: f"reference/{name}.md"})
    return [{"Command line": "reference/cli.md"}] + [{package: entries} for package, entries in groups.items()]


def _mkdocs_config(docs_dir: Path, site_dir: Path, nav: list, repo_url: str | None, site_url: str | None) -> dict:
    config = {
        "site_name": SITE_NAME,
        "docs_dir": str(docs_dir),
        "site_dir": str(site_dir),
        "use_directory_urls": True,
        "nav": nav,
        "theme": {
            "name": "material",
            "font": False,                             # the system's fonts: no request to a font service
            "features": ["navigation.tabs", "navigation.sections", "navigation.top", "navigation.footer",
                         "toc.follow", "search.highlight", "search.suggest", "content.code.copy"],
            "palette": [
                {"media": "(prefers-color-scheme: light)", "scheme": "default", "primary": "indigo",
                 "toggle": {"icon": "material/weather-night", "name": "Dark mode"}},
                {"media": "(prefers-color-scheme: dark)", "scheme": "slate", "primary": "indigo",
                 "toggle": {"icon": "material/weather-sunny", "name": "Light mode"}},
            ],
        },
        "extra_css": ["assets/course.css"],
        "markdown_extensions": [
            "admonition", "attr_list", "md_in_html", "tables", "footnotes", "pymdownx.details",
            "pymdownx.superfences", {"pymdownx.highlight": {"pygments_lang_class": True}},
            {"toc": {"permalink": True}},
        ],
        "plugins": [
            "search",
            {"mkdocstrings": {"handlers": {"python": {
                "paths": [str(REPO_ROOT)],
                "options": {
                    "docstring_style": "google", "members_order": "source", "show_if_no_docstring": True,
                    "filters": ["!^_"], "heading_level": 2, "show_source": True, "separate_signature": True,
                    "show_signature_annotations": True, "show_symbol_type_heading": True,
                    "show_symbol_type_toc": True, "signature_crossrefs": False, "show_submodules": False,
                },
            }}}},
        ],
        "validation": {"links": {"not_found": "warn", "anchors": "warn", "unrecognized_links": "warn"}},
    }
    if repo_url:
        config["repo_url"] = repo_url
    if site_url:
        config["site_url"] = site_url
    return config


def _ensure_executed(lessons: list[Path], executed_dir: Path, notebooks: Path, quick: bool, file) -> None:
    """Execute with run-notebooks the lessons that have no executed notebook in `executed_dir` yet."""
    missing = [p for p in lessons if not (executed_dir / p.name).exists()]
    if not missing:
        return
    mode = "quick" if quick else "default"
    print(f"executing {len(missing)} lesson(s) missing from {executed_dir} in {mode} mode: "
          f"{', '.join(p.stem for p in missing)}", file=file, flush=True)
    summary_path = executed_dir / "summary.json"
    earlier = json.loads(summary_path.read_text()) if summary_path.exists() else []
    runs = run_notebooks(notebooks, executed_dir, quick=quick, only=[p.name[:2] for p in missing],
                         progress=False, file=file)
    rerun = {r.lesson for r in runs}                        # keep the earlier runs' rows in summary.json
    merged = [row for row in earlier if row.get("lesson") not in rerun] + json.loads(summary_path.read_text())
    summary_path.write_text(json.dumps(sorted(merged, key=lambda row: row.get("lesson", "")), indent=2))


def _check_replaceable(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise CourseError(f"{out} exists and is not a site built by this command; choose another --out or remove it.")


def _replace_folder(new: Path, out: Path) -> None:
    """Put `new` at `out`; an earlier site there is replaced, anything else refused."""
    _check_replaceable(out)
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        new.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(out)


def _count_pages(site_dir: Path) -> int:
    return sum(1 for p in site_dir.rglob("index.html") if p.parent.name not in ("assets", "search")) + \
        (1 if (site_dir / "404.html").exists() else 0)


def _require_site_packages() -> None:
    import importlib.util

    missing = [name for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python",
                                 "latex2mathml") if importlib.util.find_spec(name.split(".")[0]) is None]
    if missing:
        raise CourseError(f"building the site needs {', '.join(missing)}: install them with "
                          f"pip install -e \".[site]\".")


def _executed_lessons(sources: list[Path], executed_dir: Path) -> list[Lesson]:
    """The executed lessons, in order; CourseError naming the lesson and the cell when one failed."""
    lessons = []
    for source in sources:
        path = executed_dir / source.name
        notebook = _read_executed(path)
        failure = lesson_failure(notebook)
        if failure:
            raise CourseError(f"lesson {source.stem} is not published because its {failure} (in {path}); "
                              f"fix it and run it again with run-notebooks --only {source.name[:2]}.")
        lessons.append(Lesson(source.stem, path, notebook, lesson_title(notebook, source.stem)))
    return lessons


def _find_used_objects(lessons: list[Lesson]) -> None:
    import griffe

    package = griffe.load("course_lib", search_paths=[str(REPO_ROOT)], resolve_aliases=True,
                          resolve_external=False)
    for lesson in lessons:
        code = "\n".join(_code_without_magics(_text(c.get("source"))) for c in lesson.notebook["cells"]
                         if c.get("cell_type") == "code")
        lesson.used = used_objects(package, code)


def _site_paths(lessons: list[Lesson], guides: list[str], module_pages: dict[str, str]) -> dict[str, str]:
    """Repository path -> site path of everything the site shows (for LinkMap)."""
    paths = {"README.md": "index.md"}
    paths.update({f"notebooks/{lesson.stem}.ipynb": lesson.page for lesson in lessons})
    paths.update({f"docs/{relative}": f"docs/{relative}" for relative in guides})
    for name, page in module_pages.items():
        as_file = name.replace(".", "/")
        if (REPO_ROOT / as_file / "__init__.py").exists():
            paths[f"{as_file}/__init__.py"] = paths[as_file] = page
        else:
            paths[f"{as_file}.py"] = page
    return paths


def _write_lessons(lessons: list[Lesson], docs_dir: Path, links: LinkMap, module_pages: dict[str, str]) -> list[str]:
    """Each lesson's page and the lessons' overview; returns the numbers of lessons run in quick mode."""
    quick_lessons = []
    overview = ["# Lessons", "", "Each lesson's page shows the outputs of one run: when, where and in which mode "
                "it ran is written under its title.", "", "| lesson | run on | machine | time | mode |",
                "|---|---|---|---|---|"]
    for lesson in lessons:
        facts, quick_run = run_facts(lesson.notebook)
        if quick_run:
            quick_lessons.append(lesson.number)
        page = PageWriter(lesson, docs_dir, links).markdown(facts, run_note(lesson.stem), used_list(lesson, module_pages))
        (docs_dir / lesson.page).write_text(page, encoding="utf-8")
        papermill = lesson.notebook.get("metadata", {}).get("papermill", {})
        course = lesson.notebook.get("metadata", {}).get("course", {})
        seconds = papermill.get("duration")
        overview.append(f"| [{lesson.title}]({lesson.stem}.md) | {(papermill.get('start_time') or '?')[:10]} | "
                        f"{course.get('machine', '?')} | "
                        f"{f'{seconds:.0f} s' if isinstance(seconds, (int, float)) else '?'} | "
                        f"{course.get('mode', '?')} |")
    (docs_dir / "lessons" / "index.md").write_text("\n".join(overview) + "\n", encoding="utf-8")
    return quick_lessons


def _write_guides(docs: Path, guides: list[str], docs_dir: Path, links: LinkMap) -> list:
    """docs/* copied under docs/, markdown with its links and math made for the site; returns their nav."""
    nav = []
    for relative in guides:
        source, target = docs / relative, docs_dir / "docs" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".md":
            text = source.read_text(encoding="utf-8")
            site_text = math_to_mathml(links.rewrite(text, f"docs/{relative}", f"docs/{relative}"))
            target.write_text(site_text, encoding="utf-8")
            nav.append({_heading(text, source.stem): f"docs/{relative}"})
        else:
            shutil.copy2(source, target)
    return nav


def _run_mkdocs(config_path: Path, file) -> None:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    warnings = _WarningCollector()
    logger = logging.getLogger("mkdocs")
    logger.addHandler(warnings)
    try:
        build(load_config(str(config_path)))
    except MkDocsException as exc:
        raise CourseError(f"MkDocs could not build the site: {exc}") from None
    finally:
        logger.removeHandler(warnings)
    for message in warnings.messages:
        print(f"warning: {message}", file=file)


class _WarningCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0])


def build_site(out="build/site", executed_dir="build/notebooks", notebooks=DEFAULT_NOTEBOOKS,
               only: list[str] | None = None, quick: bool = False, docs=REPO_ROOT / "docs",
               readme=REPO_ROOT / "README.md", repo_url: str | None = None, site_url: str | None = None,
               file=None) -> SiteSummary:
    """Build the course's website into `out` from the executed lessons in `executed_dir`.

    Lessons missing from `executed_dir` are executed first with run-notebooks (`quick` for quick mode).
    Raises CourseError, leaving `out` untouched, when a lesson's execution failed.
    """
    file = file or sys.stdout
    start = time.perf_counter()
    _require_site_packages()
    out, executed_dir, notebooks, docs = Path(out).resolve(), Path(executed_dir), Path(notebooks), Path(docs)
    _check_replaceable(out)
    sources = find_lessons(notebooks, only)
    if not sources:
        raise CourseError(f"no lessons named NN_topic.ipynb in {notebooks}.")
    _ensure_executed(sources, executed_dir, notebooks, quick, file)
    lessons = _executed_lessons(sources, executed_dir)
    _find_used_objects(lessons)

    modules = course_modules()
    module_pages = {name: f"reference/{name}.md" for name in modules}
    guides = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*") if p.is_file()) if docs.is_dir() else []
    links = LinkMap(_site_paths(lessons, guides, module_pages), repo_url)

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        docs_dir, site_dir = work / "docs", work / "site"
        for folder in ("lessons", "reference", "assets"):
            (docs_dir / folder).mkdir(parents=True)
        (docs_dir / "assets" / "course.css").write_text(EXTRA_CSS)
        home = Path(readme).read_text(encoding="utf-8") if Path(readme).exists() else f"# {SITE_NAME}\n"
        (docs_dir / "index.md").write_text(math_to_mathml(links.rewrite(home, "README.md", "index.md")))
        quick_lessons = _write_lessons(lessons, docs_dir, links, module_pages)
        guides_nav = _write_guides(docs, guides, docs_dir, links)
        (docs_dir / "reference" / "cli.md").write_text(cli_page(), encoding="utf-8")
        for name in modules:
            (docs_dir / module_pages[name]).write_text(module_page(name), encoding="utf-8")

        nav = [{"Home": "index.md"},
               {"Lessons": [{"Overview": "lessons/index.md"}] + [{l.title: l.page} for l in lessons]}]
        nav += [{"Guides": guides_nav}] if guides_nav else []
        nav.append({"Reference": _nav_reference(modules)})
        config_path = work / "mkdocs.yml"
        config_path.write_text(json.dumps(_mkdocs_config(docs_dir, site_dir, nav, repo_url, site_url), indent=1))
        _run_mkdocs(config_path, file)

        (site_dir / MARKER).write_text(json.dumps({
            "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "lessons": [l.stem for l in lessons],
            "quick_mode_lessons": quick_lessons, "executed_from": str(executed_dir.resolve())}, indent=1))
        pages = _count_pages(site_dir)
        size = sum(p.stat().st_size for p in site_dir.rglob("*") if p.is_file())
        _replace_folder(site_dir, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    seconds = time.perf_counter() - start
    if quick_lessons:
        print(f"note: lessons {', '.join(quick_lessons)} show quick-mode outputs (their pages say so).", file=file)
    print(f"built {pages} pages ({len(lessons)} lessons) into {out}: {size / 2**20:.1f} MiB in {seconds:.0f} s",
          file=file)
    return SiteSummary(out, [l.stem for l in lessons], pages, size, round(seconds, 1))
