"""Two paths to the same network give the same numbers.

Each test trains one network along two paths that should agree (same seed, same data) and checks
that they do: the same test accuracy and loss, the same history, and the same trained weights,
every array compared with `np.testing.assert_allclose`. The pairs, their tests and tolerances are
listed in tests/README.md under "Equivalent paths".

Tolerance: rtol = atol = 1e-5 (`SAME`). On TensorFlow 2.21's CPU kernels, in one process, every
pair here comes out bit for bit equal; what parts two paths is a kernel summing in another order
(another thread count, another device), which the serial and -j 2 pair meets (see its test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from interrupt_helpers import InterruptInSecondEpoch

import workbench
from workbench.config import config_from_mapping
from workbench.fine_tuning import BlockwiseAdam
from workbench.models import build_model
from workbench.runs import Run
from workbench.transfer_modes import transfer_model

SAME = {"rtol": 1e-5, "atol": 1e-5}


def _target(source_run: Run, runs_dir: Path, **changes: Any) -> dict[str, Any]:
    """A small transfer: 10 labels per class of mnist-5k 5-9, 2 epochs. The run cache is off: each
    path must really train, or the second run of a pair could be a copy of the first."""
    return {"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 10, "epochs": 2, "seed": 3,
            "runs_dir": str(runs_dir), "cache": False, **changes}


def assert_same_run(first: Run, second: Run, tolerance: dict[str, float] = SAME) -> None:
    """Same test accuracy and loss, same per-epoch history, same trained weights (every array)."""
    assert not any("reused" in (run.manifest.get("cache") or {}) for run in (first, second))
    assert first.test_accuracy == pytest.approx(second.test_accuracy, abs=1e-9), (first.name, second.name)
    assert first.metrics["test_loss"] == pytest.approx(second.metrics["test_loss"], rel=tolerance["rtol"],
                                                       abs=tolerance["atol"])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose([row[key] for row in first.history], [row[key] for row in second.history],
                                   err_msg=key, **tolerance)
    assert_same_weights(first.load_model(), second.load_model(), tolerance)


def assert_same_weights(first: Any, second: Any, tolerance: dict[str, float] = SAME) -> None:
    """Every weight of two models of the same architecture, layer by layer."""
    assert [layer.name for layer in first.layers] == [layer.name for layer in second.layers]
    for layer in first.layers:
        for mine, theirs in zip(layer.get_weights(), second.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_allclose(mine, theirs, err_msg=layer.name, **tolerance)


def assert_weights_differ(first: Run, second: Run) -> None:
    """The control: runs that should not agree do not, so a passing pair is not a vacuous one."""
    pairs = zip(first.load_model().get_weights(), second.load_model().get_weights())
    assert any(not np.allclose(mine, theirs, **SAME) for mine, theirs in pairs)


@pytest.mark.parametrize("head_init", ["zero", "keras"])
def test_feature_transfer_equals_parameter_transfer_copying_and_freezing_every_block_below_the_head(
        source_run, runs_dir: Path, head_init: str) -> None:
    feature = workbench.transfer(**_target(source_run, runs_dir, mode="feature", cache_features="off",
                                           head_init=head_init, name=f"feature-{head_init}"))
    parameter = workbench.transfer(**_target(source_run, runs_dir, mode="parameter", copy_depth=4, freeze_depth=4,
                                             head_init=head_init, name=f"parameter-{head_init}"))
    assert feature.transfer_report["head"]["init"] == parameter.transfer_report["head"]["init"] == head_init
    assert_same_run(feature, parameter)


def test_the_head_init_setting_changes_a_head_on_copied_features(source_run, runs_dir: Path) -> None:
    zero = workbench.transfer(**_target(source_run, runs_dir, mode="feature", name="zero"))
    random = workbench.transfer(**_target(source_run, runs_dir, mode="feature", head_init="keras", name="keras"))
    assert "zero-initialised (head_init=zero)" in (zero.path / "transfer.txt").read_text()
    assert random.manifest["fine_tuning"]["head_init"] == "keras"
    assert_weights_differ(zero, random)


def test_structure_transfer_equals_parameter_transfer_copying_and_freezing_nothing(source_run, runs_dir: Path) -> None:
    structure = workbench.transfer(**_target(source_run, runs_dir, mode="structure", name="structure"))
    parameter = workbench.transfer(**_target(source_run, runs_dir, mode="parameter", copy_depth=0, freeze_depth=0,
                                             name="parameter"))
    assert structure.transfer_report["head"]["init"] == parameter.transfer_report["head"]["init"] == "keras"
    assert_same_run(structure, parameter)
    # head_init only concerns a head on copied features: above a fresh block it changes nothing.
    keras_head = workbench.transfer(**_target(source_run, runs_dir, mode="parameter", copy_depth=0, freeze_depth=0,
                                              head_init="keras", name="parameter-keras-head"))
    assert_same_run(parameter, keras_head)


@pytest.mark.parametrize("task", ["mnist-5k:5-9", "mnist-5k:5-7"], ids=["same-classes", "class-count-changes"])
def test_parameter_transfer_without_copy_depth_equals_copying_every_block(source_run, runs_dir: Path,
                                                                           task: str) -> None:
    every = workbench.transfer(**_target(source_run, runs_dir, task=task, freeze_depth=2, name="every"))
    counted = workbench.transfer(**_target(source_run, runs_dir, task=task, freeze_depth=2, copy_depth=5,
                                           name="counted"))
    expected = "copied" if task == "mnist-5k:5-9" else "zero"  # a 3-class head is new, on copied features
    assert every.transfer_report["head"]["init"] == counted.transfer_report["head"]["init"] == expected
    assert_same_run(every, counted)


@pytest.mark.parametrize("unfreeze", ["none", "gradual"])
def test_a_run_killed_in_its_second_epoch_and_resumed_equals_the_uninterrupted_run(
        source_run, runs_dir: Path, unfreeze: str) -> None:
    from workbench.training import resume_run

    values = _target(source_run, runs_dir, epochs=3, unfreeze=unfreeze, freeze_depth=2 if unfreeze != "none" else None)
    whole = workbench.transfer(**values, name="whole")
    with pytest.raises(KeyboardInterrupt):
        workbench.transfer(**values, name="killed", callbacks=[InterruptInSecondEpoch(batch=2)])
    resumed = resume_run("killed", runs_dir)
    assert resumed.metrics["resumed_at_epoch"] == 1 and len(resumed.history) == 3
    assert_same_run(whole, resumed)


def test_an_augmented_run_trained_twice_is_the_same_run(source_run, runs_dir: Path) -> None:
    """The augmentation layers draw from a seeded, stateful generator: batches must take its draws
    in order (a parallel map would hand them out in thread order). A resumed augmented run is not
    equivalent: the generator is not checkpointed (tests/README.md)."""
    values = _target(source_run, runs_dir, augment="rotate,translate")
    assert_same_run(workbench.transfer(**values, name="first"), workbench.transfer(**values, name="second"))


def test_each_epoch_has_its_own_order_and_a_resumed_stream_repeats_it() -> None:
    from workbench.data.pipelines import epoch_batches

    items = np.arange(40)
    whole = [batch[0].numpy().tolist() for batch in epoch_batches((items,), 8, shuffle=True, seed=5, epochs=3)]
    later = [batch[0].numpy().tolist() for batch in epoch_batches((items,), 8, shuffle=True, seed=5, first_epoch=1,
                                                                  epochs=2)]
    epochs = [sum(whole[index:index + 5], []) for index in range(0, 15, 5)]
    assert all(sorted(epoch) == list(range(40)) for epoch in epochs)
    assert epochs[0] != epochs[1] != epochs[2]
    assert later == whole[5:]


@pytest.mark.xdist_group("multiprocess")
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_serial_study_equals_the_same_study_in_two_worker_processes(source_run, local_dask_cluster: str,
                                                                       tmp_path: Path) -> None:
    """Bit for bit only where the workers run TensorFlow with the serial run's intra-op thread count:
    its CPU kernels sum in an order that depends on that count, and `cluster.worker_environment`
    gives each of N workers cores // N threads. On this data the runs then differ by at most
    ~2e-6 (inside `SAME`); Adam can amplify such differences in near-zero gradients into
    learning-rate-sized steps (2.8e-3 seen after 2 epochs from a source trained longer), which
    equal thread counts rule out. The two workers are the session's embedded cluster, the one
    `jobs=2` starts (`conftest.local_dask_cluster`), reached by its address."""
    studies = {}
    for jobs, cluster in ((1, None), (2, local_dask_cluster)):  # three runs on two workers: both train
        studies[jobs] = workbench.compare(**_target(source_run, tmp_path / f"jobs{jobs}", seed=None), seeds=[0],
                                          modes=["structure", "feature", "parameter"], cluster=cluster,
                                          name="study")
    serial, parallel = ({run.name: run for run in studies[jobs].runs} for jobs in (1, 2))
    assert sorted(serial) == sorted(parallel) and len(serial) == 3
    for name, run in serial.items():
        assert_same_run(run, parallel[name])


def test_feature_transfer_on_cached_features_equals_training_through_the_frozen_extractor(
        source_run, runs_dir: Path) -> None:
    cached = workbench.transfer(**_target(source_run, runs_dir, mode="feature", cache_features="on", epochs=3,
                                          name="cached"))
    uncached = workbench.transfer(**_target(source_run, runs_dir, mode="feature", cache_features="off", epochs=3,
                                            name="uncached"))
    assert cached.manifest["fine_tuning"]["feature_cache"] and not uncached.manifest["fine_tuning"]["feature_cache"]
    assert_same_run(cached, uncached)


@pytest.fixture(scope="module")
def plain_run(source_run, tmp_path_factory: pytest.TempPathFactory):
    """The plain parameter run at a freeze depth, trained once per depth for the technique pairs."""
    runs_dir, trained = tmp_path_factory.mktemp("plain-runs"), {}

    def at_depth(freeze_depth: int | None) -> Run:
        if freeze_depth not in trained:
            trained[freeze_depth] = workbench.transfer(**_target(source_run, runs_dir, freeze_depth=freeze_depth,
                                                                 name=f"plain-{freeze_depth}"))
        return trained[freeze_depth]

    return at_depth


@pytest.mark.parametrize("technique", [
    {"unfreeze": "gradual", "freeze_depth": 4},  # starts head-only, and head-only is the target: never unfreezes
    {"block_lr": "geometric", "lr_low": 1e-3},  # lowest rate = the learning rate: every block at it
    {"block_lr": "decay", "layer_decay": 1.0},  # a decay of 1: every block at the learning rate
    {"batchnorm": "train", "freeze_depth": 2},  # the seed CNN has no BatchNorm layer to train
], ids=["gradual-that-never-unfreezes", "geometric-flat", "decay-of-one", "batchnorm-train-without-batchnorm"])
def test_a_technique_that_changes_nothing_equals_the_plain_run(source_run, plain_run, runs_dir: Path,
                                                               technique: dict[str, Any]) -> None:
    varied = workbench.transfer(**_target(source_run, runs_dir, **technique, name="varied"))
    assert_same_run(plain_run(technique.get("freeze_depth")), varied)


def test_validation_read_as_one_repeated_stream_equals_a_fresh_pass_every_epoch(
        source_run, plain_run, runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fit reads the validation split as one repeated stream, one iterator per fit
    (`evaluation.one_iterator_pass`); a pass of known length per epoch, as Keras reads it otherwise
    (a fresh iterator each epoch), gives the same run: every epoch's validation numbers included."""
    from workbench import training

    monkeypatch.setattr(training, "one_iterator_pass", lambda dataset, *arguments: (dataset, None))
    per_epoch = workbench.transfer(**_target(source_run, runs_dir, name="validation-per-epoch"))
    assert len(per_epoch.history) == 2 and all("val_loss" in row for row in per_epoch.history)
    assert_same_run(plain_run(None), per_epoch)


