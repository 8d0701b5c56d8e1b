"""Plotly figures for the workbench: plain data in, `plotly.graph_objects.Figure` out.

Every function here is pure and deterministic: the same input always gives the same figure,
nothing is shown (no `.show()`), and only numpy and plotly are imported, so the module imports
fast and works the same in a JupyterLab panel (wrapped in a `FigureWidget`), in a papermill HTML
report and from the command line.

Data contracts (produced by the engine, accepted here as plain Python or numpy values):

* A *history* is a list of per-epoch dicts: `{"epoch": 1, "loss": ..., "accuracy": ...,
  "val_loss": ..., "val_accuracy": ..., "seconds": ...}`. Validation keys may be missing or NaN.
* A comparison *row* is a dict: `{"mode", "freeze_depth", "label", "n", "mean", "sd", "values",
  "seeds"}`.
* A confusion matrix is a list of lists of counts, rows = true class, columns = predicted class.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

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

CURVE_METRICS: tuple[str, ...] = ("accuracy", "loss")
TEMPLATE = "plotly_white"

TRAIN_DASH = "dash"
VALIDATION_DASH = "solid"


# --------------------------------------------------------------------------------------------
# Colours and small helpers
# --------------------------------------------------------------------------------------------


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


def plain_text(value: Any) -> str:
    """`value` as plotly text that shows exactly as typed.

    plotly renders a subset of HTML in titles, axis labels, legend entries and hover text (`<b>`,
    `<br>`, `<a href>`, ...), so a class or run name such as `<b>cat</b>` or
    `<img src=x onerror=alert(1)>` would be interpreted (or silently dropped). Escaping `&`, `<`
    and `>` makes plotly show the literal characters. Every user-supplied string (class names, run
    names and labels, block names, task names) goes through this before it reaches a figure.
    """
    # html.escape(text, quote=False), written out: this module imports nothing but numpy and plotly.
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
        font={"size": 16, "color": "#6C6C6C"},
    )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(template=TEMPLATE, title={"text": title} if title else None)
    return figure


def _to_float(value: Any) -> float:
    """Converts a value to float; None and unconvertible values become NaN."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _is_accuracy(name: str) -> bool:
    return "accuracy" in name.lower()


