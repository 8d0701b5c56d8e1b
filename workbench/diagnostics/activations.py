"""Activations at block outputs ("cut points"), memory-bounded: what the other diagnostics measure.

Keras is imported on first use only (inside `block_activations` and `resolve_cuts`), so the pure
numerics of this package load without TensorFlow.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.data import adapt_images
from workbench.errors import ConfigError
from workbench.runs import Run, as_run

INPUT_CUT = "input"
PENULTIMATE_CUT = "penultimate"
# Flattened activations wider than this are average-pooled spatially (see `reduce_activations`),
# which bounds memory at max_examples × MAX_FEATURES float32 values per block.
MAX_FEATURES = 8192


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
    blocks = [block.name for block in _model_blocks(model)]
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
    model = as_model(model)
    names = resolve_cuts(model, blocks)
    model_names = [name for name in names if name != INPUT_CUT]
    extractor = _extractor(model, model_names)
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


def as_model(model_or_run: Any, runs_dir: str | Path = "runs") -> Any:
    """A Keras model from a model, a `Run` or a run reference (path or name under `runs_dir`).

    Args:
        model_or_run: a Keras model (returned as it is), a `Run`, or a run's path or name.
        runs_dir: where bare run names are looked up. Defaults to "runs".
    """
    if isinstance(model_or_run, (Run, str, Path)):
        return as_run(model_or_run, runs_dir).load_model()
    return model_or_run


def _model_blocks(model: Any) -> list[Any]:
    # Here, not at the top: workbench.models imports Keras, which the pure numerics do not need.
    from workbench.models import model_blocks

    return model_blocks(model)


def _extractor(model: Any, names: Sequence[str]) -> Any:
    """One Keras model returning the outputs of the named cuts (None when there are none)."""
    import keras  # here: only extracting activations needs TensorFlow

    block_last_layer = {block.name: block.layer_names[-1] for block in _model_blocks(model)}
    tensors = [model.get_layer("head").input if name == PENULTIMATE_CUT
               else model.get_layer(block_last_layer[name]).output for name in names]
    return keras.Model(model.inputs, tensors) if tensors else None


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
    if isinstance(images, tuple) and len(images) == 2 and isinstance(images[0], np.ndarray):
        images = images[0]  # a split as TaskData holds it: (images, labels)
    elif isinstance(images, list):
        images = np.asarray(images)
    if isinstance(images, np.ndarray):
        yield from _array_batches(images, input_shape, batch_size, max_examples, seed)
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


def _array_batches(images: np.ndarray, input_shape: tuple[int, ...], batch_size: int, max_examples: int | None,
                   seed: int) -> Iterator[np.ndarray]:
    indices = subsample_indices(len(images), max_examples, seed)
    if images.dtype != np.uint8 and tuple(images.shape[1:]) != tuple(input_shape):
        raise ConfigError(
            f"Float images of shape {images.shape[1:]} do not match the model input {tuple(input_shape)}. "
            "Pass uint8 images (they are adapted like the training pipeline) or images already "
            "resized to the model input."
        )
    for start in range(0, len(indices), batch_size):
        chunk = images[indices[start:start + batch_size]]
        yield np.asarray(adapt_images(chunk, input_shape)) if chunk.dtype == np.uint8 else chunk.astype(np.float32)
