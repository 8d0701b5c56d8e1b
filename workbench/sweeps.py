"""Sweeps: one setting (freeze depth or label budget) varied over several series and seeds, and
their statistics (points in plan order, paired differences against the baseline, key figures).

Every run of a sweep at a given seed sees the same splits and label budget as the baseline at that
seed, so each point's difference from the baseline is a paired difference.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.config import RunConfig, parse_int_list, resolve_seeds
from workbench.errors import ConfigError
from workbench.experiments import DEFAULT_COMPARE_MODES, check_modes, config_for_mode, study_stamp
from workbench.formatting import format_interval, format_mean_sd, format_number, to_float
from workbench.runs import Run
from workbench.statistics import DEFAULT_DETECT, paired_difference, seeds_needed, summarize

BASELINE_SERIES = "structure"


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
    failures: list[Any] = field(default_factory=list)  # engine.RunFailure: runs whose worker died

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

    def ordered_points(self) -> list[dict[str, Any]]:
        """`points()` with the series in the order they ran (baseline first), not alphabetical, so
        legends and tables read structure, then the transfer series."""
        order = list(dict.fromkeys(coordinate["series"] for coordinate in self.coordinates))
        return sorted(self.points(), key=lambda point: (order.index(point["series"]), point["x"]))

    def differences(self, baseline: str = BASELINE_SERIES, confidence: float = 0.95) -> list[dict[str, Any]]:
        """Each point minus the baseline at the same x and seed: mean, sd, n and a t-interval.

        Seeds without a baseline run at that x are left out of the pairs (n says how many remain).

        Returns:
            One dict per non-baseline point: series, x, the sweep's x key, baseline, mean, sd, n,
            low, high, confidence, significant.
        """
        points = self.ordered_points()
        reference = {point["x"]: dict(zip(point["seeds"], point["values"])) for point in points
                     if point["series"] == baseline}
        differences = []
        for point in points:
            if point["series"] == baseline:
                continue
            base = reference.get(point["x"], {})
            pairs = [(value, base[seed]) for seed, value in zip(point["seeds"], point["values"]) if seed in base]
            result = paired_difference([value for value, _ in pairs], [value for _, value in pairs], confidence)
            differences.append({"series": point["series"], "x": point["x"], self.kind: point["x"],
                                "baseline": baseline, **result})
        return differences

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
            lines.append(f"{point['series']:<22} {point['x']:>14g} {format_mean_sd(point, with_n=False):>17} {point['n']:>3}")
        if self.stopped:
            lines.append("(stopped early: not every point ran)")
        from workbench.engine import format_failures

        return "\n".join(lines + format_failures(self.failures))


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
    cluster: str | None = None,
) -> Sweep:
    """Yosinski et al.'s (2014) study: copy the first n blocks, then freeze them (AnB) or fine-tune
    everything (AnB+), for each n, against the structure (from-scratch) baseline.

    Args:
        base_config: a transfer config (source, task, budget, epochs, …).
        depths: the n to try. Defaults to 0..(number of blocks below the head).
        seeds: a count or a list. Defaults to 3.
        include_fine_tuned: also run AnB+. Defaults to True.
        run_callbacks, on_run_done, stop_event, jobs, cluster: as for `run_comparison`.

    Returns:
        The sweep; the structure baseline is series "structure", repeated at every n.
    """
    from workbench.runs import load_run
    from workbench.transfer_modes import max_freeze_depth
    from workbench.structure.builder import edited_blocks

    seed_list = resolve_seeds(seeds)
    # Depths count the blocks of the network that trains: the source's, or the edited one's.
    source_model = load_run(base_config.source, base_config.runs_dir).load_model()
    deepest = max_freeze_depth(edited_blocks(source_model, base_config.edits))
    fix = f"Pass depths in 0..{deepest} for this source model, e.g. --depths 0,2,4."
    depth_list = list(range(deepest + 1)) if depths is None else parse_int_list(list(depths), "depths", fix=fix)
    bad = [depth for depth in depth_list if depth > deepest]
    if bad:
        raise ConfigError(f"depths={depth_list} must lie in 0..{deepest} for this source model. Pass e.g. --depths 0,2,4.")
    prefix = base_config.name or f"sweep-depth-{study_stamp()}"
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
    return _run_plan(sweep, plan, depth_list, run_callbacks, on_run_done, stop_event, jobs, cluster)


def sweep_label_budget(
    base_config: RunConfig,
    budgets: Sequence[int | None] = (1, 2, 5, 10, 25, 50, None),
    seeds: int | Sequence[int] = 3,
    modes: Sequence[str] = DEFAULT_COMPARE_MODES,
    run_callbacks: Callable[[RunConfig], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run, Sweep], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
    cluster: str | None = None,
) -> Sweep:
    """The data-efficiency curve: every mode at every labels-per-class budget, over seeds.

    Args:
        base_config: a transfer config.
        budgets: labels per class; None means every training example. Defaults to 1, 2, 5, 10, 25, 50, all.
        seeds: a count or a list. Defaults to 3.
        modes: modes to run. Defaults to structure, feature, parameter.
        run_callbacks, on_run_done, stop_event, jobs, cluster: as for `run_comparison`.

    Returns:
        The sweep, x = labels per class (for "all": the per-class count of the training pool).
    """
    seed_list = resolve_seeds(seeds)
    check_modes(modes)
    budget_list = parse_int_list(list(budgets), "budgets", allow_all=True, minimum=1,
                                 fix="Pass e.g. --budgets 1,5,25,all.")
    prefix = base_config.name or f"sweep-budget-{study_stamp()}"
    sweep = Sweep("per_class", "labels per class", base_config, seed_list)
    plan = []
    for seed in seed_list:
        for budget in budget_list:
            for mode in modes:
                plan.append((mode, budget, config_for_mode(
                    base_config, mode, seed=seed, per_class=budget, name=f"{prefix}-{mode}-b{budget or 'all'}-s{seed}")))
    return _run_plan(sweep, plan, None, run_callbacks, on_run_done, stop_event, jobs, cluster)


def _run_plan(
    sweep: Sweep,
    plan: list[tuple[str, int | None, RunConfig]],
    repeat_at: list[int] | None,
    run_callbacks: Callable[[RunConfig], Sequence[Any]] | None,
    on_run_done: Callable[[Run, Sweep], None] | None,
    stop_event: threading.Event | None,
    jobs: int = 1,
    cluster: str | None = None,
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

    from workbench.engine import train_runs  # here: reading a study's numbers needs no TensorFlow

    runs = train_runs([config for _, _, config in plan], jobs, run_callbacks, done, stop_event, cluster)
    sweep.failures = runs.failures
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




# ------------------------------------------------------------------------------------------------
# Key figures (metrics.json, the report index)
# ------------------------------------------------------------------------------------------------


def depth_sweep_metrics(
    sweep: Sweep, baseline: str = BASELINE_SERIES, detect: float = DEFAULT_DETECT
) -> dict[str, Any]:
    """Key numbers of a freeze-depth sweep for `metrics.json`.

    Args:
        sweep: a freeze-depth `Sweep`.
        baseline: the reference series. Defaults to "structure".
        detect: the difference for the seeds-needed estimate. Defaults to 0.02.

    Returns:
        `structure_accuracy` ({mean, sd, n}); `best_depth`: per transfer series, the n with the
        highest mean ("blocks copied"), its "test accuracy" and its paired "difference vs
        structure" ({mean, sd, n, low, high, ..., detectable, seeds_to_detect}) with the
        "difference 95% CI" as text and what the study could have seen (`power_figures`);
        `deepest`: the same at the largest n; `points`: every point (left out of the index, kept
        for scripts).
    """
    points = sweep.ordered_points()
    differences = {(row["series"], row["x"]): row for row in sweep.differences(baseline)}
    base = next((point for point in points if point["series"] == baseline), None)
    metrics: dict[str, Any] = {}
    if base is not None:
        metrics["structure_accuracy"] = summary_of(base)
    best: dict[str, Any] = {}
    deepest: dict[str, Any] = {}
    for series in dict.fromkeys(point["series"] for point in points if point["series"] != baseline):
        members = [point for point in points if point["series"] == series and math.isfinite(to_float(point["mean"]))]
        if not members:
            continue
        for target, chosen in ((best, max(members, key=lambda point: point["mean"])),
                               (deepest, max(members, key=lambda point: point["x"]))):
            target[series] = {"blocks copied": whole_if_integral(chosen["x"]), "test accuracy": summary_of(chosen)}
            difference = differences.get((series, chosen["x"]))
            if difference is not None:
                target[series].update(_paired_fields(difference, "difference vs structure", "difference 95% CI",
                                                     detect))
    metrics["best_depth"] = best
    metrics["deepest"] = deepest
    metrics["points"] = [_point_record(point) for point in points]
    return metrics


def budget_sweep_metrics(
    sweep: Sweep, baseline: str = BASELINE_SERIES, detect: float = DEFAULT_DETECT
) -> dict[str, Any]:
    """Key numbers of a label-budget sweep for `metrics.json`.

    Args:
        sweep: a label-budget `Sweep`.
        baseline: the reference series. Defaults to "structure".
        detect: the difference for the seeds-needed estimate. Defaults to 0.02.

    Returns:
        `best_mode_by_budget`: per budget ("5 per class"), the "best mode" (highest mean test
        accuracy), its "test accuracy" ({mean, sd, n}) and, unless it is the baseline, its paired
        "gain over structure" ({mean, sd, n, low, high, ..., detectable, seeds_to_detect}) with
        the "gain 95% CI" as text and what the study could have seen (`power_figures`);
        `points`: every point.
    """
    points = sweep.ordered_points()
    differences = {(row["series"], row["x"]): row for row in sweep.differences(baseline)}
    by_budget: dict[str, Any] = {}
    for x in sorted(dict.fromkeys(point["x"] for point in points)):
        members = [point for point in points if point["x"] == x and math.isfinite(to_float(point["mean"]))]
        if not members:
            continue
        chosen = max(members, key=lambda point: point["mean"])
        entry: dict[str, Any] = {"best mode": chosen["series"], "test accuracy": summary_of(chosen)}
        difference = differences.get((chosen["series"], x))
        if difference is not None:
            entry.update(_paired_fields(difference, "gain over structure", "gain 95% CI", detect))
        by_budget[f"{whole_if_integral(x)} per class"] = entry
    return {"best_mode_by_budget": by_budget, "points": [_point_record(point) for point in points]}


def _paired_fields(difference: Mapping[str, Any], name: str, interval_name: str, detect: float) -> dict[str, Any]:
    """A key figure's paired difference: its summary under `name`, its 95% interval as text under
    `interval_name`, and what the study could have seen (`power_figures`)."""
    return {name: difference_summary(difference, detect), interval_name: format_interval(difference),
            **power_figures(difference, detect)}


def summary_of(point: Mapping[str, Any]) -> dict[str, Any]:
    """`{mean, sd, n}` of a point or row."""
    return {"mean": point["mean"], "sd": point["sd"], "n": point["n"]}


def difference_summary(difference: Mapping[str, Any], detect: float = DEFAULT_DETECT) -> dict[str, Any]:
    """A paired difference without its labels: mean, sd, n, low, high, confidence, significant,
    detectable (the smallest difference 80% power would catch; NaN below n = 2), and
    seeds_to_detect: {"difference": detect, "seeds": pairs needed, None when not computable}."""
    summary = {key: difference[key] for key in ("mean", "sd", "n", "low", "high", "confidence", "significant")}
    summary["detectable"] = difference.get("detectable", math.nan)
    summary["seeds_to_detect"] = {"difference": detect, "seeds": _seeds_for(difference, detect)}
    return summary


def power_figures(difference: Mapping[str, Any], detect: float = DEFAULT_DETECT) -> dict[str, Any]:
    """What a paired comparison could have seen, as two key figures the report index shows:
    "detectable difference (80% power)" and "seeds to detect <detect>" (None where n < 2)."""
    return {"detectable difference (80% power)": difference.get("detectable", math.nan),
            f"seeds to detect {format_number(detect)}": _seeds_for(difference, detect)}


def _seeds_for(difference: Mapping[str, Any], detect: float) -> int | None:
    if int(difference.get("n") or 0) < 2:
        return None
    return seeds_needed(detect, difference["sd"], alpha=1 - float(difference.get("confidence", 0.95)))


def whole_if_integral(value: Any) -> Any:
    """5.0 → 5 (a depth or budget shown as the whole number it is); anything else unchanged."""
    number = to_float(value)
    return int(number) if math.isfinite(number) and number == int(number) else value


def _point_record(point: Mapping[str, Any]) -> dict[str, Any]:
    return {key: point[key] for key in ("series", "x", "mean", "sd", "n", "values", "seeds")}


# --------------------------------------------------------------------------------------------
# Sweep planning for the panel's run count (moved here from workbench.panels in issue #11;
# appended as one block).
# --------------------------------------------------------------------------------------------


def count_sweep_runs(kind: str, values: Sequence[int | None], seeds: Sequence[int], modes: Sequence[str] = (),
                     include_fine_tuned: bool = True) -> int:
    """How many runs a sweep trains if nobody stops it.

    A freeze-depth sweep trains its structure baseline once per seed (it is drawn at every depth),
    then AnB (and AnB+) per depth; a label-budget sweep trains every mode at every budget.

    Args:
        kind: "freeze_depth" or "per_class".
        values: the depths or budgets.
        seeds: the seeds.
        modes: the label-budget sweep's modes. Defaults to none.
        include_fine_tuned: whether the depth sweep also runs AnB+. Defaults to True.
    """
    if kind == "freeze_depth":
        return len(seeds) * (1 + len(values) * (2 if include_fine_tuned else 1))
    return len(seeds) * len(values) * len(modes)
