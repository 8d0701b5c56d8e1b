"""Folders of class sub-folders as datasets: `folder:PATH[:CLASSES]`.

Every image is opened once with Pillow before TensorFlow reads the folder, so a file TensorFlow
cannot decode is named in the error instead of surfacing as a tf.data failure mid-run. TensorFlow
then decodes the files in parallel straight into one preallocated uint8 array, pixel for pixel as
`keras.utils.image_dataset_from_directory` reads them. The decoded arrays are kept on disk
(`workbench.data.decoded_cache`), so the next run, or the next process, of an unchanged folder
skips both passes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data.catalog import Dataset, with_seeded_test_split
from workbench.data.decoded_cache import cache_path, folder_fingerprint, read_cached, write_cached
from workbench.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# Folder images are decoded by TensorFlow (through keras.utils.image_dataset_from_directory), which
# reads these formats whatever the file suffix says. Only JPEG and PNG decode to one channel; GIF,
# BMP and WebP decode to three, so a folder holding any of them is read as RGB.
DECODABLE_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP")
ONE_CHANNEL_FORMATS = ("JPEG", "MPO", "PNG")
# Pillow modes without colour: a folder whose images all have one of them is read as grayscale.
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


@functools.lru_cache(maxsize=4)
def load_folder(root_text: str) -> Dataset:
    """A folder of class sub-folders (optionally inside train/ and test/), read once per process.

    The decoded arrays are kept on disk, keyed by the folder's file names, sizes and modification
    times (`workbench.data.decoded_cache`): an unchanged folder is decoded once, a changed one again.

    Raises:
        DataError: a missing folder, fewer than two classes, an empty class or an unreadable image.
    """
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
    cache_file = cache_path(root, folder_fingerprint(root, roots, class_names))
    cached = read_cached(cache_file, f"folder:{root_text}")
    if cached is not None:
        return cached
    dataset = _decode_folder(root, root_text, roots, class_names)
    write_cached(cache_file, dataset)
    return dataset


def _decode_folder(root: Path, root_text: str, roots: list[Path], class_names: tuple[str, ...]) -> Dataset:
    """Check every image, decode them all, and split: the work the cache saves."""
    has_splits = len(roots) == 2
    survey = _check_images(root, roots, class_names)
    height, width = survey.size
    split_arrays = [_read_image_folder(split_root, class_names, survey.size, survey.color_mode) for split_root in roots]
    notes = (f"folder images read at {height}x{width} ({survey.color_mode})",) + survey.notes
    if has_splits:
        (train_images, train_labels), (test_images, test_labels) = split_arrays
        return Dataset(f"folder:{root_text}", class_names, train_images, train_labels,
                       test_images, test_labels, notes=notes + ("train/ and test/ sub-folders are the splits",))
    images, labels = split_arrays[0]
    split = with_seeded_test_split(f"folder:{root_text}", class_names, images, labels,
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
    """Every image under `split_root`'s class folders as uint8 (N, height, width, channels), and the labels."""
    paths: list[str] = []
    labels: list[np.ndarray] = []
    for label, class_name in enumerate(class_names):
        files, _ = _class_files(split_root / class_name)
        paths += [str(path) for path in files]
        labels.append(np.full(len(files), label, dtype=np.int64))
    try:
        images = decode_image_files(paths, size, color_mode)
    except Exception as error:  # noqa: BLE001 - a decode failure `_check_images` did not foresee
        reason = str(getattr(error, "message", error)).strip().splitlines()[-1][:200]
        raise DataError(
            f"TensorFlow could not decode an image under {str(split_root)!r} ({reason}). Save every image there "
            "as PNG or JPEG (e.g. `PIL.Image.open(path).convert('RGB').save('image.png')`) and run again."
        ) from None
    return images, np.concatenate(labels)


def decode_image_files(paths: Sequence[str], size: tuple[int, int], color_mode: str) -> np.ndarray:
    """Decode image files into one uint8 array (N, height, width, channels), in the order given.

    Pixel for pixel what `keras.utils.image_dataset_from_directory` gives (then rounded to uint8):
    `tf.image.decode_image`, a bilinear resize to `size` (which leaves an image of that size
    unchanged), rounded half to even. Files are decoded in parallel by tf.data and written batch
    by batch into one preallocated array, never as float32 copies of the whole folder.

    Args:
        paths: the image files.
        size: (height, width) every image is read at.
        color_mode: "rgb" (3 channels) or "grayscale" (1).

    Raises:
        tensorflow.errors.InvalidArgumentError: for a file TensorFlow cannot decode.
    """
    import tensorflow as tf

    channels = 1 if color_mode == "grayscale" else 3
    images = np.empty((len(paths), *size, channels), dtype=np.uint8)

    def decode(path: tf.Tensor) -> tf.Tensor:
        image = tf.image.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        image = tf.image.resize(image, size, method="bilinear")
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)

    files = tf.data.Dataset.from_tensor_slices(tf.constant(list(paths), dtype=tf.string))
    start = 0
    for batch in files.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(1024):
        images[start:start + len(batch)] = batch.numpy()
        start += len(batch)
    return images
