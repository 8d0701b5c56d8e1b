"""Tests for workbench.figures.predictions: the confusion matrix and sample predictions."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from workbench.figures import CORRECT_COLOR, WRONG_COLOR, plot_confusion_matrix, plot_sample_predictions

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
    assert figure.layout.height == 120 + 130 * 2  # two grid rows of three


@pytest.mark.parametrize("shape", [(2, 3, 3, 1), (2, 3, 3, 3)])
def test_sample_grid_accepts_single_channel_and_rgb_images(shape):
    images = np.full(shape, 200, dtype=np.uint8)
    figure = plot_sample_predictions(images, [0, 1], [0, 1], ["a", "b"])
    assert len(figure.data) == 2
    assert np.array(figure.data[0].z).shape == (3, 3, 3)
    assert np.array(figure.data[0].z).max() == 200


def test_sample_grid_scales_float_images_in_zero_one_to_bytes():
    images = np.full((1, 2, 2, 3), 0.5, dtype=np.float32)
    figure = plot_sample_predictions(images, [0], [0], ["a"])
    assert np.array(figure.data[0].z).max() == 128


def test_sample_grid_rejects_mismatched_label_counts():
    with pytest.raises(ValueError, match="3 images, 2 true labels"):
        plot_sample_predictions(np.zeros((3, 2, 2), np.uint8), [0, 1], [0, 1, 1], ["a", "b"])