def _format_value(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "n/a"


# --------------------------------------------------------------------------------------------
# Learning curves
# --------------------------------------------------------------------------------------------


def _check_metric(metric: str) -> None:
    if metric not in CURVE_METRICS:
        allowed = ", ".join(repr(name) for name in CURVE_METRICS)
        raise ValueError(
            f"Unknown metric {metric!r}: allowed values are {allowed}. "
            f"Pass metric='accuracy' or metric='loss'."
        )


def _curve_points(
    history: Sequence[Mapping[str, float]], key: str
) -> tuple[list[float], list[float], list[float]]:
    """Extracts epochs, values and epoch durations for one history key.

    Epochs missing an "epoch" entry are numbered by position (1-based).
    """
    epochs: list[float] = []
    values: list[float] = []
    seconds: list[float] = []
    for position, record in enumerate(history):
        epoch = record.get("epoch")
        epochs.append(position + 1 if epoch is None else int(epoch))
        values.append(_to_float(record.get(key)))
        seconds.append(_to_float(record.get("seconds")))
    return epochs, values, seconds


def _add_curve_traces(
    figure: go.Figure,
    histories: Mapping[str, Sequence[Mapping[str, float]]],
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


def plot_learning_curves(
    histories: Mapping[str, Sequence[Mapping[str, float]]],
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
        xaxis={"title": {"text": "Epoch"}, "dtick": 1 if _max_epoch(histories) <= 20 else None},
        yaxis={"title": {"text": metric.capitalize()}},
        legend={"title": {"text": "dashed = train, solid = validation"}, "groupclick": "togglegroup"},
        hovermode="closest",
    )
    return figure


def _max_epoch(histories: Mapping[str, Sequence[Mapping[str, float]]]) -> int:
    return max((len(history) for history in histories.values()), default=0)


def plot_accuracy_and_loss(
    histories: Mapping[str, Sequence[Mapping[str, float]]],
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
    dtick = 1 if _max_epoch(histories) <= 20 else None
    figure.update_xaxes(title={"text": "Epoch"}, dtick=dtick)
    figure.update_yaxes(title={"text": "Accuracy"}, row=1, col=1)
    figure.update_yaxes(title={"text": "Loss"}, row=1, col=2)
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        legend={"title": {"text": "dashed = train, solid = validation"}, "groupclick": "togglegroup"},
        hovermode="closest",
    )
    return figure


# --------------------------------------------------------------------------------------------
# Comparisons and sweeps
# --------------------------------------------------------------------------------------------


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


def plot_comparison(
    rows: Sequence[Mapping[str, Any]],
    metric_name: str = "test accuracy",
    title: str | None = None,
) -> go.Figure:
    """Plots the mean of each configuration as a bar, sd as error bars, seeds as points.

    Args:
        rows: Comparison rows, each with "label", "mean", "sd", "n", "values" and "seeds"
            (and "mode", which picks the bar colour; otherwise the label does).
        metric_name: What the values measure, used for the axis title; an accuracy gets a
            0..1 y axis. Defaults to "test accuracy".
        title: Figure title. Defaults to "<Metric name> by configuration (mean ± sd over seeds)".

    Returns:
        A figure with one bar trace (bar text like "0.912 ± 0.013 (n=3)") and one scatter trace
        of the individual seed values.
    """
    title = title or f"{metric_name[:1].upper()}{metric_name[1:]} by configuration (mean ± sd over seeds)"
    if not rows:
        return empty_figure("No results to compare yet", title=title)
    labels = [str(row.get("label", row.get("mode", f"run {index}"))) for index, row in enumerate(rows)]
    color_keys = [
        str(row["mode"]) if find_mode(str(row.get("mode", ""))) else label
        for row, label in zip(rows, labels)
    ]
    colors = assign_colors(color_keys)
    positions = list(range(len(rows)))
    means = [_to_float(row.get("mean")) for row in rows]
    deviations = [_to_float(row.get("sd")) for row in rows]
    counts = [int(row.get("n", len(row.get("values", [])))) for row in rows]
    bar_texts = [
        f"{mean:.3f} ± {sd:.3f} (n={count})" if math.isfinite(sd) else f"{_format_value(mean)} (n={count})"
        for mean, sd, count in zip(means, deviations, counts)
    ]
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=positions,
            y=means,
            # A single seed has no spread; an error bar of 0 is honest and keeps JSON finite.
            error_y={
                "type": "data",
                "array": [sd if math.isfinite(sd) else 0.0 for sd in deviations],
                "visible": True,
                "thickness": 1.5,
                "width": 8,
                "color": "#333333",
            },
            marker={"color": [colors[key] for key in color_keys], "opacity": 0.75},
            text=bar_texts,
            textposition="inside",
            insidetextanchor="middle",
            textangle=0,
            customdata=[[plain_text(label), count] for label, count in zip(labels, counts)],
            hovertemplate=(
                f"<b>%{{customdata[0]}}</b><br>mean {metric_name}: %{{y:.4f}}"
                "<br>%{text}<extra></extra>"
            ),
            name="mean ± sd",
            showlegend=False,
        )
    )
    point_x: list[float] = []
    point_y: list[float] = []
    point_data: list[list[Any]] = []
    for position, row, label in zip(positions, rows, labels):
        values = [_to_float(value) for value in row.get("values", [])]
        seeds = list(row.get("seeds", []))
        for index, offset in enumerate(spread_offsets(len(values))):
            if not math.isfinite(values[index]):
                continue
            seed = seeds[index] if index < len(seeds) else "?"
            point_x.append(position + offset)
            point_y.append(values[index])
            point_data.append([plain_text(label), seed])
    figure.add_trace(
        go.Scatter(
            x=point_x,
            y=point_y,
            mode="markers",
            marker={"color": "#222222", "size": 7, "line": {"color": "white", "width": 1}},
            customdata=point_data,
            hovertemplate=(
                f"<b>%{{customdata[0]}}</b><br>seed %{{customdata[1]}}: {metric_name} %{{y:.4f}}"
                "<extra></extra>"
            ),
            name="seeds",
            showlegend=False,
        )
    )
    yaxis: dict[str, Any] = {"title": {"text": metric_name}}
    if _is_accuracy(metric_name):
        yaxis["range"] = [0, 1]
    else:
        yaxis["rangemode"] = "tozero"
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        # A numeric x axis with text ticks lets seed points sit beside the bar centre.
        xaxis={
            "title": {"text": "Configuration"},
            "tickmode": "array",
            "tickvals": positions,
            "ticktext": [plain_text(label) for label in labels],
            "range": [-0.5, len(rows) - 0.5],
        },
        yaxis=yaxis,
        bargap=0.35,
    )
    return figure


def plot_sweep(
    points: Sequence[Mapping[str, Any]],
    x_key: str,
    x_title: str,
    log_x: bool = False,
    title: str | None = None,
    y_title: str = "test accuracy",
) -> go.Figure:
    """Plots mean ± sd against a swept value, one line per series.

    Args:
        points: Dicts with "series", `x_key`, "mean", "sd" and "n". Series keep their order of
            first appearance; points within a series are sorted by x.
        x_key: The key holding the swept value, e.g. "freeze_depth" or "labels_per_class".
        x_title: The x axis title.
        log_x: Whether to use a logarithmic x axis (all x values must then be > 0).
            Defaults to False.
        title: Figure title. Defaults to "<Y title> against <x title>".
        y_title: What the means measure; an accuracy gets a 0..1 y axis.
            Defaults to "test accuracy".

    Returns:
        A figure with one line (with error bars) per series, in mode colours.

    Raises:
        ValueError: If a point lacks `x_key`, or `log_x` is set and an x value is not positive.
    """
    title = title or f"{y_title[:1].upper()}{y_title[1:]} against {x_title}"
    if not points:
        return empty_figure("No sweep results yet", title=title)
    series_points: dict[str, list[Mapping[str, Any]]] = {}
    for point in points:
        if x_key not in point:
            raise ValueError(
                f"Sweep point {dict(point)!r} has no key {x_key!r}; its keys are "
                f"{sorted(point)}. Pass the x_key the points were recorded with."
            )
        x_value = _to_float(point[x_key])
        if log_x and not x_value > 0:
            raise ValueError(
                f"log_x=True needs positive x values, but {x_key}={point[x_key]!r}. "
                "Pass log_x=False, or drop the non-positive points."
            )
        series_points.setdefault(str(point.get("series", "")), []).append(point)
    colors = assign_colors(series_points)
    figure = go.Figure()
    for series, members in series_points.items():
        members = sorted(members, key=lambda point: _to_float(point[x_key]))
        deviations = [_to_float(point.get("sd")) for point in members]
        figure.add_trace(
            go.Scatter(
                x=[point[x_key] for point in members],
                y=[_to_float(point.get("mean")) for point in members],
                error_y={
                    "type": "data",
                    "array": [sd if math.isfinite(sd) else 0.0 for sd in deviations],
                    "visible": True,
                    "thickness": 1.5,
                },
                customdata=[
                    [_format_value(sd), int(point.get("n", 0))]
                    for sd, point in zip(deviations, members)
                ],
                mode="lines+markers",
                name=plain_text(series),
                legendgroup=series,
                line={"color": colors[series], "width": 2},
                marker={"size": 7},
                hovertemplate=(
                    f"<b>{plain_text(series)}</b><br>{x_title}: %{{x}}<br>{y_title}: %{{y:.3f}} "
                    "± %{customdata[0]} (n=%{customdata[1]})<extra></extra>"
                ),
            )
        )
    yaxis: dict[str, Any] = {"title": {"text": f"{y_title} (mean ± sd)"}}
    if _is_accuracy(y_title):
        yaxis["range"] = [0, 1]
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        xaxis={"title": {"text": x_title}, "type": "log" if log_x else "linear"},
        yaxis=yaxis,
        hovermode="closest",
    )
    return figure


