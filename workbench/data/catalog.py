"""What datasets exist, their class names, and the in-memory `Dataset` every loader returns.

Pure: numpy only, nothing is loaded or downloaded here. The class names of the keras.datasets
datasets are known without loading them, so a task's class list is checked (and counted) before
anything is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EMBEDDED_DATASETS = ("mnist-5k", "digits")
KERAS_DATASETS = ("cifar10", "cifar100", "mnist", "fashion_mnist")
DATASETS = EMBEDDED_DATASETS + KERAS_DATASETS + ("folder",)
# Datasets that ship without a test split get one carved out with this fixed seed, so every run,
# whatever its own seed, is scored on the same held-out images.
TEST_SPLIT_SEED = 20_141_208
TEST_FRACTION = 0.2

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
FASHION_MNIST_CLASSES = (
    "tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot",
)
CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly "
    "camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile "
    "cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp "
    "lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree "
    "orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum "
    "rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider "
    "squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor train "
    "trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
# Every dataset but `folder` (whose classes are its sub-folders, known once it is read).
KNOWN_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist-5k": DIGIT_CLASSES,
    "digits": DIGIT_CLASSES,
    "cifar10": CIFAR10_CLASSES,
    "cifar100": tuple(CIFAR100_CLASSES),
    "mnist": DIGIT_CLASSES,
    "fashion_mnist": FASHION_MNIST_CLASSES,
}


@dataclass(frozen=True)
class Dataset:
    """A whole dataset in memory as uint8 images (N, H, W, C) and integer labels."""

    name: str
    class_names: tuple[str, ...]
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Native (height, width, channels) of the images."""
        return tuple(int(size) for size in self.train_images.shape[1:])  # type: ignore[return-value]


def with_seeded_test_split(
    name: str, class_names: tuple[str, ...], images: np.ndarray, labels: np.ndarray, note: str
) -> Dataset:
    """A `Dataset` whose test split is `TEST_FRACTION` of each class, drawn with `TEST_SPLIT_SEED`.

    For datasets that ship without a test split; the fixed seed keeps the test set the same for
    every run.
    """
    rng = np.random.default_rng(TEST_SPLIT_SEED)
    test_indices = []
    for label in range(len(class_names)):
        members = rng.permutation(np.flatnonzero(labels == label))
        test_indices.append(members[: int(round(len(members) * TEST_FRACTION))])
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[np.concatenate(test_indices)] = True
    return Dataset(name, tuple(class_names), images[~test_mask], labels[~test_mask],
                   images[test_mask], labels[test_mask], notes=(note,))
