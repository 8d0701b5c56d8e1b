"""Model builders: the article's seed CNN ending in logits, backbones, and their named blocks."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import ModelError
from workbench.models import build_model, model_blocks


def test_seed_cnn_is_the_tutorial_architecture_ending_in_logits() -> None:
    model = build_model("seed-cnn", 10)
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense", "Dense"]
    assert [layer.filters for layer in model.layers if type(layer).__name__ == "Conv2D"] == [32, 64, 64]
    assert model.count_params() == 122_570  # the TensorFlow CNN tutorial's count on 32x32x3, 10 classes
    assert model.get_layer("head").activation.__name__ == "linear"


def test_seed_cnn_blocks_are_the_unit_of_freeze_depth() -> None:
    blocks = model_blocks(build_model("seed-cnn", 3, input_shape=(28, 28, 1)))
    assert [block.name for block in blocks] == ["conv1", "conv2", "conv3", "dense1", "head"]
    assert blocks[0].layer_names == ("input", "conv1_conv", "conv1_pool")


def test_same_seed_gives_the_same_initial_weights() -> None:
    first, again, other = (build_model("seed-cnn", 5, seed=seed) for seed in (7, 7, 8))
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), again.get_weights()))
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])


def test_mobilenet_v2_is_grouped_into_stages_with_a_logits_head() -> None:
    model = build_model("mobilenet_v2", 4, input_shape=(32, 32, 3))
    blocks = model_blocks(model)
    assert [block.name for block in blocks] == ["stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "head"]
    assert sum(len(block.layer_names) for block in blocks) == len(model.layers)
    assert "block_16_project" in blocks[6].layer_names
    assert model.output_shape == (None, 4)


def test_resnet50_stages_follow_its_layer_prefixes() -> None:
    model = build_model("resnet50", 2, input_shape=(32, 32, 3))
    blocks = model_blocks(model)
    assert [block.name for block in blocks] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert all(name.startswith("conv4_") for name in blocks[3].layer_names)


def test_resnet_preprocessing_turns_rgb_into_mean_free_bgr() -> None:
    from workbench.models import CaffePreprocess

    pixel = np.array([[[[1.0, 0.5, 0.0]]]], dtype="float32")  # R=255, G=127.5, B=0
    out = np.asarray(CaffePreprocess()(pixel))[0, 0, 0]
    assert np.allclose(out, [0 - 103.939, 127.5 - 116.779, 255 - 123.68], atol=1e-3)


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"architecture": "vgg16"}, "Known models"),
    ({"architecture": "seed-cnn", "weights": "imagenet"}, "no pretrained weights"),
    ({"architecture": "mobilenet_v2", "weights": "/no/such/file.h5"}, "neither 'none', 'imagenet'"),
    ({"architecture": "mobilenet_v2", "input_shape": (28, 28, 3)}, "at least 32x32"),
])
def test_unbuildable_models_are_readable_errors(kwargs: dict, fragment: str) -> None:
    kwargs = {"num_classes": 3, **kwargs}
    with pytest.raises(ModelError, match=fragment):
        build_model(**kwargs)
