"""How a report notebook displays things so that they survive papermill and nbconvert: the plotly
renderer for static reports, HTML tables and escaped Markdown.

Figures are shown through the `workbench_report` plotly renderer (see `ReportRenderer`): it emits
the figure as `text/html` (which nbconvert copies into the report) *and* as plotly's own MIME type
(which JupyterLab draws interactively). plotly ≥ 6 would otherwise pick `plotly_mimetype` alone
inside a kernel, and the HTML report would come out with blank figures.
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

from workbench.fast_start import skip_slow_optional_imports
from workbench.reports import format_table_html

REPORT_RENDERER = "workbench_report"


PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


DEFAULT_FIGURE_HEIGHT = 480


class ReportRenderer(MimetypeRenderer):
    """A plotly renderer whose output survives papermill and nbconvert.

    Each figure becomes one display bundle with two representations:

    * `text/html`: a `<div>` plus a `Plotly.newPlot(...)` call holding the figure data, without
      plotly.js (the report template embeds plotly.js once per page) and without MathJax (which
      plotly's own HTML renderers load from a CDN);
    * `application/vnd.plotly.v1+json`: the figure for JupyterLab's plotly extension.

    nbconvert's HTML exporter ranks `text/html` above every other type present, so reports carry
    the HTML version. Figure element ids count up per kernel (`workbench-figure-1`, ...), so
    re-running a notebook produces the same HTML.
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config = dict(config or {"responsive": True, "displaylogo": False})
        # plotly renders with a shallow copy of the renderer, so the count lives in a shared object.
        self.figure_numbers = itertools.count(1)

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, Any]:
        """Return `{"text/html": ..., "application/vnd.plotly.v1+json": ...}` for one figure."""
        number = next(self.figure_numbers)
        height = (fig_dict.get("layout") or {}).get("height") or DEFAULT_FIGURE_HEIGHT
        figure_html = pio.to_html(
            fig_dict,
            config=self.config,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            div_id=f"workbench-figure-{number}",
            default_width="100%",
            # A percentage height inside an output cell of automatic height collapses to nothing.
            default_height=f"{int(height)}px",
            validate=False,
        )
        figure_json = json.loads(pio.to_json(fig_dict, validate=False, remove_uids=False))
        figure_json["config"] = dict(self.config)
        return {"text/html": figure_html, PLOTLY_MIMETYPE: figure_json}


def prepare_notebook() -> None:
    """Set up a notebook kernel for a static report. Call it once, right after the parameters cell.

    Registers `ReportRenderer` as plotly's default renderer (so a figure left as the last
    expression of a cell, or `.show()`n, lands in the HTML report with its data), and quiets
    TensorFlow's Python warnings (retracing notices), which would otherwise clutter every report.
    """
    skip_slow_optional_imports()  # before plotly's renderers import nbformat (workbench/fast_start.py)
    pio.renderers[REPORT_RENDERER] = ReportRenderer()
    pio.renderers.default = REPORT_RENDERER
    for name in ("tensorflow", "absl"):
        # A filter, not a level: TensorFlow resets its logger to INFO (and to stdout, which the
        # report keeps) when it first loads in an interactive kernel, after this has run.
        logger = logging.getLogger(name)
        if not any(isinstance(item, _ErrorsOnly) for item in logger.filters):
            logger.addFilter(_ErrorsOnly())


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def table(rows: Sequence[Mapping[str, Any]], caption: str | None = None) -> Any:
    """Rows of dicts as a displayable HTML table (see `workbench.reports.format_table_html`)."""
    from IPython.display import HTML

    return HTML(format_table_html(rows, caption))


def markdown(text: str) -> Any:
    """Text as displayable Markdown, for prose that quotes computed numbers.

    nbconvert passes raw HTML in Markdown through to the report as it is, and this prose quotes
    user-supplied strings (tasks, folder paths, run names), so `&`, `<` and `>` outside code spans
    are escaped: a name such as `<img src=x onerror=alert(1)>` shows as typed. Quote a value as
    code with `code_span`.
    """
    from IPython.display import Markdown

    return Markdown(escape_markdown_html(text))


def escape_markdown_html(text: str) -> str:
    """Escape `&`, `<` and `>` in Markdown text, leaving code spans (which Markdown escapes itself) alone."""
    # re.split with a group alternates text (even indices) and backtick runs (odd indices); a code
    # span runs from a backtick run to the next run of the same length.
    parts = re.split(r"(`+)", str(text))
    escaped: list[str] = []
    index = 0
    while index < len(parts):
        part = parts[index]
        if index % 2:
            closing = next((later for later in range(index + 2, len(parts), 2) if parts[later] == part), None)
            if closing is not None:
                escaped.append("".join(parts[index:closing + 1]))
                index = closing + 1
                continue
            escaped.append(part)
        else:
            escaped.append(html.escape(part, quote=False))
        index += 1
    return "".join(escaped)


def code_span(value: Any) -> str:
    """`value` as a Markdown code span that its own backticks cannot end early."""
    text = str(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"

