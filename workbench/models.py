"""Model builders and their named blocks.

Every model the workbench builds is a flat functional Keras model whose last layer is a `Dense`
named `head` that outputs logits (no softmax: the loss uses `from_logits=True`). Its layers are
grouped into an ordered list of named *blocks*, the unit of freeze depth: freezing depth n freezes
the first n blocks. The head is always the last block and always trains.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
from keras import layers, ops

from workbench.errors import ModelError

HEAD_BLOCK = "head"
# Blocks that structure edits add: `add1`, `deep1`, … (layers `add1_dense`, `deep1_conv`).
EDIT_BLOCK_PREFIX = re.compile(r"^((?:add|deep)\d+)_")
SEED_CNN_BLOCKS = ("conv1", "conv2", "conv3", "dense1", HEAD_BLOCK)
# MobileNetV2's inverted-residual blocks grouped into its stages (a stage ends where the output
# resolution or width changes), so freeze depth moves in meaningful steps.
MOBILENET_V2_STAGES = (
    ("stem", ("input", "preprocess", "Conv1", "bn_Conv1", "Conv1_relu", "expanded_conv")),
    ("stage1", tuple(f"block_{i}_" for i in (1, 2))),
    ("stage2", tuple(f"block_{i}_" for i in (3, 4, 5))),
    ("stage3", tuple(f"block_{i}_" for i in (6, 7, 8, 9))),
    ("stage4", tuple(f"block_{i}_" for i in (10, 11, 12))),
    ("stage5", tuple(f"block_{i}_" for i in (13, 14, 15))),
    ("stage6", ("block_16_", "Conv_1", "Conv_1_bn", "out_relu")),
)
RESNET50_STAGES = (
    ("stem", ("input", "preprocess", "conv1_")),
    ("stage1", ("conv2_",)),
    ("stage2", ("conv3_",)),
    ("stage3", ("conv4_",)),
    ("stage4", ("conv5_",)),
)


@dataclass(frozen=True)
class Block:
    """A named, ordered group of layers; the unit of freeze depth."""

    name: str
    layer_names: tuple[str, ...]


def build_model(
    architecture: str,
    num_classes: int,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    weights: str = "none",
    seed: int | None = None,
) -> Any:
    """Build a classifier that ends in a logits `Dense` layer named `head`.

    Layers take the current Keras dtype policy (a run sets it with
    `workbench.devices.precision_policy`); the head always computes its logits in float32.

    Args:
        architecture: "seed-cnn", "mobilenet_v2" or "resnet50".
        num_classes: number of output logits.
        input_shape: (height, width, channels). Defaults to (32, 32, 3).
        weights: backbone weights: "none", "imagenet" (downloads once) or a local weights file.
            The seed CNN only accepts "none". Defaults to "none".
        seed: when given, seeds Keras' global generators first, so the same seed gives the same
            initial weights.

    Returns:
        A `keras.Model`, not compiled.

    Raises:
        ModelError: unknown architecture, unusable weights or input shape.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    if architecture == "seed-cnn":
        if weights not in ("none", None):
            raise ModelError(
                f"weights={weights!r} does not apply to the seed CNN, which has no pretrained weights. "
                "Pretrain it with `workbench pretrain`, or pick --model mobilenet_v2 or resnet50."
            )
        return _build_seed_cnn(num_classes, input_shape)
    if architecture in ("mobilenet_v2", "resnet50"):
        return _build_backbone(architecture, num_classes, input_shape, weights)
    raise ModelError(
        f"Unknown model {architecture!r}. Known models: seed-cnn, mobilenet_v2, resnet50. "
        "Pass --model seed-cnn, for example."
    )


def _build_seed_cnn(num_classes: int, input_shape: tuple[int, int, int]) -> Any:
    """The TensorFlow CNN tutorial model, Conv32-Pool-Conv64-Pool-Conv64-Flatten-Dense64-Dense(k)."""
    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(32, 3, activation="relu", name="conv1_conv")(inputs)
    x = layers.MaxPooling2D(2, name="conv1_pool")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2_conv")(x)
    x = layers.MaxPooling2D(2, name="conv2_pool")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv3_conv")(x)
    x = layers.Flatten(name="conv3_flatten")(x)
    x = layers.Dense(64, activation="relu", name="dense1_dense")(x)
    # Logits in float32 whatever the run's precision: a float16 softmax cross-entropy loses accuracy.
    outputs = layers.Dense(num_classes, name=HEAD_BLOCK, dtype="float32")(x)
    return keras.Model(inputs, outputs, name="seed_cnn")


