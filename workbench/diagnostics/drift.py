"""Weight drift: how far a transfer run's weights moved from the source weights they were copied from.

`weight_drift` compares two models in memory; `drift_for_run` finds a transfer run's source run,
and `diagnose_run` adds the CKA curve, for the panel's "Diagnose" view.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.diagnostics.similarity import cka_for_run
from workbench.runs import as_run, run_label, source_run_of


def weight_drift(
    model_before: Any,
    model_after: Any,
    fresh_layers: Sequence[str] = (),
    frozen_blocks: Sequence[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Relative weight change ‖W_after − W_before‖ / ‖W_before‖ per layer and per block.

    Layers are matched by name. All of a layer's variables count (kernels, biases and, for
    BatchNorm, the moving statistics, which a trained block updates too), taken together as one
    vector. A block's drift is the same ratio over all its compared layers together, so large
    layers weigh more than small ones.

    A layer listed in `fresh_layers`, absent from `model_before`, or of a different shape there,
    did not start from `model_before`'s weights (a transfer re-initialised it); its drift is NaN and
    its origin "fresh", since the distance to unrelated weights says nothing about training.

    Args:
        model_before: where training started for the copied layers (the source model).
        model_after: the trained model.
        fresh_layers: layer names that were re-initialised rather than copied. Defaults to none.
        frozen_blocks: names of the blocks that were frozen, for the report. Defaults to the
            blocks whose weighted layers are all non-trainable in `model_after`.

    Returns:
        {"layers": [{"layer", "block", "origin" ("copied" or "fresh"), "trainable", "params",
        "change", "norm_before", "drift"}], "blocks": [{"block", "origin" ("copied", "fresh",
        "mixed" or "no weights"), "frozen", "params", "drift"}]}. Layers without weights are left
        out of "layers".
    """
    # Here, not at the top: workbench.models imports Keras, which the rest of the package does not need.
    from workbench.models import model_blocks

    layer_rows = _layer_drift_rows(model_before, model_after, set(fresh_layers))
    blocks = model_blocks(model_after)
    block_of = {name: block.name for block in blocks for name in block.layer_names}
    for row in layer_rows:
        row["block"] = block_of.get(row["layer"], "?")
    return {"layers": layer_rows, "blocks": [_block_drift_row(block.name, layer_rows, frozen_blocks)
                                             for block in blocks]}


def _layer_drift_rows(model_before: Any, model_after: Any, fresh: set[str]) -> list[dict[str, Any]]:
    """One row per weighted layer of `model_after` (its "block" is filled in by the caller)."""
    before_layers = {layer.name: layer for layer in model_before.layers}
    rows = []
    for layer in model_after.layers:
        after = [np.asarray(weight, dtype=np.float64) for weight in layer.get_weights()]
        if not after:
            continue
        before_layer = before_layers.get(layer.name)
        before = [np.asarray(weight, dtype=np.float64) for weight in before_layer.get_weights()] if before_layer else []
        comparable = layer.name not in fresh and [w.shape for w in before] == [w.shape for w in after]
        row = {"layer": layer.name, "block": "", "origin": "copied" if comparable else "fresh",
               "trainable": bool(layer.trainable), "params": int(sum(w.size for w in after)),
               "change": math.nan, "norm_before": math.nan, "drift": math.nan}
        if comparable:
            row["change"] = math.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in zip(after, before)))
            row["norm_before"] = math.sqrt(sum(float(np.sum(b**2)) for b in before))
            row["drift"] = row["change"] / row["norm_before"] if row["norm_before"] > 0 else math.nan
        rows.append(row)
    return rows


def _block_drift_row(block: str, layer_rows: list[dict[str, Any]],
                     frozen_blocks: Sequence[str] | None) -> dict[str, Any]:
    """A block's drift over its copied layers together, its origin and whether it was frozen."""
    members = [row for row in layer_rows if row["block"] == block]
    copied = [row for row in members if row["origin"] == "copied"]
    origin = ("no weights" if not members else "copied" if len(copied) == len(members)
              else "fresh" if not copied else "mixed")
    norm = math.sqrt(sum(row["norm_before"] ** 2 for row in copied))
    change = math.sqrt(sum(row["change"] ** 2 for row in copied))
    frozen = (block in frozen_blocks if frozen_blocks is not None
              else bool(members) and not any(row["trainable"] for row in members))
    return {"block": block, "origin": origin, "frozen": frozen, "params": int(sum(row["params"] for row in members)),
            "drift": change / norm if copied and norm > 0 else math.nan}


def drift_for_run(run: Any, runs_dir: str | Path = "runs") -> dict[str, Any]:
    """Weight drift of a transfer run from its source model, per layer and per block.

    The "before" weights are the source run's: in a transfer, every copied layer starts exactly
    there. Layers the transfer report lists as re-initialised or skipped (the new head, blocks
    above a copy depth, everything in structure mode) started from fresh random or zero weights
    that were never saved, so they are reported with origin "fresh" and NaN drift (see
    `weight_drift`). Frozen blocks come from the transfer report.

    Args:
        run: a transfer `Run`, or its path or name under `runs_dir`.
        runs_dir: where bare run names (and a relative source path) are looked up. Defaults to "runs".

    Returns:
        {"run", "label", "mode", "freeze_depth", "source", "layers", "blocks"} with the rows of
        `weight_drift`; a list of these feeds `figures.plot_drift_heatmap`.

    Raises:
        SourceRunError: for a pretraining run (no source) or a source run that is gone.
    """
    run = as_run(run, runs_dir)
    source = source_run_of(run, runs_dir)
    report = run.transfer_report or {}
    fresh = [row["layer"] for row in report.get("layers", []) if row.get("action") in ("re-initialised", "skipped")]
    frozen = [block["name"] for block in report.get("blocks", []) if block.get("frozen")] if report else None
    drift = weight_drift(source.load_model(), run.load_model(), fresh_layers=fresh, frozen_blocks=frozen)
    return {"run": run.name, "label": run_label(run), "mode": run.config.get("mode"),
            "freeze_depth": report.get("freeze_depth"), "source": source.name, **drift}


def diagnose_run(
    run: Any, max_examples: int | None = 300, seed: int = 0, runs_dir: str | Path = "runs"
) -> dict[str, Any]:
    """Everything the panel's "Diagnose" view shows for one transfer run: drift and CKA to the source.

    Args:
        run: a transfer `Run` or its path.
        max_examples: test images for CKA. Defaults to 300.
        seed: seeds the image subsample. Defaults to 0.
        runs_dir: where bare run names are looked up. Defaults to "runs".

    Returns:
        {"drift": `drift_for_run(run)`, "cka": `cka_for_run(run)`}.
    """
    return {"drift": drift_for_run(run, runs_dir),
            "cka": cka_for_run(run, "source", max_examples=max_examples, seed=seed, runs_dir=runs_dir)}
