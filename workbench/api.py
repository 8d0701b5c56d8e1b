"""The Python API: the same three verbs as the command line, taking the same parameters."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from workbench.config import config_from_mapping
from workbench.experiments import DEFAULT_COMPARE_MODES, Comparison, run_comparison
from workbench.runs import Run


def pretrain(callbacks: Sequence[Any] = (), stop_event: threading.Event | None = None, **parameters: Any) -> Run:
    """Train a source model, e.g. `pretrain(task="mnist-5k:0-4", epochs=5, name="source")`.

    Args:
        callbacks: extra Keras callbacks.
        stop_event: set it to stop training after the current batch (the run is kept, "stopped").
        **parameters: any `RunConfig` field (task, model, epochs, seed, name, runs_dir, …).

    Returns:
        The saved run.
    """
    from workbench.training import train_run

    return train_run(config_from_mapping(parameters, kind="pretrain"), callbacks, stop_event)


def transfer(callbacks: Sequence[Any] = (), stop_event: threading.Event | None = None, **parameters: Any) -> Run:
    """Carry a source run to a target task, e.g.
    `transfer(source="runs/source", task="mnist-5k:5-9", mode="parameter", freeze_depth=2, per_class=5)`.

    Args:
        callbacks: extra Keras callbacks.
        stop_event: set it to stop training after the current batch (the run is kept, "stopped").
        **parameters: any `RunConfig` field; `source` is required.

    Returns:
        The saved run.
    """
    from workbench.training import train_run

    return train_run(config_from_mapping(parameters, kind="transfer"), callbacks, stop_event)


def compare(
    seeds: int | Sequence[int] = 3,
    modes: Sequence[str] = DEFAULT_COMPARE_MODES,
    run_callbacks: Callable[[Any], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run], None] | None = None,
    stop_event: threading.Event | None = None,
    **parameters: Any,
) -> Comparison:
    """Run structure, feature and parameter transfer on identical splits for each seed, e.g.
    `compare(source="runs/source", task="mnist-5k:5-9", per_class=5, seeds=3, epochs=10)`.

    Args:
        seeds: a count (0..n-1) or a list of seeds. Defaults to 3.
        modes: modes to compare. Defaults to structure, feature, parameter.
        run_callbacks: makes extra Keras callbacks for each run.
        on_run_done: called with each finished run.
        stop_event: once set, stops the current run and starts no more.
        **parameters: any `RunConfig` field (source, task, per_class, epochs, freeze_depth, …);
            `name` becomes the prefix of the run names.

    Returns:
        The comparison; `.format_table()` prints it, `.rows()` gives mean, sd and n per mode.
    """
    base = config_from_mapping({**parameters, "mode": "parameter"}, kind="transfer")
    return run_comparison(base, seeds, modes, run_callbacks, on_run_done, stop_event)
