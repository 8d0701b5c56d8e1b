"""Representation similarity: linear CKA (Kornblith et al., ICML 2019) between activations and models.

`linear_cka` and `cka_between` are pure numpy; `cka_by_block`, `cka_matrix` and `cka_for_run`
extract the activations first (see `workbench.diagnostics.activations`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.diagnostics.activations import MAX_FEATURES, as_model, block_activations, resolve_cuts
from workbench.diagnostics.arrays import as_matrix, single_threaded_blas
from workbench.errors import ConfigError
from workbench.runs import as_run, run_label, run_test_images, source_run_of


def linear_cka(x: Any, y: Any) -> float:
    """Linear centred kernel alignment between two representations of the same examples.

    CKA(X, Y) = ‖Yᶜᵀ Xᶜ‖²_F / (‖Xᶜᵀ Xᶜ‖_F ‖Yᶜᵀ Yᶜ‖_F) with column-centred Xᶜ, Yᶜ (Kornblith et
    al., 2019, eq. 5). It is 1 for identical representations and invariant to orthogonal
    transforms and isotropic scaling of either side. The widths may differ. When a side is wider
    than there are examples, the same value is computed from the n × n Gram matrices
    (‖Yᶜᵀ Xᶜ‖²_F = tr(Kx Ky)), whichever formulation costs fewer multiplications.

    Args:
        x: (n, d1) activations; higher-rank arrays are flattened to (n, -1).
        y: (n, d2) activations of the same n examples, in the same order.

    Returns:
        CKA in [0, 1] (float64 arithmetic); NaN when either side is constant over the examples
        (for example a block of dead ReLUs), where CKA is undefined.

    Raises:
        ValueError: when the example counts differ or there are fewer than 2 examples.
    """
    x, y = as_matrix(x, "x"), as_matrix(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"linear_cka needs the same examples on both sides, got x with {x.shape[0]} rows and y with "
            f"{y.shape[0]}. Pass activations of the same images, in the same order."
        )
    examples, width_x = x.shape
    width_y = y.shape[1]
    if examples < 2:
        raise ValueError(f"linear_cka needs at least 2 examples, got {examples}. Pass more images.")
    x = x - x.mean(axis=0, keepdims=True)
    y = y - y.mean(axis=0, keepdims=True)
    feature_cost = width_x * width_y + width_x**2 + width_y**2
    gram_cost = examples * (width_x + width_y + examples)
    with single_threaded_blas():
        if feature_cost <= gram_cost:
            cross = float(np.sum((y.T @ x) ** 2))
            norm_x, norm_y = float(np.linalg.norm(x.T @ x)), float(np.linalg.norm(y.T @ y))
        else:
            gram_x, gram_y = x @ x.T, y @ y.T
            cross = float(np.sum(gram_x * gram_y))
            norm_x, norm_y = float(np.linalg.norm(gram_x)), float(np.linalg.norm(gram_y))
    if not (norm_x > 0 and norm_y > 0):
        return math.nan
    return float(min(1.0, max(0.0, cross / (norm_x * norm_y))))


def cka_between(activations_a: Mapping[str, Any], activations_b: Mapping[str, Any]) -> list[list[float]]:
    """The block × block CKA matrix of two sets of activations (rows: a's blocks, columns: b's).

    Args:
        activations_a, activations_b: block name → (n, d) activations of the same n examples.

    Returns:
        A list of rows of CKA values, in the mappings' order.
    """
    return [[linear_cka(a, b) for b in activations_b.values()] for a in activations_a.values()]


def cka_by_block(
    model_a: Any,
    model_b: Any,
    images: Any,
    blocks: Sequence[str] | None = None,
    max_examples: int | None = 500,
    seed: int = 0,
    max_features: int = MAX_FEATURES,
) -> list[dict[str, Any]]:
    """Linear CKA between two models of one architecture at each block, on the same images.

    Args:
        model_a, model_b: workbench models (or runs) with the same block names, e.g. a source
            model and a model transferred from it; their heads may differ in width.
        images: as for `block_activations` (the target's test images, typically).
        blocks: the blocks to compare. Defaults to every block both models have, in a's order.
        max_examples, seed, max_features: as for `block_activations`. Defaults to 500, 0 and
            `MAX_FEATURES`.

    Returns:
        One row per block: {"block", "cka", "features_a", "features_b", "examples"}.

    Raises:
        ConfigError: when the models share no block names (different architectures).
    """
    model_a, model_b = as_model(model_a), as_model(model_b)
    names = _shared_blocks(model_a, model_b, blocks)
    options = {"max_examples": max_examples, "seed": seed, "max_features": max_features}
    activations_a = block_activations(model_a, images, names, **options)
    activations_b = block_activations(model_b, images, names, **options)
    return [{"block": name, "cka": linear_cka(activations_a[name], activations_b[name]),
             "features_a": int(activations_a[name].shape[1]), "features_b": int(activations_b[name].shape[1]),
             "examples": int(activations_a[name].shape[0])} for name in names]


def cka_matrix(
    model_a: Any,
    model_b: Any,
    images: Any,
    blocks_a: Sequence[str] | None = None,
    blocks_b: Sequence[str] | None = None,
    max_examples: int | None = 500,
    seed: int = 0,
    max_features: int = MAX_FEATURES,
    label_a: str = "model A",
    label_b: str = "model B",
) -> dict[str, Any]:
    """Linear CKA between every block of one model and every block of another (Kornblith's figure).

    Args:
        model_a, model_b: workbench models or runs (any architectures).
        images: as for `block_activations`.
        blocks_a, blocks_b: blocks of each model. Default to every block.
        max_examples, seed, max_features: as for `block_activations`.
        label_a, label_b: names for the axes. Default to "model A" and "model B".

    Returns:
        {"blocks_a", "blocks_b", "cka" (rows: a's blocks, columns: b's), "label_a", "label_b",
        "examples"}; `figures.plot_cka_matrix` draws it.
    """
    model_a, model_b = as_model(model_a), as_model(model_b)
    options = {"max_examples": max_examples, "seed": seed, "max_features": max_features}
    activations_a = block_activations(model_a, images, blocks_a, **options)
    activations_b = block_activations(model_b, images, blocks_b, **options)
    return {"blocks_a": list(activations_a), "blocks_b": list(activations_b),
            "cka": cka_between(activations_a, activations_b), "label_a": label_a, "label_b": label_b,
            "examples": int(next(iter(activations_a.values())).shape[0])}


def cka_for_run(
    run: Any,
    reference: Any = "source",
    max_examples: int | None = 500,
    seed: int = 0,
    runs_dir: str | Path = "runs",
) -> dict[str, Any]:
    """CKA per block between a transfer run's model and a reference, on the run's target test images.

    Args:
        run: a transfer `Run` (or its path).
        reference: "source" (the run's source model) or another run (e.g. the structure
            baseline at the same seed). Defaults to "source".
        max_examples, seed: test images used, subsampled with `seed`. Defaults to 500 and 0.
        runs_dir: where bare run names are looked up. Defaults to "runs".

    Returns:
        {"run", "reference", "task", "label", "rows": `cka_by_block` rows}.
    """
    run = as_run(run, runs_dir)
    reference_run = source_run_of(run, runs_dir) if reference == "source" else as_run(reference, runs_dir)
    images, _ = run_test_images(run)
    rows = cka_by_block(run.load_model(), reference_run.load_model(), images, max_examples=max_examples, seed=seed)
    return {"run": run.name, "reference": reference_run.name, "task": run.config.get("task"),
            "label": f"{run_label(run)} vs {'source' if reference == 'source' else reference_run.name}", "rows": rows}


def _shared_blocks(model_a: Any, model_b: Any, blocks: Sequence[str] | None) -> list[str]:
    names_a, names_b = resolve_cuts(model_a, blocks), resolve_cuts(model_b, blocks)
    shared = [name for name in names_a if name in names_b]
    if not shared:
        raise ConfigError(
            f"Models {model_a.name!r} and {model_b.name!r} share no blocks (a: {', '.join(names_a)}; b: "
            f"{', '.join(names_b)}). Compare models of one architecture block by block, or use cka_matrix."
        )
    return shared
