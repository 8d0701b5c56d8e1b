"""The three transfer modes: what is copied, what is frozen, and that frozen really means frozen."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import ConfigError
from workbench.models import build_model
from workbench.transfer_modes import format_transfer_report, transfer_model


@pytest.fixture(scope="module")
def source_model():
    """A seed CNN with 5 classes and recognisable (non-initial) weights."""
    model = build_model("seed-cnn", 5, seed=1)
    model.set_weights([weight + 0.01 for weight in model.get_weights()])
    return model


def _rows(report: dict) -> dict[str, dict]:
    return {row["layer"]: row for row in report["layers"]}


def test_parameter_transfer_copies_what_fits_and_replaces_a_mismatched_head(source_model) -> None:
    model, report = transfer_model(source_model, "parameter", num_classes=3, freeze_depth=2)
    rows = _rows(report)
    assert rows["conv2_conv"]["action"] == "copied"
    np.testing.assert_array_equal(model.get_layer("conv2_conv").get_weights()[0],
                                  source_model.get_layer("conv2_conv").get_weights()[0])
    assert rows["head"]["action"] == "skipped" and "shape mismatch" in rows["head"]["reason"]
    assert model.get_layer("head").get_weights()[0].shape == (64, 3)
    assert [rows[name]["trainable"] for name in ("conv1_conv", "conv2_conv", "conv3_conv", "dense1_dense", "head")] == [
        False, False, True, True, True]
    assert report["frozen_params"] == 896 + 18_496
    assert report["trainable_params"] == 36_928 + 65_600 + 64 * 3 + 3


def test_parameter_transfer_keeps_a_head_of_the_same_width(source_model) -> None:
    model, report = transfer_model(source_model, "parameter", num_classes=5)
    assert _rows(report)["head"]["action"] == "copied"
    assert report["frozen_params"] == 0


def test_feature_transfer_freezes_the_extractor_and_starts_a_new_head(source_model) -> None:
    model, report = transfer_model(source_model, "feature", num_classes=5)
    rows = _rows(report)
    assert report["freeze_depth"] == 4
    assert rows["head"]["action"] == "re-initialised" and rows["head"]["trainable"]
    assert not any(rows[name]["trainable"] for name in ("conv1_conv", "conv2_conv", "conv3_conv", "dense1_dense"))
    assert not np.any(model.get_layer("head").get_weights()[0])  # new heads start at zero


def test_structure_transfer_copies_nothing(source_model) -> None:
    model, report = transfer_model(source_model, "structure", num_classes=5)
    assert {row["action"] for row in report["layers"]} == {"re-initialised", "no weights"}
    assert not np.allclose(model.get_layer("conv1_conv").get_weights()[0], source_model.get_layer("conv1_conv").get_weights()[0])
    assert report["frozen_params"] == 0


@pytest.mark.parametrize("depth", [-1, 5])
def test_freeze_depth_outside_the_blocks_is_refused(source_model, depth: int) -> None:
    with pytest.raises(ConfigError, match=r"outside 0\.\.4.*conv1, conv2, conv3, dense1, head"):
        transfer_model(source_model, "parameter", num_classes=5, freeze_depth=depth)


def test_frozen_blocks_keep_their_weights_and_trainable_ones_change(source_model) -> None:
    import keras

    model, _ = transfer_model(source_model, "parameter", num_classes=3, freeze_depth=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}
    rng = np.random.default_rng(0)
    model.fit(rng.random((64, 32, 32, 3), dtype=np.float32), rng.integers(0, 3, 64), epochs=2, batch_size=16, verbose=0)
    for name in ("conv1_conv", "conv2_conv"):
        assert all(np.array_equal(a, b) for a, b in zip(before[name], model.get_layer(name).get_weights()))
    for name in ("conv3_conv", "dense1_dense", "head"):
        assert not np.array_equal(before[name][0], model.get_layer(name).get_weights()[0])


def test_frozen_batch_norm_runs_in_inference_mode_and_keeps_its_statistics() -> None:
    import keras

    source = build_model("mobilenet_v2", 2, input_shape=(32, 32, 3), seed=0)
    model, report = transfer_model(source, "parameter", num_classes=2, freeze_depth=1)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)  # same BatchNorm semantics; skips a 40 s graph trace of MobileNetV2
    frozen_bn = model.get_layer("bn_Conv1")  # stem: frozen
    trainable_bn = model.get_layer("block_1_expand_BN")  # stage1: trainable
    frozen_before = [w.copy() for w in frozen_bn.get_weights()]
    trainable_before = [w.copy() for w in trainable_bn.get_weights()]
    rng = np.random.default_rng(0)
    # One step of 8 (an eager MobileNetV2 step takes seconds): enough to move the trainable statistics.
    model.fit(rng.random((8, 32, 32, 3), dtype=np.float32), rng.integers(0, 2, 8), epochs=1, batch_size=8, verbose=0)
    # gamma, beta, moving mean and moving variance of the frozen layer are all unchanged
    assert all(np.array_equal(a, b) for a, b in zip(frozen_before, frozen_bn.get_weights()))
    assert not np.array_equal(trainable_before[2], trainable_bn.get_weights()[2])  # moving mean updated
    assert report["blocks"][0] == {"name": "stem", "frozen": True, "layers": list(report["blocks"][0]["layers"])}


def test_report_formats_as_a_table(source_model) -> None:
    _, report = transfer_model(source_model, "parameter", num_classes=3, freeze_depth=1)
    text = format_transfer_report(report)
    assert "conv1_conv" in text and "frozen" in text and "shape mismatch" in text


@pytest.mark.parametrize("head_init", ["zero", "keras"])
def test_a_new_head_on_copied_features_starts_the_same_way_whatever_path_built_it(source_model, head_init) -> None:
    paths = {
        "feature": dict(mode="feature"),
        "parameter with copy depth 4": dict(mode="parameter", copy_depth=4, freeze_depth=4),
        "parameter, 5 classes to 3": dict(mode="parameter", num_classes=3),
        "feature, 5 classes to 3": dict(mode="feature", num_classes=3),
    }
    heads = {}
    for name, options in paths.items():
        model, report = transfer_model(source_model, **{"num_classes": 5, **options}, seed=7, head_init=head_init)
        assert report["head"]["init"] == head_init and report["head_init"] == head_init, name
        assert "new head on copied features" in report["head"]["reason"] and f"head_init={head_init}" in \
            report["head"]["reason"], name
        heads[name] = model.get_layer("head").get_weights()
    keras_head = {classes: build_model("seed-cnn", classes, seed=7).get_layer("head").get_weights()
                  for classes in (3, 5)}
    for name, weights in heads.items():
        expected = ([np.zeros_like(weight) for weight in weights] if head_init == "zero"
                    else keras_head[weights[1].shape[0]])
        for got, want in zip(weights, expected, strict=True):
            np.testing.assert_array_equal(got, want, err_msg=name)
    assert np.any(keras_head[5][0])  # Keras' initialisation is not zero, so the two settings really differ


@pytest.mark.parametrize("head_init", ["zero", "keras"])
def test_a_head_above_a_fresh_block_starts_from_keras_initialisation_whatever_head_init_says(source_model,
                                                                                            head_init) -> None:
    for options in (dict(mode="parameter", copy_depth=2), dict(mode="parameter", copy_depth=0),
                    dict(mode="structure")):
        model, report = transfer_model(source_model, num_classes=5, seed=7, head_init=head_init, **options)
        assert report["head"]["init"] == "keras" and "Keras initialisation" in report["head"]["reason"]
        np.testing.assert_array_equal(model.get_layer("head").get_weights()[0],
                                      build_model("seed-cnn", 5, seed=7).get_layer("head").get_weights()[0])


def test_the_report_says_how_the_head_started_and_why(source_model) -> None:
    _, copied = transfer_model(source_model, "parameter", num_classes=5)
    _, zero = transfer_model(source_model, "parameter", num_classes=5, copy_depth=4)
    assert copied["head"] == {"init": "copied", "reason": "same shape"}
    text = format_transfer_report(zero)
    assert ("head starts at zero: above copy depth 4; new head on copied features: zero-initialised (head_init=zero)"
            in text.splitlines())
    assert "head starts" not in format_transfer_report({**zero, "head": None})  # reports written before head_init


def test_an_unknown_head_init_is_refused_with_the_allowed_values(source_model) -> None:
    from workbench.config import RunConfig

    with pytest.raises(ConfigError, match=r"head_init='random' is not known\. Allowed values: zero, keras\. "
                                          r"Pass --head-init zero"):
        RunConfig(kind="transfer", source="s", head_init="random")
    with pytest.raises(ConfigError, match="head_init='random' is not known"):
        transfer_model(source_model, "feature", num_classes=5, head_init="random")
