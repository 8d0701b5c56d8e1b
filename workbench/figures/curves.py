"""Per-epoch curves: learning curves (train dashed, validation solid) and the learning-rate finder.

A *history* is a list of per-epoch dicts: `{"epoch": 1, "loss": ..., "accuracy": ...,
"val_loss": ..., "val_accuracy": ..., "seconds": ...}`. Validation keys may be missing or NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.figures.style import (
    FROZEN_COLOR,
    MODE_COLORS,
    TEMPLATE,
    TRAIN_DASH,
    TRAINABLE_COLOR,
    VALIDATION_DASH,
    assign_colors,
    empty_figure,
    plain_text,
)
from workbench.formatting import to_float

CURVE_METRICS: tuple[str, ...] = ("accuracy", "loss")

History = Sequence[Mapping[str, float]]

_LEGEND = {"title": {"text": "dashed = train, solid = validation"}, "groupclick": "togglegroup"}


def _check_metric(metric: str) -> None:
    if metric not in CURVE_METRICS:
        allowed = ", ".join(repr(name) for name in CURVE_METRICS)
        raise ValueError(
            f"Unknown metric {metric!r}: allowed values are {allowed}. "
            f"Pass metric='accuracy' or metric='loss'."
        )


def _curve_points(history: History, key: str) -> tuple[list[float], list[float], list[float]]:
    """Extracts epochs, values and epoch durations for one history key.

    Epochs missing an "epoch" entry are numbered by position (1-based).
    """
    epochs: list[float] = []
    values: list[float] = []
    seconds: list[float] = []
    for position, record in enumerate(history):
        epoch = record.get("epoch")
        epochs.append(position + 1 if epoch is None else int(epoch))
        values.append(to_float(record.get(key)))
        seconds.append(to_float(record.get("seconds")))
    return epochs, values, seconds


def _add_curve_traces(
    figure: go.Figure,
    histories: Mapping[str, History],
    metric: str,
    colors: Mapping[str, str],
    row: int | None = None,
    column: int | None = None,
    show_legend: bool = True,
) -> None:
    """Adds a dashed train and a solid validation trace per label to `figure`."""
    splits = (("train", metric, TRAIN_DASH), ("validation", f"val_{metric}", VALIDATION_DASH))
    for label, history in histories.items():
        for split, key, dash in splits:
            epochs, values, seconds = _curve_points(history, key)
            # A run without a validation set logs no (or NaN) val_* values: drawing an all-gap
            # trace would only add a misleading legend entry.
            if not any(math.isfinite(value) for value in values):
                continue
            timing = (
                " (%{customdata[0]:.1f} s)"
                if any(math.isfinite(duration) for duration in seconds)
                else ""
            )
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=values,
                    customdata=[[duration] for duration in seconds],
                    mode="lines+markers",
                    name=f"{plain_text(label)} ({split})",
                    legendgroup=str(label),
                    showlegend=show_legend,
                    line={"color": colors[label], "dash": dash, "width": 2},
                    marker={"size": 5},
                    hovertemplate=(
                        f"<b>{plain_text(label)}</b><br>{split} {metric}: %{{y:.4f}}<br>"
                        f"epoch %{{x}}{timing}<extra></extra>"
                    ),
                ),
                row=row,
                col=column,
            )


def _epoch_tick(histories: Mapping[str, History]) -> int | None:
    """One tick per epoch for short runs; plotly's automatic ticks beyond 20 epochs."""
    longest = max((len(history) for history in histories.values()), default=0)
    return 1 if longest <= 20 else None


def plot_learning_curves(
    histories: Mapping[str, History],
    metric: str = "accuracy",
    title: str | None = None,
) -> go.Figure:
    """Plots one metric per epoch for several runs: train dashed, validation solid.

    Args:
        histories: Display label → history (a list of per-epoch dicts). A label that starts
            with a mode name ("parameter seed 0") is drawn in that mode's colour.
        metric: Which metric to draw, "accuracy" or "loss". Defaults to "accuracy".
        title: Figure title. Defaults to "Accuracy per epoch" or "Loss per epoch".

    Returns:
        A figure with epochs on x and the metric on y; each label is one legend group.

    Raises:
        ValueError: If `metric` is not "accuracy" or "loss".
    """
    _check_metric(metric)
    title = title or f"{metric.capitalize()} per epoch"
    if not histories or not any(histories.values()):
        return empty_figure("No training history yet", title=title)
    figure = go.Figure()
    _add_curve_traces(figure, histories, metric, assign_colors(histories))
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        xaxis={"title": {"text": "Epoch"}, "dtick": _epoch_tick(histories)},
        yaxis={"title": {"text": metric.capitalize()}},
        legend=_LEGEND,
        hovermode="closest",
    )
    return figure


def plot_accuracy_and_loss(
    histories: Mapping[str, History],
    title: str | None = None,
) -> go.Figure:
    """Plots accuracy and loss side by side, with one legend shared by both panels.

    Args:
        histories: Display label → history (a list of per-epoch dicts), as for
            `plot_learning_curves`.
        title: Figure title. Defaults to "Accuracy and loss per epoch".

    Returns:
        A two-column figure (accuracy left, loss right). Each label's traces share a legend
        group, so clicking a legend entry hides that run in both panels.
    """
    title = title or "Accuracy and loss per epoch"
    if not histories or not any(histories.values()):
        return empty_figure("No training history yet", title=title)
    colors = assign_colors(histories)
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=("Accuracy", "Loss"), horizontal_spacing=0.1
    )
    _add_curve_traces(figure, histories, "accuracy", colors, row=1, column=1, show_legend=True)
    # Legend entries come from the accuracy panel only; loss traces join the same groups.
    _add_curve_traces(figure, histories, "loss", colors, row=1, column=2, show_legend=False)
    figure.update_xaxes(title={"text": "Epoch"}, dtick=_epoch_tick(histories))
    figure.update_yaxes(title={"text": "Accuracy"}, row=1, col=1)
    figure.update_yaxes(title={"text": "Loss"}, row=1, col=2)
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        legend=_LEGEND,
        hovermode="closest",
    )
    return figure


def plot_lr_find(result: Mapping[str, Any], title: str | None = None) -> go.Figure:
    """Loss against learning rate (log x) from the learning-rate finder, with its suggestion.

    Args:
        result: {"learning_rates", "losses", "smoothed_losses", "suggestion"} as returned by
            `workbench.lr_find`.
        title: Figure title. Defaults to "Learning-rate finder".

    Returns:
        Raw loss as faint points, the smoothed loss as a line, and a marker at the suggestion.
    """
    title = title or "Learning-rate finder"
    rates = list(result.get("learning_rates", []))
    if not rates:
        return empty_figure("The learning-rate finder recorded no steps", title=title)
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=rates, y=list(result["losses"]), mode="markers", name="batch loss",
                                marker={"color": FROZEN_COLOR, "size": 4}))
    figure.add_trace(go.Scatter(x=rates, y=list(result["smoothed_losses"]), mode="lines", name="smoothed loss",
                                line={"color": MODE_COLORS["parameter"], "width": 2}))
    suggestion = to_float(result.get("suggestion"))
    if math.isfinite(suggestion):
        figure.add_vline(x=suggestion, line={"color": TRAINABLE_COLOR, "dash": "dot"},
                         annotation_text=f"suggested {suggestion:.2g}", annotation_position="top left")
    figure.update_layout(template=TEMPLATE, title=title, xaxis={"type": "log", "title": "learning rate"},
                         yaxis={"title": "training loss"}, hovermode="x unified")
    return figure
