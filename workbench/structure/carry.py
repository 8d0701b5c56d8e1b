"""Carry a source model into an edited architecture: build it, give each layer its weights, report.

Layer by layer, in the new model's order: a kept layer gets the source layer's weights where the
mode copies its block and the shapes fit; a Net2Net layer gets the function-preserving weights
(`workbench.structure.net2net`): a widened layer its replicated units, the next weighted layer its
incoming weights divided by the replication counts (through a flatten, by its channels-last index
map), a deepened layer the identity; an added layer keeps Keras' seeded initialisation. The head
follows the one head rule of `workbench.transfer_modes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from workbench.errors import ConfigError
from workbench.models import HEAD_BLOCK, Block, count_parameters, model_blocks
from workbench.structure import net2net
from workbench.structure.builder import PlannedLayer, build_structure, plan_structure
from workbench.structure.spec import Edit, format_edits

GROWN = "grown (function-preserving)"
EDIT_KINDS = ("kept", "cut", "added", "grown", "copied")


@dataclass
class _Pending:
    """A widened layer whose next weighted layer still has to take the replication into account."""

    layer: str
    width: net2net.WidthMap
    positions: int | None = None  # height × width when a flatten lies between


def transfer_edited_model(source_model: Any, mode: str, num_classes: int, freeze_depth: int | None, seed: int,
                          copy_depth: int | None, batchnorm: str, head_init: str, edits: tuple[Edit, ...],
                          grow_noise: float) -> tuple[Any, dict[str, Any]]:
    """`workbench.transfer_modes.transfer_model` for a non-empty edit spec (same arguments and report keys).

    Raises:
        ConfigError: a bad edit for this model, or a freeze or copy depth outside the edited blocks.
    """
    from workbench.transfer_modes import NewHead, freeze_blocks, resolve_freeze_depth

    plan = plan_structure(source_model, edits)
    model = build_structure(plan, num_classes, seed)
    blocks = model_blocks(model)
    if copy_depth is not None and not 0 <= copy_depth <= len(blocks):
        raise ConfigError(f"copy_depth={copy_depth} is outside 0..{len(blocks)} (the edited model's {len(blocks)} "
                          f"blocks: {', '.join(block.name for block in blocks)}). Pass --copy-depth between 0 and "
                          f"{len(blocks)}, or leave it out to copy every block.")
    copied = set() if mode == "structure" else {
        block.name for block in blocks[: len(blocks) if copy_depth is None else copy_depth]}
    if mode == "feature":
        copied.discard(HEAD_BLOCK)  # feature transfer always trains a new head
    carrier = _Carrier(source_model, {planned.name: planned for planned in plan.chain}, copied,
                       np.random.default_rng(seed), grow_noise, mode, copy_depth)
    block_of = {name: block.name for block in blocks for name in block.layer_names}
    rows = [carrier.carry(layer, block_of[layer.name]) for layer in model.layers[:-1]]
    below_head = blocks[-2].name if len(blocks) > 1 else None
    on_copied = below_head is not None and _carries_source_weights(rows, below_head)
    head_row = carrier.carry_head(model.get_layer(HEAD_BLOCK), NewHead(on_copied, head_init))
    rows.append(head_row)
    if mode == "feature":
        depth = next((index for index, block in enumerate(blocks[:-1])
                      if not _carries_source_weights(rows, block.name)), len(blocks) - 1)
    else:
        depth = resolve_freeze_depth(mode, freeze_depth, blocks)
    freeze_blocks(model, depth, blocks, batchnorm)
    for row, layer in zip(rows, model.layers):
        row["trainable"] = bool(layer.trainable)
        row["params"] = int(sum(np.prod(weight.shape) for weight in layer.weights))
    rows = _with_cut_rows(rows, source_model, model, plan.source_blocks)
    report = {
        "mode": mode, "architecture": plan.architecture, "freeze_depth": depth, "copy_depth": copy_depth,
        "batchnorm": batchnorm, "head_init": head_init,
        "head": {"init": head_row["init"], "reason": head_row["reason"]},
        "blocks": [{"name": block.name, "frozen": index < depth, "layers": list(block.layer_names)}
                   for index, block in enumerate(blocks)],
        "layers": rows, "edits": format_edits(edits), "grow_noise": grow_noise,
        "structure": count_edits(rows), **count_parameters(model),
    }
    return model, report


def count_edits(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Layers per edit kind (kept, cut, added, grown) and how many layers got copied weights."""
    counts = dict.fromkeys(EDIT_KINDS, 0)
    for row in rows:
        counts["grown" if row["edit"] == GROWN else row["edit"]] += 1
        counts["copied"] += row["action"] == "copied"
    return counts


