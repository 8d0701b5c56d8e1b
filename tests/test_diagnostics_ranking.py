"""Freeze-depth suggestion and the verification correlations (`workbench.diagnostics.ranking`), on
hand-made scores; `score_blocks` and `rank_sources` on real models are in test_diagnostics_models.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench import text_tables
from workbench.diagnostics import suggest_freeze_depth, verify_cut_points, verify_scores, verify_source_ranking
from workbench.errors import ConfigError


def test_suggestion_is_the_deepest_cut_point_near_the_best() -> None:
    table = [(0, 0.70, -0.5), (1, 0.90, -0.2), (2, 0.91, -0.1), (3, 0.895, -0.3), (4, 0.80, -0.4)]
    rows = [{"freeze_depth": depth, "probe_accuracy": accuracy, "logme": value} for depth, accuracy, value in table]
    assert suggest_freeze_depth(rows, "probe_accuracy", tolerance=0.02) == 3
    assert suggest_freeze_depth(rows, "probe_accuracy", tolerance=0.001) == 2
    # On 100 validation images one standard error (≈ 0.029) widens the margin past 0.02, admitting
    # depth 3 even with a tiny tolerance; depth 4 (0.80) stays out.
    assert suggest_freeze_depth(rows, "probe_accuracy", tolerance=0.001, validation_examples=100) == 3
    assert suggest_freeze_depth(rows, "logme", tolerance=0.25) == 3
    with pytest.raises(ConfigError, match="probe_accuracy"):
        suggest_freeze_depth(rows, "accuracy")


def test_verification_correlations_lie_in_range_and_count_their_points() -> None:
    increasing = verify_scores([0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.65, 0.9])
    assert increasing["n"] == 4 and increasing["kendall_tau"] == pytest.approx(1.0)
    assert increasing["spearman_rho"] == pytest.approx(1.0)
    reversed_ = verify_scores({"a": 1.0, "b": 2.0, "c": 3.0, "d": math.nan}, {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1})
    assert reversed_["n"] == 3 and reversed_["kendall_tau"] == pytest.approx(-1.0)
    rng = np.random.default_rng(15)
    mixed = verify_scores(rng.normal(size=9), rng.uniform(size=9))
    assert mixed["n"] == 9
    assert -1.0 <= mixed["kendall_tau"] <= 1.0 and -1.0 <= mixed["spearman_rho"] <= 1.0
    assert math.isnan(verify_scores([1.0, 2.0], [0.5, 0.5])["kendall_tau"])  # no ranking to compare
    with pytest.raises(ValueError, match="one accuracy per scored candidate"):
        verify_scores([1.0, 2.0], [0.5])


def test_cut_points_are_verified_against_the_frozen_series_of_a_sweep() -> None:
    scores = {"cut_points": [{"freeze_depth": depth, "logme": value, "probe_accuracy": accuracy}
                             for depth, value, accuracy in [(0, -0.4, 0.7), (1, -0.3, 0.8), (2, -0.2, 0.85)]]}
    points = ([{"series": "frozen (AnB)", "x": depth, "mean": 0.6 + 0.1 * depth} for depth in range(3)]
              + [{"series": "structure", "x": depth, "mean": 0.5} for depth in range(3)])
    results = verify_cut_points(scores, points)
    assert set(results) == {"logme", "probe_accuracy"}
    assert results["logme"]["n"] == 3 and results["logme"]["spearman_rho"] == pytest.approx(1.0)
    text = text_tables.format_verification(results)
    assert "Kendall" in text and "+1.000" in text


def test_source_ranking_is_verified_score_by_score_against_the_fine_tuned_accuracies() -> None:
    ranking = [{"source": "a", "logme": 0.1, "leep": -1.0, "probe_accuracy": 0.9},
               {"source": "b", "logme": 0.3, "leep": -0.9, "probe_accuracy": 0.7},
               {"source": "c", "logme": 0.2, "leep": math.inf, "probe_accuracy": 0.8}]
    results = verify_source_ranking(ranking, {"a": 0.6, "b": 0.8, "c": 0.7})
    assert list(results) == ["logme", "leep", "probe_accuracy"]
    assert results["logme"]["kendall_tau"] == pytest.approx(1.0)
    assert results["probe_accuracy"]["kendall_tau"] == pytest.approx(-1.0)
    assert results["leep"]["n"] == 2  # an infinite score is not a measurement
    assert [point["label"] for point in results["logme"]["points"]] == ["a", "b", "c"]


def test_weighted_tau_is_scipys_and_weighs_the_top_of_the_ranking_most() -> None:
    from scipy import stats

    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    top_swapped = [0.1, 0.2, 0.3, 0.4, 0.6, 0.5]  # the two best candidates in the wrong order
    bottom_swapped = [0.2, 0.1, 0.3, 0.4, 0.5, 0.6]  # the two worst in the wrong order
    top, bottom = verify_scores(scores, top_swapped), verify_scores(scores, bottom_swapped)
    assert top["kendall_tau"] == pytest.approx(bottom["kendall_tau"])  # plain τ: one discordant pair each
    assert top["weighted_tau"] < bottom["weighted_tau"] < 1.0  # weighted τ: a mistake at the top costs more
    assert top["weighted_tau"] == pytest.approx(stats.weightedtau(scores, top_swapped).statistic)
    assert math.isnan(verify_scores([1.0, 2.0], [0.5, 0.5])["weighted_tau"])
