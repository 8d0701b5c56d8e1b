"""The structure study (report 06, `workbench.api.compare_structures`): ways of carrying a source
network's architecture to the target, compared on identical splits over seeds.

The arms (`structure_arms`), each a set of `RunConfig` changes run by `experiments.run_variants`:

| arm | what moves (the three transfers train above the freeze depth) |
|---|---|
| structure (fresh weights) | the architecture, freshly initialised: the baseline, trains everything |
| parameter | every weight that fits |
| cut + new top | the blocks up to the cut, with their weights; new blocks on top (`cut conv2; add dense 64`) |
| widened (Net2Net) | every weight, a block widened to compute the same function (`widen dense1 to 128`) |

Besides the accuracies, the study reads what each arm's transfer moved (`transfer_summary`: kept,
cut, added, grown and copied layers, trainable and frozen parameters) and checks the widened
arm's growth for function preservation (`function_preservation`: the grown network with the
source's own head against the source, on target images, before any training).

Reading numbers needs no TensorFlow; the pre-flight check and the function-preservation check
import it when called.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from workbench.config import RunConfig, mode_label, resolve_seeds
from workbench.errors import ConfigError
from workbench.experiments import VariantComparison, run_variants, variant_config
from workbench.runs import Run, as_run
from workbench.statistics import DEFAULT_DETECT
from workbench.sweeps import difference_summary, power_figures

FRESH_ARM = "structure (fresh weights)"
CUT_ARM = "cut + new top"
WIDENED_ARM = "widened (Net2Net)"
DEFAULT_CUT_EDITS = "cut conv2; add dense 64"
DEFAULT_WIDEN_EDITS = "widen dense1 to 128"
PRESERVATION_IMAGES = 256
# What the edits did to each layer of a weight-transfer report (`transfer_summary`).
EDIT_KINDS = ("kept", "cut", "added", "grown")
GROWN_PREFIX = "grown"


def parameter_arm(freeze_depth: int | None = None) -> str:
    """The plain parameter-transfer arm's name: "parameter", or "parameter (freeze 2)"."""
    return mode_label("parameter", freeze_depth)


def structure_arms(
    freeze_depth: int | None = None,
    cut_edits: str | None = DEFAULT_CUT_EDITS,
    widen_edits: str | None = DEFAULT_WIDEN_EDITS,
    grow_noise: float = 0.0,
) -> dict[str, dict[str, Any]]:
    """The arms of the structure study, baseline first: fresh weights, plain parameter transfer,
    cut-and-new-top and the widened (Net2Net) transfer.

    Args:
        freeze_depth: leading blocks frozen in the three parameter-transfer arms, counted on each
            arm's own (edited) blocks; None fine-tunes everything. Defaults to None.
        cut_edits: the cut-and-new-top arm's structure edits; "" or None leaves the arm out.
            Defaults to "cut conv2; add dense 64".
        widen_edits: the widened arm's edits; "" or None leaves the arm out. Defaults to
            "widen dense1 to 128".
        grow_noise: the widened arm's Net2Net noise (`RunConfig.grow_noise`). Defaults to 0.0.

    Returns:
        Arm name → `RunConfig` changes, for `experiments.run_variants`.
    """
    # Every arm names its edits and noise, so that a base config that carries some changes no arm.
    plain = {"edits": "", "grow_noise": 0.0}
    transfer = {"mode": "parameter", "freeze_depth": freeze_depth, **plain}
    arms: dict[str, dict[str, Any]] = {FRESH_ARM: {"mode": "structure", **plain},
                                       parameter_arm(freeze_depth): dict(transfer)}
    if cut_edits:
        arms[CUT_ARM] = {**transfer, "edits": cut_edits}
    if widen_edits:
        arms[WIDENED_ARM] = {**transfer, "edits": widen_edits, "grow_noise": grow_noise}
    return arms


