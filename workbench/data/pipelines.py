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
) -> Any:
    """Build a batched, prefetched `tf.data.Dataset` of (float32 images, int labels).

    Batching comes before the map so that scaling and resizing run once per batch, vectorised.

    Args:
        images, labels: uint8 images (N, H, W, C) and integer labels.
        input_shape: the model's (height, width, channels); images are adapted to it.
        batch_size: batch size.
        shuffle: reshuffle every epoch with `seed`. Defaults to False.
        seed: shuffling and augmentation seed. Defaults to 0.
        augment: "none" or a comma list of flip, rotate, translate (random, per batch). Defaults to "none".
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(lambda x, y: (adapt_images(x, input_shape), y), num_parallel_calls=tf.data.AUTOTUNE)
    if augment != "none":
        augmenter = build_augmenter(augment, seed)
        dataset = dataset.map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def build_augmenter(augment: str, seed: int = 0) -> Any:
    """Keras preprocessing layers for "flip", "rotate" (±18°) and "translate" (±10%), seeded."""
    import keras

    choices = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", seed=seed),
        "rotate": lambda: keras.layers.RandomRotation(0.05, seed=seed + 1),
        "translate": lambda: keras.layers.RandomTranslation(0.1, 0.1, seed=seed + 2),
    }
    return keras.Sequential([choices[name]() for name in augment.split(",")], name="augment")
