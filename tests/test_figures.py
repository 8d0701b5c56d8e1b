"""Tests for workbench.figures: hand-made data in, checks on the plotly figure out."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from workbench import figures
from workbench.figures import (
    CORRECT_COLOR,
    MODE_COLORS,
    WRONG_COLOR,
    empty_figure,
    plot_accuracy_and_loss,
    plot_comparison,
    plot_confusion_matrix,
    plot_learning_curves,
    plot_sample_predictions,
    plot_sweep,
    plot_transfer_report,
)


def make_history(epochs: int = 3, validation: bool = True, start: float = 0.5) -> list[dict]:
    history = []
    for epoch in range(1, epochs + 1):
        record = {
            "epoch": epoch,
            "loss": 1.0 / epoch,
            "accuracy": start + 0.1 * epoch,
            "seconds": 2.0,
        }
        if validation:
            record["val_loss"] = 1.2 / epoch
            record["val_accuracy"] = start + 0.08 * epoch
        history.append(record)
    return history


COMPARISON_ROWS = [
    {
        "mode": "parameter",
        "freeze_depth": 2,
        "label": "parameter (freeze 2)",
        "n": 3,
        "mean": 0.912,
        "sd": 0.013,
        "values": [0.9, 0.91, 0.926],
        "seeds": [0, 1, 2],
    },
    {
        "mode": "feature",
        "freeze_depth": None,
        "label": "feature",
        "n": 2,
        "mean": 0.85,
        "sd": 0.02,
        "values": [0.83, 0.87],
        "seeds": [0, 1],
    },
    {
        "mode": "structure",
        "freeze_depth": None,
        "label": "structure",
        "n": 1,
        "mean": 0.7,
        "sd": float("nan"),
        "values": [0.7],
        "seeds": [5],
    },
]

TRANSFER_REPORT = {
    "layers": [
        {"layer": "conv1", "block": "block1", "action": "copied", "reason": "shapes match",
         "trainable": False, "params": 320},
        {"layer": "pool1", "block": "block1", "action": "no weights", "reason": "",
         "trainable": False, "params": 0},
        {"layer": "conv2", "block": "block2", "action": "copied", "reason": "shapes match",
         "trainable": True, "params": 18496},
        {"layer": "dense", "block": "head", "action": "re-initialised",
         "reason": "10 classes → 5 classes", "trainable": True, "params": 645},
    ],
    "trainable_params": 19141,
    "frozen_params": 320,
}


def traces_named(figure: go.Figure, name: str) -> list:
    return [trace for trace in figure.data if trace.name == name]


# ---- learning curves -------------------------------------------------------------------------


def test_learning_curves_draw_train_dashed_and_validation_solid_per_label():
    histories = {"parameter seed 0": make_history(), "feature seed 0": make_history(start=0.3)}
    figure = plot_learning_curves(histories)
    assert len(figure.data) == 4
    for label in histories:
        (train,) = traces_named(figure, f"{label} (train)")
        (validation,) = traces_named(figure, f"{label} (validation)")
        assert train.line.dash == "dash"
        assert validation.line.dash == "solid"
        assert train.legendgroup == validation.legendgroup == label
        assert list(train.x) == [1, 2, 3]
    (parameter_train,) = traces_named(figure, "parameter seed 0 (train)")
    assert parameter_train.line.color == MODE_COLORS["parameter"]
    assert list(parameter_train.y) == pytest.approx([0.6, 0.7, 0.8])
    (feature_validation,) = traces_named(figure, "feature seed 0 (validation)")
    assert feature_validation.line.color == MODE_COLORS["feature"]


def test_learning_curves_plot_loss_when_asked():
    figure = plot_learning_curves({"structure": make_history()}, metric="loss")
    (train,) = traces_named(figure, "structure (train)")
    assert list(train.y) == pytest.approx([1.0, 0.5, 1 / 3])
    assert figure.layout.yaxis.title.text == "Loss"
    assert figure.layout.xaxis.title.text == "Epoch"
    assert figure.layout.title.text == "Loss per epoch"


def test_missing_validation_keys_omit_validation_traces():
    figure = plot_learning_curves({"parameter": make_history(validation=False)})
    assert [trace.name for trace in figure.data] == ["parameter (train)"]


def test_all_nan_validation_values_omit_validation_traces():
    history = make_history()
    for record in history:
        record["val_accuracy"] = float("nan")
        record["val_loss"] = None
    figure = plot_accuracy_and_loss({"parameter": history})
    assert [trace.name for trace in figure.data] == ["parameter (train)"] * 2


def test_bad_metric_raises_value_error_naming_allowed_values():
    with pytest.raises(ValueError) as error:
        plot_learning_curves({"parameter": make_history()}, metric="acc")
    message = str(error.value)
    assert "'acc'" in message
    assert "'accuracy'" in message and "'loss'" in message


def test_labels_without_a_mode_get_distinct_fallback_colours():
    figure = plot_learning_curves({"baseline": make_history(), "other": make_history()})
    colors = {trace.name: trace.line.color for trace in figure.data}
    assert colors["baseline (train)"] == colors["baseline (validation)"]
    assert colors["baseline (train)"] != colors["other (train)"]
    assert colors["baseline (train)"] not in MODE_COLORS.values()


def test_accuracy_and_loss_share_one_legend_across_two_panels():
    histories = {"parameter": make_history(), "structure": make_history()}
    figure = plot_accuracy_and_loss(histories)
    assert len(figure.data) == 8
    accuracy_traces = [trace for trace in figure.data if trace.xaxis in (None, "x")]
    loss_traces = [trace for trace in figure.data if trace.xaxis == "x2"]
    assert len(accuracy_traces) == len(loss_traces) == 4
    assert all(trace.showlegend for trace in accuracy_traces)
    assert not any(trace.showlegend for trace in loss_traces)
    assert {trace.legendgroup for trace in loss_traces} == set(histories)
    assert [annotation.text for annotation in figure.layout.annotations] == ["Accuracy", "Loss"]


def test_empty_histories_give_a_message_figure():
    figure = plot_learning_curves({})
    assert len(figure.data) == 0
    assert "No training history" in figure.layout.annotations[0].text


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


# ---- confusion matrix --------------------------------------------------------------------------


def test_confusion_matrix_counts_are_written_and_rows_normalised():
    matrix = [[8, 2, 0], [1, 3, 0], [0, 0, 0]]
    figure = plot_confusion_matrix(matrix, ["0", "1", "2"])
    (heatmap,) = figure.data
    z = np.array(heatmap.z, dtype=float)
    assert z[0] == pytest.approx([0.8, 0.2, 0.0])
    assert z[:2].sum(axis=1) == pytest.approx([1.0, 1.0])
    # An empty row stays at zero instead of becoming NaN.
    assert z[2] == pytest.approx([0.0, 0.0, 0.0])
    assert [list(row) for row in heatmap.text] == [["8", "2", "0"], ["1", "3", "0"], ["0", "0", "0"]]
    assert heatmap.texttemplate == "%{text}"
    assert figure.layout.yaxis.autorange == "reversed"
    assert figure.layout.xaxis.type == figure.layout.yaxis.type == "category"
    assert figure.layout.xaxis.title.text == "Predicted class"
    assert figure.layout.yaxis.title.text == "True class"


def test_confusion_matrix_without_normalisation_colours_by_count():
    matrix = [[5, 1], [2, 7]]
    figure = plot_confusion_matrix(matrix, ["cat", "dog"], normalize=False)
    (heatmap,) = figure.data
    assert [list(row) for row in heatmap.z] == matrix
    assert list(heatmap.x) == ["cat", "dog"]


def test_confusion_matrix_with_wrong_size_names_the_shape():
    with pytest.raises(ValueError, match=r"\(2, 2\).*3 class names"):
        plot_confusion_matrix([[1, 0], [0, 1]], ["a", "b", "c"])


# ---- sample predictions ------------------------------------------------------------------------


def test_sample_grid_has_one_image_per_sample_and_coloured_titles():
    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    figure = plot_sample_predictions(
        images, [0, 1, 2, 1, 0], [0, 2, 2, 1, 1], ["zero", "one", "two"], columns=3
    )
    image_traces = [trace for trace in figure.data if isinstance(trace, go.Image)]
    assert len(image_traces) == 5
    # Grayscale arrives as RGB.
    assert np.array(image_traces[0].z).shape == (4, 4, 3)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert titles == ["zero → zero", "one → two", "two → two", "one → one", "zero → one"]
    colors = [annotation.font.color for annotation in figure.layout.annotations]
    assert colors == [CORRECT_COLOR, WRONG_COLOR, CORRECT_COLOR, CORRECT_COLOR, WRONG_COLOR]
    assert "3 of 5 correct" in figure.layout.title.text
    assert figure.layout.xaxis.visible is False and figure.layout.yaxis.visible is False


@pytest.mark.parametrize("shape", [(2, 3, 3, 1), (2, 3, 3, 3)])
def test_sample_grid_accepts_single_channel_and_rgb_images(shape):
    images = np.full(shape, 200, dtype=np.uint8)
    figure = plot_sample_predictions(images, [0, 1], [0, 1], ["a", "b"])
    assert len(figure.data) == 2
    assert np.array(figure.data[0].z).shape == (3, 3, 3)
    assert np.array(figure.data[0].z).max() == 200


def test_sample_grid_rejects_mismatched_label_counts():
    with pytest.raises(ValueError, match="3 images, 2 true labels"):
        plot_sample_predictions(np.zeros((3, 2, 2), np.uint8), [0, 1], [0, 1, 1], ["a", "b"])


# ---- sweep -------------------------------------------------------------------------------------


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


# ---- transfer report ---------------------------------------------------------------------------


def test_transfer_report_stacks_frozen_and_trainable_params_per_block():
    figure = plot_transfer_report(TRANSFER_REPORT)
    frozen, trainable = figure.data
    assert (frozen.name, trainable.name) == ("frozen", "trainable")
    assert list(frozen.y) == ["block1", "block2", "head"]
    assert list(frozen.x) == [320, 0, 0]
    assert list(trainable.x) == [0, 18496, 645]
    assert frozen.orientation == trainable.orientation == "h"
    assert figure.layout.barmode == "stack"
    assert "re-initialised" in trainable.hovertext[2]
    assert "copied" in frozen.hovertext[0]
    assert "19,141 trainable" in figure.layout.title.text


# ---- shared behaviour --------------------------------------------------------------------------


def test_empty_figure_shows_the_message_centred():
    figure = empty_figure("Nothing here")
    (annotation,) = figure.layout.annotations
    assert annotation.text == "Nothing here"
    assert (annotation.x, annotation.y) == (0.5, 0.5)
    assert annotation.showarrow is False


def all_figures() -> list[go.Figure]:
    images = np.zeros((2, 3, 3), dtype=np.uint8)
    return [
        plot_learning_curves({"parameter": make_history()}),
        plot_accuracy_and_loss({"parameter": make_history(validation=False)}),
        plot_comparison(COMPARISON_ROWS),
        plot_confusion_matrix([[1, 0], [0, 0]], ["a", "b"]),
        plot_sample_predictions(images, [0, 1], [1, 1], ["a", "b"]),
        plot_sweep([{"series": "x", "depth": 1, "mean": 0.5, "sd": float("nan"), "n": 1}],
                   "depth", "Depth"),
        plot_transfer_report(TRANSFER_REPORT),
        empty_figure("No data yet"),
    ]


def test_every_figure_serialises_to_json_with_a_title_or_message():
    for figure in all_figures():
        payload = json.loads(figure.to_json())
        layout = payload["layout"]
        assert layout.get("title", {}).get("text") or layout.get("annotations")


def test_figures_are_deterministic():
    first = [figure.to_json() for figure in all_figures()]
    second = [figure.to_json() for figure in all_figures()]
    assert first == second


def test_module_imports_only_numpy_and_plotly():
    # Checked on the source, not sys.modules: the package __init__ may load the engine, but
    # figures.py itself must stay light so reports and panels import it fast.
    tree = ast.parse(Path(figures.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "collections", "math", "typing", "numpy", "plotly"}


def test_lr_find_figure_marks_the_suggestion_on_a_log_axis() -> None:
    from workbench.figures import plot_lr_find

    result = {"learning_rates": [1e-4, 1e-3, 1e-2], "losses": [2.0, 1.5, 3.0],
              "smoothed_losses": [2.0, 1.7, 2.2], "suggestion": 1e-3}
    figure = plot_lr_find(result)
    assert figure.layout.xaxis.type == "log"
    assert [trace.name for trace in figure.data] == ["batch loss", "smoothed loss"]
    assert any(shape.x0 == 1e-3 for shape in figure.layout.shapes)


def test_paired_differences_figure_draws_intervals_around_zero() -> None:
    from workbench.figures import plot_paired_differences

    figure = plot_paired_differences([
        {"mode": "parameter", "baseline": "structure", "mean": 0.1, "low": 0.05, "high": 0.2, "n": 3},
        {"mode": "feature", "baseline": "structure", "mean": -0.02, "low": float("nan"), "high": float("nan"), "n": 1},
    ])
    parameter, feature = figure.data
    assert parameter.error_x.array[0] == pytest.approx(0.1) and parameter.error_x.arrayminus[0] == pytest.approx(0.05)
    assert feature.error_x.visible is False
    assert any(shape.x0 == 0 for shape in figure.layout.shapes)
