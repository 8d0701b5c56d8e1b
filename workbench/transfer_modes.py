"""The three transfer modes, freeze depth, head replacement and the weight-transfer report.

(The module is `transfer_modes` so that `workbench.transfer` stays the API verb.)

| mode       | copied from the source       | frozen                          | trains               |
|------------|------------------------------|---------------------------------|----------------------|
| parameter  | every weight whose shape fits | the first `freeze_depth` blocks | the blocks above     |
| feature    | everything but the head      | the whole feature extractor     | a new head           |
| structure  | nothing                      | nothing                         | everything (baseline) |

The transferred model is always a fresh model of the source's architecture and input shape with a
head sized for the target's classes; weights are copied layer by layer, by name.

One rule for new heads: a head trained on top of copied features starts the same way whatever
path built it (feature transfer; parameter transfer whose copy depth reaches the block below the
head; a head replaced because the class count changed): zero-initialised, or Keras' random
initialisation with `head_init="keras"`. So feature transfer and parameter transfer with copy
depth = freeze depth = every block below the head build the same network with the same weights.
A head above a fresh block starts fresh like the blocks below it (Keras' initialisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from workbench.config import HEAD_INITS, MODES, RunConfig
from workbench.errors import ConfigError
from workbench.models import HEAD_BLOCK, Block, architecture_of, build_model, count_parameters, model_blocks


def max_freeze_depth(blocks: list[Block]) -> int:
    """The deepest allowed freeze depth: every block but the head, which always trains."""
    return len(blocks) - 1


def resolve_freeze_depth(mode: str, freeze_depth: int | None, blocks: list[Block]) -> int:
    """The freeze depth a mode uses: parameter takes the user's (default 0), the others fix it.

    Raises:
        ConfigError: unknown mode, or a depth outside 0..(number of blocks below the head).
    """
    if mode not in MODES:
        raise ConfigError(
            f"mode={mode!r} is not known. Allowed modes: {', '.join(MODES)}. Pass --mode parameter, for example."
        )
    deepest = max_freeze_depth(blocks)
    if mode == "feature":
        return deepest
    if mode == "structure":
        return 0
    depth = 0 if freeze_depth is None else int(freeze_depth)
    if not 0 <= depth <= deepest:
        names = ", ".join(block.name for block in blocks)
        raise ConfigError(
            f"freeze_depth={depth} is outside 0..{deepest}: this model has {len(blocks)} blocks ({names}) "
            f"and the head always trains. Pass --freeze-depth between 0 (fine-tune everything) and {deepest} "
            "(freeze every block below the head)."
        )
    return depth


def freeze_blocks(model: Any, depth: int, blocks: list[Block] | None = None, batchnorm: str = "frozen") -> None:
    """Freeze the first `depth` blocks and make every later block trainable.

    Keras 3 runs a BatchNormalization layer whose `trainable` is False in inference mode, so with
    `batchnorm="frozen"` frozen blocks keep their normalisation statistics as well as their
    weights. `batchnorm="train"` (fastai's `train_bn`) leaves the BatchNorm layers of frozen
    blocks trainable: they update their statistics, gamma and beta to the target data. The model
    must be (re)compiled, or its train function rebuilt, afterwards: `trainable` changes take
    effect only when the train step is traced again.
    """
    blocks = blocks or model_blocks(model)
    frozen_layers = {name for block in blocks[:depth] for name in block.layer_names}
    for layer in model.layers:
        keep_training = batchnorm == "train" and isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = layer.name not in frozen_layers or keep_training


def transfer_model(
    source_model: Any,
    mode: str,
    num_classes: int,
    freeze_depth: int | None = None,
    seed: int = 0,
    copy_depth: int | None = None,
    batchnorm: str = "frozen",
    head_init: str = "zero",
    edits: str | Sequence[str] = "",
    grow_noise: float = 0.0,
) -> tuple[Any, dict[str, Any]]:
    """Carry a source model to a target task with `num_classes` classes.

    Args:
        source_model: a model built by `workbench.models.build_model` (loaded from a source run).
        mode: "parameter", "feature" or "structure".
        num_classes: number of target classes (the new head's width).
        freeze_depth: leading blocks to freeze (parameter mode only; default 0).
        seed: seeds the fresh weights (the new head, and everything in structure mode).
        copy_depth: parameter mode: copy only the first n blocks, start the rest fresh
            (Yosinski's AnB/AnB+). None copies every block whose shapes fit.
        batchnorm: "frozen" or "train": what BatchNorm layers in frozen blocks do.
        head_init: how a new head on copied features starts: "zero" or "keras" (see the module
            docstring). Defaults to "zero".
        edits: structure edits (`workbench.structure.spec`), e.g. "cut conv2; add dense 128" or
            "widen dense1 to 128"; the edited architecture is built and the weights carried into it
            (`workbench.structure.carry`). Freeze and copy depth then count the edited model's
            blocks. "" (the default) transfers the source's own architecture.
        grow_noise: Net2Net growth: the standard deviation of the noise added to grown weights,
            relative to the weights' standard deviation; 0 keeps the function exactly. Defaults to 0.

    Returns:
        The new model (not compiled) and its weight-transfer report; `report["head"]` says how
        the head started and why; each row's `edit` is "kept", "cut", "added" or "grown
        (function-preserving)"; `report["edits"]` is the canonical spec and `report["structure"]`
        the layer counts per edit kind.

    Raises:
        ConfigError: unknown mode or head_init, a freeze or copy depth out of range, or an edit
            this model cannot take (unknown block, a cut at the head, a widen to fewer units, an
            input too small for the cut network, widen/deepen on a backbone).
    """
    from workbench.structure.spec import parse_edits

    parsed = parse_edits(edits)
    if parsed:
        from workbench.structure.carry import transfer_edited_model

        if head_init not in HEAD_INITS:
            raise ConfigError(f"head_init={head_init!r} is not known. Allowed values: {', '.join(HEAD_INITS)}. "
                              "Pass --head-init zero, for example.")
        return transfer_edited_model(source_model, mode, num_classes, freeze_depth, seed, copy_depth, batchnorm,
                                     head_init, parsed, float(grow_noise))
    blocks = model_blocks(source_model)
    depth = resolve_freeze_depth(mode, freeze_depth, blocks)
    if copy_depth is not None and not 0 <= copy_depth <= len(blocks):
        raise ConfigError(
            f"copy_depth={copy_depth} is outside 0..{len(blocks)} (this model's {len(blocks)} blocks). "
            f"Pass --copy-depth between 0 and {len(blocks)}, or leave it out to copy every block."
        )
    if head_init not in HEAD_INITS:
        raise ConfigError(f"head_init={head_init!r} is not known. Allowed values: {', '.join(HEAD_INITS)}. "
                          "Pass --head-init zero, for example.")
    copied_blocks = set() if mode == "structure" else {
        block.name for block in blocks[: len(blocks) if copy_depth is None else copy_depth]}
    if mode == "feature":
        copied_blocks.discard(HEAD_BLOCK)  # feature transfer always trains a new head
    input_shape = tuple(int(size) for size in source_model.input_shape[1:])
    model = build_model(architecture_of(source_model), num_classes, input_shape=input_shape, seed=seed)
    block_of = {name: block.name for block in blocks for name in block.layer_names}
    source_layers = {layer.name: layer for layer in source_model.layers}
    below_head = blocks[-2].name
    new_head = NewHead(on_copied_features=below_head in copied_blocks, head_init=head_init)
    rows = [_carry_layer(layer, block_of.get(layer.name, "?"), copied_blocks, source_layers.get(layer.name),
                         new_head, _fresh_reason(mode, copy_depth)) for layer in model.layers]
    freeze_blocks(model, depth, blocks, batchnorm)
    trainable_by_layer = {layer.name: layer.trainable for layer in model.layers}
    params_by_layer = {layer.name: int(sum(np.prod(w.shape) for w in layer.weights)) for layer in model.layers}
    for row in rows:
        row["trainable"] = bool(trainable_by_layer[row["layer"]])
        row["params"] = params_by_layer[row["layer"]]
        row["edit"] = "kept"
    report = {
        "mode": mode,
        "architecture": architecture_of(source_model),
        "freeze_depth": depth,
        "copy_depth": copy_depth,
        "batchnorm": batchnorm,
        "head_init": head_init,
        "head": _head_summary(rows),
        "blocks": [
            {"name": block.name, "frozen": index < depth, "layers": list(block.layer_names)}
            for index, block in enumerate(blocks)
        ],
        "layers": rows,
        "edits": "",
        "grow_noise": 0.0,
        "structure": {"kept": len(rows), "cut": 0, "added": 0, "grown": 0,
                      "copied": sum(row["action"] == "copied" for row in rows)},
        **count_parameters(model),
    }
    return model, report



def transfer_model_for(source_model: Any, config: RunConfig, num_classes: int) -> tuple[Any, dict[str, Any]]:
    """`transfer_model` with a run config's transfer settings (mode, freeze and copy depth,
    BatchNorm policy, head init, edits, seed): the one call a run, the panel's preview and a
    study's pre-flight check share, so that they build the same network."""
    return transfer_model(source_model, config.mode, num_classes, config.freeze_depth, seed=config.seed,
                          copy_depth=config.copy_depth, batchnorm=config.batchnorm, head_init=config.head_init,
                          edits=config.edits, grow_noise=config.grow_noise)

@dataclass(frozen=True)
class NewHead:
    """The one rule for a new head: on copied features it starts as `head_init` says; above a
    fresh block it keeps Keras' initialisation like that block."""

    on_copied_features: bool
    head_init: str

    def start(self, layer: Any, why: str) -> tuple[str, str]:
        """Initialise `layer` (a new head) and return its (init, reason) for the report."""
        if not self.on_copied_features:
            return "keras", f"{why}; fresh, like the block below it (Keras initialisation)"
        if self.head_init == "zero":
            _zero_weights(layer)
            return "zero", f"{why}; new head on copied features: zero-initialised (head_init=zero)"
        return "keras", f"{why}; new head on copied features: Keras initialisation (head_init=keras)"


def _fresh_reason(mode: str, copy_depth: int | None) -> str:
    """Why a layer that is not copied starts fresh, by mode."""
    return {"structure": "structure transfer",
            "feature": "feature transfer trains a new head"}.get(mode, f"above copy depth {copy_depth}")


def _carry_layer(layer: Any, block: str, copied_blocks: set[str], source_layer: Any, new_head: NewHead,
                 fresh_reason: str) -> dict[str, Any]:
    """Give one layer of the new model its starting weights (copied, fresh or a new head) and say why.

    A layer keeps the initialisation `build_model` gave it (Keras', seeded) unless it is copied,
    or is a new head on copied features, which starts as `head_init` says.
    """
    row = {"layer": layer.name, "block": block, "action": "", "reason": "", "init": None}
    target_shapes = [tuple(weight.shape) for weight in layer.weights]
    source_shapes = [tuple(weight.shape) for weight in source_layer.weights] if source_layer else []
    mismatch = f"shape mismatch: source {_shapes(source_shapes)} vs target {_shapes(target_shapes)}"
    if not target_shapes:
        row.update(action="no weights", reason="layer has no weights")
    elif block == HEAD_BLOCK and block not in copied_blocks:
        init, reason = new_head.start(layer, fresh_reason)
        row.update(action="re-initialised", reason=reason, init=init)
    elif block == HEAD_BLOCK and source_shapes != target_shapes:
        init, reason = new_head.start(layer, mismatch)
        row.update(action="skipped", reason=reason, init=init)
    elif block not in copied_blocks:
        row.update(action="re-initialised", reason=f"{fresh_reason}: fresh weights (Keras initialisation)",
                   init="keras")
    elif source_layer is None:
        row.update(action="skipped", reason="no layer of this name in the source; fresh weights", init="keras")
    elif source_shapes != target_shapes:
        row.update(action="skipped", reason=f"{mismatch}; fresh weights", init="keras")
    else:
        layer.set_weights(source_layer.get_weights())
        row.update(action="copied", reason="same shape", init="copied")
    return row


HEAD_INIT_WORDS = {"zero": "at zero", "keras": "from Keras' initialisation", "copied": "copied from the source"}


def _head_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The head's row of the report, reduced to how it started and why."""
    head = next(row for row in rows if row["layer"] == HEAD_BLOCK)
    return {"init": head["init"], "reason": head["reason"]}


def _zero_weights(layer: Any) -> None:
    """Start a new head at zero, as BiT (Kolesnikov et al., 2020) does for transfer.

    A randomly initialised head on top of large, already-trained features produces large random
    logits; with zeros the first predictions are uniform (loss = log k) and the pretrained features
    are not disturbed by the head's early gradients. Structure transfer keeps Keras' default
    initialisation, since it is the plain from-scratch baseline.
    """
    layer.set_weights([np.zeros(weight.shape, dtype="float32") for weight in layer.weights])


def _shapes(shapes: list[tuple[int, ...]]) -> str:
    return ", ".join("x".join(str(size) for size in shape) for shape in shapes)


def format_transfer_report(report: dict[str, Any]) -> str:
    """The weight-transfer report as a fixed-width text table (for the CLI and run folders).

    A report with structure edits adds their spec, a one-line summary ("structure: cut 3 layers,
    added 2, grown 1, copied 5") and an `edit` column.
    """
    lines = [
        f"mode={report['mode']}  freeze_depth={report['freeze_depth']}  "
        f"trainable={report['trainable_params']:,}  frozen={report['frozen_params']:,}",
    ]
    if report.get("head"):  # reports written before head_init existed lack it
        head = report["head"]
        lines.append(f"head starts {HEAD_INIT_WORDS.get(head['init'], head['init'])}: {head['reason']}")
    edited = bool(report.get("edits"))  # reports written before structure edits existed lack them
    if edited:
        lines.append(f"edits: {report['edits']}")
        lines.append(structure_summary(report["structure"]))
    edit_header = f" {'edit':<28}" if edited else ""
    lines.append(f"{'layer':<28} {'block':<8} {'action':<15} {'state':<9} {'params':>10}{edit_header}  reason")
    for row in report["layers"]:
        state = "-" if row["action"] == "cut" else "trainable" if row["trainable"] else "frozen"
        edit = f" {row.get('edit', 'kept'):<28}" if edited else ""
        lines.append(
            f"{row['layer']:<28} {row['block']:<8} {row['action']:<15} {state:<9} {row['params']:>10,}{edit}  "
            f"{row['reason']}"
        )
    return "\n".join(lines)


def structure_summary(counts: dict[str, int]) -> str:
    """One line from a report's `structure` counts, e.g. "structure: cut 3 layers, added 2, grown 1, copied 5"."""
    cut = counts.get("cut", 0)
    return (f"structure: cut {cut} layer{'' if cut == 1 else 's'}, added {counts.get('added', 0)}, "
            f"grown {counts.get('grown', 0)}, copied {counts.get('copied', 0)}")
