"""Comparisons over transfer modes and seeds.

Every mode at a given seed sees the same splits and label budget (the draws depend only on the
seed), so differences between modes are differences between modes, not between samples.
"""

from __future__ import annotations

import datetime as _datetime
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.config import MODES, RunConfig
from workbench.errors import ConfigError
from workbench.runs import Run

DEFAULT_COMPARE_MODES = ("structure", "feature", "parameter")


@dataclass
class Comparison:
    """The runs of a comparison and their per-mode statistics."""

    base_config: RunConfig
    seeds: list[int]
    modes: list[str]
    runs: list[Run] = field(default_factory=list)
    stopped: bool = False

    def rows(self) -> list[dict[str, Any]]:
        """One row per mode: mean, sample standard deviation and n of test accuracy over seeds."""
        rows = []
        for mode in self.modes:
            mode_runs = [run for run in self.runs if run.config.get("mode") == mode]
            values = [run.test_accuracy for run in mode_runs]
            summary = summarize(values)
            depth = mode_runs[0].transfer_report.get("freeze_depth") if mode_runs and mode_runs[0].transfer_report else None
            rows.append({
                "mode": mode,
                "freeze_depth": depth,
                "label": mode_label(mode, depth),
                **summary,
                "values": values,
                "seeds": [int(run.config.get("seed", -1)) for run in mode_runs],
                "runs": [run.name for run in mode_runs],
            })
        return rows

    def describe(self) -> str:
        """How the numbers were obtained: task, budget, seeds, epochs, source."""
        config = self.base_config
        budget = f"{config.per_class} labels per class" if config.per_class else "all labels"
        return (
            f"target {config.task}, {budget}, {config.epochs} epochs, lr {config.learning_rate:g}, "
            f"seeds {', '.join(str(seed) for seed in self.seeds)}; source {config.source}"
        )

    def format_table(self) -> str:
        """The comparison as a text table: test accuracy mean ± sd (n) per mode."""
        lines = [self.describe(), "", f"{'mode':<24} {'test accuracy':>17} {'n':>3}   per seed"]
        for row in self.rows():
            per_seed = " ".join(f"{value:.3f}" for value in row["values"])
            lines.append(f"{row['label']:<24} {row['mean']:>8.3f} ± {row['sd']:<6.3f} {row['n']:>3}   {per_seed}")
        if self.stopped:
            lines.append("(stopped early: not every seed ran)")
        return "\n".join(lines)


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (ddof=1; 0 for a single value) and n, ignoring NaN."""
    finite = [float(value) for value in values if not math.isnan(float(value))]
    if not finite:
        return {"mean": math.nan, "sd": math.nan, "n": 0}
    sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0
    return {"mean": float(np.mean(finite)), "sd": sd, "n": len(finite)}


def mode_label(mode: str, freeze_depth: int | None) -> str:
    """Display name of a mode, with its freeze depth where the user chose it."""
    if mode == "parameter" and freeze_depth:
        return f"parameter (freeze {freeze_depth})"
    return mode


def resolve_seeds(seeds: int | Sequence[int]) -> list[int]:
    """`3` → [0, 1, 2]; a list is taken as it is.

    Raises:
        ConfigError: for fewer than one seed, a negative or repeated seed.
    """
    if isinstance(seeds, str):
        text = seeds.strip()
        seeds = int(text) if text.isdigit() else [int(part) for part in text.split(",") if part.strip()]
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError(f"seeds={seeds} must be at least 1. Pass --seeds 3 (seeds 0, 1, 2) or a list like 0,4,7.")
        return list(range(int(seeds)))
    resolved = [int(seed) for seed in seeds]
    if not resolved or min(resolved) < 0 or len(set(resolved)) != len(resolved):
        raise ConfigError(
            f"seeds={list(seeds)!r} must be one or more different non-negative integers. Pass --seeds 3 or 0,4,7."
        )
    return resolved


def run_comparison(
    base_config: RunConfig,
    seeds: int | Sequence[int] = 3,
    modes: Sequence[str] = DEFAULT_COMPARE_MODES,
    run_callbacks: Callable[[RunConfig], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run], None] | None = None,
    stop_event: threading.Event | None = None,
) -> Comparison:
    """Run every mode at every seed on identical splits and collect the results.

    Args:
        base_config: a transfer config; its mode and seed are replaced per run, its `name` (if
            any) becomes the prefix of the run names.
        seeds: a count (seeds 0..n-1) or a list of seeds. Defaults to 3.
        modes: the modes to compare. Defaults to structure, feature and parameter.
        run_callbacks: makes extra Keras callbacks for each run (progress bars, live curves).
        on_run_done: called with each finished run.
        stop_event: once set, the current run stops and no further run starts.

    Returns:
        The `Comparison` of every run that finished or was stopped.

    Raises:
        ConfigError: for an unknown mode or bad seeds, before any training.
    """
    from workbench.training import train_run

    seed_list = resolve_seeds(seeds)
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes:
        raise ConfigError(f"modes={list(modes)!r}: allowed modes are {', '.join(MODES)}. Pass e.g. --modes structure,parameter.")
    prefix = base_config.name or f"compare-{_datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    comparison = Comparison(base_config, seed_list, list(modes))
    for seed in seed_list:
        for mode in modes:
            if stop_event is not None and stop_event.is_set():
                comparison.stopped = True
                return comparison
            config = base_config.replace(
                kind="transfer", mode=mode, seed=seed, name=f"{prefix}-{mode}-s{seed}",
                freeze_depth=base_config.freeze_depth if mode == "parameter" else None,
            )
            extra = list(run_callbacks(config)) if run_callbacks else []
            run = train_run(config, callbacks=extra, stop_event=stop_event)
            comparison.runs.append(run)
            if on_run_done:
                on_run_done(run)
    return comparison
