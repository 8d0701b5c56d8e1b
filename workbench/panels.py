"""The JupyterLab panel: pick a source run, a transfer mode and a freeze depth; start and stop runs;
watch their accuracy and loss curves overlaid live; read the results table and the weight-transfer
report. `workbench.panel()` builds one; the last expression of a cell displays it.

Two collapsible sections extend it. "Fine-tuning techniques" sets the technique fields of
`RunConfig` (block learning rates, unfreezing, BatchNorm policy, feature cache, augmentation, copy
depth), enables only those the mode allows, and previews the per-block rates and unfreezing
stages (`technique_stages`, built on `workbench.schedules`). "Sweep" sets up a freeze-depth or
label-budget sweep; the Sweep button runs it (`experiments.sweep_freeze_depth` /
`sweep_label_budget`) in the same worker thread as a single run, redrawing the sweep figure
(`figures.plot_sweep`: mean ± sd per series) as each run's point comes in.

Two diagnostics from `workbench.diagnostics` join it, both worker-thread jobs too. "Rank", next to
the freeze-depth slider, scores every cut point of the selected source on the target task, budget
and seed before any training (`score_blocks`: linear probe and LogME per block, LEEP), draws the
scores (`figures.plot_block_scores`) and puts "suggested freeze depth: k (rule)" beside the
slider, with a button that moves the slider there. "Diagnose", beside the weight-transfer report,
shows for the selected run how far each block's weights moved from the source
(`figures.plot_drift_heatmap`) and how similar each block's representation stayed, by linear CKA
against the source model and, when the session holds one, the structure (scratch) run of the same
seed (`figures.plot_cka_by_block`).

This is the only module that imports ipywidgets. Widgets are built apart from the logic: the
helpers at the top (`layer_plan`, `preview_transfer`, `target_class_names`, `format_results_table`,
`technique_stages`, `parse_sweep_values`, `format_sweep_table`, `format_rank_suggestion`,
`structure_reference`, `format_diagnosis_summary`) take and return plain values, and
every handler turns widget values into a `RunConfig` with `config_from_mapping` (the schema the CLI
and papermill use) and calls `train_run` or a sweep.

Why training runs in a worker thread: a kernel handles widget messages (such as a click on Stop)
only between cells, or while its main thread is idle. If `fit()` ran inside the Start button's
handler, the Stop click would wait in the kernel's queue until `fit()` returned, and polling that
queue from a batch callback did not deliver it on this stack either (see DESIGN.md). So Start
launches `train_run` in a thread and returns at once: the kernel stays free, Stop's handler runs
immediately and sets the `threading.Event` that `train_run` checks after every batch
(`StopOnEvent`), and the run is saved complete with status "stopped". Widget and FigureWidget
updates from that thread are sent over the kernel's IOPub channel, which accepts them from any
thread. The thread brings duties, handled below: one run at a time (Start is disabled and a lock
refuses a second run), every exception raised in the thread is shown in the panel, and nothing
writes to an `Output` widget from the thread (no `with Output():` across threads).
"""

from __future__ import annotations

import html
import logging
import math
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets

# The panel's cell would otherwise start with TensorFlow's CUDA and CPU-feature notices.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402 - after the log level, which TensorFlow reads when it is imported
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench import figures
from workbench.callbacks import LiveCurves
from workbench.config import (
    ARCHITECTURES,
    AUGMENTATIONS,
    BATCHNORM_POLICIES,
    BLOCK_LR_KINDS,
    CACHE_CHOICES,
    DEFAULT_SOURCE_TASK,
    DEFAULT_TARGET_TASK,
    MODE_DESCRIPTIONS,
    MODES,
    UNFREEZE_KINDS,
    RunConfig,
    config_from_mapping,
)
from workbench.data import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    DIGIT_CLASSES,
    FASHION_MNIST_CLASSES,
    parse_task,
    resolve_classes,
)
from workbench.diagnostics import cka_for_run, diagnose_run, run_label, score_blocks, source_run_of
from workbench.errors import ConfigError, SourceRunError, WorkbenchError
from workbench.experiments import Sweep, mode_label, resolve_seeds, sweep_freeze_depth, sweep_label_budget
from workbench.models import HEAD_BLOCK, Block, architecture_of, model_blocks
from workbench.runs import Run, list_runs, load_run
from workbench.schedules import block_learning_rates, unfreeze_stages
from workbench.transfer_modes import format_transfer_report, max_freeze_depth, resolve_freeze_depth

logger = logging.getLogger(__name__)

# Class names of the datasets whose classes are known without loading them, so a task's class
# list is checked (and counted, for the freeze preview) as it is typed, even for cifar10, which
# would otherwise download first. Folder datasets are checked when the run loads them.
KNOWN_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist-5k": DIGIT_CLASSES,
    "digits": DIGIT_CLASSES,
    "mnist": DIGIT_CLASSES,
    "fashion_mnist": FASHION_MNIST_CLASSES,
    "cifar10": CIFAR10_CLASSES,
    "cifar100": tuple(CIFAR100_CLASSES),
}
RESULT_COLUMNS = ("run", "mode", "freeze depth", "budget", "seed", "epochs", "best val acc", "test acc",
                  "seconds", "status")
STATUS_COLORS = {"finished": "#1A7F37", "stopped": "#9A6700", "failed": "#CF222E"}


# ------------------------------------------------------------------------------------------------
# Pure helpers: plain values in, plain values out
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerPlan:
    """What the freeze preview needs from a source model, read once when the source is picked.

    `layers` holds, per layer in model order: name, block and its weights as
    (shape, trainable-when-the-layer-trains) pairs; BatchNorm moving statistics are never trainable.
    `batchnorm_layers` counts the BatchNormalization layers (the BatchNorm policy's preview).
    """

    architecture: str
    blocks: tuple[Block, ...]
    layers: tuple[dict[str, Any], ...]
    source_classes: int
    batchnorm_layers: int = 0


def layer_plan(model: Any) -> LayerPlan:
    """Read the blocks and weight shapes of a workbench model for `preview_transfer`."""
    blocks = tuple(model_blocks(model))
    block_of = {name: block.name for block in blocks for name in block.layer_names}
    layers = []
    source_classes = 0
    batchnorm_layers = 0
    for layer in model.layers:
        batchnorm_layers += isinstance(layer, keras.layers.BatchNormalization)
        # A frozen layer reports every weight as non-trainable; thaw it briefly to learn which
        # weights train when it trains (BatchNorm's moving statistics never do).
        was_trainable = layer.trainable
        layer.trainable = True
        weights = tuple((tuple(int(size) for size in weight.shape), bool(weight.trainable)) for weight in layer.weights)
        layer.trainable = was_trainable
        layers.append({"layer": layer.name, "block": block_of.get(layer.name, "?"), "weights": weights})
        if layer.name == HEAD_BLOCK and weights:
            source_classes = weights[0][0][-1]
    return LayerPlan(architecture_of(model), blocks, tuple(layers), source_classes, batchnorm_layers)


def preview_transfer(plan: LayerPlan, mode: str, freeze_depth: int | None, num_classes: int | None) -> dict[str, Any]:
    """Predict `transfer_model`'s weight-transfer report without building a model.

    Building and copying a model on every slider move would cost seconds for the larger backbones
    and would run Keras on the kernel's thread while a run trains in another; this computes the
    same blocks, per-layer actions and parameter counts from shapes alone.

    Args:
        plan: the source model's `LayerPlan`.
        mode: "parameter", "feature" or "structure".
        freeze_depth: the user's depth (parameter mode); the other modes fix it.
        num_classes: target classes (the new head's width); None keeps the source's.

    Returns:
        A report with the keys of `transfer_model`'s: mode, architecture, freeze_depth, blocks,
        layers (layer, block, action, reason, trainable, params), trainable_params, frozen_params.

    Raises:
        ConfigError: unknown mode or a depth out of range.
    """
    blocks = list(plan.blocks)
    depth = resolve_freeze_depth(mode, freeze_depth, blocks)
    classes = num_classes or plan.source_classes
    frozen_layers = {name for block in blocks[:depth] for name in block.layer_names}
    rows = []
    trainable_total = frozen_total = 0
    for layer in plan.layers:
        weights = layer["weights"]
        if layer["layer"] == HEAD_BLOCK:
            weights = tuple((shape[:-1] + (classes,), trains) for shape, trains in weights)
        trainable = layer["layer"] not in frozen_layers
        if not weights:
            action, reason = "no weights", "layer has no weights"
        elif mode == "structure":
            action, reason = "re-initialised", "structure transfer starts from fresh weights"
        elif mode == "feature" and layer["block"] == HEAD_BLOCK:
            action, reason = "re-initialised", "feature transfer trains a new head"
        elif layer["layer"] == HEAD_BLOCK and classes != plan.source_classes:
            action, reason = "skipped", f"{plan.source_classes} source classes vs {classes} target classes; new head"
        else:
            action, reason = "copied", "same shape"
        params = 0
        for shape, trains in weights:
            count = math.prod(shape)
            params += count
            if trainable and trains:
                trainable_total += count
            else:
                frozen_total += count
        rows.append({"layer": layer["layer"], "block": layer["block"], "action": action, "reason": reason,
                     "trainable": trainable, "params": params})
    return {
        "mode": mode,
        "architecture": plan.architecture,
        "freeze_depth": depth,
        "blocks": [{"name": block.name, "frozen": index < depth, "layers": list(block.layer_names)}
                   for index, block in enumerate(blocks)],
        "layers": rows,
        "trainable_params": trainable_total,
        "frozen_params": frozen_total,
    }


def target_class_names(task: str) -> list[str] | None:
    """The class names a task selects, for datasets whose classes are known without loading.

    Returns:
        The selected class names in order, or None for a folder dataset (checked when loaded).

    Raises:
        DataError: unknown dataset, unknown class name, index out of range, repeated class.
    """
    spec = parse_task(task)
    names = KNOWN_CLASS_NAMES.get(spec.dataset)
    if names is None:
        return None
    return [names[index] for index in resolve_classes(spec.class_tokens, names, spec.text)]


def source_runs(runs_dir: str | Path) -> list[Run]:
    """Runs in `runs_dir` that hold a model, newest first (pretrained sources before transfers)."""
    runs = [run for run in list_runs(runs_dir) if run.model_path.is_file()]
    runs.reverse()
    return sorted(runs, key=lambda run: run.config.get("kind") != "pretrain")


def describe_source(run: Run) -> str:
    """One line for the source dropdown: name, what it was trained on, architecture, test accuracy."""
    kind = run.config.get("kind", "?")
    accuracy = run.test_accuracy
    shown = f"test acc {accuracy:.3f}" if math.isfinite(accuracy) else "no test accuracy"
    return f"{run.name} · {kind} {run.config.get('task', '?')} · {run.manifest.get('architecture', '?')} · {shown}"


def _format_number(value: Any, digits: int = 3) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return f"{number:.{digits}f}" if math.isfinite(number) else "–"


def result_row(run: Run) -> dict[str, str]:
    """One results-table row of a run, as display strings keyed by `RESULT_COLUMNS`."""
    summary = run.summary()
    planned = run.config.get("epochs")
    done = run.metrics.get("epochs_completed", summary["epochs"])
    budget = summary["per_class"]
    depth = summary["freeze_depth"]
    return {
        "run": summary["name"],
        "mode": str(summary["mode"]),
        "freeze depth": "–" if depth is None else str(depth),
        "budget": "all" if budget is None else f"{budget}/class",
        "seed": str(summary["seed"]),
        "epochs": f"{done}/{planned}",
        "best val acc": _format_number(summary["best_val_accuracy"]),
        "test acc": _format_number(summary["test_accuracy"]),
        "seconds": _format_number(summary["seconds"], 1),
        "status": summary["status"],
    }


