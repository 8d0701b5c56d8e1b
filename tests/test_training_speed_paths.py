"""The speed and memory paths of issue #15 change how a run computes, never what it computes.

- Several training steps per call into Keras' traced function (`steps_per_execution`, chosen by
  `fine_tuning.steps_per_execution_for`) train the same weights and metrics as one step per call;
  the panel's Stop still lands inside an epoch, the NaN guard still fails the run, and a run killed
  mid-epoch still resumes to the uninterrupted run.
- A task's splits read their images from the dataset's own uint8 array (`data.splits.Split`) and
  the pipeline gathers batches from NumPy: the same batches, the same fingerprint, no copies.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from interrupt_helpers import InterruptInSecondEpoch

import workbench
import workbench.training
from workbench.callbacks import LiveCurves
from workbench.data import load_dataset, make_pipeline, prepare_task, split_source
from workbench.data.splits import Split
from workbench.fine_tuning import steps_per_execution_for

from test_equivalence import assert_same_run


# mnist-5k digits 5-9, 130 labels per class: 650 images, batch 32, 21 steps an epoch, so 5 steps per
# call, the last call of each epoch one step.
STEPS = 21


def _pretrain(runs_dir: Path, **changes: Any) -> dict[str, Any]:
    return {"task": "mnist-5k:5-9", "per_class": 130, "epochs": 2, "seed": 1, "runs_dir": str(runs_dir),
            "cache": False, **changes}


class RecordBatchEnds(keras.callbacks.Callback):
    """Keeps the batch index of every `on_train_batch_end` and the model's steps_per_execution."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.batches: list[int] = []
        self.steps_per_execution = self.model.steps_per_execution

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.batches.append(batch)


@pytest.mark.parametrize(("steps", "expected"), [
    (20, 5), (21, 5), (32, 8), (320, 8), (157, 8), (16, 4), (15, 1), (9, 1), (8, 1), (1, 1)])
