"""Net2Net growth keeps the function: the numpy maps, then whole grown models on real digits."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.data import make_pipeline, prepare_task
from workbench.structure import net2net
from workbench.transfer_modes import transfer_model


def _relu(values: np.ndarray) -> np.ndarray:
    return np.maximum(values, 0.0)


def test_the_widening_map_keeps_every_old_unit_and_counts_its_copies() -> None:
    width = net2net.widen_map(4, 10, np.random.default_rng(0))
    assert list(width.mapping[:4]) == [0, 1, 2, 3] and width.mapping.max() < 4
    assert width.counts.sum() == 10 and all(width.counts >= 1)
    with pytest.raises(ValueError):
        net2net.widen_map(4, 3, np.random.default_rng(0))


def test_a_widened_dense_layer_and_its_rescaled_successor_compute_the_same_outputs() -> None:
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(6, 5)).astype("float32")
    kernel, bias = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=4).astype("float32")
    after = rng.normal(size=(4, 3)).astype("float32")
    width = net2net.widen_map(4, 9, rng)
    wide_kernel, wide_bias = net2net.widen_outgoing(kernel, bias, width)
    wide_after = net2net.widen_incoming(after, width)
    assert wide_kernel.shape == (5, 9) and wide_after.shape == (9, 3)
    np.testing.assert_allclose(_relu(inputs @ wide_kernel + wide_bias) @ wide_after,
                               _relu(inputs @ kernel + bias) @ after, atol=1e-5)


def test_the_flatten_index_map_follows_keras_channels_last_order() -> None:
    rng = np.random.default_rng(2)
    feature_map = rng.normal(size=(2, 3, 3, 4)).astype("float32")  # (batch, height, width, channels)
    dense = rng.normal(size=(3 * 3 * 4, 5)).astype("float32")
    width = net2net.widen_map(4, 7, rng)
    widened_map = feature_map[..., width.mapping]  # what a widened conv layer outputs
    wide_dense = net2net.widen_incoming_through_flatten(dense, width, positions=9)
    np.testing.assert_allclose(widened_map.reshape(2, -1) @ wide_dense, feature_map.reshape(2, -1) @ dense, atol=1e-5)


def test_identity_layers_are_identities() -> None:
    kernel, bias = net2net.identity_dense(3)
    np.testing.assert_array_equal(kernel, np.eye(3)) and np.testing.assert_array_equal(bias, 0)
    kernel, _ = net2net.identity_conv(2)
    assert kernel.shape == (3, 3, 2, 2) and kernel.sum() == 2 and kernel[1, 1, 0, 0] == 1


def test_noise_is_relative_to_the_arrays_spread_and_zero_noise_changes_nothing() -> None:
    array = np.random.default_rng(3).normal(scale=5.0, size=(200, 50)).astype("float32")
    assert net2net.add_noise(array, 0.0, np.random.default_rng(0)) is array
    noisy = net2net.add_noise(array, 0.01, np.random.default_rng(0))
    assert noisy.dtype == array.dtype
    assert 0.03 < float(np.std(noisy - array)) < 0.07  # 0.01 × std 5


@pytest.fixture(scope="module")
def digits(source_run):
    """The source model and 40 real test digits (mnist-5k 5-9) through the workbench pipeline."""
    model = source_run.load_model()
    task = prepare_task("mnist-5k:5-9", per_class=2, seed=0)
    images, labels = task.test
    batches = make_pipeline(images[:40], labels[:40], tuple(model.input_shape[1:]), 40)
    return model, next(iter(batches))[0].numpy()


GROWTHS = ["widen conv2 to 96", "widen dense1 to 128", "deepen after conv2", "deepen after dense1",
           "widen conv1 to 48; widen conv2 to 96; widen conv3 to 80; widen dense1 to 128; deepen after conv1; "
           "deepen after conv3; deepen after dense1"]


@pytest.mark.parametrize("mode", ["parameter", "feature"])
@pytest.mark.parametrize("edits", GROWTHS)
def test_a_grown_model_computes_the_sources_logits_before_training(digits, edits: str, mode: str) -> None:
    source, images = digits
    grown, report = transfer_model(source, mode, num_classes=5, edits=edits, seed=4)
    expected = source(images).numpy()
    actual = grown(images).numpy()
    if mode == "feature":
        # A new head: compare the features it reads. A widened layer keeps its old units first
        # (the replicas follow), so those are the source's features.
        expected = _below_head(source)(images).numpy()
        actual = _below_head(grown)(images).numpy()[:, : expected.shape[1]]
    np.testing.assert_allclose(actual, expected, atol=1e-4)
    assert report["structure"]["grown"] >= 1
    assert any(row["edit"] == "grown (function-preserving)" for row in report["layers"])


def _below_head(model):
    import keras

    return keras.Model(model.input, model.layers[-2].output)


@pytest.mark.parametrize("edits", ["widen dense1 to 128", "deepen after conv2"])
def test_grow_noise_keeps_the_logits_close_but_not_equal(digits, edits: str) -> None:
    source, images = digits
    expected = source(images).numpy()
    noisy, report = transfer_model(source, "parameter", num_classes=5, edits=edits, grow_noise=0.01, seed=4)
    difference = np.abs(noisy(images).numpy() - expected)
    assert difference.max() > 1e-4
    assert difference.max() < 0.1 * np.abs(expected).max()
    assert "noise 0.01" in " ".join(row["reason"] for row in report["layers"])


def test_growth_is_deterministic_for_a_seed_and_the_seed_picks_the_replicated_units(digits) -> None:
    source, _ = digits
    first = transfer_model(source, "parameter", 5, edits="widen dense1 to 128", grow_noise=0.01, seed=1)[0]
    again = transfer_model(source, "parameter", 5, edits="widen dense1 to 128", grow_noise=0.01, seed=1)[0]
    other = transfer_model(source, "parameter", 5, edits="widen dense1 to 128", grow_noise=0.01, seed=2)[0]
    for mine, theirs in zip(first.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert not np.array_equal(first.get_layer("dense1_dense").get_weights()[0],
                              other.get_layer("dense1_dense").get_weights()[0])