def _carries_source_weights(rows: list[dict[str, Any]], block: str) -> bool:
    """Whether every weighted layer of a block starts from the source (copied or grown), and it has one."""
    weighted = [row for row in rows if row["block"] == block and row["action"] != "no weights"]
    return bool(weighted) and all(row["init"] in ("copied", "grown") for row in weighted)


class _Carrier:
    """Gives each layer of the edited model its starting weights, in order, and says why."""

    def __init__(self, source_model: Any, planned: dict[str, PlannedLayer], copied: set[str],
                 rng: np.random.Generator, noise: float, mode: str, copy_depth: int | None) -> None:
        self.source_layers = {layer.name: layer for layer in source_model.layers}
        self.planned, self.copied, self.rng, self.noise = planned, copied, rng, noise
        self.fresh_reason = {"structure": "structure transfer",
                             "feature": "feature transfer trains a new head"}.get(mode, f"above copy depth {copy_depth}")
        self.pending: _Pending | None = None

    def carry(self, layer: Any, block: str) -> dict[str, Any]:
        """Start one layer below the head; returns its report row (without trainable/params)."""
        planned = self.planned.get(layer.name)
        kind = planned.edit if planned else "kept"
        row = {"layer": layer.name, "block": block, "action": "", "reason": "", "init": None,
               "edit": "added" if kind == "added" else "kept"}
        if not layer.weights:
            if self.pending and isinstance(layer, keras.layers.Flatten):
                self.pending.positions = int(np.prod(layer.input.shape[1:3]))
            return {**row, "action": "no weights", "reason": "layer has no weights"}
        source = self.source_layers.get(planned.source if planned else layer.name) if kind != "deep" else None
        if kind == "added" or block not in self.copied:
            self.pending = None
            why = "added by the edit: fresh weights (Keras initialisation)" if kind in ("added", "deep") else \
                f"{self.fresh_reason}: fresh weights (Keras initialisation)"
            return {**row, "action": "re-initialised", "reason": why, "init": "keras",
                    "edit": "added" if kind in ("added", "deep") else "kept"}
        if kind == "deep":
            return self._deepen(layer, row)
        weights, reason = self._grown_incoming(source.get_weights() if source else [])
        if kind == "widened" and weights:
            return self._widen(layer, row, weights, reason)
        return self._copy(layer, row, weights, reason, source)

    def carry_head(self, layer: Any, new_head: Any) -> dict[str, Any]:
        """Start the head: copied (rows remapped after a widened layer) where it fits, else the head rule."""
        row = {"layer": layer.name, "block": HEAD_BLOCK, "action": "", "reason": "", "init": None, "edit": "kept"}
        source = self.source_layers.get(HEAD_BLOCK)
        if HEAD_BLOCK not in self.copied:
            init, reason = new_head.start(layer, self.fresh_reason)
            return {**row, "action": "re-initialised", "reason": reason, "init": init}
        if not new_head.on_copied_features:
            # A source head read features the new block below it does not compute: the head rule, not a copy.
            init, reason = new_head.start(layer, "the block below the head is new")
            return {**row, "action": "re-initialised", "reason": reason, "init": init}
        weights, remapped = self._grown_incoming(source.get_weights() if source else [])
        if _shapes(weights) != _shapes(layer.get_weights()):
            init, reason = new_head.start(layer, f"shape mismatch: source {_text(_shapes(weights))} vs target "
                                                 f"{_text(_shapes(layer.get_weights()))}")
            return {**row, "action": "skipped", "reason": reason, "init": init}
        return self._copy(layer, row, weights, remapped, source)

    def _grown_incoming(self, weights: list[np.ndarray]) -> tuple[list[np.ndarray], str]:
        """The source weights, with the incoming rows remapped if the previous weighted layer was widened."""
        pending, self.pending = self.pending, None
        if pending is None or not weights:
            return weights, ""
        kernel = weights[0]
        if pending.positions is not None and kernel.ndim == 2:
            if kernel.shape[0] != pending.positions * pending.width.old:
                return weights, ""
            kernel = net2net.widen_incoming_through_flatten(kernel, pending.width, pending.positions)
        elif kernel.shape[-2] == pending.width.old:
            kernel = net2net.widen_incoming(kernel, pending.width)
        else:
            return weights, ""
        kernel = net2net.add_noise(kernel, self.noise, self.rng)
        return [kernel, *weights[1:]], (f"Net2WiderNet: incoming weights from the widened {pending.layer} divided "
                                        f"by the replication counts{self._noise_words()}")

    def _widen(self, layer: Any, row: dict[str, Any], weights: list[np.ndarray], incoming: str) -> dict[str, Any]:
        kernel, bias = weights[0], weights[1]
        new_width = int(layer.get_weights()[0].shape[-1])
        width = net2net.widen_map(int(kernel.shape[-1]), new_width, self.rng)
        kernel, bias = net2net.widen_outgoing(kernel, bias, width)
        grown = [net2net.add_noise(kernel, self.noise, self.rng), bias]
        if _shapes(grown) != _shapes(layer.get_weights()):
            return {**row, "action": "skipped", "init": "keras", "reason": f"shape mismatch: source "
                    f"{_text(_shapes(grown))} vs target {_text(_shapes(layer.get_weights()))}; fresh weights"}
        layer.set_weights(grown)
        self.pending = _Pending(layer.name, width)
        reason = (f"Net2WiderNet: {width.old} → {new_width} units, new units copy random old ones"
                  f"{self._noise_words()}" + (f"; {incoming}" if incoming else ""))
        return {**row, "action": "grown", "reason": reason, "init": "grown", "edit": GROWN}

    def _deepen(self, layer: Any, row: dict[str, Any]) -> dict[str, Any]:
        shapes = _shapes(layer.get_weights())
        make = net2net.identity_conv if len(shapes[0]) == 4 else net2net.identity_dense
        kernel, bias = make(shapes[0][-1]) if len(shapes[0]) == 2 else make(shapes[0][-1], shapes[0][0])
        layer.set_weights([net2net.add_noise(kernel, self.noise, self.rng), bias])
        # The identity keeps a widened layer's replicated units as they are, so the remap waits for
        # the next layer (`self.pending` is left untouched).
        return {**row, "action": "grown", "init": "grown", "edit": GROWN,
                "reason": f"Net2DeeperNet: identity-initialised{self._noise_words()}"}

    def _copy(self, layer: Any, row: dict[str, Any], weights: list[np.ndarray], remapped: str,
              source: Any) -> dict[str, Any]:
        target = _shapes(layer.get_weights())
        if source is None:
            return {**row, "action": "skipped", "init": "keras",
                    "reason": "no layer of this name in the source; fresh weights"}
        if _shapes(weights) != target:
            return {**row, "action": "skipped", "init": "keras", "reason": f"shape mismatch: source "
                    f"{_text(_shapes(weights))} vs target {_text(target)}; fresh weights"}
        layer.set_weights(weights)
        if remapped:
            return {**row, "action": "grown", "init": "grown", "edit": GROWN, "reason": remapped}
        return {**row, "action": "copied", "reason": "same shape", "init": "copied"}

    def _noise_words(self) -> str:
        return f"; noise {self.noise:g} × std" if self.noise > 0 else ""


def _with_cut_rows(rows: list[dict[str, Any]], source_model: Any, model: Any,
                   source_blocks: list[Block]) -> list[dict[str, Any]]:
    """Add a "cut" row per source layer not in the new model, after the last source layer kept before it."""
    present = {layer.name for layer in model.layers}
    block_of = {name: block.name for block in source_blocks for name in block.layer_names}
    after: dict[str | None, list[dict[str, Any]]] = {}
    anchor = None
    for layer in source_model.layers:
        if layer.name in present:
            anchor = layer.name
            continue
        after.setdefault(anchor, []).append({
            "layer": layer.name, "block": block_of.get(layer.name, "?"), "action": "cut", "init": None,
            "reason": "cut: not in the edited network", "edit": "cut", "trainable": False,
            "params": int(sum(np.prod(weight.shape) for weight in layer.weights))})
    result = after.get(None, [])
    for row in rows:
        result = [*result, row, *after.get(row["layer"], [])]
    return result


def _shapes(weights: list[np.ndarray]) -> list[tuple[int, ...]]:
    return [tuple(weight.shape) for weight in weights]


def _text(shapes: list[tuple[int, ...]]) -> str:
    return ", ".join("x".join(str(size) for size in shape) for shape in shapes)
