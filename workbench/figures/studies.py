"""Figures of studies over seeds: comparison bars with their spread, sweeps, paired differences.

Every number here is a summary over seeds, so every figure shows its spread and its n:

* A comparison *row* is a dict: `{"mode", "freeze_depth", "label", "n", "mean", "sd", "values",
  "seeds"}` (as `Comparison.rows()` returns).
* A sweep *point* is a dict: `{"series", <x key>, "mean", "sd", "n", ...}` (as `Sweep.points()`
  returns, where the x key is "freeze_depth" or "per_class").
* A paired *difference* is a dict: `{"mean", "low", "high", "n", ...}`, one run minus the baseline
  run of the same seed (as `statistics.paired_difference` returns).
* The sweep figures read a `workbench.sweeps.Sweep` (`SweepResults`): its points in the order the
  series ran and its paired differences from the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import plotly.graph_objects as go

from workbench.figures.style import (
    FALLBACK_COLORS,
    MODE_COLORS,
    TEMPLATE,
    ZERO_LINE_COLOR,
    assign_colors,
    capitalize_first,
    empty_figure,
    find_mode,
    is_accuracy,
    plain_text,
    spread_offsets,
)
from workbench.formatting import format_interval, format_mean_sd, format_number, to_float

SWEEP_X_TITLES: dict[str, str] = {
    "freeze_depth": "blocks copied from the source (n)",
    "per_class": "labels per class (log scale)",
}


class SweepResults(Protocol):
    """What the sweep figures read from a `workbench.sweeps.Sweep` (without importing the engine)."""

    kind: str
    seeds: Sequence[int]

    def ordered_points(self) -> list[dict[str, Any]]: ...

    def differences(self, baseline: str = ..., confidence: float = ...) -> list[dict[str, Any]]: ...


def _seeds_text(seed_count: int) -> str:
    return f"n={seed_count} seed{'s' if seed_count != 1 else ''} per point"


# --------------------------------------------------------------------------------------------
# Comparison bars
# --------------------------------------------------------------------------------------------


def _mean_bar(rows: Sequence[Mapping[str, Any]], labels: Sequence[str], metric_name: str) -> go.Bar:
    """One bar per row at its mean, sd as the error bar, "mean ± sd (n=k)" written inside."""
    color_keys = [
        str(row["mode"]) if find_mode(str(row.get("mode", ""))) else label
        for row, label in zip(rows, labels)
    ]
    colors = assign_colors(color_keys)
    means = [to_float(row.get("mean")) for row in rows]
    deviations = [to_float(row.get("sd")) for row in rows]
    counts = [int(row.get("n", len(row.get("values", [])))) for row in rows]
    return go.Bar(
        x=list(range(len(rows))),
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
        text=[format_mean_sd({"mean": mean, "sd": sd, "n": count})
              for mean, sd, count in zip(means, deviations, counts)],
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


def _seed_points(rows: Sequence[Mapping[str, Any]], labels: Sequence[str], metric_name: str) -> go.Scatter:
    """Every seed's value as a point beside its bar, spread by a deterministic jitter."""
    point_x: list[float] = []
    point_y: list[float] = []
    point_data: list[list[Any]] = []
    for position, (row, label) in enumerate(zip(rows, labels)):
        values = [to_float(value) for value in row.get("values", [])]
        seeds = list(row.get("seeds", []))
        for index, offset in enumerate(spread_offsets(len(values))):
            if not math.isfinite(values[index]):
                continue
            seed = seeds[index] if index < len(seeds) else "?"
            point_x.append(position + offset)
            point_y.append(values[index])
            point_data.append([plain_text(label), seed])
    return go.Scatter(
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
        A figure with one bar trace (bar text like "0.912 ± 0.013 (n=3)"; a single seed has no
        sd: "0.700 (n=1)") and one scatter trace of the individual seed values.
    """
    title = title or f"{capitalize_first(metric_name)} by configuration (mean ± sd over seeds)"
    if not rows:
        return empty_figure("No results to compare yet", title=title)
    labels = [str(row.get("label", row.get("mode", f"run {index}"))) for index, row in enumerate(rows)]
    figure = go.Figure([_mean_bar(rows, labels, metric_name), _seed_points(rows, labels, metric_name)])
    yaxis: dict[str, Any] = {"title": {"text": metric_name}}
    if is_accuracy(metric_name):
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
            "tickvals": list(range(len(rows))),
            "ticktext": [plain_text(label) for label in labels],
            "range": [-0.5, len(rows) - 0.5],
        },
        yaxis=yaxis,
        bargap=0.35,
    )
    return figure


# --------------------------------------------------------------------------------------------
# Sweeps
# --------------------------------------------------------------------------------------------


def _group_by_series(
    points: Sequence[Mapping[str, Any]], x_key: str, log_x: bool
) -> dict[str, list[Mapping[str, Any]]]:
    """Groups sweep points by series (in order of first appearance), each sorted by x."""
    series_points: dict[str, list[Mapping[str, Any]]] = {}
    for point in points:
        if x_key not in point:
            raise ValueError(
                f"Sweep point {dict(point)!r} has no key {x_key!r}; its keys are "
                f"{sorted(point)}. Pass the x_key the points were recorded with."
            )
        x_value = to_float(point[x_key])
        if log_x and not x_value > 0:
            raise ValueError(
                f"log_x=True needs positive x values, but {x_key}={point[x_key]!r}. "
                "Pass log_x=False, or drop the non-positive points."
            )
        series_points.setdefault(str(point.get("series", "")), []).append(point)
    return {series: sorted(members, key=lambda point: to_float(point[x_key]))
            for series, members in series_points.items()}


def _sweep_line(
    series: str, members: Sequence[Mapping[str, Any]], x_key: str, x_title: str, y_title: str, color: str
) -> go.Scatter:
    """One series of a sweep: its means as a line, sd as error bars, sd and n in the hover."""
    deviations = [to_float(point.get("sd")) for point in members]
    return go.Scatter(
        x=[point[x_key] for point in members],
        y=[to_float(point.get("mean")) for point in members],
        error_y={
            "type": "data",
            "array": [sd if math.isfinite(sd) else 0.0 for sd in deviations],
            "visible": True,
            "thickness": 1.5,
        },
        customdata=[[format_number(sd), int(point.get("n", 0))] for sd, point in zip(deviations, members)],
        mode="lines+markers",
        name=plain_text(series),
        legendgroup=series,
        line={"color": color, "width": 2},
        marker={"size": 7},
        hovertemplate=(
            f"<b>{plain_text(series)}</b><br>{x_title}: %{{x}}<br>{y_title}: %{{y:.3f}} "
            "± %{customdata[0]} (n=%{customdata[1]})<extra></extra>"
        ),
    )


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
    title = title or f"{capitalize_first(y_title)} against {x_title}"
    if not points:
        return empty_figure("No sweep results yet", title=title)
    series_points = _group_by_series(points, x_key, log_x)
    colors = assign_colors(series_points)
    figure = go.Figure([_sweep_line(series, members, x_key, x_title, y_title, colors[series])
                        for series, members in series_points.items()])
    yaxis: dict[str, Any] = {"title": {"text": f"{y_title} (mean ± sd)"}}
    if is_accuracy(y_title):
        yaxis["range"] = [0, 1]
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        xaxis={"title": {"text": x_title}, "type": "log" if log_x else "linear"},
        yaxis=yaxis,
        hovermode="closest",
    )
    return figure


def plot_depth_sweep(sweep: SweepResults, title: str | None = None) -> go.Figure:
    """Yosinski's figure: test accuracy (mean ± sd over seeds) against the number of copied blocks.

    Args:
        sweep: A freeze-depth sweep (`workbench.sweep_depth`); its `ordered_points()` are
            drawn, series in the order they ran.
        title: Figure title. Defaults to "Target test accuracy against blocks copied (mean ± sd,
            n=<seeds> seeds per point)".

    Returns:
        `plot_sweep`'s figure with one x tick per whole block.
    """
    figure = plot_sweep(sweep.ordered_points(), "freeze_depth", SWEEP_X_TITLES["freeze_depth"],
                        title=title or f"Target test accuracy against blocks copied (mean ± sd, "
                                       f"{_seeds_text(len(sweep.seeds))})")
    figure.update_xaxes(dtick=1)  # n counts blocks: whole numbers only
    return figure


def plot_budget_sweep(sweep: SweepResults, title: str | None = None) -> go.Figure:
    """The data-efficiency curve: test accuracy (mean ± sd over seeds) against labels per class, log x.

    Args:
        sweep: A label-budget sweep (`workbench.sweep_budget`); its `ordered_points()` are
            drawn, series in the order they ran.
        title: Figure title. Defaults to "Data efficiency: test accuracy against labels per class
            (mean ± sd, n=<seeds> seeds per point)".

    Returns:
        `plot_sweep`'s figure on a logarithmic x axis.
    """
    return plot_sweep(sweep.ordered_points(), "per_class", SWEEP_X_TITLES["per_class"], log_x=True,
                      title=title or f"Data efficiency: test accuracy against labels per class (mean ± sd, "
                                     f"{_seeds_text(len(sweep.seeds))})")


# --------------------------------------------------------------------------------------------
# Paired differences from the baseline
# --------------------------------------------------------------------------------------------


def _interval_arrays(means: Sequence[float], lows: Sequence[float], highs: Sequence[float]) -> dict[str, Any]:
    """Asymmetric error bars from each mean to its interval ends; 0 where an end is missing."""
    return {"array": [high - mean if math.isfinite(high) else 0.0 for mean, high in zip(means, highs)],
            "arrayminus": [mean - low if math.isfinite(low) else 0.0 for mean, low in zip(means, lows)]}


def plot_sweep_differences(sweep: SweepResults, baseline: str = "structure", title: str | None = None) -> go.Figure:
    """Each series minus the baseline at the same seed, against the swept value, with 95% intervals.

    A point whose interval stays above the dashed zero line is a setting where the transfer beats
    the baseline by more than seed noise. Series keep the colours of the sweep figure; with a
    single seed there is no interval and the points stand alone.

    Args:
        sweep: A freeze-depth or label-budget sweep; its `differences(baseline)` are drawn, points
            without a paired baseline run (n = 0) left out.
        baseline: The series subtracted. Defaults to "structure".
        title: Figure title. Defaults to "Test accuracy minus <baseline> at the same seed: mean
            and 95% CI".

    Returns:
        One line per non-baseline series with asymmetric error bars (the confidence interval), or an
        empty figure when no point has a paired baseline.
    """
    rows = [row for row in sweep.differences(baseline) if row["n"]]
    x_title = SWEEP_X_TITLES["freeze_depth" if sweep.kind == "freeze_depth" else "per_class"]
    title = title or f"Test accuracy minus {baseline} at the same seed: mean and 95% CI"
    if not rows:
        return empty_figure(f"No point has a {baseline} run at the same seed", title=title)
    colors = assign_colors(point["series"] for point in sweep.ordered_points())
    figure = go.Figure()
    for series in dict.fromkeys(row["series"] for row in rows):
        members = [row for row in rows if row["series"] == series]
        means = [to_float(row["mean"]) for row in members]
        figure.add_trace(go.Scatter(
            x=[row["x"] for row in members], y=means, mode="lines+markers", name=series,
            line={"color": colors.get(series), "width": 2}, marker={"size": 8},
            error_y={"type": "data", "symmetric": False, "visible": True, "thickness": 1.5,
                     **_interval_arrays(means, [to_float(row["low"]) for row in members],
                                        [to_float(row["high"]) for row in members])},
            customdata=[[format_interval(row), int(row["n"])] for row in members],
            hovertemplate=(f"<b>{series}</b><br>{x_title}: %{{x}}<br>− {baseline}: %{{y:+.3f}} "
                           "95% CI %{customdata[0]} (n=%{customdata[1]})<extra></extra>"),
        ))
    figure.add_hline(y=0, line={"color": ZERO_LINE_COLOR, "dash": "dash"})
    figure.update_layout(
        template=TEMPLATE, title={"text": title}, hovermode="closest",
        xaxis={"title": {"text": x_title}, "type": "log" if sweep.kind == "per_class" else "linear",
               **({"dtick": 1} if sweep.kind == "freeze_depth" else {})},
        yaxis={"title": {"text": f"test accuracy − {baseline} (mean, 95% CI)"}, "zeroline": False},
    )
    return figure


def plot_paired_differences(rows: Sequence[Mapping[str, Any]], title: str | None = None) -> go.Figure:
    """Forest plot: each mode's mean paired difference from the baseline with its confidence interval.

    Args:
        rows: dicts with "mode", "baseline", "mean", "low", "high", "n" (from
            `Comparison.paired_differences()`).
        title: Figure title. Defaults to "Test accuracy minus <baseline> (same seed), mean and 95% CI".

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
        mean, low, high = (to_float(row.get(key)) for key in ("mean", "low", "high"))
        has_interval = math.isfinite(low) and math.isfinite(high)
        figure.add_trace(go.Scatter(
            x=[mean], y=[plain_text(row["mode"])], mode="markers", name=plain_text(row["mode"]),
            marker={"color": MODE_COLORS.get(find_mode(str(row["mode"])) or "", FALLBACK_COLORS[0]), "size": 11},
            error_x={"type": "data", "symmetric": False, "array": [high - mean if has_interval else 0.0],
                     "arrayminus": [mean - low if has_interval else 0.0], "visible": has_interval},
            hovertemplate=f"{plain_text(row['mode'])}: %{{x:+.3f}} (n={row.get('n', 0)})<extra></extra>",
        ))
    figure.add_vline(x=0, line={"color": ZERO_LINE_COLOR, "dash": "dash"})
    figure.update_layout(template=TEMPLATE, title=title, showlegend=False,
                         xaxis={"title": f"difference in test accuracy from {baseline}", "zeroline": False},
                         yaxis={"title": ""})
    return figure