# --------------------------------------------------------------------------------------------
# Confusion matrix and sample predictions
# --------------------------------------------------------------------------------------------


def normalize_rows(matrix: Sequence[Sequence[float]]) -> np.ndarray:
    """Divides each row of a confusion matrix by its total, leaving empty rows at zero.

    Args:
        matrix: Counts, rows = true class.

    Returns:
        A float array where every non-empty row sums to 1.
    """
    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    # A class absent from the test set has a zero row; 0/0 would put NaN holes in the heatmap.
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]],
    class_names: Sequence[str],
    normalize: bool = True,
    title: str | None = None,
) -> go.Figure:
    """Plots a confusion matrix as a heatmap with the counts written in each cell.

    Args:
        matrix: Square list of lists of counts; rows = true class, columns = predicted class.
        class_names: One name per class, in index order.
        normalize: If True, colour each cell by its fraction of the true class (rows sum to 1);
            if False, colour by the raw count. Cells always show the count. Defaults to True.
        title: Figure title. Defaults to "Confusion matrix" (plus "(row-normalised)").

    Returns:
        A heatmap with predicted class on x and true class on y, class 0 in the top-left corner.

    Raises:
        ValueError: If the matrix is not square or does not match `class_names` in size.
    """
    counts = np.asarray(matrix, dtype=float)
    names = [plain_text(name) for name in class_names]
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(names):
        raise ValueError(
            f"The confusion matrix has shape {counts.shape} but there are {len(names)} class "
            f"names; it must be square, {len(names)}x{len(names)}. Pass one class name per "
            "row/column of the matrix."
        )
    title = title or ("Confusion matrix (row-normalised)" if normalize else "Confusion matrix")
    if counts.size == 0:
        return empty_figure("No predictions yet", title=title)
    fractions = normalize_rows(counts)
    integer_counts = counts.astype(int)
    figure = go.Figure(
        go.Heatmap(
            z=fractions.tolist() if normalize else integer_counts.tolist(),
            x=names,
            y=names,
            text=[[str(count) for count in row] for row in integer_counts],
            texttemplate="%{text}",
            customdata=np.dstack([integer_counts, fractions]).tolist(),
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else max(int(integer_counts.max()), 1),
            colorbar={"title": {"text": "fraction of true class" if normalize else "count"}},
            hovertemplate=(
                "true: %{y}<br>predicted: %{x}<br>count: %{customdata[0]}"
                "<br>fraction of true class: %{customdata[1]:.1%}<extra></extra>"
            ),
        )
    )
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        # Category axes: class names such as "0".."9" would otherwise be read as numbers.
        xaxis={"title": {"text": "Predicted class"}, "type": "category", "side": "bottom"},
        yaxis={"title": {"text": "True class"}, "type": "category", "autorange": "reversed"},
    )
    return figure


def _to_rgb_images(images: np.ndarray) -> np.ndarray:
    """Converts (N,H,W), (N,H,W,1) or (N,H,W,3) images to uint8 RGB (N,H,W,3)."""
    array = np.asarray(images)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 3:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(
            f"images has shape {np.asarray(images).shape}; expected (N, H, W), (N, H, W, 1) or "
            "(N, H, W, 3). Pass a batch of grayscale or RGB images."
        )
    if array.dtype != np.uint8:
        # Float images are usually scaled to 0..1 by the input pipeline; bring them back.
        floats = array.astype(float)
        if floats.size and np.nanmax(floats) <= 1.0:
            floats = floats * 255.0
        array = np.clip(np.nan_to_num(floats), 0, 255).round().astype(np.uint8)
    return array


def _class_name(label: Any, class_names: Sequence[str]) -> str:
    """Returns the display name of a class given as an index or as a name."""
    if isinstance(label, (int, np.integer)) and 0 <= int(label) < len(class_names):
        return str(class_names[int(label)])
    return str(label)


