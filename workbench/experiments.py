"""Comparisons and sweeps over transfer modes, seeds, freeze depths and label budgets.

Every mode at a given seed sees the same splits and label budget (the draws depend only on the
seed), so differences between modes are differences between modes, not between samples; that is
also what makes the paired differences against the structure baseline honest.
"""

from __future__ import annotations

import datetime as _datetime
import math
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.config import MODES, RunConfig, resolve_seeds  # noqa: F401 - resolve_seeds: public here too
from workbench.errors import ConfigError
from workbench.parallel import train_runs
from workbench.runs import Run
from workbench.statistics import paired_difference, summarize, transfer_metrics

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

    def paired_differences(self, baseline: str = "structure") -> list[dict[str, Any]]:
        """Per mode: test accuracy minus the baseline's at the same seed, mean with a 95% t-interval."""
        results = []
        for mode, pairs in self._pairs_with(baseline).items():
            difference = paired_difference([run.test_accuracy for run, _ in pairs],
                                           [base.test_accuracy for _, base in pairs])
            results.append({"mode": mode, "baseline": baseline, **difference})
        return results

    def transfer_metrics(self, baseline: str = "structure", threshold: float | None = None) -> list[dict[str, Any]]:
        """Taylor & Stone's metrics per mode against the baseline at the same seed, summarised over seeds.

        Curves are validation accuracy per epoch; the final scores are test accuracies. Each
        metric comes back as {"mean", "sd", "n"}.
        """
        results = []
        for mode, pairs in self._pairs_with(baseline).items():
            per_seed = [run_transfer_metrics(run, base, threshold) for run, base in pairs]
            names = per_seed[0].keys() if per_seed else []
            results.append({"mode": mode, "baseline": baseline,
                            **{name: summarize([metrics[name] for metrics in per_seed]) for name in names}})
        return results

    def _pairs_with(self, baseline: str) -> dict[str, list[tuple[Run, Run]]]:
        by_seed = {run.config.get("seed"): run for run in self.runs if run.config.get("mode") == baseline}
        pairs: dict[str, list[tuple[Run, Run]]] = {}
        for mode in self.modes:
            if mode == baseline:
                continue
            pairs[mode] = [(run, by_seed[run.config.get("seed")]) for run in self.runs
                           if run.config.get("mode") == mode and run.config.get("seed") in by_seed]
        return pairs

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
        differences = [row for row in self.paired_differences() if row["n"]]
        if differences:
            lines += ["", "paired difference vs structure (same seed), mean [95% CI]:"]
            for row in differences:
                interval = f"[{row['low']:+.3f}, {row['high']:+.3f}]" if row["n"] > 1 else "(n=1: no interval)"
                lines.append(f"  {row['mode']:<22} {row['mean']:+.3f} {interval}  n={row['n']}")
        if self.stopped:
            lines.append("(stopped early: not every seed ran)")
        return "\n".join(lines)


def mode_label(mode: str, freeze_depth: int | None) -> str:
    """Display name of a mode, with its freeze depth where the user chose it."""
    if mode == "parameter" and freeze_depth:
        return f"parameter (freeze {freeze_depth})"
    return mode


