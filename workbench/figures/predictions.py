"""What a trained model predicts: the confusion matrix and a grid of sample predictions.

A confusion matrix is a list of lists of counts, rows = true class, columns = predicted class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.figures.style import CORRECT_COLOR, TEMPLATE, WRONG_COLOR, empty_figure, plain_text


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


def _image_grid(
    rgb_images: np.ndarray, true_names: Sequence[str], predicted_names: Sequence[str], row_count: int, column_count: int
) -> go.Figure:
    """One `go.Image` per sample in a row_count × column_count grid, each titled "true → predicted"."""
    figure = make_subplots(
        rows=row_count,
        cols=column_count,
        subplot_titles=[f"{plain_text(true)} → {plain_text(predicted)}"
                        for true, predicted in zip(true_names, predicted_names)],
        horizontal_spacing=0.02,
        vertical_spacing=min(0.3 / row_count, 0.08),
    )
    for index in range(rgb_images.shape[0]):
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
    return figure


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
    column_count = min(int(columns), count)
    row_count = math.ceil(count / column_count)
    figure = _image_grid(rgb_images, true_names, predicted_names, row_count, column_count)
    # make_subplots writes subplot titles as annotations in sample order.
    for annotation, is_correct in zip(figure.layout.annotations, correct):
        annotation.font = {"color": CORRECT_COLOR if is_correct else WRONG_COLOR, "size": 12}
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title or f"Sample predictions ({sum(correct)} of {count} correct)"},
        height=120 + 130 * row_count,
        margin={"l": 20, "r": 20, "t": 90, "b": 20},
    )
    return figure