def _build_backbone(architecture: str, num_classes: int, input_shape: tuple[int, int, int], weights: str) -> Any:
    if weights not in ("none", None, "imagenet") and not Path(weights).expanduser().is_file():
        raise ModelError(
            f"weights={weights!r} is neither 'none', 'imagenet' nor an existing weights file. Pass "
            "--weights none, --weights imagenet (downloads once), or the path of a local .h5/.weights.h5 file."
        )
    if weights == "imagenet" and input_shape[2] != 3:
        raise ModelError(
            f"ImageNet weights need 3-channel input, not input_shape={input_shape}. Pass --input-shape "
            f"{input_shape[0]}x{input_shape[1]}x3; grayscale images are converted in the pipeline."
        )
    if min(input_shape[:2]) < 32:
        raise ModelError(
            f"{architecture} needs inputs of at least 32x32, not {input_shape[0]}x{input_shape[1]}. "
            "Pass --input-shape 32x32x3 or larger; smaller images are resized in the pipeline."
        )
    inputs = keras.Input(shape=input_shape, name="input")
    # Pipelines deliver [0, 1]; each backbone expects its own range, so the conversion lives in
    # the model and travels with it when it is saved and transferred.
    if architecture == "mobilenet_v2":
        scaled = layers.Rescaling(2.0, offset=-1.0, name="preprocess")(inputs)
        constructor = keras.applications.MobileNetV2
    else:
        scaled = CaffePreprocess(name="preprocess")(inputs)
        constructor = keras.applications.ResNet50
    keras_weights = None if weights in ("none", None) else str(Path(weights).expanduser()) if weights != "imagenet" else "imagenet"
    try:
        backbone = constructor(include_top=False, weights=keras_weights, input_tensor=scaled)
    except Exception as error:  # noqa: BLE001 - download and file errors get one message
        raise ModelError(
            f"Could not build {architecture} with weights={weights!r} ({type(error).__name__}: {error}). "
            "ImageNet weights download once into ~/.keras/models; offline, use --weights none or a local "
            "weights file saved for include_top=False."
        ) from None
    x = layers.GlobalAveragePooling2D(name="head_pool")(backbone.output)
    outputs = layers.Dense(num_classes, name=HEAD_BLOCK, dtype="float32")(x)  # float32 logits, as above
    return keras.Model(inputs, outputs, name=architecture)


@keras.saving.register_keras_serializable(package="workbench")
class CaffePreprocess(keras.layers.Layer):
    """[0, 1] RGB → ResNet50's caffe-style input: [0, 255], BGR, ImageNet channel means removed.

    A registered layer rather than a Lambda, so saved models load in Keras' safe mode; it has no
    weights, so freezing never touches it.
    """

    def call(self, inputs: Any) -> Any:
        scaled = inputs * 255.0
        if scaled.shape[-1] == 3:
            return ops.flip(scaled, axis=-1) - ops.convert_to_tensor([103.939, 116.779, 123.68], dtype=scaled.dtype)
        return scaled - 116.779


def model_blocks(model: Any) -> list[Block]:
    """Group a workbench model's layers into its ordered, named blocks.

    The seed CNN's layers are named `<block>_<part>` (the input belongs to the first block);
    backbones are grouped into stages by their Keras layer-name prefixes; `head_pool` and `head`
    form the head block. Blocks that structure edits add (`add1_dense`, `deep1_conv`, …; see
    `workbench.structure`) are blocks of their own, in the order their layers come.

    Raises:
        ModelError: for a model the workbench did not build.
    """
    names = [layer.name for layer in model.layers]
    if HEAD_BLOCK not in names:
        raise ModelError(
            f"Model {model.name!r} has no layer named 'head', so it was not built by the workbench. "
            "Build models with workbench.models.build_model or `workbench pretrain`."
        )
    if model.name == "seed_cnn":
        plan = None
    elif model.name == "mobilenet_v2":
        plan = list(MOBILENET_V2_STAGES)
    elif model.name == "resnet50":
        plan = list(RESNET50_STAGES)
    else:
        raise ModelError(f"No block plan for model {model.name!r}. Known: seed_cnn, mobilenet_v2, resnet50.")
    grouped: dict[str, list[str]] = {}
    waiting: list[str] = []  # the seed CNN's input, until the first block's name is known
    current = plan[0][0] if plan else None
    for layer_name in names:
        current = _block_of_layer(layer_name, plan) or current
        if current is None:
            waiting.append(layer_name)
            continue
        # Layers without a recognised prefix (e.g. MobileNet's `block_2_add`, caught above, or
        # padding layers) belong to the block they follow.
        grouped.setdefault(current, []).extend([*waiting, layer_name])
        waiting = []
    return [Block(name, tuple(layer_names)) for name, layer_names in grouped.items()]


def _block_of_layer(layer_name: str, plan: list[tuple[str, tuple[str, ...]]] | None) -> str | None:
    """The block a layer name starts or continues; None when its name does not say."""
    if layer_name == HEAD_BLOCK or layer_name.startswith(f"{HEAD_BLOCK}_"):
        return HEAD_BLOCK
    edit_block = EDIT_BLOCK_PREFIX.match(layer_name)
    if edit_block:
        return edit_block.group(1)
    if plan is None:
        return layer_name.split("_", 1)[0] if "_" in layer_name else None
    return next((block_name for block_name, prefixes in plan
                 if any(layer_name == prefix or layer_name.startswith(prefix) for prefix in prefixes)), None)


def architecture_of(model: Any) -> str:
    """The workbench architecture name ("seed-cnn", …) of a model it built."""
    return {"seed_cnn": "seed-cnn"}.get(model.name, model.name)


def count_parameters(model: Any) -> dict[str, int]:
    """Trainable and frozen (non-trainable) parameter counts."""
    trainable = sum(int(math.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(math.prod(w.shape)) for w in model.non_trainable_weights)
    return {"trainable_params": trainable, "frozen_params": frozen}
