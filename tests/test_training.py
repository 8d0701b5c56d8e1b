"""Training runs: complete run directories, atomic writes, stop, seeds, and safe loading."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import keras
import numpy as np
import pytest

import workbench
from workbench.config import config_from_mapping
from workbench.errors import ConfigError, DataError, SourceRunError
from workbench.runs import load_run
from workbench.training import effective_batch_size, train_run


def _transfer(source_run, runs_dir: Path, **overrides):
    values = {"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 5, "epochs": 2,
              "runs_dir": str(runs_dir), **overrides}
    return workbench.transfer(**values)






def test_transfer_learns_the_target_task(source_run, runs_dir: Path) -> None:
    run = _transfer(source_run, runs_dir, mode="parameter", per_class=20, epochs=3)
    assert run.test_accuracy > 0.5  # 5 classes: chance is 0.2


def test_same_seed_gives_the_same_splits_and_initial_weights(source_run, runs_dir: Path) -> None:
    first = _transfer(source_run, runs_dir, mode="structure", seed=3, epochs=1)
    again = _transfer(source_run, runs_dir, mode="feature", seed=3, epochs=1)
    assert first.manifest["data"]["fingerprint"] == again.manifest["data"]["fingerprint"]
    initial = [workbench.models.build_model("seed-cnn", 5, seed=3).get_weights() for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(*initial))


def test_a_failing_run_leaves_nothing_behind(source_run, runs_dir: Path) -> None:
    class Explode(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        workbench.transfer(callbacks=[Explode()], source=str(source_run.path), task="mnist-5k:5-9",
                           per_class=5, epochs=2, runs_dir=str(runs_dir), name="doomed")
    assert list(runs_dir.iterdir()) == []


def test_stop_ends_training_early_and_keeps_a_complete_stopped_run(source_run, runs_dir: Path) -> None:
    stop = threading.Event()

    class StopAfterFirstBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            stop.set()

    run = workbench.transfer(callbacks=[StopAfterFirstBatch()], stop_event=stop, source=str(source_run.path),
                             task="mnist-5k:5-9", per_class=40, epochs=20, runs_dir=str(runs_dir))
    assert run.status == "stopped"
    assert len(run.history) == 1 and run.history[0]["partial"]
    assert run.model_path.is_file() and load_run(run.path).metrics["status"] == "stopped"


@pytest.mark.parametrize(("overrides", "error", "fragment"), [
    ({"task": "mnist-5k:zebra"}, DataError, "not a class"),
    ({"task": "mnist-5k:5-12"}, DataError, "out of range"),
    ({"per_class": 999}, DataError, "per_class=999"),
    ({"freeze_depth": 9}, ConfigError, "outside 0..4"),
    ({"source": "runs/missing"}, SourceRunError, "does not exist"),
])
def test_bad_input_fails_before_anything_is_written(source_run, runs_dir: Path, overrides, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        _transfer(source_run, runs_dir, **overrides)
    assert list(runs_dir.iterdir()) == []








def test_small_budgets_get_enough_updates_per_epoch() -> None:
    assert effective_batch_size(32, 25) == 3
    assert effective_batch_size(32, 5000) == 32
    assert effective_batch_size(32, 3) == 1


def test_pretrain_on_cifar10_mini_then_transfer(cifar10_mini: Path, runs_dir: Path) -> None:
    source = workbench.pretrain(task=f"folder:{cifar10_mini}:airplane,automobile,ship,truck", per_class=20,
                                epochs=1, runs_dir=str(runs_dir), name="vehicles")
    run = workbench.transfer(source=str(source.path), task=f"folder:{cifar10_mini}:cat,dog", per_class=10,
                             epochs=1, mode="feature", runs_dir=str(runs_dir))
    assert run.manifest["input_adaptation"] == []
    assert run.metrics["test_examples"] == 200


def test_config_values_become_a_run_via_the_same_schema(source_run, runs_dir: Path) -> None:
    config = config_from_mapping({"source": str(source_run.path), "task": "digits:0-2", "per_class": 8,
                                  "epochs": 1, "runs_dir": str(runs_dir), "mode": "feature"}, kind="transfer")
    run = train_run(config)
    assert run.manifest["input_adaptation"][1] == "resized 8x8 → 32x32 (bilinear)"
    assert run.config["input_shape"] == [32, 32, 3]






def test_a_nan_loss_fails_the_run_with_a_reason_and_keeps_finite_weights(source_run, runs_dir: Path) -> None:
    class PoisonInSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 1:
                head = self.model.get_layer("head")
                head.set_weights([np.full_like(weight, np.nan) for weight in head.get_weights()])

    run = workbench.transfer(callbacks=[PoisonInSecondEpoch()], source=str(source_run.path), task="mnist-5k:5-9",
                             per_class=20, epochs=4, runs_dir=str(runs_dir))
    assert run.status == "failed"
    assert "became nan at epoch 2, batch 2" in run.metrics["failure"]
    assert "restored to the end of epoch 1" in run.metrics["failure"]
    assert all(np.isfinite(weight).all() for weight in run.load_model().get_weights())
    assert 0.0 <= run.test_accuracy <= 1.0


# Killed once its checkpoint holds epoch 2 (checked every 0.2 s): ten epochs of 0.2-0.3 s each are
# left as margin, so the process is always killed mid-run; the resumed run trains what is left.
KILLED_RUN_EPOCHS = 12


def test_a_run_killed_mid_training_resumes_to_one_continuous_history(source_run, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from workbench.cli import main
    from workbench.training import CHECKPOINT_FILE, interrupted_runs

    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "transfer", "--source", str(source_run.path), "--task", "mnist-5k:5-9",
         "--per-class", "60", "--epochs", str(KILLED_RUN_EPOCHS), "--name", "killed", "--runs-dir", str(runs)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            checkpoints = list(runs.glob(f".tmp-killed-*/{CHECKPOINT_FILE}"))
            if checkpoints:
                with np.load(checkpoints[0]) as archive:
                    if json.loads(str(archive["state"]))["epoch"] >= 2:
                        break
            time.sleep(0.2)
        else:
            pytest.fail("the training process wrote no checkpoint in time")
        os.kill(process.pid, signal.SIGKILL)  # mid-epoch: no clean-up code runs
    finally:
        process.kill()
        process.wait()
    assert not (runs / "killed").exists() and "killed" in interrupted_runs(runs)
    assert main(["resume", "killed", "--runs-dir", str(runs)]) == 0
    run = load_run(runs / "killed")
    assert [row["epoch"] for row in run.history] == list(range(1, KILLED_RUN_EPOCHS + 1))
    assert run.status == "finished" and run.metrics["resumed_at_epoch"] >= 2
    assert not list(runs.glob(".tmp-*")) and interrupted_runs(runs) == {}


def test_resume_without_an_interrupted_run_is_a_readable_error(runs_dir: Path) -> None:
    from workbench.training import resume_run

    with pytest.raises(SourceRunError, match="No interrupted run named 'ghost'"):
        resume_run("ghost", runs_dir)


def test_the_train_step_is_traced_once_per_run(source_run, runs_dir: Path, monkeypatch) -> None:
    # Keras builds compiled metrics inside the first trace, which makes TensorFlow trace the step
    # twice; the run builds them beforehand from the dataset's spec (a third of a short run's time).
    import keras.src.backend.tensorflow.trainer as tensorflow_trainer

    traces = []
    original = tensorflow_trainer.TensorFlowTrainer.train_step

    def counting_train_step(self, data):
        traces.append(1)
        return original(self, data)

    monkeypatch.setattr(tensorflow_trainer.TensorFlowTrainer, "train_step", counting_train_step)
    run = _transfer(source_run, runs_dir, mode="parameter", epochs=2, name="traced")
    assert run.metrics["status"] == "finished"
    assert len(traces) == 1