def format_results_table(rows: Sequence[Mapping[str, str]]) -> str:
    """An HTML table of result rows (see `result_row`), or a hint when there are none yet."""
    if not rows:
        return "<p style='color:#6C6C6C'>No runs in this session yet: press Start.</p>"
    head = "".join(f"<th style='padding:2px 8px;text-align:left'>{html.escape(column)}</th>" for column in RESULT_COLUMNS)
    body = []
    for row in rows:
        cells = []
        for column in RESULT_COLUMNS:
            value = html.escape(str(row.get(column, "")))
            style = "padding:2px 8px"
            if column == "status":
                style += f";color:{STATUS_COLORS.get(row.get(column, ''), '#24292F')};font-weight:600"
            cells.append(f"<td style='{style}'>{value}</td>")
        body.append(f"<tr class='workbench-result'>{''.join(cells)}</tr>")
    return (f"<table class='workbench-results' style='border-collapse:collapse;font-size:13px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def format_freeze_preview(report: Mapping[str, Any]) -> str:
    """HTML chips, one per block (grey = frozen, orange = trains), and the parameter counts."""
    chips = []
    for block in figures.summarize_blocks(report["layers"]):
        frozen = block["trainable_params"] == 0 and block["frozen_params"] > 0
        state = "frozen" if frozen else "trains"
        color = figures.FROZEN_COLOR if frozen else figures.TRAINABLE_COLOR
        layer_names = ", ".join(layer["layer"] for layer in block["layers"])
        params = block["trainable_params"] + block["frozen_params"]
        chips.append(
            f"<span class='workbench-block workbench-block-{state}' title='{html.escape(layer_names)}' "
            f"style='display:inline-block;margin:2px;padding:2px 8px;border-radius:4px;color:white;"
            f"background:{color}'>{html.escape(block['block'])}: {state} ({params:,})</span>"
        )
    frozen_names = [block["name"] for block in report["blocks"] if block["frozen"]]
    frozen_text = ", ".join(frozen_names) if frozen_names else "none"
    return (
        f"<div>{''.join(chips)}</div>"
        f"<div class='workbench-freeze-counts'>freeze depth {report['freeze_depth']}: frozen blocks: "
        f"{html.escape(frozen_text)} · <b>{report['trainable_params']:,}</b> trainable, "
        f"<b>{report['frozen_params']:,}</b> frozen parameters</div>"
    )


def format_error(error: BaseException, context: str = "") -> str:
    """An error as HTML for the panel: the message for user errors, plus the traceback otherwise."""
    prefix = f"<b>{html.escape(context)}</b><br>" if context else ""
    if isinstance(error, WorkbenchError):
        body = html.escape(str(error))
    else:
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        body = (f"{html.escape(type(error).__name__)}: {html.escape(str(error))}"
                f"<details><summary>traceback</summary><pre>{html.escape(trace)}</pre></details>")
    return (f"<div class='workbench-error' style='color:#CF222E;border:1px solid #CF222E;border-radius:4px;"
            f"padding:4px 8px;white-space:pre-wrap'>{prefix}{body}</div>")


def technique_stages(config: RunConfig, blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """What training will do with a config's fine-tuning techniques, stage by stage.

    Mirrors `FineTuningPlan` (the same `unfreeze_stages` and `block_learning_rates` calls), so the
    panel can show the plan before anything trains.

    Args:
        config: a transfer config.
        blocks: the source model's blocks, head last.

    Returns:
        One dict per stage: first_epoch and last_epoch (1-based, inclusive), freeze_depth,
        block_lr (the spread used), learning_rates (block name → rate, for the blocks that train).

    Raises:
        ConfigError: a freeze depth out of range, or rates that cannot be spread (e.g. `lr_low`
            above the learning rate).
    """
    blocks = list(blocks)
    depth = resolve_freeze_depth(config.mode, config.freeze_depth, blocks)
    stages = unfreeze_stages(config.unfreeze, config.epochs, depth, max_freeze_depth(blocks), config.unfreeze_every)
    planned = []
    for stage in stages:
        learning_rate = config.learning_rate * stage.lr_scale
        spread = stage.block_lr or config.block_lr
        # The two-stage recipe's second stage spreads its own rate (lr / 100 at the bottom), as in
        # FineTuningPlan.apply; the user's lr_low belongs to their own "geometric" choice only.
        lr_low = None if stage.block_lr else config.lr_low
        rates = block_learning_rates(spread, learning_rate, len(blocks), lr_low, config.layer_decay)
        planned.append({
            "first_epoch": stage.first_epoch + 1,
            "last_epoch": stage.end_epoch,
            "freeze_depth": stage.freeze_depth,
            "block_lr": spread,
            "learning_rates": {block.name: rate for block, rate in list(zip(blocks, rates))[stage.freeze_depth:]},
        })
    return planned


def format_technique_preview(config: RunConfig, blocks: Sequence[Block], batchnorm_layers: int = 0) -> str:
    """One line of HTML: what each stage trains at which rate, what is copied, cached and augmented.

    Raises:
        ConfigError: as `technique_stages`.
    """
    names = [block.name for block in blocks]
    parts = []
    for stage in technique_stages(config, blocks):
        first, last = stage["first_epoch"], stage["last_epoch"]
        epochs = f"epoch {first}" if first == last else f"epochs {first}–{last}"
        rates = stage["learning_rates"]
        if len(set(rates.values())) == 1:
            trained = f"{', '.join(rates)} at {next(iter(rates.values())):.1e}"
        else:
            trained = ", ".join(f"{name} {rate:.1e}" for name, rate in rates.items())
        frozen = names[:stage["freeze_depth"]]
        parts.append(f"{epochs}: {trained}" + (f" ({', '.join(frozen)} frozen)" if frozen else ""))
    facts = [" → ".join(parts)]
    if config.mode == "parameter" and config.copy_depth is not None:
        copied, fresh = names[:config.copy_depth], names[config.copy_depth:]
        facts.append(f"copies {', '.join(copied) or 'no block'}; {', '.join(fresh)} start fresh")
    frozen_somewhere = config.mode == "feature" or (config.mode == "parameter" and (
        (config.freeze_depth or 0) > 0 or config.unfreeze != "none"))
    if frozen_somewhere:
        note = "" if batchnorm_layers else " (this model has no BatchNorm layers)"
        if config.uses_feature_cache() and config.batchnorm == "train" and batchnorm_layers:
            # The cache is computed once, in inference mode: frozen BatchNorm cannot adapt to the target.
            note = " (no effect on cached features: turn the cache off to train BatchNorm)"
        facts.append(f"BatchNorm in frozen blocks: {config.batchnorm}{note}")
    if config.mode == "feature":
        if config.uses_feature_cache():
            facts.append("the head trains on cached features")
        else:
            facts.append("no feature cache (" + ("augmentation changes the inputs every epoch)"
                                                   if config.augment != "none" else "turned off)"))
    facts.append(f"augmentation: {config.augment.replace(',', ', ')}")
    return (f"<div class='workbench-technique-preview' style='color:#24292F'><b>Plan:</b> "
            f"{html.escape(' · '.join(facts))}</div>")


def parse_sweep_values(text: str, name: str, allow_all: bool) -> list[int | None] | None:
    """Parse a comma list typed into a sweep box: "0,2,4" → [0, 2, 4].

    Args:
        text: the typed list.
        name: what the numbers are ("depths", "budgets"), for the error message.
        allow_all: whether "all" may appear in the list (as None: every training example).

    Returns:
        The numbers in the order typed; None for an empty box (the caller's default).

    Raises:
        ConfigError: a token that is neither a non-negative whole number nor an allowed "all",
            or a repeated value.
    """
    tokens = [token.strip().lower() for token in str(text).replace(";", ",").split(",") if token.strip()]
    if not tokens:
        return None
    values: list[int | None] = []
    for token in tokens:
        if token == "all" and allow_all:
            values.append(None)
        elif token.isdigit():
            values.append(int(token))
        else:
            example = "1,5,25,all" if allow_all else "0,2,4"
            raise ConfigError(
                f"{name}={text!r}: {token!r} is not a whole number{' or all' if allow_all else ''}. "
                f"Type the {name} separated by commas, for example {example}."
            )
    if len(set(values)) != len(values):
        raise ConfigError(f"{name}={text!r} repeats a value. Type each of the {name} once.")
    return values


def count_sweep_runs(kind: str, values: Sequence[int | None], seeds: Sequence[int], modes: Sequence[str] = (),
                     include_fine_tuned: bool = True) -> int:
    """How many runs a sweep trains (the structure baseline of a depth sweep runs once per seed)."""
    if kind == "freeze_depth":
        return len(seeds) * (1 + len(values) * (2 if include_fine_tuned else 1))
    return len(seeds) * len(values) * len(modes)


def format_sweep_table(points: Sequence[Mapping[str, Any]], x_title: str, description: str = "",
                       stopped: bool = False) -> str:
    """An HTML table of sweep points: series, setting, test accuracy mean ± sd, n and per-seed values."""
    if not points:
        return "<p style='color:#6C6C6C'>No sweep run finished.</p>"
    columns = ("series", x_title, "test accuracy (mean ± sd)", "n", "per seed")
    head = "".join(f"<th style='padding:2px 8px;text-align:left'>{html.escape(column)}</th>" for column in columns)
    body = []
    for point in points:
        per_seed = ", ".join(f"s{seed}: {_format_number(value)}" for seed, value in zip(point.get("seeds", []),
                                                                                       point.get("values", [])))
        x = point["x"]
        cells = (point["series"], f"{x:g}" if isinstance(x, (int, float)) else str(x),
                 f"{_format_number(point['mean'])} ± {_format_number(point['sd'])}", str(point["n"]), per_seed)
        body.append("<tr class='workbench-sweep-point'>" + "".join(
            f"<td style='padding:2px 8px'>{html.escape(str(cell))}</td>" for cell in cells) + "</tr>")
    caption = f"<div style='color:#6C6C6C'>{html.escape(description)}</div>" if description else ""
    note = "<div style='color:#9A6700'>Stopped early: not every planned run ran.</div>" if stopped else ""
    return (f"{caption}<table class='workbench-sweep-table' style='border-collapse:collapse;font-size:13px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}")


RANK_SETTING_NAMES = {"source": "source run", "task": "target task", "per_class": "labels/class", "seed": "seed"}
# Test images used for CKA in the Diagnose view: enough for stable values, a second or two on a CPU.
DIAGNOSE_EXAMPLES = 300


def rank_key(source: str | None, task: str, per_class: int | None, seed: int) -> dict[str, Any]:
    """The settings a Rank result depends on, as compared to tell whether it still applies."""
    return {"source": source, "task": task.strip(), "per_class": per_class or None, "seed": int(seed)}


def format_rank_suggestion(result: Mapping[str, Any] | None, changed: Sequence[str] = ()) -> str:
    """The line beside the freeze-depth slider: the suggested depth and the rule that chose it.

    Args:
        result: a `diagnostics.score_blocks` result, or None before the first Rank.
        changed: names of the settings (see `RANK_SETTING_NAMES`) that differ from the ones the
            result was computed for; the suggestion is then shown as outdated. Defaults to none.

    Returns:
        HTML: a hint before any Rank, "suggested freeze depth: k (rule)" after one, and the
        outdated suggestion struck through with what changed once the settings move on.
    """
    if result is None:
        return ("<span class='workbench-rank-suggestion' style='color:#6C6C6C'>Rank scores every freeze depth "
                "of the source on this task in seconds, before training.</span>")
    depth = result["suggested_freeze_depth"]
    rule = html.escape(str(result.get("suggestion_rule", "")))
    if changed:
        what = ", ".join(RANK_SETTING_NAMES.get(name, name) for name in changed)
        return (f"<span class='workbench-rank-suggestion workbench-rank-outdated' style='color:#9A6700'>"
                f"<s>suggested freeze depth: {depth}</s> was for another {html.escape(what)}: press Rank again."
                f"</span>")
    return (f"<span class='workbench-rank-suggestion'><b>suggested freeze depth: {depth}</b> "
            f"<span style='color:#6C6C6C'>({rule})</span></span>")


def format_rank_details(result: Mapping[str, Any]) -> str:
    """A caption under the scores figure: what was scored, on how many images, LEEP and the time."""
    budget = f"{result['per_class']} labels per class" if result.get("per_class") else "all labels"
    return (f"<div class='workbench-rank-details' style='color:#6C6C6C'>{html.escape(str(result['source']))} → "
            f"{html.escape(str(result['task']))} ({html.escape(budget)}, seed {result['seed']}): "
            f"{len(result['cut_points'])} cut points scored on {result['train_examples']} training and "
            f"{result['validation_examples']} validation images in {_format_number(result['seconds'], 1)} s; "
            f"LEEP {_format_number(result['leep'])}. These are estimates made before training: a freeze-depth "
            f"sweep checks them.</div>")


def structure_reference(run: Run, runs: Sequence[Run]) -> Run | None:
    """The structure (from-scratch) run that `run` is best compared with, among `runs`.

    It must share the run's source, target task, label budget and seed, so that the two models saw
    the same data and differ only in where their weights started. The newest match wins.

    Returns:
        That run, or None when there is none (or `run` is itself a structure run).
    """
    config = run.config
    if config.get("kind") != "transfer" or config.get("mode") == "structure":
        return None
    same = ("source", "task", "per_class", "seed")
    for candidate in reversed(list(runs)):
        other = candidate.config
        if (candidate.name != run.name and other.get("kind") == "transfer" and other.get("mode") == "structure"
                and all(other.get(key) == config.get(key) for key in same) and candidate.model_path.is_file()):
            return candidate
    return None


def format_diagnosis_summary(diagnosis: Mapping[str, Any]) -> str:
    """One paragraph under the Diagnose figures: drift of frozen and trained blocks, CKA at the top.

    Args:
        diagnosis: {"run", "drift": a `drift_for_run` result, "cka": a list of `cka_for_run`
            results}, as the panel stores it in `last_diagnosis`.
    """
    blocks = diagnosis["drift"]["blocks"]
    frozen = [row["block"] for row in blocks if row["frozen"]]
    moved = [f"{row['block']} {_format_number(row['drift'])}" for row in blocks
             if not row["frozen"] and row["origin"] == "copied"]
    fresh = [row["block"] for row in blocks if row["origin"] == "fresh"]
    parts = [f"frozen: {', '.join(frozen)} (drift 0)" if frozen else "no frozen block"]
    if moved:
        parts.append(f"trained from the source: {', '.join(moved)}")
    if fresh:
        parts.append(f"re-initialised (no drift to measure): {', '.join(fresh)}")
    for curve in diagnosis["cka"]:
        rows = curve["rows"]
        if rows:
            parts.append(f"CKA {curve['label']} at {rows[-1]['block']}: {_format_number(rows[-1]['cka'])}")
    return (f"<div class='workbench-diagnose-summary'><b>{html.escape(str(diagnosis['run']))}</b>: "
            f"{html.escape(' · '.join(parts))}</div>")


def make_curve_figure(title: str = "Accuracy and loss per epoch (dashed = train, solid = validation)") -> go.FigureWidget:
    """An empty accuracy | loss FigureWidget that `LiveCurves` draws runs into."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "Loss"), horizontal_spacing=0.08)
    figure.update_xaxes(title={"text": "Epoch"}, rangemode="tozero")
    figure.update_yaxes(title={"text": "Accuracy"}, range=[0, 1.02], row=1, col=1)
    figure.update_yaxes(title={"text": "Loss"}, rangemode="tozero", row=1, col=2)
    figure.update_layout(template=figures.TEMPLATE, title={"text": title, "font": {"size": 14}}, height=380,
                         margin={"l": 50, "r": 20, "t": 60, "b": 40},
                         legend={"orientation": "h", "y": -0.2, "groupclick": "togglegroup"})
    return go.FigureWidget(figure)


def _replace_figure(widget: go.FigureWidget, figure: go.Figure) -> None:
    """Show another figure in a FigureWidget, in place (the widget stays where it is displayed)."""
    widget.data = ()
    # Assigning a layout only sends the keys it sets, and the browser merges them into the old
    # layout; clear the old keys first so that e.g. a "no data yet" annotation does not linger.
    stale = {key: None for key in widget.layout.to_plotly_json() if key != "template"}
    if stale:
        widget.plotly_relayout(stale)
    widget.add_traces(figure.data)
    widget.layout = figure.layout


SWEEP_KINDS = {"freeze_depth": "freeze depth", "per_class": "labels per class"}
SWEEP_NAMES = {"freeze_depth": "freeze-depth sweep", "per_class": "label-budget sweep"}


@dataclass(frozen=True)
class SweepRequest:
    """A checked sweep, ready to run: what `TransferPanel.sweep_request` reads from the widgets.

    `kind` is the swept key of the sweep's points: "freeze_depth" or "per_class". `values` are the
    depths or budgets (None: every example), `modes` the label-budget sweep's modes.
    """

    kind: str
    base_config: RunConfig
    values: tuple[int | None, ...]
    seeds: tuple[int, ...]
    modes: tuple[str, ...] = ()
    include_fine_tuned: bool = True

    @property
    def x_title(self) -> str:
        """The x axis title of the sweep figure."""
        return SWEEP_KINDS[self.kind]

    @property
    def log_x(self) -> bool:
        """Label budgets span orders of magnitude: a log axis; depths: a linear one."""
        return self.kind == "per_class"

    @property
    def planned_runs(self) -> int:
        """How many runs the sweep trains if nobody stops it."""
        return count_sweep_runs(self.kind, self.values, self.seeds, self.modes, self.include_fine_tuned)


@dataclass
class _SweepJob:
    """The state of the sweep running in the worker thread: runs started and done, the sweep so far."""

    request: SweepRequest
    started: int = 0
    done: int = 0
    sweep: Sweep | None = None


class _StatusUpdates(keras.callbacks.Callback):
    """Writes "epoch 3/10 · val acc 0.712 · 4 s" into the panel's status line at each epoch end."""

    def __init__(self, show: Callable[[str], None], description: str) -> None:
        super().__init__()
        self.show = show
        self.description = description
        self._started = time.perf_counter()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._started = time.perf_counter()
        self.show(f"Training {self.description}: epoch 0/{(self.params or {}).get('epochs', '?')}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        shown = " · ".join(f"{name} {_format_number(logs.get(key))}"
                           for key, name in (("accuracy", "train acc"), ("val_accuracy", "val acc")) if key in logs)
        seconds = time.perf_counter() - self._started
        self.show(f"Training {self.description}: epoch {epoch + 1}/{(self.params or {}).get('epochs', '?')}"
                  f" · {shown} · {seconds:.0f} s")


# ------------------------------------------------------------------------------------------------
# The panel
# ------------------------------------------------------------------------------------------------


class TransferPanel:
    """The workbench's interactive panel (ipywidgets 8 and plotly FigureWidgets).

    Display it by making it the last expression of a cell (or with `IPython.display.display`).
    Widgets are public attributes, so scripts and tests can set `.value` and call `.click()`.

    Args:
        runs_dir: folder that holds the run directories: sources are listed from it, new runs are
            written to it. Defaults to "runs".
        source: the source run to preselect (a path or a name under `runs_dir`); None picks the
            newest pretrained run. Defaults to None.
        task: target task, `DATASET[:CLASSES]`. Defaults to "mnist-5k:5-9".
        mode: "parameter", "feature" or "structure". Defaults to "parameter".
        freeze_depth: blocks frozen in parameter mode. Defaults to 0.
        per_class: label budget per class; None or 0 takes every example. Defaults to 5.
        epochs: epochs per run. Defaults to 10.
        learning_rate: Adam learning rate. Defaults to 1e-3.
        seed: seed of the splits, budget draw and initial weights. Defaults to 0.
        batch_size: mini-batch size. Defaults to 32.
        pretrain_task: task of the "pretrain a new source" section. Defaults to "mnist-5k:0-4".
        pretrain_model: architecture to pretrain. Defaults to "seed-cnn".
        pretrain_epochs: pretraining epochs. Defaults to 5.
        pretrain_per_class: pretraining budget per class; None takes all. Defaults to None.
        live_every_batches: also plot a train point every N batches; None plots epoch ends
            only. Defaults to None.
        callbacks: extra Keras callbacks added to every run. Defaults to none.
    """

    def __init__(
        self,
        runs_dir: str | Path = "runs",
        source: str | Path | None = None,
        task: str = DEFAULT_TARGET_TASK,
        mode: str = "parameter",
        freeze_depth: int = 0,
        per_class: int | None = 5,
        epochs: int = 10,
        learning_rate: float = 1e-3,
        seed: int = 0,
        batch_size: int = 32,
        pretrain_task: str = DEFAULT_SOURCE_TASK,
        pretrain_model: str = "seed-cnn",
        pretrain_epochs: int = 5,
        pretrain_per_class: int | None = None,
        live_every_batches: int | None = None,
        callbacks: Sequence[Any] = (),
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"mode={mode!r} is not known. Allowed modes: {', '.join(MODES)}. Pass mode='parameter'.")
        if pretrain_model not in ARCHITECTURES:
            raise ConfigError(f"pretrain_model={pretrain_model!r} is not known. Allowed models: "
                              f"{', '.join(ARCHITECTURES)}. Pass pretrain_model='seed-cnn'.")
        self.runs_dir = Path(runs_dir)
        self.live_every_batches = live_every_batches
        self.extra_callbacks = list(callbacks)
        self.session_runs: list[Run] = []
        self.errors: list[BaseException] = []
        self.last_run: Run | None = None
        self.last_sweep: Sweep | None = None
        self.last_rank: dict[str, Any] | None = None
        self.last_diagnosis: dict[str, Any] | None = None
        self._rank_settings: dict[str, Any] | None = None
        self._diagnoses: dict[str, dict[str, Any]] = {}
        self._sweeping = False
        self._job_kind: str | None = None
        self._job_description = ""
        self._plan: LayerPlan | None = None
        self._plans: dict[str, LayerPlan] = {}
        self._parameter_depth = int(freeze_depth or 0)
        self._run_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._runs_started = 0
        self._mode_repeats: dict[str, int] = {}
        self._extra_colors = 0
        self._updating_sources = False
        self._updating_reports = False
        self._build_widgets(task, mode, per_class, epochs, learning_rate, seed, batch_size,
                            pretrain_task, pretrain_model, pretrain_epochs, pretrain_per_class)
        self._connect()
        self.refresh_sources(select=source)
        self._show_task_classes()
        self._show_mode()

    # -- building -------------------------------------------------------------------------------

    def _build_widgets(self, task: str, mode: str, per_class: int | None, epochs: int, learning_rate: float,
                       seed: int, batch_size: int, pretrain_task: str, pretrain_model: str,
                       pretrain_epochs: int, pretrain_per_class: int | None) -> None:
        wide = widgets.Layout(width="34em")
        short = widgets.Layout(width="15em")
        style = {"description_width": "9em"}

        self.source_dropdown = widgets.Dropdown(description="Source run", options=[], layout=widgets.Layout(width="52em"), style=style)
        self.refresh_button = widgets.Button(icon="refresh", tooltip="Rescan the runs folder for source runs",
                                             layout=widgets.Layout(width="3em"))
        self.source_info = widgets.HTML()

        self.pretrain_task = widgets.Text(value=pretrain_task, description="Task", layout=wide, style=style,
                                          continuous_update=False)
        self.pretrain_model = widgets.Dropdown(options=list(ARCHITECTURES), value=pretrain_model, description="Model",
                                               layout=wide, style=style)
        self.pretrain_per_class = widgets.IntText(value=pretrain_per_class or 0, description="Labels/class",
                                                  tooltip="0 takes every example", layout=short, style=style)
        self.pretrain_epochs = widgets.IntText(value=pretrain_epochs, description="Epochs", layout=short, style=style)
        self.pretrain_learning_rate = widgets.FloatText(value=1e-3, description="Learning rate", layout=short, style=style)
        self.pretrain_seed = widgets.IntText(value=0, description="Seed", layout=short, style=style)
        self.pretrain_name = widgets.Text(value="", placeholder="optional, e.g. source", description="Run name",
                                          layout=wide, style=style)
        self.pretrain_button = widgets.Button(description="Pretrain", icon="graduation-cap", button_style="primary",
                                              tooltip="Train a new source model on this task")
        self.pretrain_curves = make_curve_figure("Pretraining: accuracy and loss per epoch")
        self.pretrain_section = widgets.Accordion(children=[widgets.VBox([
            widgets.HBox([self.pretrain_task, self.pretrain_model]),
            widgets.HBox([self.pretrain_per_class, self.pretrain_epochs, self.pretrain_learning_rate, self.pretrain_seed]),
            widgets.HBox([self.pretrain_name, self.pretrain_button]),
            self.pretrain_curves,
        ])])
        self.pretrain_section.set_title(0, "Pretrain a new source model")

        self.task_text = widgets.Text(value=task, description="Target task", layout=wide, style=style,
                                      continuous_update=False)
        self.task_info = widgets.HTML()
        self.per_class = widgets.IntText(value=per_class or 0, description="Labels/class", layout=short, style=style)
        self.epochs = widgets.IntText(value=epochs, description="Epochs", layout=short, style=style)
        self.learning_rate = widgets.FloatText(value=learning_rate, description="Learning rate", layout=short, style=style)
        self.seed = widgets.IntText(value=seed, description="Seed", layout=short, style=style)
        self.batch_size = widgets.IntText(value=batch_size, description="Batch size", layout=short, style=style)

        self.mode_buttons = widgets.ToggleButtons(
            options=list(MODES), value=mode, description="Mode", style=style,
            tooltips=[MODE_DESCRIPTIONS[name] for name in MODES],
        )
        self.mode_info = widgets.HTML()
        self.freeze_slider = widgets.IntSlider(value=0, min=0, max=1, description="Freeze depth", style=style,
                                               continuous_update=True, layout=wide)
        self.freeze_info = widgets.HTML()
        self._build_technique_widgets(style)
        self._build_sweep_widgets(style)
        self._build_diagnostic_widgets(style)

        self.start_button = widgets.Button(description="Start", icon="play", button_style="success",
                                           tooltip="Train a transfer run with these settings")
        self.sweep_button = widgets.Button(description="Sweep", icon="line-chart", button_style="info",
                                           tooltip="Run the sweep set up under 'Sweep' and plot its curve live")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger", disabled=True,
                                          tooltip="Stop after the current batch; the run is kept, marked stopped")
        self.clear_button = widgets.Button(description="Clear chart", icon="eraser",
                                           tooltip="Remove the curves (runs stay on disk and in the table)")
        self.status = widgets.HTML(value="Ready.")
        self.message = widgets.HTML()
        self.curves = make_curve_figure()
        self.results = widgets.HTML(value=format_results_table([]))
        self.report_dropdown = widgets.Dropdown(description="Report of", options=[], style=style,
                                                layout=widgets.Layout(width="52em"))
        self.report_text = widgets.HTML()
        self.report_figure = go.FigureWidget(figures.empty_figure("No run selected yet", title="Weight transfer"))
        self.report_figure.update_layout(height=300)

        def header(text: str) -> widgets.HTML:
            return widgets.HTML(f"<h4 style='margin:10px 0 2px 0'>{html.escape(text)}</h4>")

        self.widget = widgets.VBox([
            widgets.HTML(f"<h3 style='margin:0'>Transfer Learning Workbench</h3>"
                         f"<span style='color:#6C6C6C'>runs folder: {html.escape(str(self.runs_dir))}</span>"),
            header("Source"),
            widgets.HBox([self.source_dropdown, self.refresh_button]),
            self.source_info,
            self.pretrain_section,
            header("Target task"),
            self.task_text,
            self.task_info,
            widgets.HBox([self.per_class, self.epochs, self.learning_rate]),
            widgets.HBox([self.seed, self.batch_size]),
            header("Transfer"),
            self.mode_buttons,
            self.mode_info,
            widgets.HBox([self.freeze_slider, self.rank_button, self.rank_suggestion, self.apply_rank_button],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="center")),
            self.freeze_info,
            self.rank_section,
            self.techniques_section,
            self.sweep_section,
            widgets.HBox([self.start_button, self.sweep_button, self.stop_button, self.clear_button]),
            self.status,
            self.message,
            widgets.Box([self.curves], layout=widgets.Layout(display="block")).add_class("workbench-curves"),
            header("Sweep"),
            widgets.HBox([self.sweep_progress, self.sweep_info]),
            widgets.Box([self.sweep_figure], layout=widgets.Layout(display="block")).add_class("workbench-sweep-figure"),
            self.sweep_table,
            header("Runs in this session"),
            self.results,
            header("Weight-transfer report"),
            widgets.HBox([self.report_dropdown, self.diagnose_button]),
            widgets.Box([self.report_figure], layout=widgets.Layout(display="block")).add_class("workbench-report"),
            self.report_text,
            self.diagnose_section,
        ])
        self.widget.add_class("workbench-panel")
        # Stable CSS hooks for browser tests and custom styling.
        for control, name in ((self.source_dropdown, "source"), (self.task_text, "task"), (self.per_class, "per-class"),
                              (self.epochs, "epochs"), (self.learning_rate, "learning-rate"), (self.seed, "seed"),
                              (self.mode_buttons, "mode"), (self.freeze_slider, "freeze-slider"),
                              (self.start_button, "start"), (self.stop_button, "stop"), (self.message, "message"),
                              (self.pretrain_button, "pretrain"), (self.results, "results-table"),
                              (self.sweep_button, "sweep"), (self.technique_info, "techniques"),
                              (self.sweep_info, "sweep-info"), (self.sweep_table, "sweep-table"),
                              (self.rank_button, "rank"), (self.apply_rank_button, "apply-suggestion"),
                              (self.rank_suggestion, "rank-line"), (self.diagnose_button, "diagnose"),
                              (self.diagnose_info, "diagnose-info")):
            control.add_class(f"workbench-{name}")
        self.status.add_class("workbench-status")
        self.freeze_info.add_class("workbench-freeze")

    def _build_technique_widgets(self, style: dict[str, str]) -> None:
        """The "Fine-tuning techniques" section: one widget per technique field of `RunConfig`."""
        short = widgets.Layout(width="15em")
        self.block_lr_buttons = widgets.ToggleButtons(
            options=list(BLOCK_LR_KINDS), value="uniform", description="Block LRs", style=style,
            tooltips=["every block at the learning rate",
                      "geometric spread from the lowest LR (first block) to the learning rate (head): fastai's slice",
                      "layer-wise decay: each block below the head gets 'decay' times the rate above: timm's layer_decay"])
        self.lr_low = widgets.FloatText(value=0.0, description="Lowest LR", layout=short, style=style,
                                        tooltip="the first block's rate for 'geometric'; 0 = learning rate / 100")
        self.layer_decay = widgets.FloatText(value=0.75, description="Layer decay", layout=short, style=style,
                                             tooltip="factor per block below the head for 'decay', in (0, 1]")
        self.unfreeze_buttons = widgets.ToggleButtons(
            options=list(UNFREEZE_KINDS), value="none", description="Unfreeze", style=style,
            tooltips=["train at the freeze depth from the first epoch",
                      "start head-only, unfreeze one block top-down every N epochs down to the freeze depth (ULMFiT)",
                      "fastai's fine_tune: one head-only epoch, then down to the freeze depth at half the rate, "
                      "spread geometrically"])
        self.unfreeze_every = widgets.IntText(value=1, description="every N epochs", layout=short, style=style)
        self.batchnorm_buttons = widgets.ToggleButtons(
            options=list(BATCHNORM_POLICIES), value="frozen", description="BatchNorm", style=style,
            tooltips=["BatchNorm in frozen blocks runs in inference mode, statistics fixed",
                      "BatchNorm in frozen blocks keeps training (fastai's train_bn)"])
        self.cache_buttons = widgets.ToggleButtons(
            options=list(CACHE_CHOICES), value="auto", description="Feature cache", style=style,
            tooltips=["cache the frozen extractor's outputs whenever there is no augmentation",
                      "always cache (needs no augmentation)", "never cache"])
        self.augment_checks = {name: widgets.Checkbox(value=False, description=name, indent=False,
                                                      layout=widgets.Layout(width="7em"))
                               for name in AUGMENTATIONS}
        self.copy_depth = widgets.Dropdown(options=[("all blocks", "all")], value="all", description="Copy blocks",
                                           style=style, layout=widgets.Layout(width="26em"))
        self.technique_info = widgets.HTML()
        self.techniques_section = widgets.Accordion(children=[widgets.VBox([
            widgets.HBox([self.block_lr_buttons]),
            widgets.HBox([self.lr_low, self.layer_decay]),
            widgets.HBox([self.unfreeze_buttons, self.unfreeze_every]),
            self.copy_depth,
            self.batchnorm_buttons,
            self.cache_buttons,
            widgets.HBox([widgets.Label("Augmentation", layout=widgets.Layout(width="9em")),
                          *self.augment_checks.values()]),
        ])])
        self.techniques_section.set_title(0, "Fine-tuning techniques")
        self.techniques_section.add_class("workbench-techniques-section")

    def _build_sweep_widgets(self, style: dict[str, str]) -> None:
        """The "Sweep" settings, the sweep's progress, its live figure and its table of points."""
        short = widgets.Layout(width="15em")
        self.sweep_kind = widgets.ToggleButtons(options=[("freeze depth", "freeze_depth"), ("label budget", "per_class")],
                                                value="freeze_depth", description="Sweep over", style=style)
        self.sweep_depths = widgets.Text(value="", placeholder="all depths", description="Depths", style=style,
                                         layout=widgets.Layout(width="24em"), continuous_update=False,
                                         tooltip="blocks copied (and frozen for AnB), e.g. 0,2,4; empty = every depth")
        self.sweep_fine_tuned = widgets.Checkbox(value=True, description="also fine-tune every block (AnB+)", indent=False)
        self.sweep_budgets = widgets.Text(value="1,5,25", description="Budgets", style=style,
                                          layout=widgets.Layout(width="24em"), continuous_update=False,
                                          tooltip="labels per class, e.g. 1,5,25,all")
        self.sweep_mode_checks = {mode: widgets.Checkbox(value=True, description=mode, indent=False,
                                                         layout=widgets.Layout(width="8em"))
                                  for mode in ("structure", "feature", "parameter")}
        self.sweep_seeds = widgets.IntText(value=3, description="Seeds", layout=short, style=style,
                                           tooltip="seeds 0..n-1; every point is a mean ± sd over them")
        self.sweep_plan_info = widgets.HTML()
        self.sweep_section = widgets.Accordion(children=[widgets.VBox([
            self.sweep_kind,
            widgets.HBox([self.sweep_depths, self.sweep_fine_tuned]),
            widgets.HBox([self.sweep_budgets, widgets.Label("modes"), *self.sweep_mode_checks.values()]),
            self.sweep_seeds,
            widgets.HTML("<span style='color:#6C6C6C'>The other settings above (task, budget, epochs, learning rate, "
                         "techniques as for parameter transfer) apply to every run; press Sweep below.</span>"),
            self.sweep_plan_info,
        ])])
        self.sweep_section.set_title(0, "Sweep: freeze depth or label budget")
        self.sweep_progress = widgets.IntProgress(value=0, min=0, max=1, description="Sweep", style=style,
                                                  layout=widgets.Layout(width="30em"))
        self.sweep_info = widgets.HTML("<span style='color:#6C6C6C'>No sweep yet.</span>")
        self.sweep_figure = go.FigureWidget(figures.empty_figure("No sweep yet: set one up under 'Sweep' and press Sweep",
                                                                 title="Sweep"))
        self.sweep_figure.update_layout(height=380)
        self.sweep_table = widgets.HTML()

    def _build_diagnostic_widgets(self, style: dict[str, str]) -> None:
        """Rank (beside the freeze slider, its scores in a section below it) and the Diagnose section."""
        self.rank_button = widgets.Button(
            description="Rank", icon="sort-amount-desc", layout=widgets.Layout(width="7em"),
            tooltip="Score every freeze depth of the source on this target task, budget and seed (linear probe, "
                    "LogME, LEEP) in seconds, before training, and suggest a freeze depth")
        self.rank_suggestion = widgets.HTML(format_rank_suggestion(None))
        self.apply_rank_button = widgets.Button(description="Use it", icon="check", disabled=True,
                                                layout=widgets.Layout(width="9em"),
                                                tooltip="Set the freeze-depth slider to the suggested depth "
                                                        "(switches to parameter transfer)")
        self.rank_figure = go.FigureWidget(figures.empty_figure("Press Rank beside the freeze-depth slider",
                                                                title="Transferability per freeze depth"))
        self.rank_figure.update_layout(height=380)
        self.rank_details = widgets.HTML()
        self.rank_section = widgets.Accordion(children=[widgets.VBox([
            widgets.Box([self.rank_figure], layout=widgets.Layout(display="block")).add_class("workbench-rank-figure"),
            self.rank_details,
        ])])
        self.rank_section.set_title(0, "Rank: scores per freeze depth, before training")

        self.diagnose_button = widgets.Button(description="Diagnose", icon="stethoscope",
                                              tooltip="Weight drift and CKA per block of the selected run, "
                                                      "against its source model")
        self.diagnose_structure = widgets.Checkbox(
            value=True, indent=False, description="also compare with the structure run of the same seed, if any",
            layout=widgets.Layout(width="40em"))
        self.diagnose_info = widgets.HTML("<span style='color:#6C6C6C'>Pick a transfer run above and press "
                                          "Diagnose.</span>")
        self.drift_figure = go.FigureWidget(figures.empty_figure("No run diagnosed yet", title="Weight drift"))
        self.drift_figure.update_layout(height=300)
        self.cka_figure = go.FigureWidget(figures.empty_figure("No run diagnosed yet", title="Linear CKA per block"))
        self.cka_figure.update_layout(height=340)
        self.diagnose_section = widgets.Accordion(children=[widgets.VBox([
            self.diagnose_structure,
            self.diagnose_info,
            widgets.Box([self.drift_figure], layout=widgets.Layout(display="block")).add_class("workbench-drift"),
            widgets.Box([self.cka_figure], layout=widgets.Layout(display="block")).add_class("workbench-cka"),
        ])])
        self.diagnose_section.set_title(0, "Diagnose: weight drift and CKA per block of the selected run")

    def _connect(self) -> None:
        self.start_button.on_click(self._handler(lambda _: self.start()))
        self.stop_button.on_click(self._handler(lambda _: self.stop()))
        self.clear_button.on_click(self._handler(lambda _: self.clear_chart()))
        self.refresh_button.on_click(self._handler(lambda _: self.refresh_sources()))
        self.pretrain_button.on_click(self._handler(lambda _: self.pretrain()))
        self.source_dropdown.observe(
            self._handler(lambda _: None if self._updating_sources else self._load_source()), names="value")
        self.task_text.observe(self._handler(lambda _: self._show_task_classes()), names="value")
        self.mode_buttons.observe(self._handler(lambda _: self._show_mode()), names="value")
        self.freeze_slider.observe(self._handler(lambda _: self._show_freeze()), names="value")
        self.report_dropdown.observe(
            self._handler(lambda _: None if self._updating_reports else self._show_report()), names="value")
        self.sweep_button.on_click(self._handler(lambda _: self.sweep()))
        self.rank_button.on_click(self._handler(lambda _: self.rank()))
        self.apply_rank_button.on_click(self._handler(lambda _: self.apply_suggestion()))
        self.diagnose_button.on_click(self._handler(lambda _: self.diagnose()))
        for control in (self.source_dropdown, self.task_text, self.per_class, self.seed):
            control.observe(self._handler(lambda _: self._show_rank_suggestion()), names="value")
        for control in (self.block_lr_buttons, self.lr_low, self.layer_decay, self.unfreeze_buttons,
                        self.unfreeze_every, self.batchnorm_buttons, self.cache_buttons, self.copy_depth,
                        *self.augment_checks.values(), self.epochs, self.learning_rate):
            control.observe(self._handler(lambda _: self._show_techniques()), names="value")
        for control in (self.sweep_kind, self.sweep_depths, self.sweep_fine_tuned, self.sweep_budgets,
                        *self.sweep_mode_checks.values(), self.sweep_seeds, self.epochs):
            control.observe(self._handler(lambda _: self._show_sweep_plan()), names="value")

    def _handler(self, function: Callable[[Any], None]) -> Callable[[Any], None]:
        """Wrap a widget handler so that its exceptions appear in the panel instead of a log."""

        def handle(argument: Any = None) -> None:
            if isinstance(argument, widgets.Button):
                self.message.value = ""  # a new action: the last error no longer applies
            try:
                function(argument)
            except Exception as error:  # noqa: BLE001 - every error is shown, none is dropped
                self._show_error(error)

        return handle

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- values → configs -----------------------------------------------------------------------

    def transfer_values(self) -> dict[str, Any]:
        """The transfer settings as `RunConfig` fields (what `config_from_mapping` takes)."""
        mode = self.mode_buttons.value
        return {
            "source": self.source_dropdown.value,
            "task": self.task_text.value.strip(),
            "mode": mode,
            "freeze_depth": self.freeze_slider.value if mode == "parameter" else None,
            "per_class": self.per_class.value or None,
            "epochs": self.epochs.value,
            "learning_rate": self.learning_rate.value,
            "seed": self.seed.value,
            "batch_size": self.batch_size.value,
            "runs_dir": str(self.runs_dir),
            **self.technique_values(mode),
        }

    def technique_values(self, mode: str | None = None) -> dict[str, Any]:
        """The fine-tuning technique settings as `RunConfig` fields, as they apply to `mode`.

        A setting is passed only where its widget is enabled for that mode (the rest are None,
        which `config_from_mapping` reads as the default), the same rule `RunConfig` validates:
        copy depth, block learning rates and unfreezing belong to parameter transfer, feature
        caching to feature transfer, the BatchNorm policy to modes that freeze blocks.

        Args:
            mode: the transfer mode. Defaults to the mode picked in the panel.
        """
        mode = mode or self.mode_buttons.value
        parameter = mode == "parameter"
        block_lr = self.block_lr_buttons.value if parameter else None
        unfreeze = self.unfreeze_buttons.value if parameter else None
        augment = ",".join(name for name, check in self.augment_checks.items() if check.value) or "none"
        return {
            "copy_depth": self.copy_depth.value if parameter and self.copy_depth.value != "all" else None,
            "block_lr": block_lr,
            "lr_low": (self.lr_low.value or None) if block_lr == "geometric" else None,
            "layer_decay": self.layer_decay.value if block_lr == "decay" else None,
            "unfreeze": unfreeze,
            "unfreeze_every": self.unfreeze_every.value if unfreeze == "gradual" else None,
            "batchnorm": self.batchnorm_buttons.value if mode != "structure" else None,
            "cache_features": self.cache_buttons.value if mode == "feature" else None,
            "augment": augment,
        }

    def transfer_config(self) -> RunConfig:
        """The validated transfer `RunConfig` of the current widget values.

        Raises:
            WorkbenchError: no source picked, or a bad value (named, with the fix).
        """
        self._require_source()
        return config_from_mapping(self.transfer_values(), kind="transfer")

    def sweep_request(self) -> SweepRequest:
        """The sweep set up under "Sweep", checked before any run starts.

        Every run of the sweep takes the panel's settings (task, budget, epochs, learning rate,
        batch size, and the techniques as they apply to parameter transfer); the sweep sets the
        mode, seed, copy and freeze depth (depth sweep) or budget (label-budget sweep) per run.

        Raises:
            WorkbenchError: no source, a bad list or seed count, or settings that one of the
                sweep's modes cannot take (e.g. per-block rates for the structure baseline).
        """
        self._require_source()
        kind, swept, seeds, modes = self._sweep_settings()
        depth = self._parameter_depth
        if self._plan is not None:
            depth = min(depth, max_freeze_depth(list(self._plan.blocks)))  # as the slider shows it
        values = {**self.transfer_values(), **self.technique_values("parameter"), "mode": "parameter",
                  "freeze_depth": depth}
        if kind == "freeze_depth":
            values.update(copy_depth=None, freeze_depth=None)  # the sweep sets both per run
        base = config_from_mapping(values, kind="transfer")
        request = SweepRequest(kind, base, swept, seeds, modes, self.sweep_fine_tuned.value)
        self._check_sweep_modes(request)
        return request

    def _sweep_settings(self) -> tuple[str, tuple[int | None, ...], tuple[int, ...], tuple[str, ...]]:
        """The sweep section's kind, depths or budgets, seeds and modes, each checked.

        Raises:
            WorkbenchError: a bad list, seed count or depth, or no mode ticked.
        """
        kind = self.sweep_kind.value
        seeds = tuple(resolve_seeds(self.sweep_seeds.value))
        if kind == "freeze_depth":
            if self._plan is None:
                raise SourceRunError("The source run's blocks are unknown (pick a source run whose model can be "
                                     "read), so there are no depths to sweep.")
            deepest = max_freeze_depth(list(self._plan.blocks))
            depths = parse_sweep_values(self.sweep_depths.value, "depths", allow_all=False)
            depths = list(range(deepest + 1)) if depths is None else depths
            outside = [depth for depth in depths if depth > deepest]
            if outside:
                raise ConfigError(
                    f"depths={self.sweep_depths.value!r}: {', '.join(map(str, outside))} is deeper than this source "
                    f"model allows (0..{deepest}: blocks {', '.join(block.name for block in self._plan.blocks)}). "
                    f"Type depths between 0 and {deepest}, or leave the box empty for every depth.")
            return kind, tuple(depths), seeds, ("structure", "parameter")
        budgets = parse_sweep_values(self.sweep_budgets.value, "budgets", allow_all=True)
        if budgets is None:
            raise ConfigError("budgets='' is empty. Type labels per class separated by commas, e.g. 1,5,25,all.")
        if 0 in budgets:
            raise ConfigError(f"budgets={self.sweep_budgets.value!r} holds 0. Budgets are labels per class: "
                              "type 1 or more, or all.")
        modes = tuple(mode for mode, check in self.sweep_mode_checks.items() if check.value)
        if not modes:
            raise ConfigError("No mode is ticked for the label-budget sweep. Tick structure, feature and/or parameter.")
        return kind, tuple(budgets), seeds, modes

    def _check_sweep_modes(self, request: SweepRequest) -> None:
        """Build one config per mode the sweep runs, as the sweep will, so a misfit fails now, not mid-sweep."""
        base = request.base_config
        name = SWEEP_NAMES[request.kind]
        for mode in request.modes:
            try:
                config = base.replace(mode=mode, freeze_depth=base.freeze_depth if mode == "parameter" else None)
                if mode == "parameter" and self._plan is not None:
                    technique_stages(config, self._plan.blocks)
            except ConfigError as error:
                raise ConfigError(
                    f"The {name} also trains {mode} transfer runs, and with these settings: {error} "
                    "In the panel: set the techniques that belong to parameter transfer only (block LRs, "
                    "unfreeze, copy blocks) back to uniform, none and all blocks for this sweep, or untick "
                    f"{mode} (label-budget sweep)."
                ) from None

    def _require_source(self) -> None:
        if not self.source_dropdown.value:
            raise SourceRunError(
                f"No source run is selected, and {str(self.runs_dir)!r} holds no run with a model. "
                "Pretrain one under 'Pretrain a new source model' (or press the refresh button after "
                "`workbench pretrain --name source`)."
            )

    def pretrain_values(self) -> dict[str, Any]:
        """The pretraining settings as `RunConfig` fields."""
        return {
            "task": self.pretrain_task.value.strip(),
            "model": self.pretrain_model.value,
            "per_class": self.pretrain_per_class.value or None,
            "epochs": self.pretrain_epochs.value,
            "learning_rate": self.pretrain_learning_rate.value,
            "seed": self.pretrain_seed.value,
            "name": self.pretrain_name.value.strip() or None,
            "batch_size": self.batch_size.value,
            "runs_dir": str(self.runs_dir),
        }

    def pretrain_config(self) -> RunConfig:
        """The validated pretraining `RunConfig` of the pretrain section."""
        return config_from_mapping(self.pretrain_values(), kind="pretrain")

    # -- actions --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether a job (a run, a sweep, a Rank or a diagnosis) is in progress in the worker thread."""
        return self._run_lock.locked()

    def start(self) -> None:
        """Start a transfer run with the current settings in a worker thread (Start button).

        Raises:
            WorkbenchError: a bad setting, a missing source or a run already in progress; nothing
                starts and the panel stays usable.
        """
        self._refuse_if_running()
        config = self.transfer_config()
        target_class_names(config.task)
        if self._plan is not None:
            technique_stages(config, self._plan.blocks)  # e.g. lr_low above the learning rate: refused now
        source = load_run(config.source, self.runs_dir)
        if not source.model_path.is_file():
            raise SourceRunError(f"Source run {str(source.path)!r} holds no model.keras. Pick another source run.")
        depth = config.freeze_depth if config.mode == "parameter" else None
        self._runs_started += 1
        label = f"{mode_label(config.mode, depth)} · {self._budget_text(config)} · s{config.seed} · #{self._runs_started}"
        live = LiveCurves(self.curves, label=label, color=self._next_color(config.mode),
                          every_n_batches=self.live_every_batches)
        self._launch(config, [live], label, self._transfer_done)

    def sweep(self) -> None:
        """Run the sweep set up under "Sweep" in the worker thread (Sweep button).

        Each finished run joins the results table, and the sweep figure is redrawn from the
        sweep's points (mean ± sd over seeds, one line per series) as they come in. Stop stops
        the current run after its batch and starts no further run.

        Raises:
            WorkbenchError: a bad setting, a missing source or a run already in progress; nothing
                starts and the panel stays usable.
        """
        self._refuse_if_running()
        request = self.sweep_request()
        target_class_names(request.base_config.task)
        job = _SweepJob(request)
        self.sweep_table.value = ""
        self._show_sweep_progress(job)
        self._start_job(lambda stop_event: self._run_sweep(job, stop_event),
                        f"{SWEEP_NAMES[request.kind]} ({request.planned_runs} runs)", kind="sweep")

    def pretrain(self) -> None:
        """Pretrain a new source model in a worker thread (Pretrain button); it becomes the source."""
        self._refuse_if_running()
        config = self.pretrain_config()
        target_class_names(config.task)
        label = f"pretrain {config.model} · {config.task}"
        live = LiveCurves(self.pretrain_curves, label=label, every_n_batches=self.live_every_batches)
        self._launch(config, [live], label, self._pretrain_done)

    def rank_settings(self) -> dict[str, Any]:
        """What Rank scores: the selected source on the target task, label budget and seed, checked.

        Returns:
            {"source", "task", "per_class", "seed", "validation_split"}: the values a transfer run
            with these settings would use (the probe is scored on its validation split).

        Raises:
            WorkbenchError: no source picked, or a bad task, budget or seed (named, with the fix).
        """
        self._require_source()
        config = config_from_mapping({
            "source": self.source_dropdown.value, "task": self.task_text.value.strip(),
            "per_class": self.per_class.value or None, "seed": self.seed.value, "runs_dir": str(self.runs_dir),
        }, kind="transfer")
        target_class_names(config.task)
        return {"source": config.source, "task": config.task, "per_class": config.per_class, "seed": config.seed,
                "validation_split": config.validation_split}

    def rank(self) -> None:
        """Score every freeze depth of the source on the target task in the worker thread (Rank button).

        `diagnostics.score_blocks` fits a linear probe and computes LogME on the features at each
        cut point (and LEEP from the source head) on the target's training images, in seconds and
        without training. The scores are drawn under "Rank", and the suggested freeze depth is
        shown beside the slider, where "Use it" moves the slider there.

        Raises:
            WorkbenchError: a bad setting, a missing source or a job already in progress.
        """
        self._refuse_if_running()
        settings = self.rank_settings()
        description = f"ranking the blocks of {Path(settings['source']).name} on {settings['task']}"
        self.rank_suggestion.value = (f"<span class='workbench-rank-suggestion' style='color:#6C6C6C'>"
                                      f"ranking {html.escape(Path(settings['source']).name)}'s blocks…</span>")
        self.apply_rank_button.disabled = True
        try:
            self._start_job(lambda stop_event: self._run_rank(settings, stop_event), description, kind="rank")
        except BaseException:
            self._show_rank_suggestion()
            raise

    def apply_suggestion(self) -> None:
        """Move the freeze-depth slider to Rank's suggested depth ("Use it" button).

        The slider belongs to parameter transfer, so another mode is switched to parameter first.

        Raises:
            WorkbenchError: nothing ranked yet, or the suggestion was made for other settings.
        """
        if self.last_rank is None:
            raise WorkbenchError("There is no suggested freeze depth yet: press Rank beside the slider first.")
        changed = self._rank_changes()
        if changed:
            raise WorkbenchError(
                f"The suggested freeze depth was computed for another "
                f"{', '.join(RANK_SETTING_NAMES[name] for name in changed)}: press Rank again for these settings.")
        depth = int(self.last_rank["suggested_freeze_depth"])
        if self.mode_buttons.value != "parameter":
            self.mode_buttons.value = "parameter"
        if not self.freeze_slider.min <= depth <= self.freeze_slider.max:
            raise WorkbenchError(f"The suggested freeze depth {depth} is outside the slider's range "
                                 f"{self.freeze_slider.min}..{self.freeze_slider.max}: press Rank again.")
        self.freeze_slider.value = depth

    def diagnose(self) -> None:
        """Weight drift and CKA per block of the run picked under "Weight-transfer report" (Diagnose button).

        The models load and the activations are computed in the worker thread. A run that cannot be
        diagnosed (a pretraining run has no source; a source that is gone) is explained in the
        Diagnose section rather than failing.

        Raises:
            WorkbenchError: a job already in progress.
        """
        self._refuse_if_running()
        self.diagnose_section.selected_index = 0
        run = self._selected_run()
        if run is None:
            self._show_diagnosis_problem(None, WorkbenchError(
                "No run is selected under 'Weight-transfer report': train a transfer run (Start), pick it there "
                "and press Diagnose."))
            return
        try:
            source_run_of(run, self.runs_dir)  # a pretraining run, or a source that is gone: say so now
        except WorkbenchError as error:
            self._show_diagnosis_problem(run, error)
            return
        reference = structure_reference(run, self.session_runs) if self.diagnose_structure.value else None
        compared = "the source" + (f" and the structure run {reference.name}" if reference is not None else "")
        self.diagnose_info.value = (f"<span style='color:#6C6C6C'>Diagnosing {html.escape(run.name)}: weight drift "
                                    f"and CKA against {html.escape(compared)}…</span>")
        self._start_job(lambda stop_event: self._run_diagnosis(run, reference, stop_event),
                        f"diagnosing {run.name}", kind="diagnose")

    def _refuse_if_running(self) -> None:
        if self.running:
            raise WorkbenchError(self._busy_message())

    def _busy_message(self) -> str:
        if self._job_kind in ("rank", "diagnose"):
            return f"{self._job_description.capitalize()} is in progress: wait a few seconds for it to finish."
        return "A run is already training: wait for it to finish, or press Stop first."

    def stop(self) -> None:
        """Ask the running run to stop after its current batch (Stop button)."""
        self._stop_event.set()
        self.stop_button.disabled = True
        if self.running:
            if self._job_kind in ("rank", "diagnose"):
                self.status.value = (f"Stopping {html.escape(self._job_description)}: its result is dropped when "
                                     "the current computation returns…")
            else:
                self.status.value = ("Stopping the sweep after the current batch; no further run starts…"
                                     if self._sweeping else "Stopping after the current batch…")

    def clear_chart(self) -> None:
        """Remove every curve from the live chart (the runs stay in the table and on disk)."""
        if self.running:
            raise WorkbenchError("A run is training: clear the chart after it finishes or is stopped.")
        self.curves.data = ()
        self._mode_repeats.clear()
        self._extra_colors = 0

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run's thread ends; return False if it is still running after `timeout`."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def refresh_sources(self, select: str | Path | None = None) -> None:
        """Rescan the runs folder for runs that hold a model, and select `select` (or keep the current)."""
        runs = source_runs(self.runs_dir)
        options = [(describe_source(run), str(run.path)) for run in runs]
        wanted = None
        if select is not None:
            candidates = {str(Path(select)), str(self.runs_dir / str(select))}
            wanted = next((value for _, value in options if value in candidates), None)
            if wanted is None:
                self._show_error(SourceRunError(
                    f"Source run {str(select)!r} is not a run with a model in {str(self.runs_dir)!r}. "
                    "Pick one from the list or pretrain one below."))
        current = self.source_dropdown.value
        if wanted is None:
            wanted = current if current in [value for _, value in options] else (options[0][1] if options else None)
        # Changing the options makes the dropdown pick a value by itself; load only the final one.
        self._updating_sources = True
        try:
            self.source_dropdown.options = options
            self.source_dropdown.value = wanted
        finally:
            self._updating_sources = False
        self._load_source()
        if not options:
            self.source_info.value = (f"<span style='color:#9A6700'>{html.escape(str(self.runs_dir))} holds no run with "
                                      "a model yet: pretrain a source model below.</span>")
            self.pretrain_section.selected_index = 0

    # -- display updates ------------------------------------------------------------------------

    def _load_source(self) -> None:
        """Read the selected source's blocks for the freeze preview (the model is loaded once per run)."""
        path = self.source_dropdown.value
        self._plan = None
        try:
            if path and path not in self._plans:
                self._plans[path] = layer_plan(load_run(path).load_model())
            self._plan = self._plans.get(path) if path else None
        except Exception as error:  # noqa: BLE001 - an unreadable source is shown; the panel stays usable
            self.source_info.value = ""
            self._show_error(error, context=f"Could not read the model of {path}")
        if self._plan is not None:
            blocks = ", ".join(block.name for block in self._plan.blocks)
            self.source_info.value = (f"<span style='color:#6C6C6C'>{html.escape(self._plan.architecture)}, "
                                      f"{len(self._plan.blocks)} blocks: {html.escape(blocks)}</span>")
            self.freeze_slider.max = max_freeze_depth(list(self._plan.blocks))
        self._update_copy_options()
        self._show_mode()
        self._show_sweep_plan()

    def _show_task_classes(self) -> None:
        self._show_freeze()  # the head's size follows the number of target classes
        try:
            names = target_class_names(self.task_text.value)
        except WorkbenchError as error:
            self.task_info.value = f"<span class='workbench-task-error' style='color:#CF222E'>{html.escape(str(error))}</span>"
            return
        if names is None:
            self.task_info.value = "<span style='color:#6C6C6C'>folder dataset: classes are checked when the run starts</span>"
        else:
            self.task_info.value = (f"<span style='color:#6C6C6C'>{len(names)} classes: "
                                    f"{html.escape(', '.join(names[:12]))}{' …' if len(names) > 12 else ''}</span>")

    def _show_mode(self) -> None:
        mode = self.mode_buttons.value
        self.mode_info.value = f"<i>{html.escape(mode)}</i>: {html.escape(MODE_DESCRIPTIONS[mode])}"
        if self._plan is None:
            self.freeze_slider.disabled = True
            self.freeze_info.value = "<span style='color:#6C6C6C'>Pick or pretrain a source run to see its blocks.</span>"
            self._show_techniques()
            return
        deepest = max_freeze_depth(list(self._plan.blocks))
        if mode == "parameter":
            self.freeze_slider.disabled = False
            self.freeze_slider.value = min(self._parameter_depth, deepest)
        else:
            # The mode fixes the depth; show it on the slider, remember the user's own for later.
            self.freeze_slider.disabled = True
            self.freeze_slider.value = deepest if mode == "feature" else 0
        self._show_freeze()

    def _show_freeze(self) -> None:
        if self._plan is None:
            return
        mode = self.mode_buttons.value
        if mode == "parameter":
            self._parameter_depth = self.freeze_slider.value
        try:
            names = target_class_names(self.task_text.value)
        except WorkbenchError:
            names = None
        report = preview_transfer(self._plan, mode, self.freeze_slider.value if mode == "parameter" else None,
                                  len(names) if names else None)
        self.freeze_info.value = format_freeze_preview(report)
        self._show_techniques()

    def _update_copy_options(self) -> None:
        """Offer "all blocks" and every copy depth of the selected source, keeping the user's choice."""
        names = [block.name for block in self._plan.blocks] if self._plan is not None else []
        options = [("all blocks", "all"), ("0: none (every block starts fresh)", 0)]
        options += [(f"{depth}: {', '.join(names[:depth])}", depth) for depth in range(1, len(names))]
        current = self.copy_depth.value
        self.copy_depth.options = options
        self.copy_depth.value = current if current in [value for _, value in options] else "all"

    def _show_techniques(self) -> None:
        """Enable the technique widgets that the mode allows and preview what training will do."""
        mode = self.mode_buttons.value
        parameter = mode == "parameter"
        self.block_lr_buttons.disabled = self.unfreeze_buttons.disabled = self.copy_depth.disabled = not parameter
        self.lr_low.disabled = not (parameter and self.block_lr_buttons.value == "geometric")
        self.layer_decay.disabled = not (parameter and self.block_lr_buttons.value == "decay")
        self.unfreeze_every.disabled = not (parameter and self.unfreeze_buttons.value == "gradual")
        self.batchnorm_buttons.disabled = mode == "structure"  # nothing is frozen
        self.cache_buttons.disabled = mode != "feature"  # only feature transfer has a frozen extractor to cache
        if self._plan is None:
            self.technique_info.value = ("<span style='color:#6C6C6C'>Pick a source run to preview the per-block "
                                         "learning rates and the unfreezing stages.</span>")
            return
        try:
            values = self.transfer_values()
            values["source"] = values["source"] or "preview"
            config = config_from_mapping(values, kind="transfer")
            self.technique_info.value = format_technique_preview(config, self._plan.blocks, self._plan.batchnorm_layers)
        except WorkbenchError as error:
            self.technique_info.value = (f"<span class='workbench-technique-error' style='color:#CF222E'>"
                                         f"{html.escape(str(error))}</span>")

    def _show_sweep_plan(self) -> None:
        """Enable the settings of the chosen sweep and say how many runs it will train."""
        depth_sweep = self.sweep_kind.value == "freeze_depth"
        self.sweep_depths.disabled = self.sweep_fine_tuned.disabled = not depth_sweep
        self.sweep_budgets.disabled = depth_sweep
        for check in self.sweep_mode_checks.values():
            check.disabled = depth_sweep
        if depth_sweep and self._plan is None:
            self.sweep_plan_info.value = ""  # the source section already says what is missing
            return
        try:
            kind, swept, seeds, modes = self._sweep_settings()
        except WorkbenchError as error:
            self.sweep_plan_info.value = (f"<span class='workbench-sweep-plan-error' style='color:#CF222E'>"
                                          f"{html.escape(str(error))}</span>")
            return
        runs = count_sweep_runs(kind, swept, seeds, modes, self.sweep_fine_tuned.value)
        shown = ", ".join("all" if value is None else str(value) for value in swept)
        shown = f"{'depths' if depth_sweep else 'budgets'} {shown}" + ("" if depth_sweep else f" · {', '.join(modes)}")
        self.sweep_plan_info.value = (f"<span class='workbench-sweep-plan'>{html.escape(shown)} × {len(seeds)} "
                                      f"seed(s): <b>{runs}</b> runs of {self.epochs.value} epoch(s).</span>")

    def _show_sweep_progress(self, job: _SweepJob, final: bool = False) -> None:
        """Redraw the sweep figure from the points so far, and the "k of N runs" progress."""
        request = job.request
        planned = request.planned_runs
        points = job.sweep.points() if job.sweep is not None else []
        stopped = final and self._stop_event.is_set()
        suffix = " (stopped)" if stopped else ""
        title = (f"{SWEEP_NAMES[request.kind].capitalize()} on {request.base_config.task}: "
                 f"{job.done} of {planned} runs{suffix}")
        figure = figures.plot_sweep(points, request.kind, request.x_title, log_x=request.log_x, title=title)
        figure.update_layout(height=380)
        _replace_figure(self.sweep_figure, figure)
        self.sweep_progress.max = max(planned, 1)
        self.sweep_progress.value = job.done
        self.sweep_info.value = f"<span class='workbench-sweep-progress'>{job.done} of {planned} runs done{suffix}</span>"

    def _show_error(self, error: BaseException, context: str = "") -> None:
        self.errors.append(error)
        if not isinstance(error, WorkbenchError):
            logger.error("workbench panel: %s", context or "handler failed", exc_info=error)
        self.message.value = format_error(error, context)

    def _show_report(self) -> None:
        run = self._selected_run()
        if run is None:
            return
        self._show_diagnosis_placeholder(run)
        if run.transfer_report is None:
            _replace_figure(self.report_figure, figures.empty_figure(
                f"{run.name} is a pretraining run: no weights were transferred", title="Weight transfer"))
            self.report_text.value = ""
            return
        _replace_figure(self.report_figure, figures.plot_transfer_report(run.transfer_report))
        self.report_text.value = (f"<details><summary>layer by layer</summary><pre style='font-size:11px'>"
                                  f"{html.escape(format_transfer_report(run.transfer_report))}</pre></details>")

    def _selected_run(self) -> Run | None:
        name = self.report_dropdown.value
        return next((run for run in self.session_runs if run.name == name), None)

    def _rank_changes(self) -> list[str]:
        """The settings that changed since the last Rank (empty when it still applies)."""
        if self._rank_settings is None:
            return []
        now = rank_key(self.source_dropdown.value, self.task_text.value, self.per_class.value, self.seed.value)
        return [name for name in RANK_SETTING_NAMES if now[name] != self._rank_settings[name]]

    def _show_rank_suggestion(self) -> None:
        """The line beside the slider, and "Use it" enabled only while the suggestion fits the settings."""
        changed = self._rank_changes()
        self.rank_suggestion.value = format_rank_suggestion(self.last_rank, changed)
        fresh = self.last_rank is not None and not changed
        self.apply_rank_button.disabled = not fresh
        self.apply_rank_button.description = (f"Use {self.last_rank['suggested_freeze_depth']}" if fresh
                                              else "Use it")

    def _show_diagnosis(self, result: Mapping[str, Any]) -> None:
        """Draw a diagnosis: the selected run's drift on top, other diagnosed runs of its source below."""
        others = [other["drift"] for name, other in self._diagnoses.items()
                  if name != result["run"] and other["source"] == result["source"]]
        source, label = figures.plain_text(result["source"]), figures.plain_text(result["label"])
        drift = figures.plot_drift_heatmap([result["drift"], *others],
                                           title=f"Weight drift from the source {source}, per block")
        _replace_figure(self.drift_figure, drift)
        cka = figures.plot_cka_by_block(result["cka"], title=f"Linear CKA per block: {label}")
        cka.update_layout(height=340)
        _replace_figure(self.cka_figure, cka)
        self.diagnose_info.value = format_diagnosis_summary(result)

    def _show_diagnosis_problem(self, run: Run | None, error: BaseException) -> None:
        """Explain in the Diagnose section why a run cannot be diagnosed (no traceback: a user error)."""
        self.errors.append(error)
        what = "Diagnose" if run is None else f"Cannot diagnose {run.name}"
        self.diagnose_info.value = (f"<div class='workbench-diagnose-problem' style='color:#9A6700'><b>"
                                    f"{html.escape(what)}</b>: {html.escape(str(error))}</div>")
        for widget, title in ((self.drift_figure, "Weight drift"), (self.cka_figure, "Linear CKA per block")):
            _replace_figure(widget, figures.empty_figure("Nothing to diagnose for this run", title=title))

    def _show_diagnosis_placeholder(self, run: Run) -> None:
        """A run not diagnosed yet: its cached result if any, else a hint to press Diagnose."""
        cached = self._diagnoses.get(run.name)
        if cached is not None:
            self._show_diagnosis(cached)
            return
        self.diagnose_info.value = (f"<span style='color:#6C6C6C'>Press Diagnose for the weight drift and CKA of "
                                    f"{html.escape(run.name)}.</span>")
        for widget, title in ((self.drift_figure, "Weight drift"), (self.cka_figure, "Linear CKA per block")):
            _replace_figure(widget, figures.empty_figure(f"Press Diagnose for {run.name}", title=title))

    # -- the worker thread ----------------------------------------------------------------------

    def _launch(self, config: RunConfig, callbacks: list[Any], description: str,
                on_done: Callable[[Run], None]) -> None:
        """Train one run in the worker thread, then hand it to `on_done` (in that thread)."""
        progress = _StatusUpdates(self._set_status, description)

        def train(stop_event: threading.Event) -> None:
            from workbench.training import train_run

            run = train_run(config, callbacks=[*callbacks, progress, *self.extra_callbacks], stop_event=stop_event)
            self._record_run(run)
            on_done(run)

        self._start_job(train, description)

    def _start_job(self, job: Callable[[threading.Event], None], description: str, kind: str = "train") -> None:
        """Run `job(stop_event)` in the worker thread: one job at a time, its errors shown in the panel.

        `kind` ("train", "sweep", "rank" or "diagnose") words the Stop and "busy" messages.
        """
        if not self._run_lock.acquire(blocking=False):
            raise WorkbenchError(self._busy_message())
        try:
            self._stop_event = threading.Event()
            self._sweeping = kind == "sweep"
            self._job_kind = kind
            self._job_description = description
            self.message.value = ""
            self._set_running(True)
            self.status.value = f"Starting {html.escape(description)}…"
            self._thread = threading.Thread(target=self._work, args=(job, self._stop_event, description),
                                            name="workbench-training", daemon=True)
            self._thread.start()
        except BaseException:
            self._set_running(False)
            self._job_kind = None
            self._run_lock.release()
            raise

    def _work(self, job: Callable[[threading.Event], None], stop_event: threading.Event, description: str) -> None:
        try:
            job(stop_event)
        except BaseException as error:  # noqa: BLE001 - shown in the panel; a thread has no caller
            self._show_error(error, context=f"{description} failed")
            self.status.value = "Failed: see the message below."
        finally:
            self._set_running(False)
            self._sweeping = False
            self._job_kind = None
            self._run_lock.release()

    def _record_run(self, run: Run) -> None:
        self.last_run = run
        self.session_runs.append(run)

    def _run_sweep(self, job: _SweepJob, stop_event: threading.Event) -> None:
        """The sweep's body in the worker thread; `experiments` trains the runs, the hooks draw them."""
        request = job.request
        try:
            if request.kind == "freeze_depth":
                job.sweep = sweep_freeze_depth(
                    request.base_config, list(request.values), list(request.seeds), request.include_fine_tuned,
                    run_callbacks=lambda config: self._sweep_callbacks(job, config),
                    on_run_done=lambda run, sweep: self._sweep_run_done(job, run, sweep), stop_event=stop_event)
            else:
                job.sweep = sweep_label_budget(
                    request.base_config, list(request.values), list(request.seeds), list(request.modes),
                    run_callbacks=lambda config: self._sweep_callbacks(job, config),
                    on_run_done=lambda run, sweep: self._sweep_run_done(job, run, sweep), stop_event=stop_event)
        finally:
            # Also after a failed run: the points so far stay drawn and listed.
            self.last_sweep = job.sweep
            self._show_sweep_progress(job, final=True)
            if job.sweep is not None:
                self.sweep_table.value = format_sweep_table(job.sweep.points(), request.x_title, job.sweep.describe(),
                                                            stopped=stop_event.is_set())
            else:
                self.sweep_table.value = format_sweep_table([], request.x_title)
        planned = request.planned_runs
        if stop_event.is_set():
            self.status.value = (f"<span class='workbench-outcome'>Sweep stopped after {job.done} of {planned} runs; "
                                 "the points so far are drawn and listed below.</span>")
        else:
            self.status.value = (f"<span class='workbench-outcome'>Sweep finished: {planned} runs, "
                                 f"{len(job.sweep.points())} points (mean ± sd over {len(request.seeds)} seed(s)).</span>")

    def _sweep_callbacks(self, job: _SweepJob, config: RunConfig) -> list[Any]:
        """Callbacks of one sweep run: the status line ("sweep run k of N …") and the panel's extras."""
        job.started += 1
        depth = config.freeze_depth if config.mode == "parameter" else None
        copied = f" · copy {config.copy_depth}" if config.copy_depth is not None else ""
        description = (f"sweep run {job.started} of {job.request.planned_runs} "
                       f"({mode_label(config.mode, depth)}{copied} · {self._budget_text(config)} · s{config.seed})")
        return [_StatusUpdates(self._set_status, description), *self.extra_callbacks]

    def _sweep_run_done(self, job: _SweepJob, run: Run, sweep: Sweep) -> None:
        """A sweep run finished: it joins the results table and the sweep figure gains its point."""
        job.done += 1
        job.sweep = sweep
        self._record_run(run)
        self._update_results(select=run.name)
        self._show_sweep_progress(job)

    def _run_rank(self, settings: dict[str, Any], stop_event: threading.Event) -> None:
        """Rank's body in the worker thread: score the cut points, then draw and suggest."""
        self.status.value = html.escape(f"Ranking the blocks of {Path(settings['source']).name} on "
                                        f"{settings['task']} (no training)…")
        try:
            result = score_blocks(settings["source"], settings["task"], per_class=settings["per_class"],
                                  seed=settings["seed"], validation_split=settings["validation_split"],
                                  runs_dir=self.runs_dir)
        finally:
            self._show_rank_suggestion()  # the previous suggestion comes back if scoring failed
        if stop_event.is_set():
            self.status.value = "Rank stopped: its scores were dropped."
            return
        self.last_rank = result
        self._rank_settings = rank_key(settings["source"], settings["task"], settings["per_class"], settings["seed"])
        figure = figures.plot_block_scores(result)
        figure.update_layout(height=380)
        _replace_figure(self.rank_figure, figure)
        self.rank_details.value = format_rank_details(result)
        self.rank_section.selected_index = 0
        self._show_rank_suggestion()
        self.status.value = (f"<span class='workbench-outcome'>Ranked {len(result['cut_points'])} freeze depths in "
                             f"{_format_number(result['seconds'], 1)} s: suggested freeze depth "
                             f"{result['suggested_freeze_depth']}.</span>")

    def _run_diagnosis(self, run: Run, reference: Run | None, stop_event: threading.Event) -> None:
        """The Diagnose body in the worker thread: drift and CKA against the source (and the structure run)."""
        self.status.value = html.escape(f"Diagnosing {run.name}: loading the models…")
        try:
            diagnosis = diagnose_run(run, max_examples=DIAGNOSE_EXAMPLES, runs_dir=self.runs_dir)
            cka = {**diagnosis["cka"], "label": "vs source"}
            curves = [cka]
            if reference is not None:
                self.status.value = html.escape(f"Diagnosing {run.name}: CKA against the structure run…")
                versus = cka_for_run(run, reference, max_examples=DIAGNOSE_EXAMPLES, runs_dir=self.runs_dir)
                curves.append({**versus, "label": f"vs structure (from scratch, s{reference.config.get('seed', 0)})"})
        except WorkbenchError as error:
            self._show_diagnosis_problem(run, error)
            self.status.value = f"Could not diagnose {html.escape(run.name)}: see the Diagnose section."
            return
        if stop_event.is_set():
            self.diagnose_info.value = "<span style='color:#9A6700'>Diagnosis stopped: nothing new is shown.</span>"
            self.status.value = "Diagnosis stopped."
            return
        result = {"run": run.name, "label": run_label(run), "source": diagnosis["drift"]["source"],
                  "drift": diagnosis["drift"], "cka": curves}
        self._diagnoses[run.name] = result
        self.last_diagnosis = result
        if self.report_dropdown.value == run.name:
            self._show_diagnosis(result)
        self.status.value = f"<span class='workbench-outcome'>Diagnosed {html.escape(run.name)}.</span>"

    def _transfer_done(self, run: Run) -> None:
        self._update_results(select=run.name)
        self.status.value = self._describe_outcome(run)

    def _pretrain_done(self, run: Run) -> None:
        # Keep the report the user is reading; with none picked yet, show the new run's.
        self._update_results(select=self.report_dropdown.value or run.name)
        self.refresh_sources(select=run.path)
        self.status.value = self._describe_outcome(run) + " It is now the selected source."

    def _update_results(self, select: str | None) -> None:
        self.results.value = format_results_table([result_row(run) for run in self.session_runs])
        self._updating_reports = True
        try:
            self.report_dropdown.options = [run.name for run in self.session_runs]
            self.report_dropdown.value = select
        finally:
            self._updating_reports = False
        self._show_report()

    def _describe_outcome(self, run: Run) -> str:
        done = run.metrics.get("epochs_completed")
        verb = {"stopped": "Stopped", "failed": "Failed"}.get(run.status, "Finished")
        return (f"<span class='workbench-outcome'>{verb}: {html.escape(run.name)} after {done} epoch(s), "
                f"test accuracy {_format_number(run.test_accuracy)}.</span>")

    def _set_status(self, text: str) -> None:
        if not self._stop_event.is_set():
            self.status.value = html.escape(text)

    def _set_running(self, running: bool) -> None:
        for control in (self.start_button, self.sweep_button, self.pretrain_button, self.source_dropdown,
                        self.refresh_button, self.clear_button, self.rank_button, self.diagnose_button):
            control.disabled = running
        self.stop_button.disabled = not running

    def _budget_text(self, config: RunConfig) -> str:
        return "all" if config.per_class is None else f"{config.per_class}/class"

    def _next_color(self, mode: str) -> str:
        """The mode's colour for its first run on the chart, then distinct colours for repeats."""
        repeats = self._mode_repeats.get(mode, 0)
        self._mode_repeats[mode] = repeats + 1
        if repeats == 0:
            return figures.MODE_COLORS[mode]
        color = figures.FALLBACK_COLORS[self._extra_colors % len(figures.FALLBACK_COLORS)]
        self._extra_colors += 1
        return color


def panel(runs_dir: str | Path = "runs", **options: Any) -> TransferPanel:
    """Build the transfer panel; make it the last expression of a cell to display it.

    Args:
        runs_dir: folder of the run directories (sources are listed from it, runs written to it).
            Defaults to "runs".
        **options: the other `TransferPanel` arguments (task, per_class, epochs, mode, …).

    Returns:
        The panel.
    """
    return TransferPanel(runs_dir=runs_dir, **options)
