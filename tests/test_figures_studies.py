"""Tests for workbench.figures.studies: comparison bars, sweeps and paired differences."""

from __future__ import annotations

import pytest
from figure_examples import COMPARISON_ROWS, fake_sweep

from workbench.figures import (
    MODE_COLORS,
    plot_budget_sweep,
    plot_comparison,
    plot_depth_sweep,
    plot_paired_differences,
    plot_sweep,
    plot_sweep_differences,
)

# ---- comparison --------------------------------------------------------------------------------


def test_comparison_error_bars_equal_sd_and_bar_text_shows_n():
    figure = plot_comparison(COMPARISON_ROWS)
    bars = [trace for trace in figure.data if trace.type == "bar"]
    assert len(bars) == 1
    (bar,) = bars
    assert list(bar.y) == pytest.approx([0.912, 0.85, 0.7])
    # The single-seed row has sd NaN: drawn as a zero error bar.
    assert list(bar.error_y.array) == pytest.approx([0.013, 0.02, 0.0])
    assert bar.text[0] == "0.912 ± 0.013 (n=3)"
    assert bar.text[1] == "0.850 ± 0.020 (n=2)"
    assert bar.text[2] == "0.700 (n=1)"
    assert list(bar.marker.color) == [
        MODE_COLORS["parameter"], MODE_COLORS["feature"], MODE_COLORS["structure"]
    ]
    assert list(figure.layout.xaxis.ticktext) == [row["label"] for row in COMPARISON_ROWS]
    assert list(figure.layout.yaxis.range) == [0, 1]


def test_comparison_bar_text_follows_the_shared_mean_sd_rule():
    # One seed has no spread, even when a row carries sd 0.0; a missing mean reads n/a.
    rows = [{"label": "one seed", "mean": 0.5, "sd": 0.0, "n": 1, "values": [0.5]},
            {"label": "not measured", "mean": None, "sd": 0.1, "n": 2, "values": []}]
    (bar, _) = plot_comparison(rows).data
    assert list(bar.text) == ["0.500 (n=1)", "n/a (n=2)"]


def test_comparison_overlays_every_seed_value_with_deterministic_jitter():
    figure = plot_comparison(COMPARISON_ROWS)
    (points,) = [trace for trace in figure.data if trace.type == "scatter"]
    assert list(points.y) == pytest.approx([0.9, 0.91, 0.926, 0.83, 0.87, 0.7])
    assert [seed for _, seed in points.customdata] == [0, 1, 2, 0, 1, 5]
    # Points stay near their own bar and are spread, not stacked.
    assert all(abs(x - 0) < 0.5 for x in points.x[:3])
    assert len(set(points.x[:3])) == 3
    assert points.x[5] == 2
    again = plot_comparison(COMPARISON_ROWS)
    assert again.to_json() == figure.to_json()


def test_comparison_of_a_loss_does_not_clamp_to_zero_one():
    figure = plot_comparison(COMPARISON_ROWS, metric_name="test loss")
    assert figure.layout.yaxis.range is None
    assert figure.layout.yaxis.title.text == "test loss"


# ---- sweeps ------------------------------------------------------------------------------------


def test_sweep_draws_one_line_per_series_sorted_by_x_with_error_bars():
    points = [
        {"series": "parameter", "labels_per_class": 100, "mean": 0.9, "sd": 0.01, "n": 3},
        {"series": "parameter", "labels_per_class": 10, "mean": 0.7, "sd": 0.05, "n": 3},
        {"series": "structure", "labels_per_class": 10, "mean": 0.4, "sd": 0.1, "n": 3},
    ]
    figure = plot_sweep(points, "labels_per_class", "Labels per class", log_x=True)
    assert [trace.name for trace in figure.data] == ["parameter", "structure"]
    parameter = figure.data[0]
    assert list(parameter.x) == [10, 100]
    assert list(parameter.error_y.array) == pytest.approx([0.05, 0.01])
    assert parameter.line.color == MODE_COLORS["parameter"]
    assert figure.layout.xaxis.type == "log"


def test_sweep_on_log_axis_rejects_zero():
    points = [{"series": "parameter", "freeze_depth": 0, "mean": 0.9, "sd": 0.0, "n": 1}]
    with pytest.raises(ValueError, match="freeze_depth=0"):
        plot_sweep(points, "freeze_depth", "Freeze depth", log_x=True)


def test_sweep_point_without_the_x_key_names_its_keys():
    with pytest.raises(ValueError, match=r"no key 'depth'; its keys are \['mean', 'series'\]"):
        plot_sweep([{"series": "parameter", "mean": 0.9}], "depth", "Depth")


def test_depth_and_budget_sweeps_title_the_seed_count_and_keep_plan_order():
    depth = plot_depth_sweep(fake_sweep("freeze_depth", seeds=3))
    assert [trace.name for trace in depth.data] == ["structure", "frozen (AnB)"]  # baseline first, as run
    assert "n=3 seeds per point" in depth.layout.title.text
    assert depth.layout.xaxis.dtick == 1 and depth.layout.xaxis.type == "linear"
    budget = plot_budget_sweep(fake_sweep("per_class", seeds=1))
    assert "n=1 seed per point" in budget.layout.title.text
    assert budget.layout.xaxis.type == "log"
    assert budget.layout.xaxis.title.text == "labels per class (log scale)"


def test_sweep_differences_draw_each_interval_and_keep_the_sweep_colours():
    sweep = fake_sweep()
    figure = plot_sweep_differences(sweep)
    [trace] = figure.data
    assert trace.name == "frozen (AnB)" and list(trace.x) == [1, 4]
    assert list(trace.error_y.array) == pytest.approx([0.05, 0.05])
    assert list(trace.error_y.arrayminus) == pytest.approx([0.05, 0.05])
    assert list(trace.customdata[0]) == ["[+0.060, +0.160]", 3]
    assert trace.line.color == plot_depth_sweep(sweep).data[1].line.color
    assert any(shape.y0 == 0 for shape in figure.layout.shapes)


def test_sweep_differences_without_a_paired_baseline_give_a_message_figure():
    figure = plot_sweep_differences(fake_sweep(seeds=0))
    assert len(figure.data) == 0
    assert "No point has a structure run at the same seed" in figure.layout.annotations[0].text


# ---- paired differences ------------------------------------------------------------------------


def test_paired_differences_figure_draws_intervals_around_zero() -> None:
    figure = plot_paired_differences([
        {"mode": "parameter", "baseline": "structure", "mean": 0.1, "low": 0.05, "high": 0.2, "n": 3},
        {"mode": "feature", "baseline": "structure", "mean": -0.02, "low": float("nan"), "high": float("nan"), "n": 1},
    ])
    parameter, feature = figure.data
    assert parameter.error_x.array[0] == pytest.approx(0.1) and parameter.error_x.arrayminus[0] == pytest.approx(0.05)
    assert feature.error_x.visible is False
    assert any(shape.x0 == 0 for shape in figure.layout.shapes)
