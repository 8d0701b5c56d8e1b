"""Hand-made data for the figure tests (tests/test_figures_*.py): histories, comparison rows, a
weight-transfer report, and one figure of each kind."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go

from workbench import figures


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


def fake_sweep(kind: str = "freeze_depth", seeds: int = 3) -> SimpleNamespace:
    """What the sweep figures read from a `workbench.sweeps.Sweep`, written out by hand: points in
    plan order (the baseline first) and each transfer point's paired difference from it."""
    points = [
        {"series": "structure", "x": 1, kind: 1, "mean": 0.60, "sd": 0.02, "n": seeds},
        {"series": "structure", "x": 4, kind: 4, "mean": 0.60, "sd": 0.02, "n": seeds},
        {"series": "frozen (AnB)", "x": 1, kind: 1, "mean": 0.71, "sd": 0.03, "n": seeds},
        {"series": "frozen (AnB)", "x": 4, kind: 4, "mean": 0.41, "sd": 0.04, "n": seeds},
    ]
    differences = [
        {"series": "frozen (AnB)", "x": 1, kind: 1, "baseline": "structure", "mean": 0.11, "sd": 0.02,
         "n": seeds, "low": 0.06, "high": 0.16},
        {"series": "frozen (AnB)", "x": 4, kind: 4, "baseline": "structure", "mean": -0.19, "sd": 0.02,
         "n": seeds, "low": -0.24, "high": -0.14},
    ]
    return SimpleNamespace(kind=kind, seeds=list(range(seeds)), ordered_points=lambda: points,
                           differences=lambda baseline="structure", confidence=0.95: differences)


def traces_named(figure: go.Figure, name: str) -> list:
    return [trace for trace in figure.data if trace.name == name]


def all_figures() -> list[go.Figure]:
    """One figure from each module of the package, and the empty-state figure."""
    images = np.zeros((2, 3, 3), dtype=np.uint8)
    return [
        figures.plot_learning_curves({"parameter": make_history()}),
        figures.plot_accuracy_and_loss({"parameter": make_history(validation=False)}),
        figures.plot_comparison(COMPARISON_ROWS),
        figures.plot_confusion_matrix([[1, 0], [0, 0]], ["a", "b"]),
        figures.plot_sample_predictions(images, [0, 1], [1, 1], ["a", "b"]),
        figures.plot_sweep([{"series": "x", "depth": 1, "mean": 0.5, "sd": float("nan"), "n": 1}],
                           "depth", "Depth"),
        figures.plot_depth_sweep(fake_sweep()),
        figures.plot_sweep_differences(fake_sweep("per_class")),
        figures.plot_transfer_report(TRANSFER_REPORT),
        figures.plot_drift_heatmap([{"label": "feature", "blocks": [{"block": "conv1", "drift": 0.1}]}]),
        figures.empty_figure("No data yet"),
    ]
