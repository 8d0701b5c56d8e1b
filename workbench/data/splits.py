"""A task's splits at one seed: train (the label budget), validation and the held-out test set."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.data.datasets import load_dataset
from workbench.data.tasks import check_known_classes, parse_task, resolve_classes
from workbench.errors import DataError


@dataclass(frozen=True, eq=False)
class Split:
    """One split, `(images, labels)` like a tuple, that reads its images from the dataset's own array.

    A split is a subset of the loaded dataset, which stays cached per process (`load_dataset`);
    copying its rows out would hold every image twice (for 50,000 CIFAR images, 150 MB more).
    So a split keeps the dataset's array and the rows it takes; the training pipeline gathers its
    batches through those rows (`split_source`), and `images` makes the copy only when someone
    asks for it (once; every image in order is a read-only view, no copy at all).

    Unpack it as before: `images, labels = task_data.train`; `task_data.train[1]` reads only the labels.
    """

    source: np.ndarray  # the dataset's uint8 images, shared with the per-process cache
    rows: np.ndarray | None  # the rows of `source` this split takes, in order; None = all of them
    labels: np.ndarray

    @functools.cached_property
    def images(self) -> np.ndarray:
        """The split's images as one array (made on first use)."""
        if self.rows is None:
            view = self.source.view()
            view.flags.writeable = False  # it shares memory with the per-process dataset cache
            return view
        return self.source[self.rows]

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> np.ndarray:
        if index in (1, -1):
            return self.labels  # without making the images
        return (self.images, self.labels)[index]

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.images
        yield self.labels


def split_source(split: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(images, rows, labels) of a split: item i is `images[rows[i]]` (`images[i]` when rows is None).

    Takes a `Split` without copying its images, or any plain `(images, labels)` pair.
    """
    if isinstance(split, Split):
        return split.source, split.rows, split.labels
    images, labels = split
    return images, None, labels


@dataclass
class TaskData:
    """The splits of one task at one seed, relabelled 0..k-1, still uint8.

    Each split unpacks as `(images, labels)` (a `Split`, or a plain pair).
    """

    task: str
    dataset: str
    class_names: list[str]
    train: Split | tuple[np.ndarray, np.ndarray]
    validation: Split | tuple[np.ndarray, np.ndarray]
    test: Split | tuple[np.ndarray, np.ndarray]
    per_class: int | None
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        """Number of classes in the task."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Native (height, width, channels) of the task's images."""
        return tuple(int(size) for size in split_source(self.train)[0].shape[1:])  # type: ignore[return-value]

    def fingerprint(self) -> str:
        """A short hash of every image and label in every split: equal splits, equal fingerprint."""
        digest = hashlib.sha256()
        for split in (self.train, self.validation, self.test):
            images, rows, labels = split_source(split)
            # The images in slices of rows, hashed from their buffers: one digest of the split's bytes
            # in order (as `images[rows].tobytes()` would give) without a copy of the whole split.
            count = len(labels)
            for start in range(0, count, 4096):
                chunk = images[start:start + 4096] if rows is None else images[rows[start:start + 4096]]
                digest.update(memoryview(np.ascontiguousarray(chunk)).cast("B"))
            digest.update(memoryview(np.ascontiguousarray(labels, dtype=np.int64)).cast("B"))
        return digest.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """Counts and shapes for manifests and tables."""
        return {
            "task": self.task,
            "dataset": self.dataset,
            "classes": list(self.class_names),
            "image_shape": list(self.image_shape),
            "train_examples": int(len(self.train[1])),
            "validation_examples": int(len(self.validation[1])),
            "test_examples": int(len(self.test[1])),
            "per_class": self.per_class,
            "seed": self.seed,
            "fingerprint": self.fingerprint(),
            "notes": list(self.notes),
        }


def prepare_task(
    task: str, per_class: int | None = None, validation_split: float = 0.1, seed: int = 0,
    data_root: str | None = None,
) -> TaskData:
    """Load a task's splits: train (the label budget), validation, and the held-out test set.

    The validation set is a stratified `validation_split` of the training pool; the label budget
    then takes exactly `per_class` of the remaining examples of each class. Both draws depend only
    on `seed`, so every mode and run with the same seed sees the same examples. The test set is the
    dataset's own (or a fixed-seed split) and is never used for training or model selection.

    Args:
        task: `DATASET[:CLASSES]`.
        per_class: training examples per class; None takes them all.
        validation_split: fraction of each class's training pool held out for validation.
        seed: seeds the validation and budget draws.
        data_root: where a keras.datasets dataset (cifar10, …) is read from a folder copy instead of
            downloaded (`workbench.data.local_copies`); None downloads. Defaults to None.

    Raises:
        DataError: unknown dataset or class, or a budget larger than a class has.
    """
    spec = parse_task(task)
    check_known_classes(spec)  # a typo in a class name fails now, offline, not after a download
    dataset = load_dataset(spec.dataset, spec.path, data_root)
    selected = resolve_classes(spec.class_tokens, dataset.class_names, spec.text)
    rng = np.random.default_rng(seed)
    train_indices, validation_indices = [], []
    for new_label, old_label in enumerate(selected):
        members = rng.permutation(np.flatnonzero(dataset.train_labels == old_label))
        held_out = int(round(len(members) * validation_split)) if len(members) > 1 else 0
        if validation_split > 0 and held_out == 0 and len(members) > 1:
            held_out = 1
        validation_indices.append(members[:held_out])
        pool = members[held_out:]
        if per_class is not None:
            if per_class > len(pool):
                raise DataError(
                    f"per_class={per_class} is more than class {dataset.class_names[old_label]!r} of "
                    f"{spec.text!r} has: {len(pool)} training examples after holding out "
                    f"{held_out} for validation. Pass --per-class {len(pool)} or less, or leave it out "
                    "to use every example."
                )
            pool = pool[:per_class]
        train_indices.append(pool)
    relabel = {old: new for new, old in enumerate(selected)}

    def take(images: np.ndarray, labels: np.ndarray, index_lists: list[np.ndarray]) -> Split:
        indices = np.sort(np.concatenate(index_lists)) if index_lists else np.array([], dtype=np.int64)
        new_labels = np.array([relabel[int(label)] for label in labels[indices]], dtype=np.int64)
        every_row = len(indices) == len(images)  # sorted and unique, so 0..n-1 in order
        return Split(images, None if every_row else indices, new_labels)

    test_lists = [np.flatnonzero(dataset.test_labels == old) for old in selected]
    return TaskData(
        task=spec.text,
        dataset=spec.dataset if spec.dataset != "folder" else dataset.name,
        class_names=[dataset.class_names[i] for i in selected],
        train=take(dataset.train_images, dataset.train_labels, train_indices),
        validation=take(dataset.train_images, dataset.train_labels, validation_indices),
        test=take(dataset.test_images, dataset.test_labels, test_lists),
        per_class=per_class,
        seed=seed,
        notes=list(dataset.notes),
    )
