"""Comparisons of transfer modes over seeds, and of named config variants (`run_variants`: arms
that may share a mode, such as structure edits); the sweeps (freeze depth, label budget) live in
`workbench.sweeps` and stay importable from here.

Every mode at a given seed sees the same splits and label budget (the draws depend only on the
seed), so differences between modes are differences between modes, not between samples; that is
also what makes the paired differences against the structure baseline honest.
"""

from __future__ import annotations

import datetime as _datetime
import math
import re
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.config import FIELD_NAMES, MODES, RunConfig, mode_label, resolve_seeds  # noqa: F401 - public here too
from workbench.errors import ConfigError
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
    failures: list[Any] = field(default_factory=list)  # engine.RunFailure: runs whose worker died

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
        baseline_runs = [run for run in self.runs if run.config.get("mode") == baseline]
        return {mode: pair_by_seed([run for run in self.runs if run.config.get("mode") == mode], baseline_runs)
                for mode in self.modes if mode != baseline}

    def describe(self) -> str:
        """How the numbers were obtained: task, budget, seeds, epochs, source."""
        return describe_setting(self.base_config, self.seeds)

    def format_table(self, detect: float | None = None) -> str:
        """The comparison as a text table: test accuracy mean ± sd (n) per mode, then each mode's
        paired difference from structure with its interval, verdict and what the seeds could
        have detected (80% power; seeds needed to detect `detect`, default 0.02)."""
        from workbench.engine import format_failures
        from workbench.text_tables import format_paired_differences, format_study_table

        return format_study_table(self.describe(), "mode", [(row["label"], row) for row in self.rows()],
                                  format_paired_differences(self.paired_differences(), "structure", detect),
                                  self.stopped, format_failures(self.failures))


