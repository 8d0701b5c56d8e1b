"""Plotly figures for the workbench: plain data in, `plotly.graph_objects.Figure` out.

Every function here is pure and deterministic: the same input always gives the same figure,
nothing is shown (no `.show()`), nothing trains and nothing reads a widget, and only numpy, plotly
and `workbench.formatting` are imported, so the package imports fast (without TensorFlow) and
works the same in a JupyterLab panel (wrapped in a `FigureWidget`), in a papermill HTML report and
from the command line.

One import path for users, one idea per module:

* `style`: mode colours, the template, train/validation dashes, `assign_colors`, `plain_text`,
  `empty_figure`, `spread_offsets`.
* `curves`: learning curves (accuracy, loss, both side by side) and the learning-rate finder.
* `studies`: comparison bars with their spread over seeds, sweeps, paired differences.
* `predictions`: the confusion matrix and a grid of sample predictions.
* `transfer`: frozen and trainable parameters per block, from the weight-transfer report.
* `diagnostics`: weight drift, CKA, feature projections, block scores, source ranking,
  verification.

Each module's docstring states the data it draws (histories, comparison rows, sweep points, ...).
"""

from workbench.figures.curves import CURVE_METRICS, plot_accuracy_and_loss, plot_learning_curves, plot_lr_find
from workbench.figures.diagnostics import (
    SCORE_TITLES,
    plot_block_scores,
    plot_cka_by_block,
    plot_cka_matrix,
    plot_drift_heatmap,
    plot_feature_projection,
    plot_source_ranking,
    plot_verification,
)
from workbench.figures.predictions import normalize_rows, plot_confusion_matrix, plot_sample_predictions
from workbench.figures.studies import (
    plot_budget_sweep,
    plot_comparison,
    plot_depth_sweep,
    plot_paired_differences,
    plot_sweep,
    plot_sweep_differences,
)
from workbench.figures.style import (
    CKA_COLORSCALE,
    CORRECT_COLOR,
    DRIFT_COLORSCALE,
    FALLBACK_COLORS,
    FROZEN_COLOR,
    MODE_COLORS,
    SCORE_COLORS,
    TEMPLATE,
    TRAIN_DASH,
    TRAINABLE_COLOR,
    VALIDATION_DASH,
    WRONG_COLOR,
    assign_colors,
    empty_figure,
    find_mode,
    plain_text,
    spread_offsets,
)
from workbench.figures.transfer import plot_transfer_report, summarize_blocks

__all__ = [
    # style
    "CKA_COLORSCALE",
    "CORRECT_COLOR",
    "DRIFT_COLORSCALE",
    "FALLBACK_COLORS",
    "FROZEN_COLOR",
    "MODE_COLORS",
    "SCORE_COLORS",
    "TEMPLATE",
    "TRAIN_DASH",
    "TRAINABLE_COLOR",
    "VALIDATION_DASH",
    "WRONG_COLOR",
    "assign_colors",
    "empty_figure",
    "find_mode",
    "plain_text",
    "spread_offsets",
    # curves
    "CURVE_METRICS",
    "plot_accuracy_and_loss",
    "plot_learning_curves",
    "plot_lr_find",
    # studies
    "plot_budget_sweep",
    "plot_comparison",
    "plot_depth_sweep",
    "plot_paired_differences",
    "plot_sweep",
    "plot_sweep_differences",
    # predictions
    "normalize_rows",
    "plot_confusion_matrix",
    "plot_sample_predictions",
    # transfer
    "plot_transfer_report",
    "summarize_blocks",
    # diagnostics
    "SCORE_TITLES",
    "plot_block_scores",
    "plot_cka_by_block",
    "plot_cka_matrix",
    "plot_drift_heatmap",
    "plot_feature_projection",
    "plot_source_ranking",
    "plot_verification",
]