def run_comparison(
    base_config: RunConfig,
    seeds: int | Sequence[int] = 3,
    modes: Sequence[str] = DEFAULT_COMPARE_MODES,
    run_callbacks: Callable[[RunConfig], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
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
        jobs: runs trained at once, in worker processes (`workbench.parallel`); with more than
            one, `run_callbacks` see epoch events only. Defaults to 1.

    Returns:
        The `Comparison` of every run that finished or was stopped, in seed-then-mode order.

    Raises:
        ConfigError: for an unknown mode or bad seeds, before any training.
    """
    seed_list = resolve_seeds(seeds)
    _check_modes(modes)
    prefix = base_config.name or f"compare-{_stamp()}"
    comparison = Comparison(base_config, seed_list, list(modes))
    configs = [config_for_mode(base_config, mode, seed=seed, name=f"{prefix}-{mode}-s{seed}")
               for seed in seed_list for mode in modes]
    done = (lambda index, run: on_run_done(run)) if on_run_done else None
    runs = train_runs(configs, jobs, run_callbacks, done, stop_event)
    comparison.runs = [run for run in runs if run is not None]
    comparison.stopped = bool(stop_event is not None and stop_event.is_set())
    return comparison


PARAMETER_ONLY_DEFAULTS = {"freeze_depth": None, "copy_depth": None, "block_lr": "uniform", "unfreeze": "none"}


def config_for_mode(base_config: RunConfig, mode: str, **changes: Any) -> RunConfig:
    """The base config for one mode of a study: settings that only parameter transfer accepts
    (freeze and copy depth, per-block rates, unfreezing) go back to their defaults for the
    feature and structure runs, so one study config drives every mode."""
    values: dict[str, Any] = {"kind": "transfer", "mode": mode}
    if mode != "parameter":
        values.update(PARAMETER_ONLY_DEFAULTS)
    return base_config.replace(**{**values, **changes})


def run_transfer_metrics(run: Run, baseline: Run, threshold: float | None = None) -> dict[str, float]:
    """Taylor & Stone's metrics of one run against a baseline run (validation curves, test finals)."""
    def curve(of: Run) -> list[float]:
        values = [row["val_accuracy"] for row in of.history]
        return values if values and not any(math.isnan(value) for value in values) else [row["accuracy"] for row in of.history]

    return transfer_metrics(curve(run), curve(baseline),
                            [row["seconds"] for row in run.history], [row["seconds"] for row in baseline.history],
                            threshold=threshold, transfer_final=run.test_accuracy, baseline_final=baseline.test_accuracy)


@dataclass
class Sweep:
    """Runs over a swept setting (freeze depth or label budget), several series, several seeds."""

    kind: str
    x_title: str
    base_config: RunConfig
    seeds: list[int]
    runs: list[Run] = field(default_factory=list)
    coordinates: list[dict[str, Any]] = field(default_factory=list)  # per run: series, x, seed
    stopped: bool = False

    def add(self, run: Run, series: str, x: float) -> None:
        """Record a finished run as a point of `series` at `x`."""
        self.runs.append(run)
        self.coordinates.append({"series": series, "x": x, "seed": int(run.config.get("seed", -1))})

    def points(self) -> list[dict[str, Any]]:
        """One point per (series, x): mean, sd and n of test accuracy over seeds, with the values."""
        grouped: dict[tuple[str, float], list[tuple[int, float, str]]] = {}
        for coordinate, run in zip(self.coordinates, self.runs):
            grouped.setdefault((coordinate["series"], coordinate["x"]), []).append(
                (coordinate["seed"], run.test_accuracy, run.name))
        points = []
        for (series, x), members in grouped.items():
            points.append({"series": series, "x": x, self.kind: x, **summarize([value for _, value, _ in members]),
                           "values": [value for _, value, _ in members], "seeds": [seed for seed, _, _ in members],
                           "runs": [name for _, _, name in members]})
        return sorted(points, key=lambda point: (point["series"], point["x"]))

    def describe(self) -> str:
        """How the numbers were obtained."""
        config = self.base_config
        budget = f"{config.per_class} labels per class" if config.per_class else "all labels"
        budget = "" if self.kind == "per_class" else f"{budget}, "
        return (f"{self.x_title} sweep: target {config.task}, {budget}{config.epochs} epochs, "
                f"lr {config.learning_rate:g}, seeds {', '.join(str(seed) for seed in self.seeds)}; "
                f"source {config.source}")

    def format_table(self) -> str:
        """The sweep as a text table: one line per series and setting, mean ± sd (n)."""
        lines = [self.describe(), "", f"{'series':<22} {self.x_title:>14} {'test accuracy':>17} {'n':>3}"]
        for point in self.points():
            lines.append(f"{point['series']:<22} {point['x']:>14g} {point['mean']:>8.3f} ± {point['sd']:<6.3f} {point['n']:>3}")
        if self.stopped:
            lines.append("(stopped early: not every point ran)")
        return "\n".join(lines)


SWEEP_SERIES_FROZEN = "frozen (AnB)"
SWEEP_SERIES_FINE_TUNED = "fine-tuned (AnB+)"


def sweep_freeze_depth(
    base_config: RunConfig,
    depths: Sequence[int] | None = None,
    seeds: int | Sequence[int] = 3,
    include_fine_tuned: bool = True,
    run_callbacks: Callable[[RunConfig], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run, Sweep], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
) -> Sweep:
    """Yosinski et al.'s (2014) study: copy the first n blocks, then freeze them (AnB) or fine-tune
    everything (AnB+), for each n, against the structure (from-scratch) baseline.

    Args:
        base_config: a transfer config (source, task, budget, epochs, …).
        depths: the n to try. Defaults to 0..(number of blocks below the head).
        seeds: a count or a list. Defaults to 3.
        include_fine_tuned: also run AnB+. Defaults to True.
        run_callbacks, on_run_done, stop_event, jobs: as for `run_comparison`.

    Returns:
        The sweep; the structure baseline is series "structure", repeated at every n.
    """
    from workbench.runs import load_run
    from workbench.transfer_modes import max_freeze_depth
    from workbench.models import model_blocks

    seed_list = resolve_seeds(seeds)
    deepest = max_freeze_depth(model_blocks(load_run(base_config.source, base_config.runs_dir).load_model()))
    depth_list = list(range(deepest + 1)) if depths is None else [int(depth) for depth in depths]
    bad = [depth for depth in depth_list if not 0 <= depth <= deepest]
    if bad or not depth_list:
        raise ConfigError(f"depths={depth_list} must lie in 0..{deepest} for this source model. Pass e.g. --depths 0,2,4.")
    prefix = base_config.name or f"sweep-depth-{_stamp()}"
    sweep = Sweep("freeze_depth", "freeze depth", base_config, seed_list)
    plan = []
    for seed in seed_list:
        plan.append(("structure", None, config_for_mode(base_config, "structure", seed=seed,
                                                        name=f"{prefix}-structure-s{seed}")))
        for depth in depth_list:
            plan.append((SWEEP_SERIES_FROZEN, depth, config_for_mode(
                base_config, "parameter", seed=seed, copy_depth=depth, freeze_depth=depth,
                name=f"{prefix}-frozen{depth}-s{seed}")))
            if include_fine_tuned:
                plan.append((SWEEP_SERIES_FINE_TUNED, depth, config_for_mode(
                    base_config, "parameter", seed=seed, copy_depth=depth, freeze_depth=0,
                    name=f"{prefix}-finetuned{depth}-s{seed}")))
    return _run_plan(sweep, plan, depth_list, run_callbacks, on_run_done, stop_event, jobs)


def sweep_label_budget(
    base_config: RunConfig,
    budgets: Sequence[int | None] = (1, 2, 5, 10, 25, 50, None),
    seeds: int | Sequence[int] = 3,
    modes: Sequence[str] = DEFAULT_COMPARE_MODES,
    run_callbacks: Callable[[RunConfig], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run, Sweep], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
) -> Sweep:
    """The data-efficiency curve: every mode at every labels-per-class budget, over seeds.

    Args:
        base_config: a transfer config.
        budgets: labels per class; None means every training example. Defaults to 1, 2, 5, 10, 25, 50, all.
        seeds: a count or a list. Defaults to 3.
        modes: modes to run. Defaults to structure, feature, parameter.
        run_callbacks, on_run_done, stop_event, jobs: as for `run_comparison`.

    Returns:
        The sweep, x = labels per class (for "all": the per-class count of the training pool).
    """
    seed_list = resolve_seeds(seeds)
    _check_modes(modes)
    budget_list = [None if budget in (None, "all") else int(budget) for budget in budgets]
    if not budget_list or any(budget is not None and budget < 1 for budget in budget_list):
        raise ConfigError(f"budgets={list(budgets)} must be positive integers or 'all'. Pass e.g. --budgets 1,5,25,all.")
    prefix = base_config.name or f"sweep-budget-{_stamp()}"
    sweep = Sweep("per_class", "labels per class", base_config, seed_list)
    plan = []
    for seed in seed_list:
        for budget in budget_list:
            for mode in modes:
                plan.append((mode, budget, config_for_mode(
                    base_config, mode, seed=seed, per_class=budget, name=f"{prefix}-{mode}-b{budget or 'all'}-s{seed}")))
    return _run_plan(sweep, plan, None, run_callbacks, on_run_done, stop_event, jobs)


def _run_plan(
    sweep: Sweep,
    plan: list[tuple[str, int | None, RunConfig]],
    repeat_at: list[int] | None,
    run_callbacks: Callable[[RunConfig], Sequence[Any]] | None,
    on_run_done: Callable[[Run, Sweep], None] | None,
    stop_event: threading.Event | None,
    jobs: int = 1,
) -> Sweep:
    def add(index: int, run: Run) -> None:
        series, x, _ = plan[index]
        if x is None and repeat_at is not None:
            for depth in repeat_at:  # the baseline does not depend on n: one run, drawn at every n
                sweep.add(run, series, depth)
        else:
            sweep.add(run, series, x if x is not None else _per_class_of(run))

    def done(index: int, run: Run) -> None:
        add(index, run)
        if on_run_done:
            on_run_done(run, sweep)

    runs = train_runs([config for _, _, config in plan], jobs, run_callbacks, done, stop_event)
    # Parallel runs finish in any order; the sweep keeps the plan's order, as a serial one would.
    sweep.runs, sweep.coordinates = [], []
    for index, run in enumerate(runs):
        if run is not None:
            add(index, run)
    sweep.stopped = bool(stop_event is not None and stop_event.is_set())
    return sweep


def _per_class_of(run: Run) -> float:
    data = run.manifest.get("data", {})
    return data.get("train_examples", 0) / max(1, len(data.get("classes", [])) or 1)


def _check_modes(modes: Sequence[str]) -> None:
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes:
        raise ConfigError(f"modes={list(modes)!r}: allowed modes are {', '.join(MODES)}. Pass e.g. --modes structure,parameter.")


def _stamp() -> str:
    # Seconds plus a random suffix: two studies started in the same second get different names.
    return f"{_datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
