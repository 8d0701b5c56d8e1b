"""The look every figure shares: mode colours, the template, line dashes, and small helpers.

A transfer mode keeps one recognisable colour in every figure, panel and report, so colours are
chosen here and nowhere else (`assign_colors`); every user-supplied string goes through
`plain_text` before it reaches a figure.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import plotly.graph_objects as go

# Okabe-Ito colours: distinguishable with the common forms of colour blindness, so a mode keeps
# one recognisable colour in every figure, panel and report.
MODE_COLORS: dict[str, str] = {
    "parameter": "#0072B2",
    "feature": "#E69F00",
    "structure": "#009E73",
    "pretrain": "#6C6C6C",
}

# For labels that do not start with a mode name; none of these repeats a mode colour.
FALLBACK_COLORS: tuple[str, ...] = (
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#882255",
    "#44AA99",
    "#999933",
    "#AA4499",
    "#332288",
)

CORRECT_COLOR = "#1A7F37"
WRONG_COLOR = "#CF222E"
FROZEN_COLOR = "#B0B0B0"
TRAINABLE_COLOR = "#D55E00"
MESSAGE_COLOR = "#6C6C6C"
ZERO_LINE_COLOR = "#555555"

DRIFT_COLORSCALE = "Viridis"
CKA_COLORSCALE = "Blues"
# Not TRAINABLE_COLOR, which marks the suggested freeze depth in `plot_block_scores`.
SCORE_COLORS: dict[str, str] = {"probe_accuracy": "#0072B2", "logme": "#CC79A7", "leep": "#009E73"}

TEMPLATE = "plotly_white"

TRAIN_DASH = "dash"
VALIDATION_DASH = "solid"


def find_mode(label: str) -> str | None:
    """Returns the transfer mode a display label starts with, if any.

    Args:
        label: A display label such as `"parameter (freeze 2)"` or `"feature seed 0"`.

    Returns:
        The matching key of `MODE_COLORS` (compared case-insensitively), or None when the label
        does not start with a mode name.
    """
    lowered = str(label).strip().lower()
    for mode in MODE_COLORS:
        if lowered.startswith(mode):
            return mode
    return None


def assign_colors(labels: Iterable[str]) -> dict[str, str]:
    """Assigns one colour per label: its mode colour, else the next fallback colour.

    Fallback colours are handed out in order of first appearance, so the same list of labels
    always gets the same colours.

    Args:
        labels: Display labels, in the order they are drawn. Duplicates are allowed.

    Returns:
        A dict from each distinct label to a hex colour string.
    """
    colors: dict[str, str] = {}
    fallback_count = 0
    for label in labels:
        if label in colors:
            continue
        mode = find_mode(label)
        if mode is not None:
            colors[label] = MODE_COLORS[mode]
        else:
            colors[label] = FALLBACK_COLORS[fallback_count % len(FALLBACK_COLORS)]
            fallback_count += 1
    return colors


def plain_text(value: object) -> str:
    """`value` as plotly text that shows exactly as typed.

    plotly renders a subset of HTML in titles, axis labels, legend entries and hover text (`<b>`,
    `<br>`, `<a href>`, ...), so a class or run name such as `<b>cat</b>` or
    `<img src=x onerror=alert(1)>` would be interpreted (or silently dropped). Escaping `&`, `<`
    and `>` makes plotly show the literal characters. Every user-supplied string (class names, run
    names and labels, block names, task names) goes through this before it reaches a figure.
    """
    # html.escape(text, quote=False), written out: the figures import nothing but numpy and plotly.
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def capitalize_first(text: str) -> str:
    """`text` with its first letter upper-cased and the rest kept ("test accuracy" → "Test accuracy").

    Unlike `str.capitalize`, the rest keeps its case, so "LogME" and "t-SNE" stay as written.
    """
    return f"{text[:1].upper()}{text[1:]}"


def is_accuracy(metric_name: str) -> bool:
    """Whether a metric name is an accuracy, which gets a fixed 0..1 axis."""
    return "accuracy" in metric_name.lower()


def empty_figure(message: str, title: str | None = None) -> go.Figure:
    """Builds a blank figure with a centred message, for "no data yet" states.

    Args:
        message: The text to show in the middle of the figure.
        title: Optional figure title. Defaults to no title.

    Returns:
        A figure with hidden axes and one centred annotation.
    """
    figure = go.Figure()
    figure.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 16, "color": MESSAGE_COLOR},
    )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(template=TEMPLATE, title={"text": title} if title else None)
    return figure


def spread_offsets(count: int, width: float = 0.3) -> list[float]:
    """Returns evenly spaced horizontal offsets for overlaying `count` points on one bar.

    This is a deterministic jitter: the same count always gives the same offsets, so figures
    (and the reports built from them) do not change between runs.

    Args:
        count: How many points share the bar.
        width: Total spread, in units of the distance between bars. Defaults to 0.3.

    Returns:
        `count` offsets centred on 0 (a single point gets offset 0).
    """
    if count <= 1:
        return [0.0] * max(count, 0)
    return [float(offset) for offset in np.linspace(-width / 2, width / 2, count)]
