"""Tests for workbench.figures.curves: learning curves and the learning-rate finder."""

from __future__ import annotations

import pytest
from figure_examples import make_history, traces_named

from workbench.figures import MODE_COLORS, plot_accuracy_and_loss, plot_learning_curves, plot_lr_find


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


def test_long_runs_leave_the_epoch_ticks_to_plotly():
    short = plot_accuracy_and_loss({"parameter": make_history(epochs=20)})
    long = plot_learning_curves({"parameter": make_history(epochs=21)})
    assert short.layout.xaxis.dtick == short.layout.xaxis2.dtick == 1
    assert long.layout.xaxis.dtick is None


def test_empty_histories_give_a_message_figure():
    figure = plot_learning_curves({})
    assert len(figure.data) == 0
    assert "No training history" in figure.layout.annotations[0].text


def test_lr_find_figure_marks_the_suggestion_on_a_log_axis() -> None:
    result = {"learning_rates": [1e-4, 1e-3, 1e-2], "losses": [2.0, 1.5, 3.0],
              "smoothed_losses": [2.0, 1.7, 2.2], "suggestion": 1e-3}
    figure = plot_lr_find(result)
    assert figure.layout.xaxis.type == "log"
    assert [trace.name for trace in figure.data] == ["batch loss", "smoothed loss"]
    assert any(shape.x0 == 1e-3 for shape in figure.layout.shapes)
