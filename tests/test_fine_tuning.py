"""Fine-tuning techniques on tiny settings: schedules really unfreeze, per-block rates really differ,
BatchNorm policy, and the learning-rate finder. That cached features give the same run as uncached
ones is an equivalence pair (tests/test_equivalence.py)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import workbench
from workbench.config import RunConfig, config_from_mapping
from workbench.errors import ConfigError
from workbench.fine_tuning import FineTuningPlan, find_learning_rate, suggest_learning_rate
from workbench.models import build_model, model_blocks
from workbench.transfer_modes import transfer_model


def _random_data(count: int = 64, classes: int = 3):
    rng = np.random.default_rng(0)
    return rng.random((count, 32, 32, 3), dtype=np.float32), rng.integers(0, classes, count)


def _plan(config_values: dict, freeze_depth: int = 0):
    source = build_model("seed-cnn", 3, seed=1)
    model, _ = transfer_model(source, "parameter", 3, freeze_depth)
    config = config_from_mapping({"source": "s", **config_values}, kind="transfer")
    plan = FineTuningPlan(model, model_blocks(model), config, freeze_depth)
    plan.compile_model()
    return model, plan


class WeightSnapshots(keras.callbacks.Callback):
    """Copies of named layers' kernels at the start of every epoch and at the end."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names, self.snapshots = names, []

    def _take(self) -> None:
        self.snapshots.append({name: self.model.get_layer(name).get_weights()[0].copy() for name in self.names})

    def on_epoch_begin(self, epoch, logs=None):
        self._take()

    def on_train_end(self, logs=None):
        self._take()


def test_gradual_unfreezing_opens_blocks_top_down_on_schedule() -> None:
    model, plan = _plan({"unfreeze": "gradual", "epochs": 3, "freeze_depth": 2}, freeze_depth=2)
    names = ["conv2_conv", "conv3_conv", "dense1_dense", "head"]
    snapshots = WeightSnapshots(names)
    images, labels = _random_data()
    model.fit(images, labels, epochs=3, batch_size=16, verbose=0, callbacks=[plan.callback(), snapshots])
    changed = [{name for name in names if not np.array_equal(before[name], after[name])}
               for before, after in zip(snapshots.snapshots, snapshots.snapshots[1:])]
    assert changed == [{"head"}, {"dense1_dense", "head"}, {"conv3_conv", "dense1_dense", "head"}]
    assert [entry["freeze_depth"] for entry in plan.log] == [4, 3, 2]


def test_per_block_learning_rates_give_different_update_sizes() -> None:
    model, plan = _plan({"block_lr": "geometric", "learning_rate": 1e-2, "lr_low": 1e-5})
    before = {name: model.get_layer(name).get_weights()[0].copy() for name in ("conv1_conv", "head")}
    images, labels = _random_data(16)
    model.fit(images, labels, epochs=1, batch_size=16, verbose=0)  # one Adam step: |update| ≈ lr
    steps = {name: np.abs(model.get_layer(name).get_weights()[0] - before[name]).max() for name in before}
    assert steps["head"] == pytest.approx(1e-2, rel=0.05)
    assert steps["conv1_conv"] == pytest.approx(1e-5, rel=0.05)


def test_two_stage_recipe_halves_the_rate_and_spreads_it() -> None:
    model, plan = _plan({"unfreeze": "two-stage", "epochs": 2, "learning_rate": 1e-3})
    images, labels = _random_data(32)
    model.fit(images, labels, epochs=2, batch_size=16, verbose=0, callbacks=[plan.callback()])
    first, second = plan.log
    assert (first["freeze_depth"], second["freeze_depth"]) == (4, 0)
    assert second["learning_rate"] == pytest.approx(5e-4)
    assert second["block_learning_rates"]["conv1"] == pytest.approx(5e-6)


def test_batchnorm_policy_train_updates_statistics_of_frozen_blocks() -> None:
    source = build_model("mobilenet_v2", 2, input_shape=(32, 32, 3), seed=0)
    images, labels = _random_data(8, 2)  # one step of 8 (an eager MobileNetV2 step takes seconds)
    moving_means = {}
    for policy in ("frozen", "train"):
        model, _ = transfer_model(source, "parameter", 2, freeze_depth=1, batchnorm=policy)
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      run_eagerly=True)  # same semantics; skips a long graph trace of MobileNetV2
        before = model.get_layer("bn_Conv1").get_weights()[2].copy()
        kernel_before = model.get_layer("Conv1").get_weights()[0].copy()
        model.fit(images, labels, epochs=1, batch_size=8, verbose=0)
        moving_means[policy] = not np.array_equal(before, model.get_layer("bn_Conv1").get_weights()[2])
        assert np.array_equal(kernel_before, model.get_layer("Conv1").get_weights()[0])  # conv stays frozen
    assert moving_means == {"frozen": False, "train": True}


def test_augmentation_turns_feature_caching_off() -> None:
    assert not RunConfig(kind="transfer", source="s", mode="feature", augment="flip").uses_feature_cache()
    assert RunConfig(kind="transfer", source="s", mode="feature").uses_feature_cache()
    with pytest.raises(ConfigError, match="cache_features='on' needs feature transfer without augmentation"):
        RunConfig(kind="transfer", source="s", mode="feature", augment="flip", cache_features="on")
    with pytest.raises(ConfigError, match="unknown augmentation"):
        RunConfig(augment="mixup")


def test_techniques_for_parameter_transfer_are_refused_elsewhere() -> None:
    with pytest.raises(ConfigError, match="only apply to parameter transfer"):
        RunConfig(kind="transfer", source="s", mode="feature", unfreeze="gradual")


def test_augmented_run_trains(source_run, runs_dir: Path) -> None:
    run = workbench.transfer(source=str(source_run.path), task="mnist-5k:5-9", per_class=5, epochs=1,
                             augment="rotate,translate", runs_dir=str(runs_dir))
    assert run.config["augment"] == "rotate,translate" and run.status == "finished"


def test_copy_depth_copies_only_the_first_blocks() -> None:
    source = build_model("seed-cnn", 5, seed=1)
    _, report = transfer_model(source, "parameter", 5, freeze_depth=2, copy_depth=2)
    actions = {row["layer"]: row["action"] for row in report["layers"]}
    assert actions["conv1_conv"] == actions["conv2_conv"] == "copied"
    assert actions["conv3_conv"] == actions["dense1_dense"] == actions["head"] == "re-initialised"


def test_learning_rate_finder_restores_the_weights_and_suggests_a_rate() -> None:
    import tensorflow as tf

    model = build_model("seed-cnn", 3, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images, labels = _random_data(64)
    before = [weight.copy() for weight in model.get_weights()]
    result = find_learning_rate(model, tf.data.Dataset.from_tensor_slices((images, labels)).batch(16),
                                min_lr=1e-5, max_lr=10.0, steps=40)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert 3 <= len(result["losses"]) <= 40
    assert result["learning_rates"] == sorted(result["learning_rates"])
    assert 1e-5 <= result["suggestion"] <= 10.0


def test_suggestion_is_the_steepest_descent_before_the_minimum() -> None:
    rates = list(np.geomspace(1e-4, 1, 9))
    losses = [2.0, 1.99, 1.9, 1.5, 0.9, 0.7, 0.65, 1.0, 3.0]
    assert suggest_learning_rate(rates, losses) == pytest.approx(rates[4], rel=1e-6) or \
        suggest_learning_rate(rates, losses) == pytest.approx(rates[3], rel=1e-6)