def plot_sample_predictions(
    images: np.ndarray,
    true_labels: Sequence[Any],
    predicted_labels: Sequence[Any],
    class_names: Sequence[str],
    columns: int = 8,
    title: str | None = None,
) -> go.Figure:
    """Shows a grid of images titled "true → predicted", green when right and red when wrong.

    Args:
        images: uint8 array of shape (N, H, W), (N, H, W, 1) or (N, H, W, 3). Grayscale images
            are drawn as RGB; float images in 0..1 are scaled to 0..255.
        true_labels: N true classes, as indices into `class_names` (or as names).
        predicted_labels: N predicted classes, in the same form.
        class_names: One name per class, in index order.
        columns: Images per grid row. Defaults to 8.
        title: Figure title. Defaults to "Sample predictions (k of N correct)".

    Returns:
        A figure with one `go.Image` per sample and hidden axes.

    Raises:
        ValueError: If the images or label counts disagree, the image shape is not supported,
            or `columns` is not a positive integer.
    """
    if not isinstance(columns, (int, np.integer)) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}. Pass e.g. columns=8.")
    rgb_images = _to_rgb_images(images)
    count = rgb_images.shape[0]
    if len(true_labels) != count or len(predicted_labels) != count:
        raise ValueError(
            f"Got {count} images, {len(true_labels)} true labels and {len(predicted_labels)} "
            "predicted labels; all three must have the same length. Pass one label of each "
            "kind per image."
        )
    if count == 0:
        return empty_figure("No samples to show", title=title or "Sample predictions")
    true_names = [_class_name(label, class_names) for label in true_labels]
    predicted_names = [_class_name(label, class_names) for label in predicted_labels]
    correct = [true == predicted for true, predicted in zip(true_names, predicted_names)]
    title = title or f"Sample predictions ({sum(correct)} of {count} correct)"

    column_count = min(int(columns), count)
    row_count = math.ceil(count / column_count)
    figure = make_subplots(
        rows=row_count,
        cols=column_count,
        subplot_titles=[f"{plain_text(true)} → {plain_text(predicted)}"
                        for true, predicted in zip(true_names, predicted_names)],
        horizontal_spacing=0.02,
        vertical_spacing=min(0.3 / row_count, 0.08),
    )
    for index in range(count):
        figure.add_trace(
            go.Image(
                z=rgb_images[index].tolist(),
                name=f"sample {index}",
                hovertemplate=(
                    f"sample {index}<br>true: {plain_text(true_names[index])}<br>"
                    f"predicted: {plain_text(predicted_names[index])}<extra></extra>"
                ),
            ),
            row=index // column_count + 1,
            col=index % column_count + 1,
        )
    # make_subplots writes subplot titles as annotations in sample order.
    for annotation, is_correct in zip(figure.layout.annotations, correct):
        annotation.font = {"color": CORRECT_COLOR if is_correct else WRONG_COLOR, "size": 12}
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        height=120 + 130 * row_count,
        margin={"l": 20, "r": 20, "t": 90, "b": 20},
    )
    return figure


# --------------------------------------------------------------------------------------------
# Weight-transfer report
# --------------------------------------------------------------------------------------------