def run_structure_study(
    base_config: RunConfig,
    seeds: int | Sequence[int] = 3,
    freeze_depth: int | None = None,
    cut_edits: str | None = DEFAULT_CUT_EDITS,
    widen_edits: str | None = DEFAULT_WIDEN_EDITS,
    grow_noise: float = 0.0,
    run_callbacks: Callable[[RunConfig], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
    cluster: str | None = None,
) -> VariantComparison:
    """Train every arm of `structure_arms` at every seed; paired differences are taken against the
    fresh-weights baseline.

    Every arm's edited network is built once before the first run trains (`check_arm_models`), so
    an edit the source network cannot take stops the study before any run directory exists.

    Args:
        base_config: a transfer config (source, task, budget, epochs, ...); `name` prefixes the runs.
        seeds: a count or a list of seeds. Defaults to 3.
        freeze_depth, cut_edits, widen_edits, grow_noise: see `structure_arms`.
        run_callbacks, on_run_done, stop_event, jobs, cluster: as `experiments.run_variants`.

    Returns:
        The `VariantComparison`, baseline `FRESH_ARM`.

    Raises:
        ConfigError: a bad edit, freeze depth or seed, before any training.
    """
    resolve_seeds(seeds)  # bad seeds first: the pre-flight check loads the source model
    arms = structure_arms(freeze_depth, cut_edits, widen_edits, grow_noise)
    check_arm_models(base_config, arms)
    return run_variants(base_config, arms, seeds, FRESH_ARM, run_callbacks, on_run_done, stop_event, jobs, cluster)


def check_arm_models(base_config: RunConfig, arms: Mapping[str, Mapping[str, Any]]) -> None:
    """Build the network of every arm that edits the structure from the source model, without
    training or writing anything: a bad edit (an unknown block, a cut at the head, a narrower
    widen, a freeze depth beyond the edited blocks) raises here, before the study's first run.

    Raises:
        ConfigError: from the first arm whose edits the source network cannot take.
        SourceRunError: when the source run does not exist.
    """
    from workbench.transfer_modes import transfer_model_for

    edited = {arm: changes for arm, changes in arms.items() if changes.get("edits")}
    if not edited:
        return
    source_model = as_run(str(base_config.source), base_config.runs_dir).load_model(shared=True)
    for arm, changes in edited.items():
        config = variant_config(base_config, changes)
        try:
            transfer_model_for(source_model, config, int(source_model.output_shape[-1]))
        except ConfigError as error:  # say which arm: the freeze depth may suit the others
            raise ConfigError(f"The {arm!r} arm ({config.edits}): {error}") from None


# ------------------------------------------------------------------------------------------------
# Function preservation of a grown network
# ------------------------------------------------------------------------------------------------


def function_preservation(
    source: Run | str,
    edits: str,
    task: str,
    grow_noise: float = 0.0,
    count: int = PRESERVATION_IMAGES,
    seed: int = 0,
    runs_dir: str = "runs",
    data_root: str | None = None,
) -> dict[str, Any]:
    """How far a grown network's function is from the source's before any training: the largest
    |logit difference| on target test images.

    The grown network keeps the source's own head (as many classes as the source), so that the
    two compute comparable logits whatever the target's classes: Net2Net growth
    (`widen`, `deepen`) with `grow_noise=0` should leave every logit unchanged to float precision.

    Args:
        source: the source run (or its name or path).
        edits: the structure edits to grow the source with, e.g. "widen dense1 to 128".
        task: the target task whose test images are fed to both networks.
        grow_noise: Net2Net noise (`RunConfig.grow_noise`). Defaults to 0.0.
        count: test images used (the first `count` of the split). Defaults to 256.
        seed: the split's and the growth's seed. Defaults to 0.
        runs_dir: where a bare run name is looked up. Defaults to "runs".
        data_root: a folder copy of the task's keras.datasets dataset. Defaults to None.

    Returns:
        edits (canonical), grow_noise, task, images, max_abs_logit_difference, max_abs_logit (the
        largest source logit, for scale) and grown_layers (the layers the report marks grown).

    Raises:
        ConfigError: for edits the source network cannot take.
    """
    import numpy as np

    from workbench.data import make_pipeline, prepare_task
    from workbench.transfer_modes import transfer_model

    run = as_run(source, runs_dir)
    source_model = run.load_model(shared=True)
    grown, report = transfer_model(source_model, "parameter", int(source_model.output_shape[-1]), seed=seed,
                                   edits=edits, grow_noise=grow_noise)
    images, labels = prepare_task(task, None, 0.1, seed, data_root).test
    images, labels = images[:count], labels[:count]

    def logits(model: Any) -> Any:
        shape = tuple(int(size) for size in model.input_shape[1:])
        return model.predict(make_pipeline(images, labels, shape, 64), verbose=0)

    before = logits(source_model)
    difference = np.abs(logits(grown) - before)
    return {
        "edits": report.get("edits", edits),
        "grow_noise": float(grow_noise),
        "task": task,
        "images": int(len(labels)),
        "max_abs_logit_difference": float(difference.max()) if difference.size else math.nan,
        "max_abs_logit": float(np.abs(before).max()) if before.size else math.nan,
        "grown_layers": [row["layer"] for row in report.get("layers", [])
                         if str(row.get("edit", "")).startswith(GROWN_PREFIX)],
    }


# ------------------------------------------------------------------------------------------------
# What each arm's transfer moved
# ------------------------------------------------------------------------------------------------


def transfer_summary(report: Mapping[str, Any] | None) -> dict[str, Any]:
    """Count what a weight-transfer report did with the new model's and the source's layers.

    The report's own counts (`report["structure"]`, what `workbench transfer` prints) are used
    where present; a report without them (a run from before structure edits) is counted from its
    rows, every layer kept.

    Args:
        report: a run's transfer report (`transfer_modes.transfer_model`).

    Returns:
        edits (the canonical text, "" for none), kept, cut, added, grown (layers by what the
        edits did to them), copied (layers whose weights were copied from the source as they
        were), trainable_params and frozen_params (of the new model).
    """
    report = report or {}
    counts = report.get("structure")
    if not counts:
        counts = dict.fromkeys(EDIT_KINDS, 0)
        for row in report.get("layers", []):
            edit = str(row.get("edit") or "kept")
            kind = GROWN_PREFIX if edit.startswith(GROWN_PREFIX) else edit  # "grown (function-preserving)"
            counts[kind] = counts.get(kind, 0) + 1
        counts["copied"] = sum(1 for row in report.get("layers", []) if row.get("action") == "copied")
    return {"edits": report.get("edits", ""), **{kind: int(counts.get(kind) or 0) for kind in (*EDIT_KINDS, "copied")},
            "trainable_params": int(report.get("trainable_params") or 0),
            "frozen_params": int(report.get("frozen_params") or 0)}


def transfer_summary_rows(comparison: VariantComparison) -> list[dict[str, Any]]:
    """One table row per arm, from its first run's transfer report: edits, layers kept, cut,
    added, grown and copied, trainable and frozen parameters."""
    rows = []
    for arm in comparison.arms:
        runs = comparison.runs_by_arm.get(arm, [])
        summary = transfer_summary(runs[0].transfer_report if runs else None)
        rows.append({"arm": arm, "edits": summary["edits"] or "—",
                     **{f"layers {kind}": summary[kind] for kind in (*EDIT_KINDS, "copied")},
                     "trainable params": summary["trainable_params"], "frozen params": summary["frozen_params"]})
    return rows


# ------------------------------------------------------------------------------------------------
# Tables and key figures
# ------------------------------------------------------------------------------------------------


def variant_rows(comparison: VariantComparison) -> list[dict[str, Any]]:
    """The arms as table rows: arm, mode, edits, freeze depth, mean, sd, n and per-seed values."""
    return [{"arm": row["arm"], "mode": row["transfer_mode"], "edits": row["edits"] or "—",
             "freeze depth": row["freeze_depth"], "test accuracy (mean)": row["mean"], "sd": row["sd"],
             "n (seeds)": row["n"], "per seed": row["values"]} for row in comparison.rows()]


def variant_difference_rows(comparison: VariantComparison, baseline: str | None = None,
                            detect: float = DEFAULT_DETECT) -> list[dict[str, Any]]:
    """Table rows of each arm's paired difference from the baseline arm (same seed): mean ± sd,
    95% CI, n, verdict, the smallest difference the seeds could detect and the seeds to detect
    `detect` (`study_tables.paired_difference_rows`, with the arm in the first column)."""
    from workbench.study_tables import paired_difference_rows

    baseline = comparison.baseline if baseline is None else baseline
    return [{"arm": row.pop("mode"), **row} for row in paired_difference_rows(comparison, baseline, detect)]


def structure_study_metrics(comparison: VariantComparison, preservation: Mapping[str, Any] | None = None,
                            detect: float = DEFAULT_DETECT) -> dict[str, Any]:
    """Key numbers of the study for `metrics.json`: test accuracy per arm (mean, sd, n, per-seed
    values and seeds), the best arm, each arm's paired difference from the baseline (with its 95%
    interval, detectable difference and seeds to detect `detect`), each arm's trainable parameters
    and, when given, the function-preservation check."""
    rows = comparison.rows()
    metrics: dict[str, Any] = {
        "test_accuracy": {row["arm"]: {key: row[key] for key in ("mean", "sd", "n", "values", "seeds")}
                          for row in rows},
        "baseline_arm": comparison.baseline,
    }
    finite = {row["arm"]: row["mean"] for row in rows if math.isfinite(row["mean"])}
    if finite:
        metrics["best_arm"] = max(finite, key=finite.get)
    paired = [row for row in comparison.paired_differences() if row["n"]]
    metrics["difference_vs_baseline"] = {row["arm"]: difference_summary(row, detect) for row in paired}
    for row in paired:
        for name, value in power_figures(row, detect).items():
            metrics.setdefault(name, {})[row["arm"]] = value
    metrics["trainable_params"] = {row["arm"]: row["trainable params"] for row in transfer_summary_rows(comparison)}
    if preservation is not None:
        metrics["function_preservation"] = {key: preservation[key] for key in (
            "edits", "grow_noise", "images", "max_abs_logit_difference", "max_abs_logit")}
    return metrics
