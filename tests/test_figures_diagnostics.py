"""The diagnostics' figures (drift heatmap, CKA curves and matrices, projections, verification), drawn
from hand-made diagnostics results."""

from __future__ import annotations

import math

import pytest

from workbench import figures
from workbench.diagnostics import verify_scores


def test_drift_heatmap_has_a_row_per_run_and_marks_fresh_blocks() -> None:
    frozen_conv1 = {"block": "conv1", "drift": 0.0, "origin": "copied", "frozen": True}
    drifts = [
        {"label": "parameter (freeze 2) s0",
         "blocks": [frozen_conv1, {"block": "head", "drift": 0.2, "origin": "copied", "frozen": False}]},
        {"label": "feature s0",
         "blocks": [frozen_conv1, {"block": "head", "drift": math.nan, "origin": "fresh", "frozen": False}]},
    ]
    figure = figures.plot_drift_heatmap(drifts)
    heatmap = figure.data[0]
    assert list(heatmap.y) == ["parameter (freeze 2) s0", "feature s0"] and list(heatmap.x) == ["conv1", "head"]
    assert heatmap.z[1][1] is None and heatmap.text[1][1] == "fresh"
    assert "No transfer runs" in figures.plot_drift_heatmap([]).layout.annotations[0].text


def test_cka_figures_draw_curves_and_matrices() -> None:
    curve = figures.plot_cka_by_block({"label": "parameter s0 vs source",
                                       "rows": [{"block": "conv1", "cka": 1.0}, {"block": "head", "cka": 0.4}]})
    assert curve.data[0].line.color == figures.MODE_COLORS["parameter"] and list(curve.data[0].y) == [1.0, 0.4]
    matrix = figures.plot_cka_matrix({"blocks_a": ["a1", "a2"], "blocks_b": ["b1"], "cka": [[0.5], [0.25]],
                                      "label_a": "source", "label_b": "scratch"})
    assert matrix.data[0].zmax == 1 and "source" in matrix.layout.title.text
    with pytest.raises(ValueError, match="one row per block"):
        figures.plot_cka_matrix({"blocks_a": ["a1"], "blocks_b": ["b1"], "cka": [[0.5, 0.1]]})


def test_projection_figure_has_one_trace_per_class() -> None:
    figure = figures.plot_feature_projection({"x": [0, 1, 2, 3], "y": [1, 0, 1, 0], "labels": [0, 1, 1, 0],
                                              "class_names": ["cat", "dog"], "block": "dense1", "method": "tsne"})
    assert [trace.name for trace in figure.data] == ["cat", "dog"]
    assert "t-SNE" in figure.layout.title.text


def test_verification_figure_names_both_correlations_and_n() -> None:
    figure = figures.plot_verification(verify_scores([0.1, 0.3, 0.2], [0.5, 0.9, 0.7], labels=[0, 1, 2]),
                                       score_title="LogME")
    assert "τ = +1.00" in figure.layout.title.text and "ρ = +1.00" in figure.layout.title.text
    assert "n = 3" in figure.layout.title.text
    ranking = figures.plot_source_ranking([{"source": "a", "logme": 0.1, "leep": -1.0, "probe_accuracy": 0.8},
                                           {"source": "b", "logme": 0.3, "leep": -0.9, "probe_accuracy": 0.9}])
    assert list(ranking.data[0].y) == ["b", "a"]