def summarize_blocks(layers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Sums frozen and trainable parameters per block, in order of first appearance.

    Args:
        layers: The "layers" list of a weight-transfer report; each has "layer", "block",
            "action", "reason", "trainable" and "params".

    Returns:
        One dict per block: {"block", "frozen_params", "trainable_params", "layers"}, where
        "layers" holds that block's layer dicts in report order.
    """
    blocks: dict[str, dict[str, Any]] = {}
    for layer in layers:
        block_name = str(layer.get("block", "(no block)"))
        block = blocks.setdefault(
            block_name,
            {"block": block_name, "frozen_params": 0, "trainable_params": 0, "layers": []},
        )
        params = int(layer.get("params", 0) or 0)
        block["trainable_params" if layer.get("trainable", True) else "frozen_params"] += params
        block["layers"].append(dict(layer))
    return list(blocks.values())


def _describe_block(block: Mapping[str, Any]) -> str:
    """Hover text for one block: one line per layer with its transfer action."""
    lines = [f"<b>{plain_text(block['block'])}</b>"]
    for layer in block["layers"]:
        state = "trainable" if layer.get("trainable", True) else "frozen"
        line = (
            f"{plain_text(layer.get('layer', '?'))}: {plain_text(layer.get('action', '?'))}, {state}, "
            f"{int(layer.get('params', 0) or 0):,} params"
        )
        if layer.get("reason"):
            line += f" ({plain_text(layer['reason'])})"
        lines.append(line)
    return "<br>".join(lines)


def plot_transfer_report(report: Mapping[str, Any]) -> go.Figure:
    """Plots frozen vs trainable parameters per block as horizontal stacked bars.

    Args:
        report: The engine's weight-transfer report: {"layers": [{"layer", "block", "action",
            "reason", "trainable", "params"}], "trainable_params", "frozen_params"}.

    Returns:
        A figure with a "frozen" and a "trainable" bar trace, one bar per block (first block on
        top); hovering a bar lists each layer's action (copied, re-initialised, ...).
    """
    blocks = summarize_blocks(report.get("layers", []))
    trainable_total = int(report.get("trainable_params", sum(b["trainable_params"] for b in blocks)))
    frozen_total = int(report.get("frozen_params", sum(b["frozen_params"] for b in blocks)))
    title = f"Weight transfer: {trainable_total:,} trainable, {frozen_total:,} frozen parameters"
    if not blocks:
        return empty_figure("No weight-transfer report yet", title="Weight transfer")
    block_names = [plain_text(block["block"]) for block in blocks]
    hover_texts = [_describe_block(block) for block in blocks]
    figure = go.Figure()
    for state, key, color in (
        ("frozen", "frozen_params", FROZEN_COLOR),
        ("trainable", "trainable_params", TRAINABLE_COLOR),
    ):
        figure.add_trace(
            go.Bar(
                x=[block[key] for block in blocks],
                y=block_names,
                orientation="h",
                name=state,
                marker={"color": color},
                hovertext=hover_texts,
                hovertemplate=f"%{{hovertext}}<br><b>{state}: %{{x:,}} params</b><extra></extra>",
            )
        )
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        barmode="stack",
        xaxis={"title": {"text": "Parameters"}, "rangemode": "tozero"},
        # Reversed so the input block is on top, reading down the network like a summary().
        yaxis={"title": {"text": "Block"}, "type": "category", "autorange": "reversed"},
        legend={"traceorder": "normal"},
        height=max(300, 140 + 32 * len(blocks)),
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
    suggestion = _to_float(result.get("suggestion"))
    if math.isfinite(suggestion):
        figure.add_vline(x=suggestion, line={"color": TRAINABLE_COLOR, "dash": "dot"},
                         annotation_text=f"suggested {suggestion:.2g}", annotation_position="top left")
    figure.update_layout(template=TEMPLATE, title=title, xaxis={"type": "log", "title": "learning rate"},
                         yaxis={"title": "training loss"}, hovermode="x unified")
    return figure


def plot_paired_differences(rows: Sequence[Mapping[str, Any]], title: str | None = None) -> go.Figure:
    """Forest plot: each mode's mean paired difference from the baseline with its confidence interval.

    Args:
        rows: dicts with "mode", "baseline", "mean", "low", "high", "n" (from
            `Comparison.paired_differences()`).
        title: Figure title. Defaults to "Difference from <baseline> (same seed)".

    Returns:
        One point per mode with an asymmetric error bar, and a zero line: an interval that does not
        cross zero is a difference the seeds support.
    """
    baseline = rows[0].get("baseline", "baseline") if rows else "baseline"
    title = title or f"Test accuracy minus {baseline} (same seed), mean and 95% CI"
    if not rows:
        return empty_figure("No paired differences yet", title=title)
    figure = go.Figure()
    for row in rows:
        mean, low, high = (_to_float(row.get(key)) for key in ("mean", "low", "high"))
        has_interval = math.isfinite(low) and math.isfinite(high)
        figure.add_trace(go.Scatter(
            x=[mean], y=[plain_text(row["mode"])], mode="markers", name=plain_text(row["mode"]),
            marker={"color": MODE_COLORS.get(find_mode(str(row["mode"])) or "", FALLBACK_COLORS[0]), "size": 11},
            error_x={"type": "data", "symmetric": False, "array": [high - mean if has_interval else 0.0],
                     "arrayminus": [mean - low if has_interval else 0.0], "visible": has_interval},
            hovertemplate=f"{plain_text(row['mode'])}: %{{x:+.3f}} (n={row.get('n', 0)})<extra></extra>",
        ))
    figure.add_vline(x=0, line={"color": "#555555", "dash": "dash"})
    figure.update_layout(template=TEMPLATE, title=title, showlegend=False,
                         xaxis={"title": f"difference in test accuracy from {baseline}", "zeroline": False},
                         yaxis={"title": ""})
    return figure


# --------------------------------------------------------------------------------------------
# Diagnostics: weight drift, CKA, feature views, transferability scores and their verification
# (data from workbench.diagnostics)
# --------------------------------------------------------------------------------------------

DRIFT_COLORSCALE = "Viridis"
CKA_COLORSCALE = "Blues"
# Not TRAINABLE_COLOR, which marks the suggested freeze depth in `plot_block_scores`.
SCORE_COLORS: dict[str, str] = {"probe_accuracy": "#0072B2", "logme": "#CC79A7", "leep": "#009E73"}
SCORE_TITLES: dict[str, str] = {"probe_accuracy": "linear-probe accuracy", "logme": "LogME", "leep": "LEEP"}


def _unique_labels(labels: Sequence[str]) -> list[str]:
    """Makes repeated labels distinct (" #2", " #3", ...), so heatmap rows do not merge."""
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return unique


def plot_drift_heatmap(drifts: Sequence[Mapping[str, Any]], title: str | None = None) -> go.Figure:
    """Plots relative weight drift per block for several runs (runs × blocks).

    Args:
        drifts: One dict per run, as returned by `diagnostics.drift_for_run`: {"label" (or
            "run"), "blocks": [{"block", "drift", "origin", "frozen"}]}. Blocks keep their
            order of first appearance across runs.
        title: Figure title. Defaults to "Weight drift from the source, per block".

    Returns:
        A heatmap with one row per run (first run on top) and one column per block, coloured by
        ‖W_after − W_before‖ / ‖W_before‖; cells of re-initialised blocks read "fresh" and stay
        blank, since they did not start from the source weights.
    """
    title = title or "Weight drift from the source, per block"
    if not drifts:
        return empty_figure("No transfer runs to diagnose yet", title=title)
    blocks: list[str] = []
    for drift in drifts:
        for row in drift.get("blocks", []):
            if row["block"] not in blocks:
                blocks.append(str(row["block"]))
    labels = _unique_labels([str(drift.get("label") or drift.get("run", "run")) for drift in drifts])
    values, texts, hovers = [], [], []
    for label, drift in zip(labels, drifts):
        by_block = {str(row["block"]): row for row in drift.get("blocks", [])}
        value_row, text_row, hover_row = [], [], []
        for block in blocks:
            row = by_block.get(block, {})
            value = _to_float(row.get("drift"))
            origin = str(row.get("origin", "absent"))
            state = "frozen" if row.get("frozen") else "trained"
            text = "fresh" if origin == "fresh" else (_format_value(value) if math.isfinite(value) else "")
            value_row.append(value if math.isfinite(value) else None)
            text_row.append(text)
            hover_row.append(f"<b>{plain_text(label)}</b><br>block {plain_text(block)} ({state}, {origin})<br>"
                             f"drift: {text or 'n/a'}")
        values.append(value_row)
        texts.append(text_row)
        hovers.append(hover_row)
    figure = go.Figure(
        go.Heatmap(
            z=values, x=[plain_text(block) for block in blocks], y=[plain_text(label) for label in labels],
            text=texts, texttemplate="%{text}", hovertext=hovers,
            hovertemplate="%{hovertext}<extra></extra>", colorscale=DRIFT_COLORSCALE, zmin=0,
            colorbar={"title": {"text": "‖ΔW‖ / ‖W‖"}},
        )
    )
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        xaxis={"title": {"text": "Block"}, "type": "category"},
        yaxis={"title": {"text": "Run"}, "type": "category", "autorange": "reversed"},
        height=max(300, 160 + 40 * len(labels)),
    )
    return figure


def _cka_curves(curves: Any) -> dict[str, Sequence[Mapping[str, Any]]]:
    """Normalises the accepted CKA inputs to {label: rows}."""
    if isinstance(curves, Mapping) and "rows" in curves:
        return {str(curves.get("label", "CKA")): curves["rows"]}
    if isinstance(curves, Mapping):
        return {str(label): rows for label, rows in curves.items()}
    return dict(zip(_unique_labels([str(curve.get("label", "CKA")) for curve in curves]),
                    [curve["rows"] for curve in curves]))


def plot_cka_by_block(curves: Any, title: str | None = None) -> go.Figure:
    """Plots linear CKA against the block, one line per compared pair of models.

    Args:
        curves: One `diagnostics.cka_for_run` result ({"label", "rows"}), a list of them, or a
            mapping label → rows; rows are {"block", "cka"} (as from `diagnostics.cka_by_block`).
        title: Figure title. Defaults to "Representation similarity (linear CKA) per block".

    Returns:
        A line chart on a 0..1 axis: 1 means the block represents the images as the reference
        model does (up to rotation and scale); labels that start with a mode get its colour.
    """
    title = title or "Representation similarity (linear CKA) per block"
    series = _cka_curves(curves)
    if not series or not any(series.values()):
        return empty_figure("No CKA results yet", title=title)
    colors = assign_colors(series)
    figure = go.Figure()
    for label, rows in series.items():
        figure.add_trace(
            go.Scatter(
                x=[plain_text(row["block"]) for row in rows],
                y=[_to_float(row.get("cka")) for row in rows],
                customdata=[[int(row.get("examples", 0) or 0)] for row in rows],
                mode="lines+markers",
                name=plain_text(label),
                line={"color": colors[label], "width": 2},
                marker={"size": 8},
                hovertemplate=f"<b>{plain_text(label)}</b><br>block %{{x}}<br>CKA %{{y:.3f}} "
                              "(%{customdata[0]} images)<extra></extra>",
            )
        )
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        xaxis={"title": {"text": "Block"}, "type": "category"},
        yaxis={"title": {"text": "linear CKA"}, "range": [0, 1.05]},
        hovermode="closest",
        showlegend=True,  # even for one curve: the legend says which two models were compared
        legend={"orientation": "h", "x": 0, "y": -0.25},
    )
    return figure


def plot_cka_matrix(matrix: Mapping[str, Any], title: str | None = None) -> go.Figure:
    """Plots the block × block linear CKA matrix of two models as a heatmap.

    Args:
        matrix: {"blocks_a", "blocks_b", "cka" (rows: blocks_a, columns: blocks_b), "label_a",
            "label_b"}, as returned by `diagnostics.cka_matrix`.
        title: Figure title. Defaults to "Linear CKA: <label_a> × <label_b>".

    Returns:
        A heatmap on a fixed 0..1 colour scale with each value written in its cell, a's first
        block in the top-left corner.

    Raises:
        ValueError: If the matrix does not have one row per block of a and one column per block of b.
    """
    label_a, label_b = plain_text(matrix.get("label_a", "model A")), plain_text(matrix.get("label_b", "model B"))
    title = title or f"Linear CKA: {label_a} × {label_b}"
    blocks_a = [plain_text(block) for block in matrix.get("blocks_a", [])]
    blocks_b = [plain_text(block) for block in matrix.get("blocks_b", [])]
    values = np.asarray(matrix.get("cka", []), dtype=float)
    if not blocks_a or not blocks_b:
        return empty_figure("No CKA matrix yet", title=title)
    if values.shape != (len(blocks_a), len(blocks_b)):
        raise ValueError(
            f"The CKA matrix has shape {values.shape} but there are {len(blocks_a)} blocks of "
            f"{label_a} and {len(blocks_b)} of {label_b}. Pass one row per block of a and one column "
            "per block of b, as diagnostics.cka_matrix returns."
        )
    figure = go.Figure(
        go.Heatmap(
            z=[[value if math.isfinite(value) else None for value in row] for row in values.tolist()],
            x=blocks_b, y=blocks_a,
            text=[[_format_value(value) for value in row] for row in values.tolist()],
            texttemplate="%{text}", colorscale=CKA_COLORSCALE, zmin=0, zmax=1,
            colorbar={"title": {"text": "CKA"}},
            hovertemplate=f"{label_a} %{{y}}<br>{label_b} %{{x}}<br>CKA %{{z:.3f}}<extra></extra>",
        )
    )
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        xaxis={"title": {"text": f"{label_b} block"}, "type": "category"},
        yaxis={"title": {"text": f"{label_a} block"}, "type": "category", "autorange": "reversed"},
    )
    return figure


def plot_feature_projection(projection: Mapping[str, Any], title: str | None = None) -> go.Figure:
    """Plots a 2-D projection of features as points coloured by class, one legend entry per class.

    Args:
        projection: {"x", "y", "labels", "class_names", "block", "method"}, as returned by
            `diagnostics.feature_projection`.
        title: Figure title. Defaults to "<PCA|t-SNE> of the features at block <block>".

    Returns:
        A scatter plot; clicking a class in the legend hides or shows it.
    """
    method = {"pca": "PCA", "tsne": "t-SNE"}.get(str(projection.get("method", "")), str(projection.get("method", "")))
    title = title or f"{method} of the features at block {plain_text(projection.get('block', '?'))}"
    labels = [int(label) for label in projection.get("labels", [])]
    if not labels:
        return empty_figure("No features to project yet", title=title)
    names = [plain_text(name) for name in projection.get("class_names", [])]
    x, y = np.asarray(projection["x"], dtype=float), np.asarray(projection["y"], dtype=float)
    label_array = np.asarray(labels)
    figure = go.Figure()
    for index, label in enumerate(sorted(set(labels))):
        members = label_array == label
        name = names[label] if label < len(names) else str(label)
        # SVG Scatter, not Scattergl: a page (a report) gets only a few WebGL contexts, and a few
        # hundred points draw fast enough without one.
        figure.add_trace(
            go.Scatter(
                x=x[members].tolist(), y=y[members].tolist(), mode="markers", name=name,
                marker={"color": FALLBACK_COLORS[index % len(FALLBACK_COLORS)], "size": 6, "opacity": 0.8},
                hovertemplate=f"class {name}<extra></extra>",
            )
        )
    axis = "component" if method == "PCA" else "dimension"
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        xaxis={"title": {"text": f"{method} {axis} 1"}},
        yaxis={"title": {"text": f"{method} {axis} 2"}},
        legend={"title": {"text": "class"}},
    )
    return figure


def plot_block_scores(result: Mapping[str, Any], title: str | None = None) -> go.Figure:
    """Plots transferability scores per cut point: probe accuracy as bars, LogME as a line.

    Args:
        result: A `diagnostics.score_blocks` result: {"cut_points": [{"freeze_depth", "block",
            "logme", "probe_accuracy"}], "suggested_freeze_depth", "leep", "source", "task"}.
        title: Figure title. Defaults to "Transferability of <source> to <task> per freeze depth".

    Returns:
        Bars (left axis, 0..1) and a line on a second axis, since the two scores have different
        units; the suggested freeze depth's bar is highlighted and annotated.
    """
    title = title or (f"Transferability of {plain_text(result.get('source', 'the source'))} to "
                      f"{plain_text(result.get('task', 'the target'))} per freeze depth")
    rows = list(result.get("cut_points", []))
    if not rows:
        return empty_figure("No scores yet", title=title)
    suggested = result.get("suggested_freeze_depth")
    x = [f"{row['freeze_depth']}: {plain_text(row['block'])}" for row in rows]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(
        go.Bar(
            x=x, y=[_to_float(row.get("probe_accuracy")) for row in rows], name=SCORE_TITLES["probe_accuracy"],
            marker={"color": [TRAINABLE_COLOR if row["freeze_depth"] == suggested else SCORE_COLORS["probe_accuracy"]
                              for row in rows]},
            hovertemplate="freeze depth %{x}<br>probe accuracy %{y:.3f}<extra></extra>",
        ),
        secondary_y=False,
    )
    figure.add_trace(
        go.Scatter(
            x=x, y=[_to_float(row.get("logme")) for row in rows], name=SCORE_TITLES["logme"],
            mode="lines+markers", line={"color": SCORE_COLORS["logme"], "width": 2}, marker={"size": 8},
            hovertemplate="freeze depth %{x}<br>LogME %{y:.4f}<extra></extra>",
        ),
        secondary_y=True,
    )
    if suggested is not None and any(row["freeze_depth"] == suggested for row in rows):
        figure.add_annotation(x=x[[row["freeze_depth"] for row in rows].index(suggested)], y=1.0, yref="y",
                              text=f"suggested freeze depth {suggested}", showarrow=True, arrowhead=2)
    leep_value = _to_float(result.get("leep"))
    subtitle = f" (LEEP {leep_value:.3f})" if math.isfinite(leep_value) else ""
    figure.update_layout(template=TEMPLATE, title={"text": title + subtitle}, hovermode="closest",
                         xaxis={"title": {"text": "freeze depth: features at"}, "type": "category"},
                         # Below the plot: at the right it would cover the second axis' title.
                         legend={"orientation": "h", "x": 0, "y": -0.25})
    figure.update_yaxes(title_text=SCORE_TITLES["probe_accuracy"], range=[0, 1.1], secondary_y=False)
    figure.update_yaxes(title_text="LogME (log evidence per example)", secondary_y=True, showgrid=False)
    return figure


def plot_source_ranking(rows: Sequence[Mapping[str, Any]], score: str = "logme", title: str | None = None) -> go.Figure:
    """Plots source models ranked by a transferability score, best on top.

    Args:
        rows: `diagnostics.rank_sources` rows: {"rank", "source", "logme", "leep", "probe_accuracy"}.
        score: Which score sets the bar length: "logme", "leep" or "probe_accuracy".
            Defaults to "logme".
        title: Figure title. Defaults to "Source models ranked by <score>".

    Returns:
        Horizontal bars, one per source; the hover shows all three scores.

    Raises:
        ValueError: For an unknown score.
    """
    if score not in SCORE_TITLES:
        raise ValueError(f"score={score!r} is not known. Allowed: {', '.join(SCORE_TITLES)}. Pass score='logme'.")
    title = title or f"Source models ranked by {SCORE_TITLES[score]}"
    if not rows:
        return empty_figure("No source models scored yet", title=title)
    def order(row: Mapping[str, Any]) -> float:  # best first, unscored sources last
        value = _to_float(row.get(score))
        return -value if math.isfinite(value) else math.inf

    ordered = sorted(rows, key=order)
    figure = go.Figure(
        go.Bar(
            x=[_to_float(row.get(score)) for row in ordered],
            y=[plain_text(label) for label in _unique_labels([str(row.get("source", "?")) for row in ordered])],
            orientation="h",
            marker={"color": SCORE_COLORS[score]},
            customdata=[[_format_value(_to_float(row.get(name))) for name in ("logme", "leep", "probe_accuracy")]
                        for row in ordered],
            hovertemplate=("<b>%{y}</b><br>LogME %{customdata[0]}<br>LEEP %{customdata[1]}"
                           "<br>probe accuracy %{customdata[2]}<extra></extra>"),
        )
    )
    figure.update_layout(template=TEMPLATE, title={"text": title},
                         xaxis={"title": {"text": SCORE_TITLES[score]}},
                         yaxis={"title": {"text": "source"}, "type": "category", "autorange": "reversed"},
                         height=max(300, 140 + 36 * len(ordered)))
    return figure


def plot_verification(
    verification: Mapping[str, Any],
    score_title: str = "score",
    title: str | None = None,
) -> go.Figure:
    """Plots predicted score against the fine-tuned accuracy actually reached, with the rank correlations.

    Args:
        verification: A `diagnostics.verify_scores` result: {"points": [{"label", "score",
            "accuracy"}], "n", "kendall_tau", "spearman_rho"}.
        score_title: The x axis title, e.g. "LogME at the cut point". Defaults to "score".
        title: Figure title. Defaults to "<score_title> vs fine-tuned accuracy: Kendall τ = …,
            Spearman ρ = … (n = …)".

    Returns:
        A labelled scatter plot; a good score puts the points on a rising curve.
    """
    tau, rho = _to_float(verification.get("kendall_tau")), _to_float(verification.get("spearman_rho"))
    count = int(verification.get("n", 0) or 0)
    correlations = (f"Kendall τ = {tau:+.2f}" if math.isfinite(tau) else "Kendall τ = n/a") + ", " + (
        f"Spearman ρ = {rho:+.2f}" if math.isfinite(rho) else "Spearman ρ = n/a") + f" (n = {count})"
    title = title or f"{score_title[:1].upper()}{score_title[1:]} vs fine-tuned accuracy: {correlations}"
    points = [point for point in verification.get("points", [])
              if math.isfinite(_to_float(point.get("score"))) and math.isfinite(_to_float(point.get("accuracy")))]
    if not points:
        return empty_figure("No fine-tuned results to verify against yet", title=title)
    figure = go.Figure(
        go.Scatter(
            x=[_to_float(point["score"]) for point in points],
            y=[_to_float(point["accuracy"]) for point in points],
            text=[plain_text(point.get("label", "")) for point in points],
            mode="markers+text",
            textposition="top center",
            marker={"color": MODE_COLORS["parameter"], "size": 10},
            hovertemplate=f"%{{text}}<br>{score_title} %{{x:.4f}}<br>accuracy %{{y:.3f}}<extra></extra>",
        )
    )
    figure.update_layout(template=TEMPLATE, title={"text": title}, showlegend=False,
                         xaxis={"title": {"text": score_title}},
                         yaxis={"title": {"text": "fine-tuned test accuracy"}})
    return figure
