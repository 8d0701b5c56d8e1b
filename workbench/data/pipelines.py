"""From uint8 arrays to what a model eats: input-shape checks, per-batch adaptation (scale,
channels, resize), augmentation and the batched, prefetched tf.data pipeline.

TensorFlow and Keras are imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.errors import DataError


def adaptable_input_shape(input_shape: Any, model_description: str) -> tuple[int, int, int]:
    """A model's input shape (batch axis left out) as the (height, width, channels) images are adapted to.

    The pipeline adapts images in two ways only: it resizes them to a fixed height and width, and
    converts between grayscale and RGB (`adapt_images`). A model whose input is not an image of
    fixed size with 1 or 3 channels cannot be fed.

    Args:
        input_shape: e.g. `model.input_shape[1:]`.
        model_description: names the model in the error, e.g. "The model of source run 'runs/x'".

    Raises:
        DataError: naming the model, its input shape and what the pipeline can adapt to.
    """
    shape = tuple(input_shape)
    if (len(shape) == 3 and all(isinstance(size, int) and size > 0 for size in shape) and shape[2] in (1, 3)):
        return shape  # type: ignore[return-value]
    raise DataError(
        f"{model_description} takes inputs of shape {shape} (batch axis left out), which images cannot be adapted "
        "to: the pipeline only resizes images to a fixed HEIGHTxWIDTH and converts between grayscale and RGB, so "
        "the model must take (height, width, 1) or (height, width, 3) images with fixed sides. Pick a source run "
        "trained by `workbench pretrain` (`workbench runs` lists them), or pretrain one."
    )


def describe_adaptation(image_shape: tuple[int, ...], input_shape: tuple[int, ...]) -> list[str]:
    """Say how the pipeline will adapt images of `image_shape` to a model input of `input_shape`."""
    steps = []
    if image_shape[2] != input_shape[2]:
        steps.append("grayscale → RGB (channel repeated)" if input_shape[2] == 3 else "RGB → grayscale")
    if tuple(image_shape[:2]) != tuple(input_shape[:2]):
        steps.append(f"resized {image_shape[0]}x{image_shape[1]} → {input_shape[0]}x{input_shape[1]} (bilinear)")
    return steps


def adapt_images(images: Any, input_shape: tuple[int, int, int]) -> Any:
    """Scale a uint8 batch to float32 in [0, 1], convert channels and resize to `input_shape`."""
    import tensorflow as tf

    images = tf.cast(images, tf.float32) / 255.0
    channels = images.shape[-1]
    if channels == 1 and input_shape[2] == 3:
        images = tf.image.grayscale_to_rgb(images)
    elif channels == 3 and input_shape[2] == 1:
        images = tf.image.rgb_to_grayscale(images)
    if tuple(images.shape[1:3]) != tuple(input_shape[:2]):
        images = tf.image.resize(images, input_shape[:2], method="bilinear")
    return images


def make_pipeline(
    images: np.ndarray,
    labels: np.ndarray,
    input_shape: tuple[int, int, int],
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    augment: str = "none",
    first_epoch: int = 0,
    epochs: int = 1,
    rows: np.ndarray | None = None,
    epoch_variable: Any = None,
) -> Any:
    """Build a batched, prefetched `tf.data.Dataset` of (float32 images, int labels).

    Batching comes before the map so that scaling and resizing run once per batch, vectorised.
    The dataset holds `epochs` passes over the data back to back (`epoch_batches`): train with
    `steps_per_epoch=steps_per_epoch(len(labels), batch_size)` so that Keras keeps one iterator
    across epochs.

    Args:
        images, labels: uint8 images (N, H, W, C) and integer labels.
        input_shape: the model's (height, width, channels); images are adapted to it.
        batch_size: batch size.
        shuffle: each epoch in its own order, which depends only on (`seed`, epoch). Defaults to False.
        seed: shuffling and augmentation seed. Defaults to 0.
        augment: "none" or a comma list of flip, rotate, translate (random, per batch). Defaults to "none".
        first_epoch: the index of the first epoch in the stream (a resumed run starts later).
            Defaults to 0.
        epochs: passes over the data. Defaults to 1.
        rows: item i is image `images[rows[i]]` and label `labels[i]`: a split read from the
            dataset's own array (`data.splits.split_source`) without copying it. Defaults to None
            (item i is `images[i]`).
        epoch_variable: a `tf.Variable` holding an epoch index; see `epoch_batches`. Defaults to None.
    """
    import tensorflow as tf

    dataset = epoch_batches((images, labels), batch_size, shuffle, seed, first_epoch, epochs, rows=rows,
                            epoch_variable=epoch_variable)
    dataset = dataset.map(lambda x, y: (adapt_images(x, input_shape), y), num_parallel_calls=tf.data.AUTOTUNE)
    if augment != "none":
        augmenter = build_augmenter(augment, seed)
        # One batch at a time: the augmentation layers draw from a stateful, seeded generator, and
        # batches mapped in parallel would take its draws in whatever order the threads run, so
        # the same seed would not give the same run. (Prefetch still runs it ahead of training.)
        dataset = dataset.map(lambda x, y: (augmenter(x, training=True), y))
    return dataset.prefetch(tf.data.AUTOTUNE)


def epoch_batches(arrays: tuple[Any, ...], batch_size: int, shuffle: bool = False, seed: int = 0,
                  first_epoch: int = 0, epochs: int = 1, rows: np.ndarray | None = None,
                  epoch_variable: Any = None) -> Any:
    """Batches of `arrays` (indexed together on their first axis), `epochs` passes back to back.

    With `shuffle`, epoch e is read in the order `epoch_order(count, seed, e)`: a function of the
    seed and the epoch index alone. tf.data's own `shuffle(reshuffle_each_iteration=True)` draws
    each epoch's order from a generator that restarts with the dataset, so a run resumed at epoch
    3 would have seen epoch 0's order again; here it sees epoch 3's, the batches an uninterrupted
    run sees. Image pipelines and the cached-feature path both batch through this function, so
    they see the same batches too. Each epoch ends with its own short last batch, as before.

    Args:
        arrays: e.g. (images, labels) or (features, labels), all of the same length.
        batch_size: batch size.
        shuffle: shuffle each epoch. Defaults to False (every epoch in the stored order).
        seed: the shuffling seed. Defaults to 0.
        first_epoch: index of the first epoch. Defaults to 0.
        epochs: number of epochs. Defaults to 1.
        rows: item i of the first array is its row `rows[i]` (the others are indexed by i).
            Defaults to None.
        epoch_variable: a `tf.Variable` (int64) holding an epoch index: the dataset is then one
            epoch long, and each iterator over it reads the epoch in the order of the epoch the
            variable holds when the iterator starts (`first_epoch` and `epochs` are ignored). For
            `fit` without `steps_per_epoch`, which starts an iterator every epoch, with a callback
            that sets the variable at each epoch's beginning (`callbacks.PipelineEpoch`).
            Defaults to None.
    """
    import tensorflow as tf

    arrays = tuple(np.asarray(array) for array in arrays)
    count = len(rows) if rows is not None else len(arrays[0])

    def indices(epoch: Any) -> Any:
        order = epoch_order(count, seed, epoch) if shuffle else tf.range(count, dtype=tf.int64)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    if epoch_variable is not None:
        first_epoch, epochs = 0, 1
        epoch_indices = tf.data.Dataset.range(1).map(lambda _: tf.cast(epoch_variable.read_value(), tf.int64))
    else:
        epoch_indices = tf.data.Dataset.range(first_epoch, first_epoch + epochs)
    stream = epoch_indices.flat_map(indices)
    # flat_map hides the length, which Keras needs to end a validation or prediction pass quietly.
    stream = stream.apply(tf.data.experimental.assert_cardinality(epochs * steps_per_epoch(count, batch_size)))
    return stream.map(lambda batch: gather_batch(arrays, batch, rows), num_parallel_calls=tf.data.AUTOTUNE,
                      deterministic=True)


def gather_batch(arrays: tuple[np.ndarray, ...], batch: Any, rows: np.ndarray | None = None) -> tuple[Any, ...]:
    """Items `batch` (an int64 index tensor) of each array, read from the NumPy arrays themselves
    (of the first array, its rows `rows[batch]` when `rows` is given).

    `tf.convert_to_tensor` (or `from_tensor_slices`) of a whole split would copy it into
    TensorFlow's memory, and tf.data may copy a captured tensor again when it instantiates the
    map function: for 50,000 CIFAR images, 150-300 MB beside the uint8 arrays. Gathering each batch
    in NumPy reads the one uint8 copy; it costs tens of microseconds per batch, run ahead of
    training by the pipeline's parallel map and prefetch. (Zero-copy DLPack tensors are no way
    out: TensorFlow aborts the process on NumPy buffers that are not 64-byte aligned.)
    """
    import tensorflow as tf

    def take(index: np.ndarray) -> tuple[np.ndarray, ...]:
        first = arrays[0][index if rows is None else rows[index]]
        return (first, *(array[index] for array in arrays[1:]))

    gathered = tf.numpy_function(take, [batch], [tf.as_dtype(array.dtype) for array in arrays], stateful=False)
    for tensor, array in zip(gathered, arrays):
        tensor.set_shape((None, *array.shape[1:]))
    return tuple(gathered)


def epoch_order(count: int, seed: int, epoch: Any) -> Any:
    """The order in which epoch `epoch` reads `count` items: a seeded, stateless permutation."""
    import tensorflow as tf

    seeds = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=seeds)


def steps_per_epoch(count: int, batch_size: int) -> int:
    """Batches in one epoch of `count` items (the last one may be short)."""
    return -(-count // batch_size)


def build_augmenter(augment: str, seed: int = 0) -> Any:
    """Keras preprocessing layers for "flip", "rotate" (±18°) and "translate" (±10%), seeded."""
    import keras

    choices = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", seed=seed),
        "rotate": lambda: keras.layers.RandomRotation(0.05, seed=seed + 1),
        "translate": lambda: keras.layers.RandomTranslation(0.1, 0.1, seed=seed + 2),
    }
    return keras.Sequential([choices[name]() for name in augment.split(",")], name="augment")
