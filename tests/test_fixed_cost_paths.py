"""The per-run fixed cost's reuse paths train what a cold run trains (issue #15).

A run may train an idle model of an earlier run with the same graph, its traced train, test and
predict steps included, set to the run's own freshly built weights and fresh optimizer state
(`workbench.traced_models`). These tests check that such a run equals the same run traced afresh
bit for bit (metrics, history, every weight), that the lent model starts from exactly the fresh
build's variables, and that the graph signature tells apart what the traced steps depend on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import workbench
from workbench import traced_models
from workbench.config import config_from_mapping
from workbench.runs import Run
from workbench.training import compile_plan, prepare_run


def _target(source_run: Run, runs_dir: Path, **changes: Any) -> dict[str, Any]:
    """A small transfer with the run cache off, so every run really trains."""
    return {"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 5, "epochs": 2, "seed": 1,
            "runs_dir": str(runs_dir), "cache": False, "overwrite": True, **changes}


def _count_traces(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import keras.src.backend.tensorflow.trainer as tensorflow_trainer

    traces: list[int] = []
    original = tensorflow_trainer.TensorFlowTrainer.train_step

    def counting_train_step(self: Any, data: Any) -> Any:
        traces.append(1)
        return original(self, data)

    monkeypatch.setattr(tensorflow_trainer.TensorFlowTrainer, "train_step", counting_train_step)
    return traces


def _assert_bit_for_bit(first: Run, second: Run) -> None:
    assert first.metrics["test_accuracy"] == second.metrics["test_accuracy"]
    assert first.metrics["test_loss"] == second.metrics["test_loss"]
    assert first.metrics["confusion_matrix"] == second.metrics["confusion_matrix"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [row[key] for row in first.history] == [row[key] for row in second.history], key
    for mine, theirs in zip(first.load_model().get_weights(), second.load_model().get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_a_run_on_a_lent_traced_model_equals_the_same_run_traced_afresh(
    source_run: Run, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traces = _count_traces(monkeypatch)
    traced_models.forget_traced_models()
    monkeypatch.setenv(traced_models.REUSE_ENVIRONMENT_VARIABLE, "off")
    cold = workbench.transfer(**_target(source_run, runs_dir, mode="parameter", name="cold"))
    assert len(traces) == 1

    monkeypatch.setenv(traced_models.REUSE_ENVIRONMENT_VARIABLE, "on")
    # Another mode and seed first: a structure run (fresh blocks) has the graph of a parameter run
    # at freeze depth 0 (copied blocks), so the parameter run below trains the structure run's model.
    workbench.transfer(**_target(source_run, runs_dir, mode="structure", seed=0, name="lender"))
    assert len(traces) == 2
    lent = workbench.transfer(**_target(source_run, runs_dir, mode="parameter", name="lent"))
    assert len(traces) == 2, "the run traced its own train step instead of borrowing the idle one"
    _assert_bit_for_bit(cold, lent)
    traced_models.forget_traced_models()


def test_a_lent_model_starts_from_the_fresh_builds_variables_and_optimizer_state(
    source_run: Run, runs_dir: Path
) -> None:
    traced_models.forget_traced_models()
    config = config_from_mapping(_target(source_run, runs_dir, mode="parameter", seed=0), kind="transfer")
    first = prepare_run(config)
    compile_plan(first)
    first_model, signature = traced_models.borrow_traced_model(first.model)
    assert first_model is first.model  # nothing idle yet
    first_model.optimizer.iterations.assign(7)  # as if it had trained: state that must not leak
    for variable in first_model.trainable_variables:
        variable.assign(variable.value * 0 + 0.5)
    traced_models.return_traced_model(first_model, signature)

    fresh = prepare_run(config.replace(seed=4))
    compile_plan(fresh)
    expected_variables = [variable.numpy().copy() for variable in fresh.model.variables]
    expected_optimizer = [variable.numpy().copy() for variable in fresh.model.optimizer.variables]
    lent, lent_signature = traced_models.borrow_traced_model(fresh.model)
    assert lent is first_model and lent_signature == signature
    for mine, theirs in zip([variable.numpy() for variable in lent.variables], expected_variables, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for mine, theirs in zip([variable.numpy() for variable in lent.optimizer.variables], expected_optimizer,
                            strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert int(lent.optimizer.iterations.numpy()) == 0
    traced_models.forget_traced_models()


def _signature(source_run: Run, runs_dir: Path, **changes: Any) -> str:
    prepared = prepare_run(config_from_mapping(_target(source_run, runs_dir, **changes), kind="transfer"))
    compile_plan(prepared)
    return traced_models.graph_signature(prepared.model)


def test_the_graph_signature_changes_with_what_the_traced_steps_depend_on(source_run: Run, runs_dir: Path) -> None:
    base = _signature(source_run, runs_dir, mode="parameter", seed=0)
    # The same graph: another seed, fresh instead of copied blocks, another learning rate.
    assert _signature(source_run, runs_dir, mode="parameter", seed=2) == base
    assert _signature(source_run, runs_dir, mode="structure", seed=0) == base
    # Another graph: frozen blocks (trainability), per-block learning rates (constants in the
    # traced update), another class count (the head's shape).
    assert _signature(source_run, runs_dir, mode="parameter", freeze_depth=2) != base
    assert _signature(source_run, runs_dir, mode="parameter", block_lr="geometric", lr_low=1e-5) != base
    assert _signature(source_run, runs_dir, mode="parameter", task="mnist-5k:5-7") != base


def test_a_run_with_an_unfreezing_schedule_or_reuse_off_does_not_borrow(
    source_run: Run, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traces = _count_traces(monkeypatch)
    traced_models.forget_traced_models()
    # Gradual unfreezing to depth 2 over 2 epochs: the head alone first, then one more block.
    settings = {"mode": "parameter", "freeze_depth": 2, "unfreeze": "gradual", "epochs": 2}
    workbench.transfer(**_target(source_run, runs_dir, name="first", **settings))
    before = len(traces)
    workbench.transfer(**_target(source_run, runs_dir, name="second", seed=2, **settings))
    assert before == 2 and len(traces) == 4  # traced afresh: a schedule retraces mid-run, so it is never lent

    monkeypatch.setenv(traced_models.REUSE_ENVIRONMENT_VARIABLE, "off")
    workbench.transfer(**_target(source_run, runs_dir, mode="parameter", name="third"))
    workbench.transfer(**_target(source_run, runs_dir, mode="parameter", name="fourth", seed=2))
    assert len(traces) == 6
    traced_models.forget_traced_models()


def test_a_shared_evaluation_pipeline_is_keyed_by_every_input_that_changes_its_batches() -> None:
    from workbench.training import unshuffled_pipeline

    images = np.arange(6 * 4 * 4, dtype=np.uint8).reshape(6, 4, 4, 1)
    labels = np.array([0, 1, 0, 1, 0, 1])
    rows = np.array([0, 2, 3, 5])
    shared = unshuffled_pipeline(images, rows, labels[rows], (4, 4, 1), 2)
    assert unshuffled_pipeline(images, rows.copy(), labels[rows].copy(), (4, 4, 1), 2) is shared
    others = [
        unshuffled_pipeline(images, np.array([0, 2, 3, 4]), labels[rows], (4, 4, 1), 2),  # other rows
        unshuffled_pipeline(images, rows, 1 - labels[rows], (4, 4, 1), 2),  # other labels
        unshuffled_pipeline(images, rows, labels[rows], (8, 8, 1), 2),  # other input shape
        unshuffled_pipeline(images, rows, labels[rows], (4, 4, 1), 4),  # other batch size
        unshuffled_pipeline(images.copy(), rows, labels[rows], (4, 4, 1), 2),  # other images array
    ]
    assert all(other is not shared for other in others)
    batches = list(unshuffled_pipeline(images, rows, labels[rows], (4, 4, 1), 2).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([batch[0] for batch in batches]), images[rows] / np.float32(255))
    np.testing.assert_array_equal(np.concatenate([batch[1] for batch in batches]), labels[rows])
