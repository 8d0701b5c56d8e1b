"""What transferred, and what will: layer diagnostics after training, transferability before it.

After training (compare a transfer run with where it started):

* **weight drift**: per layer and per block, ‖W_after − W_before‖ / ‖W_before‖, the relative
  distance a transfer run's weights moved from the source weights they were copied from;
* **representation similarity**: linear CKA (Kornblith et al., ICML 2019) between two models'
  activations at each block on the target's test images, and the block × block CKA matrix;
* **feature views**: 2-D projections (PCA, t-SNE) of a block's features, coloured by class.

Before training (score a source model on the target's training images, in seconds):

* **LogME** (You et al., ICML 2021): the marginal evidence of a Bayesian linear model on the
  features, per class, averaged;
* **LEEP** (Nguyen et al., ICML 2020): the log-likelihood of the target labels under the source
  model's own class predictions, re-mapped to the target classes empirically;
* **linear probe**: logistic regression on frozen features, the plain baseline.

`score_blocks` scores every *cut point* of a source model (freeze depth k uses the features at
the output of the k-th block; depth 0 uses the input images) and suggests a freeze depth;
`rank_sources` ranks several source runs; `verify_scores` (and `verify_by_training`, which runs
the real fine-tunes through the sweep machinery) says how well each score predicted the
fine-tuned accuracies, as Kendall's τ and Spearman's ρ.

The numerical core (CKA, LogME, LEEP, drift arithmetic, correlations) is pure numpy on float64
arrays; only the functions that extract activations or load runs touch Keras, which they import
on first use. Results are plain dicts and lists (JSON-ready), and `format_*` functions turn them
into text tables for the command line.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import ConfigError, SourceRunError

INPUT_CUT = "input"
PENULTIMATE_CUT = "penultimate"
PROJECTION_METHODS = ("pca", "tsne")
BLOCK_SCORES = ("logme", "probe_accuracy")
# Flattened activations wider than this are average-pooled spatially (see `reduce_activations`),
# which bounds memory at max_examples × MAX_FEATURES float32 values per block.
MAX_FEATURES = 8192
DEFAULT_TOLERANCE = 0.02
LOGME_TOLERANCE = 1e-6
LOGME_MAX_ITERATIONS = 100
# Keeps the LogME fixed point finite when a class's targets are orthogonal to every feature
# (m = 0) or fitted exactly (residual = 0); far below any value real data produces.
_TINY = 1e-12


# --------------------------------------------------------------------------------------------
# Linear CKA
# --------------------------------------------------------------------------------------------


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
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
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


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """A context that runs BLAS/LAPACK on one thread (a no-op where threadpoolctl is missing).

    The matrices here are small (at most a few thousand rows), so BLAS threads cost more in
    start-up and contention than they save: with two threads on a shared 2-core machine, the
    Gram products and eigen-decompositions of LogME and CKA ran 3-10× slower than on one.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, keep the defaults
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _as_matrix(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        return array.reshape(-1, 1)
    if array.ndim == 0:
        raise ValueError(f"{name} is a scalar; pass an (examples, features) array.")
    return array.reshape(array.shape[0], -1)


# --------------------------------------------------------------------------------------------
# Activations at block outputs (memory-bounded)
# --------------------------------------------------------------------------------------------


def subsample_indices(count: int, max_examples: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded random subset of `count` items (all of them when it fits).

    Args:
        count: how many items there are.
        max_examples: the most to keep; None keeps all.
        seed: seeds the draw. Defaults to 0.
    """
    if max_examples is not None and max_examples < 1:
        raise ConfigError(f"max_examples={max_examples} must be at least 1 (or None for all). Pass e.g. 500.")
    if max_examples is None or count <= max_examples:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=max_examples, replace=False))


def reduce_activations(batch: np.ndarray, max_features: int = MAX_FEATURES) -> np.ndarray:
    """Flatten a batch of activations to (batch, features), pooling feature maps that are too wide.

    A (b, h, w, c) feature map whose h·w·c exceeds `max_features` is average-pooled over
    non-overlapping p × p windows (edge windows average what they hold), with the smallest p
    that fits: the spatial layout survives at a coarser grid, and memory stays bounded. A map
    whose channels alone exceed the budget is pooled globally to (b, c).

    Args:
        batch: activations of one batch, any rank ≥ 2.
        max_features: the widest flattened row kept as it is. Defaults to `MAX_FEATURES`.

    Returns:
        A float32 (batch, features) array.
    """
    batch = np.asarray(batch, dtype=np.float32)
    if batch.ndim == 4 and int(np.prod(batch.shape[1:])) > max_features:
        factor = pooling_factor(batch.shape[1:], max_features)
        size, height, width, channels = batch.shape
        padded_height, padded_width = -(-height // factor) * factor, -(-width // factor) * factor
        padded = np.full((size, padded_height, padded_width, channels), np.nan, dtype=np.float32)
        padded[:, :height, :width] = batch
        windows = padded.reshape(size, padded_height // factor, factor, padded_width // factor, factor, channels)
        batch = np.nanmean(windows, axis=(2, 4))
    return batch.reshape(batch.shape[0], -1)


def pooling_factor(shape: Sequence[int], max_features: int = MAX_FEATURES) -> int:
    """The smallest window p such that a (h, w, c) map pooled p × p has at most `max_features` values."""
    height, width, channels = (int(size) for size in shape)
    for factor in range(1, max(height, width) + 1):
        if -(-height // factor) * -(-width // factor) * channels <= max_features:
            return factor
    return max(height, width)


def resolve_cuts(model: Any, cuts: Sequence[str] | None = None) -> list[str]:
    """Check cut names against a model: block names, "input" (the adapted images) and
    "penultimate" (the input of the `head` layer). None means every block, the head included.

    Raises:
        ConfigError: for a name that is neither a block of this model nor a special cut.
    """
    from workbench.models import model_blocks

    blocks = [block.name for block in model_blocks(model)]
    if cuts is None:
        return blocks
    names = [cut.name if hasattr(cut, "name") and not isinstance(cut, str) else str(cut) for cut in cuts]
    allowed = [INPUT_CUT, *blocks, PENULTIMATE_CUT]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise ConfigError(
            f"blocks={names!r} names no block of model {model.name!r}"
            f"{' (' + ', '.join(unknown) + ')' if unknown else ''}. "
            f"Allowed: {', '.join(allowed)}. Pass block names from workbench.models.model_blocks(model)."
        )
    return names


def block_activations(
    model: Any,
    images: Any,
    blocks: Sequence[str] | None = None,
    max_examples: int | None = 500,
    seed: int = 0,
    batch_size: int = 64,
    max_features: int = MAX_FEATURES,
) -> dict[str, np.ndarray]:
    """Activations at the output of each block (its last layer), flattened, for a subsample of images.

    Only one batch of full-size activations exists at a time: each batch's outputs are reduced
    (`reduce_activations`) before they are kept, so memory stays within about twice
    max_examples × max_features float32 values per block (the kept batches and their final
    concatenation), whatever the model's feature-map sizes.

    Args:
        model: a workbench model (or a `Run`, whose model is loaded).
        images: uint8 images (N, H, W, C), adapted to the model input as the training pipeline
            does (scaled to [0, 1], channels converted, resized), or a split as `TaskData`
            holds it, (images, labels); float images already adapted to the model input shape;
            or a `tf.data.Dataset` of such batches (or of (images, labels) batches, e.g. from
            `data.make_pipeline`), taken in order.
        blocks: block names, plus "input" and "penultimate" (see `resolve_cuts`). Defaults to
            every block of the model, the head (logits) included.
        max_examples: arrays are subsampled to this many images with `seed`
            (`subsample_indices`); a dataset's first `max_examples` images are used. None uses all.
            Defaults to 500.
        seed: seeds the subsample. Defaults to 0.
        batch_size: images per forward pass. Defaults to 64.
        max_features: widest flattened activation kept unpooled. Defaults to `MAX_FEATURES`.

    Returns:
        Block name → float32 array (examples, features), in the order of `blocks`.
    """
    import keras

    model = _as_model(model)
    names = resolve_cuts(model, blocks)
    block_last_layer = _block_last_layers(model)
    model_names = [name for name in names if name != INPUT_CUT]
    tensors = [model.get_layer("head").input if name == PENULTIMATE_CUT
               else model.get_layer(block_last_layer[name]).output for name in model_names]
    extractor = keras.Model(model.inputs, tensors) if tensors else None
    input_shape = tuple(int(size) for size in model.input_shape[1:])
    collected: dict[str, list[np.ndarray]] = {name: [] for name in names}
    with _quiet_retracing():
        for batch in _image_batches(images, input_shape, batch_size, max_examples, seed):
            outputs = _predict_padded(extractor, batch, batch_size) if extractor is not None else []
            by_name = dict(zip(model_names, outputs))
            for name in names:
                value = np.asarray(batch) if name == INPUT_CUT else by_name[name]
                collected[name].append(reduce_activations(value, max_features))
    if not collected[names[0]]:
        raise ConfigError("block_activations got no images. Pass a non-empty array or dataset of images.")
    return {name: np.concatenate(parts) for name, parts in collected.items()}


class _RetracingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _quiet_retracing() -> Iterator[None]:
    """Drop TensorFlow's "triggered tf.function retracing" warning while activations are extracted.

    Every extractor is a new model with its own predict function, traced once by design; scoring
    several blocks or sources in a row makes TensorFlow count those first traces as "frequent
    retracing" and print a paragraph of advice that does not apply. Other warnings pass.
    """
    logger = logging.getLogger("tensorflow")
    quiet = _RetracingFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _predict_padded(extractor: Any, batch: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Run the extractor on one batch, padded to `batch_size` and cut back.

    A batch of a new size makes Keras trace its predict function again (and TensorFlow warn
    about retracing); padding the last, shorter batch keeps it to one trace per extractor.
    """
    size = len(batch)
    if size < batch_size:
        batch = np.concatenate([batch, np.zeros((batch_size - size, *batch.shape[1:]), dtype=batch.dtype)])
    outputs = extractor.predict_on_batch(batch)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(output)[:size] for output in outputs]


def _image_batches(images: Any, input_shape: tuple[int, ...], batch_size: int, max_examples: int | None,
                   seed: int) -> Iterator[np.ndarray]:
    """Model-ready float32 batches from an array (subsampled) or a tf.data pipeline (in order)."""
    from workbench.data import adapt_images

    if isinstance(images, tuple) and len(images) == 2 and isinstance(images[0], np.ndarray):
        images = images[0]  # a split as TaskData holds it: (images, labels)
    elif isinstance(images, list):
        images = np.asarray(images)
    if isinstance(images, np.ndarray):
        indices = subsample_indices(len(images), max_examples, seed)
        if images.dtype != np.uint8 and tuple(images.shape[1:]) != tuple(input_shape):
            raise ConfigError(
                f"Float images of shape {images.shape[1:]} do not match the model input {tuple(input_shape)}. "
                "Pass uint8 images (they are adapted like the training pipeline) or images already "
                "resized to the model input."
            )
        for start in range(0, len(indices), batch_size):
            chunk = images[indices[start:start + batch_size]]
            yield (np.asarray(adapt_images(chunk, input_shape)) if chunk.dtype == np.uint8
                   else chunk.astype(np.float32))
        return
    remaining = math.inf if max_examples is None else max_examples
    for element in images:
        batch = element[0] if isinstance(element, (tuple, list)) else element
        batch = np.asarray(batch)
        if remaining <= 0:
            break
        batch = batch[: int(min(len(batch), remaining))]
        remaining -= len(batch)
        yield batch


def _block_last_layers(model: Any) -> dict[str, str]:
    from workbench.models import model_blocks

    return {block.name: block.layer_names[-1] for block in model_blocks(model)}


def _as_model(model_or_run: Any, runs_dir: str | Path = "runs") -> Any:
    """A Keras model from a model, a `Run` or a run reference (path or name under `runs_dir`)."""
    from workbench.runs import Run, load_run

    if isinstance(model_or_run, Run):
        return model_or_run.load_model()
    if isinstance(model_or_run, (str, Path)):
        return load_run(model_or_run, runs_dir).load_model()
    return model_or_run


# --------------------------------------------------------------------------------------------
# CKA between models
# --------------------------------------------------------------------------------------------


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
    model_a, model_b = _as_model(model_a), _as_model(model_b)
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
    model_a, model_b = _as_model(model_a), _as_model(model_b)
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
    from workbench.runs import Run, load_run

    run = run if isinstance(run, Run) else load_run(run, runs_dir)
    reference_run = source_run_of(run, runs_dir) if reference == "source" else (
        reference if isinstance(reference, Run) else load_run(reference, runs_dir))
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


def run_test_images(run: Any) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 test images and labels of a run's target task (the same split it was scored on)."""
    from workbench.data import prepare_task

    config = run.config
    data = prepare_task(config["task"], None, float(config.get("validation_split", 0.1)), int(config.get("seed", 0)))
    return data.test


# --------------------------------------------------------------------------------------------
# Weight drift
# --------------------------------------------------------------------------------------------


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
    from workbench.models import model_blocks

    before_layers = {layer.name: layer for layer in model_before.layers}
    fresh = set(fresh_layers)
    layer_rows = []
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
        layer_rows.append(row)
    blocks = model_blocks(model_after)
    block_of = {name: block.name for block in blocks for name in block.layer_names}
    for row in layer_rows:
        row["block"] = block_of.get(row["layer"], "?")
    block_rows = []
    for block in blocks:
        members = [row for row in layer_rows if row["block"] == block.name]
        copied = [row for row in members if row["origin"] == "copied"]
        origin = ("no weights" if not members else "copied" if len(copied) == len(members)
                  else "fresh" if not copied else "mixed")
        norm = math.sqrt(sum(row["norm_before"] ** 2 for row in copied))
        change = math.sqrt(sum(row["change"] ** 2 for row in copied))
        frozen = (block.name in frozen_blocks if frozen_blocks is not None
                  else bool(members) and not any(row["trainable"] for row in members))
        block_rows.append({"block": block.name, "origin": origin, "frozen": frozen,
                           "params": int(sum(row["params"] for row in members)),
                           "drift": change / norm if copied and norm > 0 else math.nan})
    return {"layers": layer_rows, "blocks": block_rows}


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
    from workbench.runs import Run, load_run

    run = run if isinstance(run, Run) else load_run(run, runs_dir)
    source = source_run_of(run, runs_dir)
    report = run.transfer_report or {}
    fresh = [row["layer"] for row in report.get("layers", []) if row.get("action") in ("re-initialised", "skipped")]
    frozen = [block["name"] for block in report.get("blocks", []) if block.get("frozen")] if report else None
    drift = weight_drift(source.load_model(), run.load_model(), fresh_layers=fresh, frozen_blocks=frozen)
    return {"run": run.name, "label": run_label(run), "mode": run.config.get("mode"),
            "freeze_depth": report.get("freeze_depth"), "source": source.name, **drift}


def source_run_of(run: Any, runs_dir: str | Path = "runs") -> Any:
    """The source `Run` a transfer run was made from.

    Raises:
        SourceRunError: for a pretraining run, or when the source run no longer exists.
    """
    from workbench.runs import load_run

    reference = run.config.get("source") or run.manifest.get("source_run")
    if run.config.get("kind") != "transfer" or not reference:
        raise SourceRunError(
            f"Run {run.name!r} is a {run.config.get('kind', 'pretrain')} run with no source model, so there is "
            "nothing to compare it with. Pick a transfer run (`workbench runs` lists them)."
        )
    candidates = [reference, run.path.parent / Path(reference).name]
    for candidate in candidates:
        try:
            return load_run(candidate, run.config.get("runs_dir", runs_dir))
        except SourceRunError:
            continue
    raise SourceRunError(
        f"The source run {reference!r} of run {run.name!r} no longer exists. Restore it, or diagnose "
        "a run whose source is still on disk."
    )


def run_label(run: Any) -> str:
    """A short display label for a run: its mode (with freeze depth), copy depth and seed."""
    from workbench.experiments import mode_label

    config = run.config
    if config.get("kind") != "transfer":
        return f"pretrain s{config.get('seed', 0)}"
    depth = (run.transfer_report or {}).get("freeze_depth", config.get("freeze_depth"))
    label = mode_label(str(config.get("mode")), depth)
    if config.get("copy_depth") is not None:
        label += f" copy {config['copy_depth']}"
    return f"{label} s{config.get('seed', 0)}"


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


# --------------------------------------------------------------------------------------------
# Feature views
# --------------------------------------------------------------------------------------------


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
    from sklearn.decomposition import PCA

    matrix = _as_matrix(features, "features")
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
    """`feature_projection` of a run's model on its target task's test images (class names included)."""
    from workbench.data import prepare_task
    from workbench.runs import Run, load_run

    run = run if isinstance(run, Run) else load_run(run, runs_dir)
    config = run.config
    data = prepare_task(config["task"], None, float(config.get("validation_split", 0.1)), int(config.get("seed", 0)))
    return feature_projection(run.load_model(), data.test[0], data.test[1], block, method, max_examples, seed,
                              data.class_names)


# --------------------------------------------------------------------------------------------
# Transferability scores: LogME, LEEP, linear probe
# --------------------------------------------------------------------------------------------


def logme_details(
    features: Any,
    labels: Any,
    max_iterations: int = LOGME_MAX_ITERATIONS,
    tolerance: float = LOGME_TOLERANCE,
) -> dict[str, Any]:
    """LogME (You et al., 2021) with its per-class details.

    For each class c, the one-hot targets y = [label == c] are modelled as y = F m + noise with
    prior m ~ N(0, α⁻¹ I) and noise ~ N(0, β⁻¹); α and β maximise the evidence p(y | F, α, β) by
    the paper's fixed-point iteration (MacKay's updates γ = Σ σᵢ / (σᵢ + α/β), α = γ / mᵀm,
    β = (n − γ) / ‖F m − y‖²), computed on the eigen-decomposition of the smaller Gram matrix
    (F Fᵀ or Fᵀ F), so wide features (d > n) cost O(n² d). The evidence includes the d − rank(F)
    zero eigenvalues of Fᵀ F (each contributes log α to log |A|), which the reference code drops
    when d > n; with them, the value is the exact log evidence at the fixed point.

    Args:
        features: (n, d) features, used as they are (no centring or scaling, as in the paper).
        labels: (n,) integer class labels 0..k-1.
        max_iterations: fixed-point steps per class at most. Defaults to 100.
        tolerance: stop when α/β changes by less than this fraction. Defaults to 1e-6.

    Returns:
        {"logme" (mean over classes of the per-example log evidence), "per_class", "alpha",
        "beta", "iterations", "converged" (every class converged)}.

    Raises:
        ValueError: when features and labels disagree in length, or labels are not integers ≥ 0.
    """
    matrix = _as_matrix(features, "features")
    targets = _check_labels(labels, matrix.shape[0], "features")
    examples, width = matrix.shape
    one_hot = (targets[:, None] == np.arange(int(targets.max()) + 1)[None, :]).astype(np.float64)
    with single_threaded_blas():
        eigenvalues, projections = _logme_spectrum(matrix, one_hot)
    results = [_logme_fixed_point(eigenvalues, projections[:, index], float(np.sum(one_hot[:, index] ** 2)),
                                  examples, width, max_iterations, tolerance)
               for index in range(one_hot.shape[1])]
    per_class = [result["evidence"] for result in results]
    return {"logme": float(np.mean(per_class)), "per_class": per_class,
            "alpha": [result["alpha"] for result in results], "beta": [result["beta"] for result in results],
            "iterations": [result["iterations"] for result in results],
            "converged": all(result["converged"] for result in results)}


def logme(features: Any, labels: Any) -> float:
    """LogME score: mean per-example log evidence of a linear model on the features (higher = better).

    See `logme_details` for the algorithm. Comparable between feature sets on the same examples
    and labels (blocks of one model, or several source models).
    """
    return float(logme_details(features, labels)["logme"])


def _logme_spectrum(features: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero eigenvalues σᵢ of Fᵀ F and the projections uᵢᵀ y of the targets on F's left singular vectors."""
    examples, width = features.shape
    if examples <= width:
        eigenvalues, vectors = np.linalg.eigh(features @ features.T)
        projections = vectors.T @ targets
    else:
        eigenvalues, vectors = np.linalg.eigh(features.T @ features)
        roots = np.sqrt(np.clip(eigenvalues, 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            projections = (vectors.T @ (features.T @ targets)) / roots[:, None]
    # Like numpy's matrix_rank: eigenvalues below this are rounding noise of true zeros.
    threshold = max(float(eigenvalues.max(initial=0.0)), 0.0) * max(examples, width) * np.finfo(np.float64).eps
    keep = eigenvalues > threshold
    return eigenvalues[keep], projections[keep]


def _logme_fixed_point(eigenvalues: np.ndarray, projections: np.ndarray, target_norm: float, examples: int,
                       width: int, max_iterations: int, tolerance: float) -> dict[str, Any]:
    squared = projections**2
    # The part of y outside F's column space, which no weights can fit.
    outside = max(target_norm - float(squared.sum()), 0.0)
    rank = len(eigenvalues)

    def fit(ratio: float) -> tuple[float, float, float]:
        gamma = float(np.sum(eigenvalues / (eigenvalues + ratio)))
        weights_norm = float(np.sum(eigenvalues * squared / (eigenvalues + ratio) ** 2))
        residual = float(np.sum(squared * (ratio / (eigenvalues + ratio)) ** 2)) + outside
        return gamma, weights_norm, residual

    alpha, beta, iterations, converged = 1.0, 1.0, 0, False
    while iterations < max_iterations:
        iterations += 1
        ratio = alpha / beta
        gamma, weights_norm, residual = fit(ratio)
        if rank:
            alpha = gamma / max(weights_norm, _TINY)
        beta = (examples - gamma) / max(residual, _TINY)
        if abs(alpha / beta - ratio) <= tolerance * ratio:
            converged = True
            break
    _, weights_norm, residual = fit(alpha / beta)
    # d/2·log α − ½·log|αI + β FᵀF| with d − rank zero eigenvalues = rank/2·log α − ½·Σ log(α + β σᵢ).
    evidence = (rank / 2 * math.log(alpha) + examples / 2 * math.log(beta)
                - 0.5 * float(np.sum(np.log(alpha + beta * eigenvalues)))
                - beta / 2 * residual - alpha / 2 * weights_norm - examples / 2 * math.log(2 * math.pi))
    return {"evidence": evidence / examples, "alpha": alpha, "beta": beta, "iterations": iterations,
            "converged": converged}


def softmax(logits: Any) -> np.ndarray:
    """Row-wise softmax of (n, k) logits, in float64, stable for large logits."""
    values = _as_matrix(logits, "logits")
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def leep(source_probabilities: Any, target_labels: Any) -> float:
    """LEEP (Nguyen et al., 2020): how well the source model's own predictions explain the target labels.

    With θ(x) the source model's softmax over its Z classes on the n target training images:
    P̂(y, z) = (1/n) Σᵢ θ(xᵢ)_z [yᵢ = y], P̂(y | z) = P̂(y, z) / Σ_y P̂(y, z), and
    LEEP = (1/n) Σᵢ log Σ_z P̂(yᵢ | z) θ(xᵢ)_z: the average log-likelihood of the "expected
    empirical predictor". It is ≤ 0; higher means the source transfers better.

    Args:
        source_probabilities: (n, Z) rows of source-class probabilities (softmax, not logits:
            `softmax(logits)` converts).
        target_labels: (n,) integer target labels 0..k-1.

    Returns:
        The LEEP score.

    Raises:
        ValueError: for rows that are not probability distributions or mismatched lengths.
    """
    theta = _as_matrix(source_probabilities, "source_probabilities")
    labels = _check_labels(target_labels, theta.shape[0], "source_probabilities")
    sums = theta.sum(axis=1)
    if np.any(theta < 0) or not np.allclose(sums, 1.0, atol=1e-3):
        raise ValueError(
            "source_probabilities rows must be probability distributions (non-negative, summing to 1); "
            f"row sums range {sums.min():.4g}..{sums.max():.4g}. Pass softmax(logits), not the logits."
        )
    theta = theta / sums[:, None]  # float32 softmax rows sum to 1 only within rounding
    joint = np.zeros((int(labels.max()) + 1, theta.shape[1]))
    np.add.at(joint, labels, theta)
    joint /= len(labels)
    marginal = joint.sum(axis=0)
    conditional = np.divide(joint, marginal[None, :], out=np.zeros_like(joint), where=marginal[None, :] > 0)
    expected = np.einsum("nz,nz->n", theta, conditional[labels])
    return float(np.mean(np.log(expected)))


def linear_probe_accuracy(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    regularization: float = 1.0,
    max_iterations: int = 200,
) -> float:
    """Accuracy of logistic regression trained on frozen features: the plain transferability baseline.

    Features are standardised on the training set (so one regularisation strength fits every
    block), then scikit-learn's L-BFGS logistic regression is fitted. A probe stopped at
    `max_iterations` is still a fair, cheap score, so the convergence warning is silenced.

    Args:
        train_features, train_labels: (n, d) features and labels to fit on.
        test_features, test_labels: (m, d) features and labels to score on.
        regularization: inverse L2 strength C. Defaults to 1.0.
        max_iterations: L-BFGS iterations at most. Defaults to 200.

    Returns:
        Accuracy on the test features, in [0, 1].

    Raises:
        ValueError: for fewer than two classes in the training labels or mismatched shapes.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train_matrix, test_matrix = _as_matrix(train_features, "train_features"), _as_matrix(test_features, "test_features")
    train_targets = _check_labels(train_labels, train_matrix.shape[0], "train_features")
    test_targets = _check_labels(test_labels, test_matrix.shape[0], "test_features")
    if train_matrix.shape[1] != test_matrix.shape[1]:
        raise ValueError(f"train and test features differ in width ({train_matrix.shape[1]} vs "
                         f"{test_matrix.shape[1]}). Pass features of the same block.")
    if len(np.unique(train_targets)) < 2:
        raise ValueError("A linear probe needs training examples of at least two classes. Pass a larger label budget.")
    with single_threaded_blas(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scaler = StandardScaler().fit(train_matrix)
        train_matrix, test_matrix = scaler.transform(train_matrix), scaler.transform(test_matrix)
        if train_matrix.shape[1] > train_matrix.shape[0]:
            train_matrix, test_matrix = _row_space_coordinates(train_matrix, test_matrix)
        probe = LogisticRegression(C=regularization, max_iter=max_iterations)
        probe.fit(train_matrix, train_targets)
        return float(np.mean(probe.predict(test_matrix) == test_targets))


def _row_space_coordinates(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets in an orthonormal basis V of the training rows' span (n × n instead of n × d).

    L2-regularised logistic regression sees the weights only through X w and ‖w‖²; a weight
    component orthogonal to the training rows adds penalty without changing X w, so the optimum
    lies in their span: w = V a with ‖w‖ = ‖a‖ and X w = (X V) a. Fitting on X V gives the same
    model and predictions, at the cost of an n × n problem when the features are wider than n.
    """
    eigenvalues, vectors = np.linalg.eigh(train @ train.T)
    keep = eigenvalues > max(float(eigenvalues.max(initial=0.0)), 0.0) * max(train.shape) * np.finfo(np.float64).eps
    vectors, roots = vectors[:, keep], np.sqrt(eigenvalues[keep])
    # V = Xᵀ U Λ^-1/2, so X V = U Λ^1/2 and X_test V = X_test Xᵀ U Λ^-1/2.
    return vectors * roots, (test @ train.T @ vectors) / roots


def _check_labels(labels: Any, count: int, against: str) -> np.ndarray:
    array = np.asarray(labels).reshape(-1)
    if len(array) != count:
        raise ValueError(f"Got {len(array)} labels for {count} rows of {against}. Pass one label per example.")
    if count == 0:
        raise ValueError(f"{against} has no examples. Pass at least one example per class.")
    if not np.issubdtype(array.dtype, np.integer) and not np.all(np.equal(np.mod(array, 1), 0)):
        raise ValueError("Labels must be whole numbers 0..k-1. Pass integer class indices, not one-hot rows or names.")
    array = array.astype(np.int64)
    if array.min() < 0:
        raise ValueError(f"Labels must be ≥ 0, got {int(array.min())}. Pass class indices 0..k-1.")
    return array


# --------------------------------------------------------------------------------------------
# Scoring cut points and source models
# --------------------------------------------------------------------------------------------


def score_blocks(
    source: Any,
    task: str,
    per_class: int | None = None,
    seed: int = 0,
    max_examples: int | None = 500,
    validation_split: float = 0.1,
    tolerance: float = DEFAULT_TOLERANCE,
    runs_dir: str | Path = "runs",
) -> dict[str, Any]:
    """Score every cut point of a source model on a target task, without training, and suggest a freeze depth.

    Cut point k (freeze depth k) is scored on the features the trainable part would receive:
    the output of the k-th block, or the adapted input images for k = 0. LogME uses the target's
    training images (the label budget); the linear probe is fitted on them and scored on the
    validation split (the test split stays untouched for final evaluation). LEEP is computed once,
    from the source head's softmax on the training images.

    Args:
        source: a source `Run`, its path or name under `runs_dir`, or a Keras model.
        task: the target task, `DATASET[:CLASSES]`.
        per_class: label budget per class, as for training; None uses every example. Defaults to None.
        seed: seeds the splits, the budget draw and the subsample. Defaults to 0.
        max_examples: training (and validation) images used at most, subsampled. Defaults to 500.
        validation_split: fraction held out to score the probe; must be > 0. Defaults to 0.1.
        tolerance: accuracy a deeper cut may lose and still count as near the best (see
            `suggest_freeze_depth`). Defaults to 0.02.
        runs_dir: where bare run names are looked up. Defaults to "runs".

    Returns:
        {"source", "source_path", "task", "per_class", "seed", "classes", "train_examples",
        "validation_examples", "leep", "cut_points": [{"freeze_depth", "block", "features",
        "logme", "probe_accuracy", "seconds"}], "suggested_freeze_depth", "suggestion_rule",
        "seconds"}. One cut point per freeze depth 0..(blocks below the head), i.e. one per block.

    Raises:
        ConfigError: validation_split of 0 (nothing to score the probe on).
        WorkbenchError: an unknown task or source run.
    """
    from workbench.data import prepare_task
    from workbench.models import model_blocks
    from workbench.transfer_modes import max_freeze_depth

    started = time.perf_counter()
    if not validation_split > 0:
        raise ConfigError(f"validation_split={validation_split} leaves no validation images to score the linear "
                          "probe on. Pass validation_split=0.1, for example.")
    name, path, model = _describe_source(source, runs_dir)
    blocks = model_blocks(model)
    cuts = [INPUT_CUT] + [block.name for block in blocks[:max_freeze_depth(blocks)]]
    data = prepare_task(task, per_class, validation_split, seed)
    train_images, train_labels = _subsample(data.train, max_examples, seed)
    validation_images, validation_labels = _subsample(data.validation, max_examples, seed)
    train, validation = _split_activations(model, train_images, validation_images, cuts + ["head"])
    rows = []
    for depth, cut in enumerate(cuts):
        cut_started = time.perf_counter()
        score = logme(train[cut], train_labels)
        accuracy = linear_probe_accuracy(train[cut], train_labels, validation[cut], validation_labels)
        rows.append({"freeze_depth": depth, "block": cut, "features": int(train[cut].shape[1]), "logme": score,
                     "probe_accuracy": accuracy, "seconds": round(time.perf_counter() - cut_started, 3)})
    suggestion = suggest_freeze_depth(rows, "probe_accuracy", tolerance, len(validation_labels))
    return {"source": name, "source_path": path, "task": task, "per_class": per_class, "seed": seed,
            "classes": list(data.class_names), "train_examples": int(len(train_labels)),
            "validation_examples": int(len(validation_labels)),
            "leep": leep(softmax(train["head"]), train_labels), "cut_points": rows,
            "suggested_freeze_depth": suggestion,
            "suggestion_rule": describe_suggestion_rule("probe_accuracy", tolerance, len(validation_labels)),
            "seconds": round(time.perf_counter() - started, 3)}


def suggest_freeze_depth(
    cut_points: Sequence[Mapping[str, Any]],
    score: str = "probe_accuracy",
    tolerance: float = DEFAULT_TOLERANCE,
    validation_examples: int | None = None,
) -> int:
    """The deepest freeze depth whose features still score near the best cut point.

    Freezing deeper trains fewer parameters: less to overfit on a small label budget, and faster.
    So among the cut points whose score is within the margin of the best, take the deepest. For
    probe accuracy the margin is max(`tolerance`, one binomial standard error of the best
    accuracy on `validation_examples` images), so on a small validation set noise alone does not
    rule a deeper cut out. For LogME (`score="logme"`) the margin is `tolerance` in LogME units
    (nats per example).

    Args:
        cut_points: rows with "freeze_depth" and the score (as in `score_blocks`).
        score: "probe_accuracy" or "logme". Defaults to "probe_accuracy".
        tolerance: the smallest margin. Defaults to 0.02.
        validation_examples: images the probe accuracy was measured on. Defaults to None (no
            standard-error term).

    Returns:
        The suggested freeze depth (0 when no cut point has a finite score).
    """
    if score not in BLOCK_SCORES:
        raise ConfigError(f"score={score!r} is not known. Allowed: {', '.join(BLOCK_SCORES)}. "
                          "Pass score='probe_accuracy'.")
    scored = [(int(row["freeze_depth"]), float(row[score])) for row in cut_points
              if row.get(score) is not None and math.isfinite(float(row[score]))]
    if not scored:
        return 0
    best = max(value for _, value in scored)
    margin = _suggestion_margin(score, best, tolerance, validation_examples)
    return max(depth for depth, value in scored if value >= best - margin)


def _suggestion_margin(score: str, best: float, tolerance: float, validation_examples: int | None) -> float:
    if score == "probe_accuracy" and validation_examples:
        return max(tolerance, math.sqrt(max(best * (1 - best), 0.0) / validation_examples))
    return tolerance


def describe_suggestion_rule(score: str = "probe_accuracy", tolerance: float = DEFAULT_TOLERANCE,
                             validation_examples: int | None = None) -> str:
    """One sentence saying how `suggest_freeze_depth` chose, for tables and the panel."""
    name = "linear-probe accuracy" if score == "probe_accuracy" else "LogME"
    margin = f"{tolerance:g}"
    if score == "probe_accuracy" and validation_examples:
        margin = f"max({tolerance:g}, one standard error on {validation_examples} validation images)"
    return f"deepest freeze depth whose {name} is within {margin} of the best cut point"


def rank_sources(
    sources: Sequence[Any],
    task: str,
    per_class: int | None = None,
    seed: int = 0,
    max_examples: int | None = 500,
    validation_split: float = 0.1,
    runs_dir: str | Path = "runs",
) -> list[dict[str, Any]]:
    """Rank source models for a target task by LogME at the penultimate layer (the head's input).

    LEEP and a linear probe on the same features come along; every source sees the same training
    and validation images (each adapted to its own input shape).

    Args:
        sources: source runs, their paths or names, or Keras models.
        task: the target task.
        per_class, seed, max_examples, validation_split, runs_dir: as for `score_blocks`.

    Returns:
        One row per source, best first: {"rank", "source", "source_path", "architecture",
        "source_task", "features", "logme", "leep", "probe_accuracy", "seconds"}.

    Raises:
        ConfigError: for an empty list of sources.
    """
    from workbench.data import prepare_task
    from workbench.models import architecture_of

    if not sources:
        raise ConfigError("rank_sources got no sources. Pass one or more source runs, e.g. ['runs/a', 'runs/b'].")
    data = prepare_task(task, per_class, validation_split, seed)
    train_images, train_labels = _subsample(data.train, max_examples, seed)
    validation_images, validation_labels = _subsample(data.validation, max_examples, seed)
    rows = []
    for source in sources:
        started = time.perf_counter()
        name, path, model = _describe_source(source, runs_dir)
        train, validation = _split_activations(model, train_images, validation_images, [PENULTIMATE_CUT, "head"])
        features = train[PENULTIMATE_CUT]
        probe = (linear_probe_accuracy(features, train_labels, validation[PENULTIMATE_CUT], validation_labels)
                 if len(validation_labels) else math.nan)
        rows.append({"source": name, "source_path": path, "architecture": architecture_of(model),
                     "source_task": _source_task(source, runs_dir), "features": int(features.shape[1]),
                     "logme": logme(features, train_labels), "leep": leep(softmax(train["head"]), train_labels),
                     "probe_accuracy": probe, "seconds": round(time.perf_counter() - started, 3)})
    rows.sort(key=lambda row: -row["logme"] if math.isfinite(row["logme"]) else math.inf)
    return [{"rank": index + 1, **row} for index, row in enumerate(rows)]


def _split_activations(model: Any, train_images: np.ndarray, validation_images: np.ndarray,
                       cuts: list[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Activations of the training and validation images, from one pass (one extractor, one trace)."""
    activations = block_activations(model, np.concatenate([train_images, validation_images]), cuts, max_examples=None)
    count = len(train_images)
    return ({name: values[:count] for name, values in activations.items()},
            {name: values[count:] for name, values in activations.items()})


def _subsample(
    split: tuple[np.ndarray, np.ndarray], max_examples: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = split
    indices = subsample_indices(len(labels), max_examples, seed)
    return images[indices], labels[indices]


def _describe_source(source: Any, runs_dir: str | Path) -> tuple[str, str | None, Any]:
    """(display name, run path or None, model) of a source given as a run, a reference or a model."""
    from workbench.runs import Run, load_run

    if isinstance(source, (str, Path)):
        source = load_run(source, runs_dir)
    if isinstance(source, Run):
        return source.name, str(source.path), source.load_model()
    return str(getattr(source, "name", "model")), None, source


def _source_task(source: Any, runs_dir: str | Path) -> str | None:
    from workbench.runs import Run, load_run

    if isinstance(source, (str, Path)):
        source = load_run(source, runs_dir)
    return source.config.get("task") if isinstance(source, Run) else None


# --------------------------------------------------------------------------------------------
# Verification: do the scores predict the fine-tuned accuracies?
# --------------------------------------------------------------------------------------------


def verify_scores(
    scores: Sequence[float] | Mapping[Any, float],
    accuracies: Sequence[float] | Mapping[Any, float],
    labels: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Rank correlation between predicted scores and the accuracies actually reached.

    Args:
        scores: one score per candidate (cut point or source); a mapping is matched to
            `accuracies` by key.
        accuracies: the fine-tuned test accuracy of each candidate, same order (or keys).
        labels: names of the candidates, for the points. Defaults to the keys or positions.

    Returns:
        {"n" (pairs with both values finite), "kendall_tau", "kendall_p", "spearman_rho",
        "spearman_p", "points": [{"label", "score", "accuracy"}]}; the correlations are NaN
        for n < 2 or when either side is constant (no ranking to compare).

    Raises:
        ValueError: when the lengths differ, or the mappings share no key.
    """
    from scipy import stats

    if isinstance(scores, Mapping) or isinstance(accuracies, Mapping):
        if not (isinstance(scores, Mapping) and isinstance(accuracies, Mapping)):
            raise ValueError("Pass scores and accuracies both as mappings (matched by key) or both as sequences.")
        keys = [key for key in scores if key in accuracies]
        if not keys:
            raise ValueError(f"scores ({list(scores)}) and accuracies ({list(accuracies)}) share no key. "
                             "Key both by the same candidates (freeze depth or source name).")
        labels = keys if labels is None else labels
        score_values, accuracy_values = [scores[key] for key in keys], [accuracies[key] for key in keys]
    else:
        score_values, accuracy_values = list(scores), list(accuracies)
        if len(score_values) != len(accuracy_values):
            raise ValueError(f"Got {len(score_values)} scores but {len(accuracy_values)} accuracies. "
                             "Pass one accuracy per scored candidate, in the same order.")
        labels = list(range(len(score_values))) if labels is None else labels
    points = [{"label": label, "score": _finite_or_nan(score), "accuracy": _finite_or_nan(accuracy)}
              for label, score, accuracy in zip(labels, score_values, accuracy_values)]
    usable = [point for point in points if math.isfinite(point["score"]) and math.isfinite(point["accuracy"])]
    result = {"n": len(usable), "kendall_tau": math.nan, "kendall_p": math.nan,
              "spearman_rho": math.nan, "spearman_p": math.nan, "points": points}
    x, y = [point["score"] for point in usable], [point["accuracy"] for point in usable]
    if len(usable) >= 2 and len(set(x)) > 1 and len(set(y)) > 1:
        tau = stats.kendalltau(x, y)
        rho = stats.spearmanr(x, y)
        result.update(kendall_tau=float(tau.statistic), kendall_p=float(tau.pvalue),
                      spearman_rho=float(rho.statistic), spearman_p=float(rho.pvalue))
    return result


def verify_cut_points(
    block_scores: Mapping[str, Any],
    sweep_points: Sequence[Mapping[str, Any]],
    series: str | None = None,
    scores: Sequence[str] = BLOCK_SCORES,
) -> dict[str, dict[str, Any]]:
    """Correlate each cut point's scores with a freeze-depth sweep's mean test accuracy at that depth.

    Args:
        block_scores: the result of `score_blocks`.
        sweep_points: `Sweep.points()` of `experiments.sweep_freeze_depth` (or hand-made dicts with
            "series", "x" and "mean").
        series: which sweep series gives the accuracy at depth k. Defaults to the frozen series
            (AnB: the first k blocks copied and frozen, the rest trained), the counterpart of
            features at cut k with a trained top.
        scores: which scores to check. Defaults to LogME and probe accuracy.

    Returns:
        Score name → `verify_scores` result (points labelled by freeze depth).
    """
    from workbench.experiments import SWEEP_SERIES_FROZEN

    series = series or SWEEP_SERIES_FROZEN
    accuracy_by_depth = {int(point["x"]): float(point["mean"]) for point in sweep_points
                         if point.get("series") == series}
    results = {}
    for name in scores:
        by_depth = {int(row["freeze_depth"]): float(row[name]) for row in block_scores["cut_points"]}
        results[name] = verify_scores(by_depth, accuracy_by_depth)
    return results


def verify_by_training(
    block_scores: Mapping[str, Any],
    epochs: int = 3,
    seeds: int | Sequence[int] = 1,
    depths: Sequence[int] | None = None,
    runs_dir: str | Path = "runs",
    name: str | None = None,
    on_run_done: Any = None,
    stop_event: Any = None,
    jobs: int = 1,
    **parameters: Any,
) -> dict[str, Any]:
    """Run the real fine-tunes behind a `score_blocks` result and report how well each score ranked them.

    Reuses `experiments.sweep_freeze_depth` (the frozen AnB series only, plus its structure
    baseline) with the same source, task, label budget and validation split as the scores.

    Args:
        block_scores: a `score_blocks` result for a source *run* (it needs the run's path).
        epochs: epochs per fine-tune. Defaults to 3.
        seeds: a count or a list of seeds; accuracies are averaged over them. Defaults to 1.
        depths: freeze depths to train. Defaults to every scored cut point.
        runs_dir: where the sweep's runs are written. Defaults to "runs".
        name: prefix of the run names. Defaults to a time stamp.
        on_run_done, stop_event: progress hook (run, sweep) and stop flag, as for the sweep.
        jobs: fine-tunes trained at once in worker processes. Defaults to 1.
        **parameters: further `RunConfig` fields (learning_rate, batch_size, …).

    Returns:
        {"correlations": score name → `verify_scores` result, "points": the sweep's points,
        "runs": run names, "describe": how the sweep ran, "stopped"}.

    Raises:
        ConfigError: when the scores came from a bare model rather than a run.
    """
    from workbench.config import config_from_mapping
    from workbench.experiments import sweep_freeze_depth

    if not block_scores.get("source_path"):
        raise ConfigError("These scores were computed for a model, not a source run, so nothing can be fine-tuned. "
                          "Score a run: score_blocks('runs/source', task).")
    base = config_from_mapping({
        **parameters, "source": block_scores["source_path"], "task": block_scores["task"],
        "per_class": block_scores.get("per_class"), "seed": block_scores.get("seed", 0), "epochs": epochs,
        "runs_dir": str(runs_dir), "name": name, "mode": "parameter"}, kind="transfer")
    depth_list = [int(row["freeze_depth"]) for row in block_scores["cut_points"]] if depths is None else list(depths)
    sweep = sweep_freeze_depth(base, depth_list, seeds, include_fine_tuned=False,
                               on_run_done=on_run_done, stop_event=stop_event, jobs=jobs)
    points = sweep.points()
    return {"correlations": verify_cut_points(block_scores, points), "points": points,
            # The structure baseline is drawn at every depth but trained once: list each run once.
            "runs": list(dict.fromkeys(run.name for run in sweep.runs)), "describe": sweep.describe(),
            "stopped": sweep.stopped}


def verify_source_ranking(
    ranking: Sequence[Mapping[str, Any]],
    accuracies: Mapping[str, float],
    scores: Sequence[str] = ("logme", "leep", "probe_accuracy"),
) -> dict[str, dict[str, Any]]:
    """Correlate each source score of `rank_sources` with the accuracy each source reached when fine-tuned.

    Args:
        ranking: rows of `rank_sources`.
        accuracies: source name → fine-tuned test accuracy (e.g. a `Comparison` row's mean).
        scores: which scores to check. Defaults to LogME, LEEP and probe accuracy.

    Returns:
        Score name → `verify_scores` result (points labelled by source).
    """
    return {name: verify_scores({row["source"]: float(row[name]) for row in ranking}, dict(accuracies))
            for name in scores}


def verify_sources_by_training(
    ranking: Sequence[Mapping[str, Any]],
    task: str,
    per_class: int | None = None,
    epochs: int = 3,
    seeds: int | Sequence[int] = 1,
    mode: str = "parameter",
    runs_dir: str | Path = "runs",
    name: str | None = None,
    on_run_done: Any = None,
    stop_event: Any = None,
    jobs: int = 1,
    **parameters: Any,
) -> dict[str, Any]:
    """Fine-tune every ranked source on the task and report how well each score ranked them.

    Each source runs through `experiments.run_comparison` with the one `mode` (same seeds, so the
    same splits and label budget for every source); its accuracy is the mean test accuracy over
    the seeds.

    Args:
        ranking: rows of `rank_sources` for source *runs* (each needs its "source_path").
        task: the target task the sources were ranked on.
        per_class: the label budget they were ranked with. Defaults to None (all labels).
        epochs: epochs per fine-tune. Defaults to 3.
        seeds: a count or a list of seeds. Defaults to 1.
        mode: the transfer mode to verify with. Defaults to "parameter" (fine-tune everything).
        runs_dir: where the runs are written. Defaults to "runs".
        name: prefix of the run names; each source's name is appended. Defaults to a time stamp.
        on_run_done, stop_event: called with each finished run; stop flag.
        jobs: a source's seeds trained at once in worker processes. Defaults to 1.
        **parameters: further `RunConfig` fields (freeze_depth, learning_rate, …).

    Returns:
        {"correlations": score name → `verify_scores` result, "accuracies": source → mean test
        accuracy, "runs": run names, "stopped"}.

    Raises:
        ConfigError: for a ranked model that is not a run.
    """
    from workbench.config import config_from_mapping
    from workbench.experiments import run_comparison
    from workbench.statistics import summarize

    missing = [str(row.get("source")) for row in ranking if not row.get("source_path")]
    if missing:
        raise ConfigError(f"Source(s) {', '.join(missing)} were ranked as models, not runs, so they cannot be "
                          "fine-tuned. Rank source runs: rank_sources(['runs/a', 'runs/b'], task).")
    prefix = name or f"verify-sources-{time.strftime('%Y%m%d-%H%M%S')}"
    accuracies: dict[str, float] = {}
    runs: list[str] = []
    stopped = False
    for row in ranking:
        if stop_event is not None and stop_event.is_set():
            stopped = True
            break
        base = config_from_mapping({**parameters, "source": row["source_path"], "task": task, "per_class": per_class,
                                    "epochs": epochs, "runs_dir": str(runs_dir), "name": f"{prefix}-{row['source']}",
                                    "mode": "parameter"}, kind="transfer")
        comparison = run_comparison(base, seeds, [mode], on_run_done=on_run_done, stop_event=stop_event, jobs=jobs)
        accuracies[str(row["source"])] = summarize([run.test_accuracy for run in comparison.runs])["mean"]
        runs += [run.name for run in comparison.runs]
        stopped = stopped or comparison.stopped
    return {"correlations": verify_source_ranking(ranking, accuracies), "accuracies": accuracies, "runs": runs,
            "stopped": stopped}


def _finite_or_nan(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


# --------------------------------------------------------------------------------------------
# Text tables for the command line
# --------------------------------------------------------------------------------------------


def format_block_scores(result: Mapping[str, Any]) -> str:
    """A `score_blocks` result as a text table, with the suggested freeze depth marked."""
    budget = f"{result['per_class']} labels per class" if result.get("per_class") else "all labels"
    lines = [
        f"source {result['source']} → target {result['task']} ({budget}; {result['train_examples']} training, "
        f"{result['validation_examples']} validation images; {result['seconds']:.1f} s)",
        f"LEEP {result['leep']:.4f}",
        "",
        f"{'freeze depth':>12}  {'features at':<14} {'width':>7} {'LogME':>9} {'probe acc':>9}",
    ]
    for row in result["cut_points"]:
        marker = "  ← suggested" if row["freeze_depth"] == result["suggested_freeze_depth"] else ""
        lines.append(f"{row['freeze_depth']:>12}  {row['block']:<14} {row['features']:>7} {row['logme']:>9.4f} "
                     f"{row['probe_accuracy']:>9.3f}{marker}")
    lines += ["", f"suggested freeze depth {result['suggested_freeze_depth']}: {result['suggestion_rule']}"]
    return "\n".join(lines)


def format_source_ranking(rows: Sequence[Mapping[str, Any]]) -> str:
    """`rank_sources` rows as a text table, best first."""
    lines = [f"{'rank':>4}  {'source':<24} {'source task':<16} {'LogME':>9} {'LEEP':>9} {'probe acc':>9}"]
    for row in rows:
        lines.append(f"{row['rank']:>4}  {str(row['source']):<24} {str(row.get('source_task') or '-'):<16} "
                     f"{row['logme']:>9.4f} {row['leep']:>9.4f} {row['probe_accuracy']:>9.3f}")
    return "\n".join(lines)


def format_verification(correlations: Mapping[str, Mapping[str, Any]]) -> str:
    """Kendall τ and Spearman ρ per score, with the number of points, as a text table."""
    lines = [f"{'score':<16} {'n':>3} {'Kendall tau':>12} {'Spearman rho':>13}"]
    for name, result in correlations.items():
        lines.append(f"{name:<16} {result['n']:>3} {_signed(result['kendall_tau']):>12} "
                     f"{_signed(result['spearman_rho']):>13}")
    return "\n".join(lines)


def _signed(value: float) -> str:
    return f"{value:+.3f}" if math.isfinite(value) else "n/a"
