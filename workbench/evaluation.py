"""Reading the validation and test splits: shared one-pass pipelines, one iterator per pass where
possible, and the test-set scores of a model."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import numpy as np

from workbench.data import TaskData, make_pipeline, split_source
from workbench.data.pipelines import steps_per_epoch
from workbench.devices import replica_count, shard_by_data
from workbench.fine_tuning import predict_step_by_step


def one_iterator_pass(dataset: Any, examples: int, batch_size: int, strategy: Any,
                      steps_per_call: int = 1) -> tuple[Any, int | None]:
    """A one-pass dataset to read with one iterator: (the pass repeated, the steps of one pass), or
    (the pass itself, None) where it must keep its known length.

    Keras starts an iterator for each pass over a dataset of known length, and a second, never read,
    at its end: ~20 ms each on a 2-core CPU (tf.data instantiates and optimises the pipeline's
    functions), and fit makes a validation pass every epoch. Repeated, the pass has no length, and
    one iterator read for `steps` batches per pass gives every pass the same batches in the same
    order, so the same numbers. The pass is kept under a distribution strategy (a dataset of known
    length per pass, split across the replicas as Keras does it), and where a pass is not a whole
    number of `steps_per_call`: a call of k steps would read on into the next pass, where a pass of
    known length ends the last call short.
    """
    steps = steps_per_epoch(examples, batch_size)
    if replica_count(strategy) != 1 or steps % steps_per_call:
        return dataset, None
    return dataset.repeat(), steps


def unshuffled_pipeline(images: np.ndarray, rows: np.ndarray | None, labels: np.ndarray,
                        input_shape: tuple[int, int, int], batch_size: int) -> Any:
    """One pass over a split in its stored order (validation, test): `make_pipeline`, shared by the
    runs of a process that read the same split at the same input shape and batch size.

    Building a tf.data pipeline traces its map functions (0.1-0.4 s on a busy 2-core CPU), and a
    study's runs read the same validation and test splits again and again. The dataset holds no
    state between passes (each pass makes its own iterator), so a shared one yields the same batches.
    """
    key = (id(images), tuple(images.shape), _digest(rows), _digest(labels), tuple(input_shape), batch_size)
    shared = _shared_pipelines(key)
    if shared and shared[0][0] is images:  # held, so its id cannot have been reused
        return shared[0][1]
    import tensorflow as tf

    # tf.data rewrites a pipeline's graph each time an iterator starts (0.05 s here, per pass): this
    # one already has its parallel map and prefetch, and its values do not depend on the rewrites.
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    dataset = make_pipeline(images, labels, input_shape, batch_size, rows=rows).with_options(options)
    shared[:] = [(images, dataset)]
    return dataset


@functools.lru_cache(maxsize=8)
def _shared_pipelines(key: tuple[Any, ...]) -> list[tuple[np.ndarray, Any]]:
    """Split and pipeline settings → [(the images array, its pipeline)]. Process-wide on purpose: the
    next run of a study reads the same splits; eight at most (the least recently used is dropped)."""
    return []


def _digest(array: np.ndarray | None) -> str:
    if array is None:
        return "all rows"
    return hashlib.sha256(np.asarray(array, dtype=np.int64).tobytes()).hexdigest()  # row or label indices


def evaluation_batch_size(batch_size: int) -> int:
    """The batch size of the test-set evaluation: 4 training batches, and at least 128 examples (a
    multiple of the training batch, so of the replica count). Prediction's per-step cost dominates
    small batches: a 25-image run (batch 3) would otherwise predict its test set 12 at a time."""
    return batch_size * max(4, -(-EVALUATION_MIN_BATCH // batch_size))


EVALUATION_MIN_BATCH = 128


def evaluate_model(model: Any, task_data: TaskData, input_shape: tuple[int, int, int], batch_size: int) -> dict[str, Any]:
    """Score a model on the task's held-out test set.

    Returns:
        test_accuracy, test_loss, per_class_accuracy (class name → accuracy), confusion_matrix
        (rows = true class, columns = predicted), class_names and test_examples.
    """
    images, rows, labels = split_source(task_data.test)  # no copy of the images
    # Sharded by data, multi-worker prediction gathers every worker's share back in input order.
    # One batch per call, so any pass divides into calls.
    test_pass, steps = one_iterator_pass(shard_by_data(unshuffled_pipeline(images, rows, labels, input_shape,
                                                                           batch_size)),
                                         len(labels), batch_size, model.distribute_strategy)
    logits = predict_step_by_step(model, test_pass, steps=steps)
    logits = logits.astype(np.float64)
    predictions = logits.argmax(axis=1)
    # Cross-entropy from logits with a stable log-softmax, matching the training loss.
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    num_classes = task_data.num_classes
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class = {
        name: float(confusion[index, index] / confusion[index].sum()) if confusion[index].sum() else None
        for index, name in enumerate(task_data.class_names)
    }
    return {
        "test_accuracy": float((predictions == labels).mean()),
        "test_loss": float(-log_probabilities[np.arange(len(labels)), labels].mean()),
        "test_examples": int(len(labels)),
        "class_names": list(task_data.class_names),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
    }