def test_steps_per_execution_leaves_four_calls_in_an_epoch(steps: int, expected: int) -> None:
    assert steps_per_execution_for(steps) == expected
    assert expected == 1 or (steps // expected >= 4 and expected <= 8)


@pytest.mark.parametrize("steps", [9, 64, 157, 71, 1])
def test_the_cached_feature_head_runs_a_whole_epoch_per_call(steps: int) -> None:
    # 157 and 71 steps are prime: the earlier rule (a divisor of the epoch up to 32) gave them one
    # step per call, and figure 4's cached epochs were mostly Keras' per-call Python.
    assert steps_per_execution_for(steps, whole_epoch=True) == steps


def test_several_steps_per_call_train_the_same_run_as_one(runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    several = RecordBatchEnds()
    batched = workbench.pretrain(**_pretrain(runs_dir), name="several", callbacks=[several])
    assert several.steps_per_execution == 5
    assert several.batches == [4, 9, 14, 19, 24] * 2  # Keras reports each call's last batch (24: past the end)
    monkeypatch.setattr(workbench.training, "steps_per_execution_for", lambda steps: 1)
    single = RecordBatchEnds()
    plain = workbench.pretrain(**_pretrain(runs_dir), name="single", callbacks=[single])
    assert single.steps_per_execution == 1 and single.batches == list(range(STEPS)) * 2
    assert_same_run(batched, plain)
    assert batched.metrics["confusion_matrix"] == plain.metrics["confusion_matrix"]


def test_stop_lands_inside_the_epoch_with_several_steps_per_call(runs_dir: Path) -> None:
    stop = threading.Event()

    class PressStopAtFirstBatchEnd(RecordBatchEnds):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            super().on_train_batch_end(batch, logs)
            stop.set()

    pressing = PressStopAtFirstBatchEnd()
    run = workbench.pretrain(**_pretrain(runs_dir, epochs=5), name="stopped", callbacks=[pressing], stop_event=stop)
    # The run's StopOnEvent comes before this callback, so it sees the event at the next call.
    assert pressing.steps_per_execution == 5 and pressing.batches == [4, 9]
    assert run.status == "stopped"
    assert len(run.history) == 1 and run.history[0]["partial"]


def test_the_nan_guard_fails_the_run_with_several_steps_per_call(runs_dir: Path) -> None:
    class PoisonInSecondEpoch(RecordBatchEnds):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            if self.epoch == 1 and batch == 5:  # the second call of the second epoch
                head = self.model.get_layer("head")
                head.set_weights([np.full_like(weight, np.nan) for weight in head.get_weights()])

    poison = PoisonInSecondEpoch()
    run = workbench.pretrain(**_pretrain(runs_dir, epochs=3), name="poisoned", callbacks=[poison])
    assert poison.steps_per_execution == 5
    assert run.status == "failed"
    assert "became nan at epoch 2, batch 10" in run.metrics["failure"]  # the call's last batch
    assert "restored to the end of epoch 1" in run.metrics["failure"]
    assert all(np.isfinite(weight).all() for weight in run.load_model().get_weights())


def test_a_run_killed_mid_epoch_with_several_steps_per_call_resumes_to_the_whole_run(runs_dir: Path) -> None:
    from workbench.training import resume_run

    whole = workbench.pretrain(**_pretrain(runs_dir, epochs=3), name="whole")
    with pytest.raises(KeyboardInterrupt):
        workbench.pretrain(**_pretrain(runs_dir, epochs=3), name="killed", callbacks=[InterruptInSecondEpoch(batch=9)])
    resumed = resume_run("killed", runs_dir)
    assert resumed.metrics["resumed_at_epoch"] == 1
    assert_same_run(whole, resumed)


def test_live_curves_keep_a_point_every_n_batches_when_keras_reports_every_kth() -> None:
    curves = LiveCurves(None, every_n_batches=4)
    curves.set_params({"steps": 20, "epochs": 1})
    curves.on_train_begin()
    curves.on_epoch_begin(0)
    for batch in (4, 9, 14, 19):  # steps_per_execution 5
        curves.on_train_batch_end(batch, {"accuracy": 0.5, "loss": 1.0})
    # Multiples of 4 passed: 4 (at 5 batches), 8 (10), 12 (15), 16 and 20 (one call: one point).
    assert curves.points["loss"][0] == [0.25, 0.5, 0.75, 1.0]


def _old_fingerprint(task: Any) -> str:
    """TaskData.fingerprint as it was written before the splits stopped copying their images."""
    digest = hashlib.sha256()
    for images, labels in (task.train, task.validation, task.test):
        digest.update(np.ascontiguousarray(images).tobytes())
        digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize("task", ["mnist-5k:5-9", "mnist-5k", "digits:0-3"])
def test_splits_read_the_dataset_without_copying_and_keep_their_fingerprint(task: str) -> None:
    data = prepare_task(task, None, 0.1, 2)
    assert data.fingerprint() == _old_fingerprint(prepare_task(task, None, 0.1, 2))
    dataset = load_dataset(task.split(":")[0])
    for split, pool in ((data.train, dataset.train_images), (data.validation, dataset.train_images),
                        (data.test, dataset.test_images)):
        assert isinstance(split, Split)
        source, rows, _ = split_source(split)
        assert source is pool  # the dataset's own array, not a copy
        images, labels = split
        assert len(images) == len(labels) == len(split[1])
        np.testing.assert_array_equal(images, source if rows is None else source[rows])
    if task == "mnist-5k":  # every class: the test split is the dataset's test array itself, read-only
        assert data.test.rows is None and not data.test.images.flags.writeable


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_pipeline_over_rows_of_the_dataset_gives_the_copied_splits_batches(shuffle: bool) -> None:
    data = prepare_task("mnist-5k:5-9", 30, 0.1, 0)
    source, rows, labels = split_source(data.train)
    assert rows is not None
    copied = make_pipeline(source[rows].copy(), labels, (28, 28, 1), 16, shuffle=shuffle, seed=4, epochs=2)
    gathered = make_pipeline(source, labels, (28, 28, 1), 16, shuffle=shuffle, seed=4, epochs=2, rows=rows)
    pairs = list(zip(copied, gathered, strict=True))
    assert len(pairs) == 2 * 10
    for (images, batch_labels), (same_images, same_labels) in pairs:
        np.testing.assert_array_equal(images.numpy(), same_images.numpy())
        np.testing.assert_array_equal(batch_labels.numpy(), same_labels.numpy())
