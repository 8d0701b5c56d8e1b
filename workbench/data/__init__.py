"""Datasets, task specs, label budgets and tf.data pipelines.

A *task* is a dataset plus an ordered subset of its classes, written `DATASET[:CLASSES]`:
`mnist-5k:0-4`, `cifar10:cat,dog,horse`, `folder:/data/flowers:roses,tulips`. The chosen classes
are relabelled 0..k-1 in the order given.

Images stay uint8 from loading until the tf.data pipeline, which scales to float32 in [0, 1],
converts channels and resizes batch by batch. Nothing here makes a float64 copy of a dataset.

One idea per module, every name importable from `workbench.data`:

- `catalog`: the known datasets, their class names, the `Dataset` every loader returns (pure);
- `tasks`: parse `DATASET[:CLASSES]`, resolve class tokens to indices (pure);
- `datasets`: load mnist-5k, digits and keras.datasets; `folders`: load folders of class sub-folders;
- `local_copies`: `data_root`, a folder copy of a keras.datasets dataset (CIFAR-10 without a download);
- `decoded_cache`: decoded folders kept on disk, keyed by the folder's fingerprint (decode once);
- `splits`: a task's train / validation / test splits and label budget at one seed;
- `pipelines`: input-shape checks, per-batch adaptation, augmentation, the tf.data pipeline.
"""

from __future__ import annotations

from workbench.data.catalog import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    DATASETS,
    DIGIT_CLASSES,
    EMBEDDED_DATASETS,
    FASHION_MNIST_CLASSES,
    KERAS_DATASETS,
    KNOWN_CLASS_NAMES,
    TEST_FRACTION,
    TEST_SPLIT_SEED,
    Dataset,
    with_seeded_test_split,
)
from workbench.data.datasets import load_dataset, load_named_dataset
from workbench.data.decoded_cache import CACHE_ENVIRONMENT_VARIABLE, cache_folder, folder_fingerprint
from workbench.data.folders import (
    DECODABLE_FORMATS,
    GRAYSCALE_MODES,
    IMAGE_SUFFIXES,
    ONE_CHANNEL_FORMATS,
    decode_image_files,
    load_folder,
)
from workbench.data.local_copies import check_data_root, dataset_folder, load_local_copy
from workbench.data.pipelines import (
    adaptable_input_shape,
    adapt_images,
    build_augmenter,
    describe_adaptation,
    make_pipeline,
)
from workbench.data.splits import Split, TaskData, prepare_task, split_source
from workbench.data.tasks import TaskSpec, check_known_classes, parse_task, resolve_classes

# The earlier private names of the two per-process caches: scripts clear them between measurements
# (`workbench.data._load_named.cache_clear()`, as bench/memory.py does).
_load_named = load_named_dataset
_load_folder = load_folder

__all__ = [
    "CACHE_ENVIRONMENT_VARIABLE",
    "CIFAR10_CLASSES",
    "CIFAR100_CLASSES",
    "DATASETS",
    "DECODABLE_FORMATS",
    "DIGIT_CLASSES",
    "EMBEDDED_DATASETS",
    "FASHION_MNIST_CLASSES",
    "GRAYSCALE_MODES",
    "IMAGE_SUFFIXES",
    "KERAS_DATASETS",
    "KNOWN_CLASS_NAMES",
    "ONE_CHANNEL_FORMATS",
    "TEST_FRACTION",
    "TEST_SPLIT_SEED",
    "Dataset",
    "Split",
    "TaskData",
    "TaskSpec",
    "adapt_images",
    "adaptable_input_shape",
    "build_augmenter",
    "cache_folder",
    "check_data_root",
    "check_known_classes",
    "dataset_folder",
    "decode_image_files",
    "describe_adaptation",
    "folder_fingerprint",
    "load_dataset",
    "load_folder",
    "load_local_copy",
    "load_named_dataset",
    "make_pipeline",
    "parse_task",
    "prepare_task",
    "resolve_classes",
    "split_source",
    "with_seeded_test_split",
]
