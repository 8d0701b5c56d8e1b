"""What the panel's settings will do, before anything trains: plain values in, plain values out.

No widgets here. The freeze-depth preview predicts `transfer_model`'s weight-transfer report from
weight shapes alone; the technique plan mirrors `FineTuningPlan`; the sweep helpers parse and check
what is typed into the sweep boxes. Every function can be called (and tested) without a panel.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras

from workbench import figures
from workbench.config import RunConfig, parse_int_list
from workbench.data import KNOWN_CLASS_NAMES, check_known_classes, parse_task
from workbench.errors import ConfigError
from workbench.sweeps import count_sweep_runs
from workbench.models import HEAD_BLOCK, Block, architecture_of, model_blocks
from workbench.schedules import block_learning_rates, unfreeze_stages
from workbench.transfer_modes import max_freeze_depth, resolve_freeze_depth

SWEEP_KINDS = {"freeze_depth": "freeze depth", "per_class": "labels per class"}
SWEEP_NAMES = {"freeze_depth": "freeze-depth sweep", "per_class": "label-budget sweep"}


# -- the freeze-depth preview --------------------------------------------------------------------


@dataclass(frozen=True)
class LayerPlan:
    """What the freeze preview needs from a source model, read once when the source is picked.

    `layers` holds, per layer in model order: name, block, its weights as
    (shape, trainable-when-the-layer-trains) pairs (BatchNorm moving statistics are never trainable)
    and its output shape without the batch axis (the architecture view's column).
    `batchnorm_layers` counts the BatchNormalization layers (the BatchNorm policy's preview).
    """

    architecture: str
    blocks: tuple[Block, ...]
    layers: tuple[dict[str, Any], ...]
    source_classes: int
    batchnorm_layers: int = 0

    @property
    def deepest(self) -> int:
        """The largest freeze depth of this model (every block below the head)."""
        return max_freeze_depth(list(self.blocks))

    @property
    def block_names(self) -> list[str]:
        """The block names in model order, head last."""
        return [block.name for block in self.blocks]


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
        layers.append({"layer": layer.name, "block": block_of.get(layer.name, "?"), "weights": weights,
                       "output_shape": _output_shape(layer)})
        if layer.name == HEAD_BLOCK and weights:
            source_classes = weights[0][0][-1]
    return LayerPlan(architecture_of(model), blocks, tuple(layers), source_classes, batchnorm_layers)


def _output_shape(layer: Any) -> tuple[int | None, ...]:
    """A layer's output shape without the batch axis ((13, 13, 32)); () where Keras does not say."""
    try:
        return tuple(None if size is None else int(size) for size in layer.output.shape[1:])
    except (AttributeError, ValueError):  # a layer that was never called, or has several outputs
        return ()


def _layer_action(plan: LayerPlan, layer: dict[str, Any], mode: str, classes: int,
                  has_weights: bool) -> tuple[str, str]:
    """What `transfer_model` does with one layer's weights, and why."""
    if not has_weights:
        return "no weights", "layer has no weights"
    if mode == "structure":
        return "re-initialised", "structure transfer starts from fresh weights"
    if mode == "feature" and layer["block"] == HEAD_BLOCK:
        return "re-initialised", "feature transfer trains a new head"
    if layer["layer"] == HEAD_BLOCK and classes != plan.source_classes:
        return "skipped", f"{plan.source_classes} source classes vs {classes} target classes; new head"
    return "copied", "same shape"


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
        action, reason = _layer_action(plan, layer, mode, classes, bool(weights))
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


def format_freeze_preview(report: dict[str, Any]) -> str:
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


def target_class_names(task: str) -> list[str] | None:
    """The class names a task selects, for datasets whose classes are known without loading.

    So a task's class list is checked (and counted, for the freeze preview) as it is typed, even
    for cifar10, which would otherwise download first.

    Returns:
        The selected class names in order, or None for a folder dataset (checked when loaded).

    Raises:
        DataError: unknown dataset, unknown class name, index out of range, repeated class.
    """
    spec = parse_task(task)
    indices = check_known_classes(spec)
    if indices is None:
        return None
    return [KNOWN_CLASS_NAMES[spec.dataset][index] for index in indices]


def budget_text(config: RunConfig) -> str:
    """A run's label budget for labels and status lines: "5/class", or "all"."""
    return "all" if config.per_class is None else f"{config.per_class}/class"


# -- the fine-tuning technique plan --------------------------------------------------------------


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


def _describe_stages(config: RunConfig, blocks: Sequence[Block]) -> str:
    """The stages of `technique_stages` as text: "epochs 1–3: conv3, head at 1.0e-03 (conv1 frozen) → …"."""
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
    return " → ".join(parts)


def _describe_batchnorm_and_cache(config: RunConfig, batchnorm_layers: int) -> list[str]:
    """The plan's facts about BatchNorm in frozen blocks and the feature cache, where they apply."""
    facts = []
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
    return facts


def format_technique_preview(config: RunConfig, blocks: Sequence[Block], batchnorm_layers: int = 0) -> str:
    """One line of HTML: what each stage trains at which rate, what is copied, cached and augmented.

    Raises:
        ConfigError: as `technique_stages`.
    """
    names = [block.name for block in blocks]
    facts = [_describe_stages(config, blocks)]
    if config.mode == "parameter" and config.copy_depth is not None:
        copied, fresh = names[:config.copy_depth], names[config.copy_depth:]
        facts.append(f"copies {', '.join(copied) or 'no block'}; {', '.join(fresh)} start fresh")
    facts += _describe_batchnorm_and_cache(config, batchnorm_layers)
    facts.append(f"augmentation: {config.augment.replace(',', ', ')}")
    return (f"<div class='workbench-technique-preview' style='color:#24292F'><b>Plan:</b> "
            f"{html.escape(' · '.join(facts))}</div>")


# -- sweeps: what is typed into the sweep boxes, and what it will train -------------------------


def parse_sweep_values(text: str, name: str, allow_all: bool, minimum: int = 0) -> list[int | None] | None:
    """Parse a comma list typed into a sweep box: "0,2,4" → [0, 2, 4]; an empty box → None.

    The rules are `workbench.config.parse_int_list`'s (the CLI and papermill use them too); the
    panel adds only that an empty box means "the default".

    Args:
        text: the typed list.
        name: what the numbers are ("depths", "budgets"), for the error message.
        allow_all: whether "all" may appear in the list (as None: every training example).
        minimum: the smallest allowed number. Defaults to 0.

    Returns:
        The numbers in the order typed; None for an empty box (the caller's default).

    Raises:
        ConfigError: a token that is neither a whole number of at least `minimum` nor an allowed
            "all", or a repeated value.
    """
    if not str(text).replace(";", ",").replace(",", "").strip():
        return None
    example = "1,5,25,all" if allow_all else "0,2,4"
    return parse_int_list(str(text), name, allow_all=allow_all, minimum=minimum,
                          fix=f"Type the {name} separated by commas, for example {example}.")


def sweep_depths(text: str, plan: LayerPlan) -> list[int]:
    """The freeze depths typed into the sweep's Depths box, checked against the source model.

    Returns:
        The depths typed, or every depth 0..deepest for an empty box.

    Raises:
        ConfigError: a bad list, or a depth deeper than the model allows (the message names the
            blocks and the range).
    """
    deepest = plan.deepest
    depths = parse_sweep_values(text, "depths", allow_all=False)
    depths = list(range(deepest + 1)) if depths is None else depths
    outside = [depth for depth in depths if depth > deepest]
    if outside:
        raise ConfigError(
            f"depths={text!r}: {', '.join(map(str, outside))} is deeper than this source "
            f"model allows (0..{deepest}: blocks {', '.join(plan.block_names)}). "
            f"Type depths between 0 and {deepest}, or leave the box empty for every depth.")
    return depths


def sweep_budgets(text: str) -> list[int | None]:
    """The label budgets typed into the sweep's Budgets box: labels per class (1 or more), or "all" (None).

    Raises:
        ConfigError: an empty box, a bad or repeated item, or a budget below 1.
    """
    budgets = parse_sweep_values(text, "budgets", allow_all=True, minimum=1)
    if budgets is None:
        raise ConfigError("budgets='' is empty. Type labels per class separated by commas, e.g. 1,5,25,all.")
    return budgets


def format_sweep_plan(kind: str, values: Sequence[int | None], seeds: Sequence[int], modes: Sequence[str],
                      runs: int, epochs: int) -> str:
    """The line under the sweep settings: what is swept, over how many seeds, and how many runs of how long."""
    depth_sweep = kind == "freeze_depth"
    shown = ", ".join("all" if value is None else str(value) for value in values)
    shown = f"{'depths' if depth_sweep else 'budgets'} {shown}" + ("" if depth_sweep else f" · {', '.join(modes)}")
    return (f"<span class='workbench-sweep-plan'>{html.escape(shown)} × {len(seeds)} "
            f"seed(s): <b>{runs}</b> runs of {epochs} epoch(s).</span>")


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
