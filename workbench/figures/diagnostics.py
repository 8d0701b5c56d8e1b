"""Figures of the diagnostics: weight drift, CKA, feature projections, transferability scores.

The data come from `workbench.diagnostics` (drift per block, linear CKA, 2-D projections, LogME /
LEEP / linear-probe scores, source rankings and their verification against fine-tuned accuracy);
nothing here computes a score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.figures.style import (
    CKA_COLORSCALE,
    DRIFT_COLORSCALE,
    FALLBACK_COLORS,
    MODE_COLORS,
    SCORE_COLORS,
    TEMPLATE,
    TRAINABLE_COLOR,
    assign_colors,
    capitalize_first,
    empty_figure,
    plain_text,
)
from workbench.formatting import format_number, to_float

SCORE_TITLES: dict[str, str] = {"probe_accuracy": "linear-probe accuracy", "logme": "LogME", "leep": "LEEP"}


def _unique_labels(labels: Sequence[str]) -> list[str]:
    """Makes repeated labels distinct (" #2", " #3", ...), so heatmap rows do not merge."""
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return unique


def _drift_row(label: str, drift: Mapping[str, Any], blocks: Sequence[str]) -> tuple[list, list, list]:
    """One run's heatmap row: the drift per block (None where not measured), cell texts, hovers."""
    by_block = {str(row["block"]): row for row in drift.get("blocks", [])}
    values, texts, hovers = [], [], []
    for block in blocks:
        row = by_block.get(block, {})
        value = to_float(row.get("drift"))
        origin = str(row.get("origin", "absent"))
        state = "frozen" if row.get("frozen") else "trained"
        text = "fresh" if origin == "fresh" else (format_number(value) if math.isfinite(value) else "")
        values.append(value if math.isfinite(value) else None)
        texts.append(text)
        hovers.append(f"<b>{plain_text(label)}</b><br>block {plain_text(block)} ({state}, {origin})<br>"
                      f"drift: {text or 'n/a'}")
    return values, texts, hovers


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
    rows = [_drift_row(label, drift, blocks) for label, drift in zip(labels, drifts)]
    values, texts, hovers = ([row[part] for row in rows] for part in range(3))
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
                y=[to_float(row.get("cka")) for row in rows],
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
            text=[[format_number(value) for value in row] for row in values.tolist()],
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
            x=x, y=[to_float(row.get("probe_accuracy")) for row in rows], name=SCORE_TITLES["probe_accuracy"],
            marker={"color": [TRAINABLE_COLOR if row["freeze_depth"] == suggested else SCORE_COLORS["probe_accuracy"]
                              for row in rows]},
            hovertemplate="freeze depth %{x}<br>probe accuracy %{y:.3f}<extra></extra>",
        ),
        secondary_y=False,
    )
    figure.add_trace(
        go.Scatter(
            x=x, y=[to_float(row.get("logme")) for row in rows], name=SCORE_TITLES["logme"],
            mode="lines+markers", line={"color": SCORE_COLORS["logme"], "width": 2}, marker={"size": 8},
            hovertemplate="freeze depth %{x}<br>LogME %{y:.4f}<extra></extra>",
        ),
        secondary_y=True,
    )
    if suggested is not None and any(row["freeze_depth"] == suggested for row in rows):
        figure.add_annotation(x=x[[row["freeze_depth"] for row in rows].index(suggested)], y=1.0, yref="y",
                              text=f"suggested freeze depth {suggested}", showarrow=True, arrowhead=2)
    leep_value = to_float(result.get("leep"))
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
        value = to_float(row.get(score))
        return -value if math.isfinite(value) else math.inf

    ordered = sorted(rows, key=order)
    figure = go.Figure(
        go.Bar(
            x=[to_float(row.get(score)) for row in ordered],
            y=[plain_text(label) for label in _unique_labels([str(row.get("source", "?")) for row in ordered])],
            orientation="h",
            marker={"color": SCORE_COLORS[score]},
            customdata=[[format_number(row.get(name)) for name in ("logme", "leep", "probe_accuracy")]
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
    tau, rho = to_float(verification.get("kendall_tau")), to_float(verification.get("spearman_rho"))
    count = int(verification.get("n", 0) or 0)
    correlations = (f"Kendall τ = {format_number(tau, digits=2, signed=True)}, "
                    f"Spearman ρ = {format_number(rho, digits=2, signed=True)} (n = {count})")
    title = title or f"{capitalize_first(score_title)} vs fine-tuned accuracy: {correlations}"
    points = [point for point in verification.get("points", [])
              if math.isfinite(to_float(point.get("score"))) and math.isfinite(to_float(point.get("accuracy")))]
    if not points:
        return empty_figure("No fine-tuned results to verify against yet", title=title)
    figure = go.Figure(
        go.Scatter(
            x=[to_float(point["score"]) for point in points],
            y=[to_float(point["accuracy"]) for point in points],
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