def test_the_test_set_read_as_one_repeated_stream_scores_as_a_pass_of_known_length(
        source_run, monkeypatch: pytest.MonkeyPatch) -> None:
    """`evaluate_model` predicts the test set from its pass repeated and read for the pass's steps
    (one iterator, `evaluation.one_iterator_pass`); the pass of known length, which it reads under a
    distribution strategy, gives the same scores: 500 images in batches of 128, the last one short."""
    from workbench import evaluation
    from workbench.data import prepare_task

    model, task = source_run.load_model(), prepare_task("mnist-5k:0-4", 5, 0.1, 0)
    repeated = evaluation.evaluate_model(model, task, (32, 32, 3), 128)
    monkeypatch.setattr(evaluation, "replica_count", lambda strategy: 2)  # the path distributed models take
    known_length = evaluation.evaluate_model(model, task, (32, 32, 3), 128)
    assert repeated["test_examples"] == 500 and repeated == known_length


def test_freeze_depth_left_out_equals_the_modes_own_default(source_run, plain_run, runs_dir: Path) -> None:
    default = plain_run(None)
    explicit = workbench.transfer(**_target(source_run, runs_dir, freeze_depth=0, name="explicit"))
    assert default.transfer_report["freeze_depth"] == explicit.transfer_report["freeze_depth"] == 0
    assert_same_run(default, explicit)


def test_blockwise_adam_with_every_scale_one_equals_keras_adam() -> None:
    source = build_model("seed-cnn", 3, seed=1)
    rng = np.random.default_rng(0)
    images, labels = rng.random((48, 32, 32, 3), dtype=np.float32), rng.integers(0, 3, 48)
    models = []
    for optimizer in (keras.optimizers.Adam(1e-3), BlockwiseAdam(learning_rate=1e-3)):
        model, _ = transfer_model(source, "parameter", 3, freeze_depth=1, seed=4)
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(images, labels, epochs=2, batch_size=16, shuffle=False, verbose=0)
        models.append(model)
    assert_same_weights(*models)


def test_a_config_read_back_from_its_run_trains_the_same_run(source_run, runs_dir: Path) -> None:
    """`workbench resume` and the worker processes rebuild a run from its saved config.json."""
    first = workbench.transfer(**_target(source_run, runs_dir, mode="parameter", freeze_depth=1, name="first"))
    values = {**first.config, "name": "second"}
    second = workbench.transfer(**values)
    assert config_from_mapping(first.config).replace(name="second") == config_from_mapping(second.config)
    assert_same_run(first, second)
