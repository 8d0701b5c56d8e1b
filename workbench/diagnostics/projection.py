"""Feature views: 2-D projections (PCA, t-SNE) of a block's features, coloured by class."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.diagnostics.activations import block_activations, subsample_indices
from workbench.diagnostics.arrays import as_matrix
from workbench.errors import ConfigError
from workbench.runs import as_run

PROJECTION_METHODS = ("pca", "tsne")


def project_features(features: Any, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Project features to 2-D with PCA or t-SNE (scikit-learn).

    t-SNE first reduces to 50 principal components (standard practice, and much faster on wide
    features) and uses a perplexity of at most 30 and at most a third of the examples.

    Args:
        features: (n, d) features; higher ranks are flattened.
        method: "pca" or "tsne". Defaults to "pca".
        seed: seeds t-SNE (and PCA's randomised solver). Defaults to 0.

    Returns:
        An (n, 2) float64 array.

    Raises:
        ConfigError: for an unknown method or too few examples.
    """
    # Here, not at the top: scikit-learn takes about a second to import, and only projections need it.
    from sklearn.decomposition import PCA

    matrix = as_matrix(features, "features")
    if method not in PROJECTION_METHODS:
        raise ConfigError(f"method={method!r} is not known. Allowed: {', '.join(PROJECTION_METHODS)}. "
                          "Pass method='pca'.")
    examples = matrix.shape[0]
    if examples < (3 if method == "pca" else 5):
        raise ConfigError(f"A {method} projection needs at least {3 if method == 'pca' else 5} examples, got "
                          f"{examples}. Pass more images (max_examples).")
    # Constant columns carry nothing and can make PCA warn about zero variance.
    matrix = matrix[:, matrix.std(axis=0) > 0] if np.any(matrix.std(axis=0) > 0) else matrix
    components = min(2, matrix.shape[1], examples)
    if method == "pca":
        projected = PCA(n_components=components, random_state=seed).fit_transform(matrix)
    else:
        from sklearn.manifold import TSNE

        reduced = PCA(n_components=min(50, matrix.shape[1], examples), random_state=seed).fit_transform(matrix)
        perplexity = float(min(30.0, max(2.0, (examples - 1) / 3)))
        projected = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)
    if projected.shape[1] < 2:  # one feature: put everything on the x axis
        projected = np.hstack([projected, np.zeros((examples, 2 - projected.shape[1]))])
    return np.asarray(projected, dtype=np.float64)


def feature_projection(
    model: Any,
    images: np.ndarray,
    labels: np.ndarray,
    block: str,
    method: str = "pca",
    max_examples: int | None = 500,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """2-D view of the features at one block, for `figures.plot_feature_projection`.

    Args:
        model: a workbench model or run.
        images, labels: uint8 images and their integer labels (e.g. a task's test split).
        block: a block name, "input" or "penultimate".
        method: "pca" or "tsne". Defaults to "pca".
        max_examples: images subsampled with `seed`. Defaults to 500.
        seed: seeds the subsample and t-SNE. Defaults to 0.
        class_names: names for the labels. Defaults to the label numbers.

    Returns:
        {"block", "method", "x", "y", "labels", "class_names", "examples"} as plain lists.
    """
    indices = subsample_indices(len(labels), max_examples, seed)
    features = block_activations(model, np.asarray(images)[indices], [block], max_examples=None)[block]
    points = project_features(features, method, seed)
    chosen = np.asarray(labels)[indices].astype(int)
    names = list(class_names) if class_names is not None else [str(label) for label in range(int(chosen.max()) + 1)]
    return {"block": block, "method": method, "x": points[:, 0].tolist(), "y": points[:, 1].tolist(),
            "labels": chosen.tolist(), "class_names": names, "examples": int(len(chosen))}


def feature_projection_for_run(run: Any, block: str, method: str = "pca", max_examples: int | None = 500,
                               seed: int = 0, runs_dir: str | Path = "runs") -> dict[str, Any]:
    """`feature_projection` of a run's model on its target task's test images (class names included).

    Args:
        run: a `Run`, or its path or name under `runs_dir`.
        block, method, max_examples, seed: as for `feature_projection`.
        runs_dir: where bare run names are looked up. Defaults to "runs".
    """
    run = as_run(run, runs_dir)
    data = run.task_data(all_labels=True)
    return feature_projection(run.load_model(), data.test[0], data.test[1], block, method, max_examples, seed,
                              data.class_names)