def run_comparison(
    base_config: RunConfig,
    seeds: int | Sequence[int] = 3,
    modes: Sequence[str] = DEFAULT_COMPARE_MODES,
    run_callbacks: Callable[[RunConfig], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
    cluster: str | None = None,
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
        jobs: runs trained at once on this machine, by an embedded Dask cluster of that many
            worker processes (`workbench.engine`); with more than one, `run_callbacks` see epoch
            events only. Defaults to 1.
        cluster: a Dask scheduler address to train the runs on, "local", or None for the
            WORKBENCH_CLUSTER environment variable (`engine.train_runs`). Defaults to None.

    Returns:
        The `Comparison` of every run that finished or was stopped, in seed-then-mode order.

    Raises:
        ConfigError: for an unknown mode or bad seeds, before any training.
    """
    seed_list = resolve_seeds(seeds)
    check_modes(modes)
    prefix = base_config.name or f"compare-{study_stamp()}"
    comparison = Comparison(base_config, seed_list, list(modes))
    configs = [config_for_mode(base_config, mode, seed=seed, name=f"{prefix}-{mode}-s{seed}")
               for seed in seed_list for mode in modes]
    done = (lambda index, run: on_run_done(run)) if on_run_done else None
    from workbench.engine import train_runs  # here: reading a study's numbers needs no TensorFlow

    runs = train_runs(configs, jobs, run_callbacks, done, stop_event, cluster)
    comparison.runs = [run for run in runs if run is not None]
    comparison.failures = runs.failures
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


def check_modes(modes: Sequence[str]) -> None:
    """Refuse an empty mode list or an unknown mode, naming the allowed ones.

    Raises:
        ConfigError: naming the fix.
    """
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes:
        raise ConfigError(f"modes={list(modes)!r}: allowed modes are {', '.join(MODES)}. Pass e.g. --modes structure,parameter.")


def study_stamp() -> str:
    """A study's default name prefix: the start time plus a random suffix."""
    # Seconds plus a random suffix: two studies started in the same second get different names.
    return f"{_datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def pair_by_seed(runs: Sequence[Run], baseline_runs: Sequence[Run]) -> list[tuple[Run, Run]]:
    """Each run with the baseline run of the same seed (runs whose seed the baseline lacks drop out)."""
    by_seed = {run.config.get("seed"): run for run in baseline_runs}
    return [(run, by_seed[run.config.get("seed")]) for run in runs if run.config.get("seed") in by_seed]


def describe_setting(config: RunConfig, seeds: Sequence[int]) -> str:
    """How a study's numbers were obtained, e.g. "target T, 5 labels per class, 10 epochs, lr 0.001,
    seeds 0, 1, 2; source S"."""
    budget = f"{config.per_class} labels per class" if config.per_class else "all labels"
    epochs = f"{config.epochs} epoch{'' if config.epochs == 1 else 's'}"
    return (f"target {config.task}, {budget}, {epochs}, lr {config.learning_rate:g}, "
            f"seeds {', '.join(str(seed) for seed in seeds)}; source {config.source}")


# ------------------------------------------------------------------------------------------------
# Comparisons whose arms are named config variants (the structure study, workbench.structure_study)
# ------------------------------------------------------------------------------------------------


@dataclass
class VariantComparison:
    """The runs of a comparison whose arms are named config variants, and their statistics.

    Like `Comparison`, but an arm is any set of `RunConfig` changes (a mode, a freeze depth, a
    structure edit), so two arms may share a mode. Every arm runs at every seed on the same splits,
    so differences between arms at one seed are differences between arms; paired differences can
    be taken against any arm.

    Rows and paired differences carry the arm's name under "mode" as well as "arm": the comparison
    figures and tables read "mode" as the display name; "transfer_mode" is the run's own mode.
    """

    base_config: RunConfig
    seeds: list[int]
    variants: dict[str, dict[str, Any]]
    baseline: str
    runs_by_arm: dict[str, list[Run]] = field(default_factory=dict)
    stopped: bool = False
    failures: list[Any] = field(default_factory=list)  # engine.RunFailure: runs whose worker died

    @property
    def arms(self) -> list[str]:
        """The arms' names, in the order they were given."""
        return list(self.variants)

    @property
    def runs(self) -> list[Run]:
        """Every finished run, arm by arm."""
        return [run for arm in self.arms for run in self.runs_by_arm.get(arm, [])]

    def rows(self) -> list[dict[str, Any]]:
        """One row per arm: its settings, and mean, sample sd and n of test accuracy over seeds."""
        rows = []
        for arm, changes in self.variants.items():
            runs = self.runs_by_arm.get(arm, [])
            values = [run.test_accuracy for run in runs]
            report = runs[0].transfer_report if runs and runs[0].transfer_report else {}
            rows.append({
                "arm": arm, "mode": arm, "label": arm,
                "transfer_mode": changes.get("mode", self.base_config.mode),
                "freeze_depth": report.get("freeze_depth", changes.get("freeze_depth")),
                "edits": report.get("edits", changes.get("edits", "")),
                **summarize(values),
                "values": values,
                "seeds": [int(run.config.get("seed", -1)) for run in runs],
                "runs": [run.name for run in runs],
            })
        return rows

    def paired_differences(self, baseline: str | None = None) -> list[dict[str, Any]]:
        """Per other arm: test accuracy minus the baseline arm's at the same seed, mean with a 95%
        t-interval and the smallest difference the pairs could detect (`statistics.paired_difference`).

        Args:
            baseline: the arm to subtract. Defaults to the comparison's baseline.
        """
        baseline = self.baseline if baseline is None else baseline
        baseline_runs = self.runs_by_arm.get(baseline, [])
        results = []
        for arm in self.arms:
            if arm == baseline:
                continue
            pairs = pair_by_seed(self.runs_by_arm.get(arm, []), baseline_runs)
            difference = paired_difference([run.test_accuracy for run, _ in pairs],
                                           [base.test_accuracy for _, base in pairs])
            results.append({"arm": arm, "mode": arm, "baseline": baseline, **difference})
        return results

    def describe(self) -> str:
        """How the numbers were obtained: task, budget, seeds, epochs, source."""
        return describe_setting(self.base_config, self.seeds)

    def format_table(self, detect: float | None = None) -> str:
        """The comparison as a text table: test accuracy mean ± sd (n) per arm, then each arm's
        paired difference from the baseline with its interval, verdict and what the seeds could
        have detected (80% power; seeds needed to detect `detect`, default 0.02)."""
        from workbench.engine import format_failures
        from workbench.text_tables import format_paired_differences, format_study_table

        return format_study_table(self.describe(), "arm", [(row["arm"], row) for row in self.rows()],
                                  format_paired_differences(self.paired_differences(), self.baseline, detect),
                                  self.stopped, format_failures(self.failures))


def run_variants(
    base_config: RunConfig,
    variants: Mapping[str, Mapping[str, Any]],
    seeds: int | Sequence[int] = 3,
    baseline: str | None = None,
    run_callbacks: Callable[[RunConfig], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
    cluster: str | None = None,
) -> VariantComparison:
    """Run every named config variant (arm) at every seed on identical splits and collect the results.

    Example: `run_variants(base, {"structure": {"mode": "structure"}, "cut": {"edits": "cut conv2"}})`.

    Args:
        base_config: a transfer config; each arm's changes are applied to it (settings that only
            parameter transfer accepts go back to their defaults for other modes, as in
            `config_for_mode`), its seed is replaced per run, and its `name` (if any) becomes the
            prefix of the run names ("<prefix>-<arm>-s<seed>").
        variants: arm name → `RunConfig` field changes (`mode`, `freeze_depth`, `edits`, ...).
        seeds: a count (seeds 0..n-1) or a list of seeds. Defaults to 3.
        baseline: the arm the paired differences subtract. Defaults to the first arm.
        run_callbacks: makes extra Keras callbacks for each run (progress bars, live curves).
        on_run_done: called with each finished run.
        stop_event: once set, the current run stops and no further run starts.
        jobs: runs trained at once on this machine (an embedded Dask cluster). Defaults to 1.
        cluster: a Dask scheduler address, "local", or None for WORKBENCH_CLUSTER. Defaults to None.

    Returns:
        The `VariantComparison` of every run that finished or was stopped.

    Raises:
        ConfigError: no arms, an unknown field or bad value in an arm, arm names that make the same
            run name, an unknown baseline, or bad seeds, all before any training.
    """
    seed_list = resolve_seeds(seeds)
    baseline = check_variants(variants, baseline)
    prefix = base_config.name or f"variants-{study_stamp()}"
    plan = [(arm, variant_config(base_config, changes, seed=seed, name=f"{prefix}-{arm_slug(arm)}-s{seed}"))
            for seed in seed_list for arm, changes in variants.items()]
    comparison = VariantComparison(base_config, seed_list, {arm: dict(changes) for arm, changes in variants.items()},
                                   baseline)
    done = (lambda index, run: on_run_done(run)) if on_run_done else None
    from workbench.engine import train_runs  # here: reading a study's numbers needs no TensorFlow

    runs = train_runs([config for _, config in plan], jobs, run_callbacks, done, stop_event, cluster)
    for (arm, _), run in zip(plan, runs):
        if run is not None:
            comparison.runs_by_arm.setdefault(arm, []).append(run)
    comparison.failures = runs.failures
    comparison.stopped = bool(stop_event is not None and stop_event.is_set())
    return comparison


def variant_config(base_config: RunConfig, changes: Mapping[str, Any], **more: Any) -> RunConfig:
    """The config of one arm: `config_for_mode` with the arm's mode (default the base's), then its
    other changes and `more` (seed, name).

    Raises:
        ConfigError: for an unknown field (naming the allowed ones) or a bad value.
    """
    unknown = sorted(str(key) for key in changes if key not in FIELD_NAMES)
    if unknown:
        raise ConfigError(f"Unknown setting(s) {', '.join(unknown)} in a variant. Allowed settings: "
                          f"{', '.join(FIELD_NAMES)}. Check the spelling, e.g. "
                          "{'mode': 'parameter', 'freeze_depth': 2}.")
    values = {key: value for key, value in changes.items() if key != "mode"}
    return config_for_mode(base_config, str(changes.get("mode", base_config.mode)), **{**values, **more})


def check_variants(variants: Mapping[str, Mapping[str, Any]], baseline: str | None) -> str:
    """Refuse no arms, an arm that is not a mapping, arm names that make the same run name, or an
    unknown baseline; return the baseline arm (the first arm when None).

    Raises:
        ConfigError: naming the fix.
    """
    if not variants:
        raise ConfigError("A comparison of variants needs at least one arm. Pass e.g. "
                          "{'structure': {'mode': 'structure'}, 'parameter': {'mode': 'parameter'}}.")
    slugs: dict[str, str] = {}
    for arm, changes in variants.items():
        if not isinstance(changes, Mapping):
            raise ConfigError(f"Variant {arm!r} is {changes!r}, not a mapping of settings. Pass e.g. "
                              "{'mode': 'parameter', 'freeze_depth': 2}.")
        slug = arm_slug(arm)
        if slug in slugs:
            raise ConfigError(f"Variants {slugs[slug]!r} and {arm!r} would name their runs alike ({slug!r}). "
                              "Give the arms names that differ in their letters or digits.")
        slugs[slug] = str(arm)
    chosen = next(iter(variants)) if baseline is None else baseline
    if chosen not in variants:
        raise ConfigError(f"baseline={baseline!r} is not one of the arms ({', '.join(map(repr, variants))}). "
                          "Pass one of them, or leave it out to take the first.")
    return chosen


def arm_slug(arm: str) -> str:
    """An arm's name as it appears in run names: letters, digits, '-' and '_' ("cut + new top" → "cut-new-top")."""
    return re.sub(r"[^A-Za-z0-9_]+", "-", str(arm)).strip("-") or "arm"


# The sweeps moved to workbench.sweeps; their names stay importable from here (scripts import them).
_SWEEP_NAMES = ("Sweep", "sweep_freeze_depth", "sweep_label_budget", "SWEEP_SERIES_FROZEN", "SWEEP_SERIES_FINE_TUNED")


def __getattr__(name: str) -> Any:
    if name in _SWEEP_NAMES:
        import workbench.sweeps

        return getattr(workbench.sweeps, name)
    raise AttributeError(f"module 'workbench.experiments' has no attribute {name!r}")
