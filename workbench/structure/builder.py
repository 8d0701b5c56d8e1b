"""Build the edited architecture: a plan of layers from the source and the edits, then the Keras model.

The seed CNN is a chain, so its edited version re-creates each kept layer from the source layer's
config (with a changed width where an edit asks), inserts Net2DeeperNet layers and appended
blocks, and adds the flatten a dense layer or the head needs. An edited run can therefore be a
source itself: its `add1`/`deep1` blocks are layers like any other. The backbones (MobileNetV2,
ResNet50) are not chains: their kept stages are the sub-graph of a freshly built backbone up to
the cut block's last layer, and the chain part (appended blocks, head) follows it.

Naming, which `workbench.models.model_blocks` groups by: appended blocks are `add1`, `add2`, … with
layers `add1_dense`, `add1_dropout`, `add1_conv`; Net2DeeperNet blocks are `deep1`, … with
`deep1_conv` / `deep1_dense`; a flatten (seed CNN) or global pooling (backbones) that has to be
inserted belongs to the block that needs it (`add1_flatten`, `head_pool`), except where the source
had the same flatten after the same layer, which keeps its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import keras

from workbench.errors import ConfigError, WorkbenchError
from workbench.models import HEAD_BLOCK, Block, architecture_of, build_model, model_blocks
from workbench.structure.spec import Edit

EDIT_BLOCK = re.compile(r"^(add|deep)(\d+)$")
WEIGHTED_KINDS = ("conv", "dense")


@dataclass
class PlannedLayer:
    """One layer of the edited chain: where it comes from and how to create it."""

    name: str
    block: str
    kind: str  # conv, dense, dropout, pool, flatten or other
    layer_class: Any
    config: dict[str, Any]
    source: str | None = None  # the source layer it re-creates (None: new)
    edit: str = "kept"  # kept, added, widened or deep

    def create(self) -> Any:
        """A new Keras layer (the run's dtype policy, not the source's)."""
        config = {key: value for key, value in self.config.items() if key != "dtype"}
        return self.layer_class.from_config({**config, "name": self.name})

    @property
    def width(self) -> int | None:
        """Units or filters of a dense or conv layer."""
        return self.config.get("units", self.config.get("filters"))


@dataclass
class StructurePlan:
    """The edited architecture before it is built: the trunk (backbones), the chain, the input."""

    architecture: str
    model_name: str
    input_shape: tuple[int, int, int]
    input_name: str
    chain: list[PlannedLayer]
    source_blocks: list[Block]
    trunk_blocks: list[Block] = field(default_factory=list)  # backbone stages kept (sub-graph)

    @property
    def is_backbone(self) -> bool:
        """Whether the kept part is a backbone's sub-graph rather than a chain."""
        return self.architecture != "seed-cnn"


def plan_structure(source_model: Any, edits: tuple[Edit, ...]) -> StructurePlan:
    """Apply the edits to the source's block structure, without building anything.

    Raises:
        ConfigError: an unknown block, a cut at the head, a widen to fewer units, an edit that the
            network cannot take (a conv above a dense top, widen/deepen on a backbone).
    """
    blocks = model_blocks(source_model)
    body = blocks[:-1]
    architecture = architecture_of(source_model)
    by_kind = {kind: [edit for edit in edits if edit.kind == kind] for kind in ("cut", "widen", "deepen", "add")}
    for edit in (*by_kind["cut"], *by_kind["widen"], *by_kind["deepen"]):
        _check_block(edit, blocks)
    if architecture != "seed-cnn" and (by_kind["widen"] or by_kind["deepen"]):
        grown = (by_kind["widen"] + by_kind["deepen"])[0].text()
        raise ConfigError(
            f"Structure edit '{grown}' is Net2Net growth, which the workbench supports on the seed CNN only, not "
            f"on {architecture}. On a backbone use cut, add, hidden or input (e.g. --edit \"cut stage4\" --edit "
            "\"add dense 128\"), or pretrain a seed-cnn source.")
    kept = body[: [block.name for block in body].index(by_kind["cut"][0].block) + 1] if by_kind["cut"] else body
    trunk = [block for block in kept if block.name in _stage_names(architecture)] if architecture != "seed-cnn" else []
    layers = {layer.name: layer for layer in source_model.layers}
    chain = [_planned_from_source(layers[name], block.name) for block in kept if block not in trunk
             for name in block.layer_names if _kind_of(layers[name]) not in ("input", "flatten", "global_pool")]
    for edit in by_kind["widen"]:
        _widen(chain, edit)
    counters = _edit_block_counters(blocks)
    for edit in by_kind["deepen"]:
        _deepen(chain, edit, counters, trunk)
    for edit in by_kind["add"]:
        _add(chain, edit, counters, spatial=_top_is_spatial(chain, trunk, architecture))
    for edit in (edit for edit in edits if edit.kind == "hidden"):
        _hidden(chain, edit, trunk[-1].name if trunk else None)
    input_edit = next((edit for edit in edits if edit.kind == "input"), None)
    input_shape = input_edit.shape if input_edit else tuple(int(size) for size in source_model.input_shape[1:])
    chain = _insert_flattens(chain, _source_flattens(source_model), trunk, architecture)
    plan = StructurePlan(architecture, source_model.name, input_shape, source_model.layers[0].name, chain, blocks,
                         trunk)
    if architecture == "seed-cnn":
        _check_input_fits(plan, input_edit)
    return plan


def build_structure(plan: StructurePlan, num_classes: int, seed: int) -> Any:
    """Build the planned model with Keras' seeded initialisation (as `build_model` does).

    Raises:
        ConfigError: a backbone input shape the cut network cannot take.
    """
    keras.utils.set_random_seed(seed)
    if plan.is_backbone:
        try:
            fresh = build_model(plan.architecture, num_classes, input_shape=plan.input_shape)
        except WorkbenchError:
            shape = "x".join(map(str, plan.input_shape))
            raise ConfigError(f"Structure edit 'input {shape}' does not fit {plan.architecture}, which needs "
                              f"inputs of at least 32x32. Pass e.g. --edit \"input 32x32x{plan.input_shape[2]}\" "
                              "or larger.") from None
        inputs = fresh.input
        x = fresh.get_layer(plan.trunk_blocks[-1].layer_names[-1]).output if plan.trunk_blocks else inputs
    else:
        inputs = x = keras.Input(shape=plan.input_shape, name=plan.input_name)
    for planned in plan.chain:
        x = planned.create()(x)
    # Logits in float32 whatever the run's precision, as in `build_model`.
    outputs = keras.layers.Dense(num_classes, name=HEAD_BLOCK, dtype="float32")(x)
    return keras.Model(inputs, outputs, name=plan.model_name)


def _stage_names(architecture: str) -> set[str]:
    from workbench.models import MOBILENET_V2_STAGES, RESNET50_STAGES

    return {name for name, _ in (MOBILENET_V2_STAGES if architecture == "mobilenet_v2" else RESNET50_STAGES)}


def _check_block(edit: Edit, blocks: list[Block]) -> None:
    names = [block.name for block in blocks]
    below = ", ".join(names[:-1])
    if edit.block == HEAD_BLOCK:
        raise ConfigError(f"Structure edit '{edit.text()}' names the head, which every transfer replaces or keeps "
                          f"whole. Name a block below the head: {below} (e.g. --edit \"{edit.kind} {names[-2]}\").")
    if edit.block not in names:
        raise ConfigError(f"Structure edit '{edit.text()}' names block {edit.block!r}, which the source model does "
                          f"not have. Its blocks below the head are: {below}. Pass one of them, e.g. "
                          f"--edit \"{edit.text().replace(edit.block or '', names[-2], 1)}\".")


def _block_of(layer_name: str, blocks: list[Block]) -> str:
    return next((block.name for block in blocks if layer_name in block.layer_names), "?")


def _kind_of(layer: Any) -> str:
    kinds = ((keras.layers.InputLayer, "input"), (keras.layers.Conv2D, "conv"), (keras.layers.Dense, "dense"),
             (keras.layers.Dropout, "dropout"), (keras.layers.Flatten, "flatten"),
             (keras.layers.GlobalAveragePooling2D, "global_pool"),
             ((keras.layers.MaxPooling2D, keras.layers.AveragePooling2D), "pool"))
    return next((kind for layer_class, kind in kinds if isinstance(layer, layer_class)), "other")


def _planned_from_source(layer: Any, block: str) -> PlannedLayer:
    return PlannedLayer(layer.name, block, _kind_of(layer), type(layer), layer.get_config(), source=layer.name)


def _weighted_in_block(chain: list[PlannedLayer], block: str) -> PlannedLayer | None:
    return next((planned for planned in reversed(chain) if planned.block == block and planned.kind in WEIGHTED_KINDS),
                None)


def _widen(chain: list[PlannedLayer], edit: Edit) -> None:
    target = _weighted_in_block(chain, edit.block or "")
    if target is None:
        raise ConfigError(f"Structure edit '{edit.text()}' names a block that is cut or has no conv or dense layer "
                          "to widen. Widen a kept conv or dense block, e.g. --edit \"widen conv2 to 96\".")
    if (edit.size or 0) <= (target.width or 0):
        raise ConfigError(f"Structure edit '{edit.text()}' would not widen {edit.block}: it has {target.width} "
                          f"units, and Net2WiderNet only adds units. Pass a width above {target.width}, e.g. "
                          f"--edit \"widen {edit.block} to {2 * (target.width or 1)}\".")
    target.config = {**target.config, ("units" if target.kind == "dense" else "filters"): edit.size}
    target.edit = "widened"


def _edit_block_counters(blocks: list[Block]) -> dict[str, int]:
    """The highest add/deep index in use, so an edited source's blocks keep their names."""
    counters = {"add": 0, "deep": 0}
    for block in blocks:
        match = EDIT_BLOCK.match(block.name)
        if match:
            counters[match.group(1)] = max(counters[match.group(1)], int(match.group(2)))
    return counters


def _next_block(counters: dict[str, int], prefix: str) -> str:
    counters[prefix] += 1
    return f"{prefix}{counters[prefix]}"


def _deepen(chain: list[PlannedLayer], edit: Edit, counters: dict[str, int], trunk: list[Block]) -> None:
    positions = [index for index, planned in enumerate(chain) if planned.block == edit.block]
    below = _weighted_in_block(chain, edit.block or "") or next(
        (planned for planned in reversed(chain[: positions[-1] + 1] if positions else []) if planned.kind in
         WEIGHTED_KINDS), None)
    if not positions or below is None:
        raise ConfigError(f"Structure edit '{edit.text()}' names a block that is cut or has no conv or dense layer "
                          "below it. Deepen after a kept conv or dense block, e.g. --edit \"deepen after conv2\".")
    name = _next_block(counters, "deep")
    # An identity layer preserves the function only when its activation leaves the input unchanged:
    # ReLU after a ReLU (inputs already >= 0), no activation after a linear layer.
    activation = "relu" if below.config.get("activation") == "relu" else "linear"
    if below.kind == "conv":
        planned = PlannedLayer(f"{name}_conv", name, "conv", keras.layers.Conv2D,
                               {"filters": below.width, "kernel_size": 3, "padding": "same", "activation": activation},
                               edit="deep")
    else:
        planned = PlannedLayer(f"{name}_dense", name, "dense", keras.layers.Dense,
                               {"units": below.width, "activation": activation}, edit="deep")
    chain.insert(positions[-1] + 1, planned)


def _top_is_spatial(chain: list[PlannedLayer], trunk: list[Block], architecture: str) -> bool:
    for planned in reversed(chain):
        if planned.kind in ("conv", "pool"):
            return True
        if planned.kind in ("dense", "flatten", "global_pool"):
            return False
    return architecture == "seed-cnn" or bool(trunk)


def _add(chain: list[PlannedLayer], edit: Edit, counters: dict[str, int], spatial: bool) -> None:
    if edit.layer == "conv" and not spatial:
        raise ConfigError(f"Structure edit '{edit.text()}' appends a conv block, but the network's top is flat (a "
                          "dense layer). Cut at a conv block first (e.g. --edit \"cut conv3\" --edit "
                          f"\"{edit.text()}\"), or add a dense block instead (--edit \"add dense {edit.size}\").")
    name = _next_block(counters, "add")
    layers = {"dense": (keras.layers.Dense, {"units": edit.size, "activation": "relu"}),
              "dropout": (keras.layers.Dropout, {"rate": edit.rate}),
              "conv": (keras.layers.Conv2D, {"filters": edit.size, "kernel_size": 3, "padding": "same",
                                             "activation": "relu"})}
    layer_class, config = layers[edit.layer or "dense"]
    chain.append(PlannedLayer(f"{name}_{edit.layer}", name, edit.layer or "dense", layer_class, config, edit="added"))


def _hidden(chain: list[PlannedLayer], edit: Edit, trunk_top: str | None) -> None:
    top = next((planned for planned in reversed(chain) if planned.kind not in ("dropout", "other")), None)
    if top is None or top.kind != "dense":
        where = f"its top is {top.name}" if top else f"its top is block {trunk_top}" if trunk_top else "it is empty"
        raise ConfigError(f"Structure edit '{edit.text()}' sets the width of the dense layer directly below the head, "
                          f"and the edited network has none ({where}). Add one with --edit \"add dense {edit.size}\".")
    if top.edit == "deep":
        raise ConfigError(f"Structure edit '{edit.text()}' would resize {top.name}, the identity layer that "
                          f"'deepen after' inserted below the head, and an identity keeps its width. Leave out "
                          f"--edit \"{edit.text()}\", or add a dense layer first (--edit \"add dense {edit.size}\").")
    if top.edit == "widened" and top.width != edit.size:
        raise ConfigError(f"Structure edits '{edit.text()}' and 'widen {top.block} to {top.width}' both set the "
                          f"width of {top.name}. Keep one of them: --edit \"widen {top.block} to {top.width}\" keeps the "
                          "source's function, --edit \"{edit.text()}\" starts the layer fresh.")
    top.config = {**top.config, "units": edit.size}


def _source_flattens(source_model: Any) -> dict[str, tuple[str, str]]:
    """Source flatten/pooling layers by the layer they follow: previous layer → (name, block)."""
    blocks = model_blocks(source_model)
    found = {}
    for previous, layer in zip(source_model.layers, source_model.layers[1:]):
        if _kind_of(layer) in ("flatten", "global_pool"):
            found[previous.name] = (layer.name, _block_of(layer.name, blocks))
    return found


def _insert_flattens(chain: list[PlannedLayer], flattens: dict[str, tuple[str, str]], trunk: list[Block],
                     architecture: str) -> list[PlannedLayer]:
    """Add a flatten (seed CNN) or global average pooling (backbones) wherever a dense layer or the head
    reads a feature map; it keeps the source's name where the source had it after the same layer."""
    pooling = architecture != "seed-cnn"
    result: list[PlannedLayer] = []
    spatial = True
    previous = trunk[-1].layer_names[-1] if trunk else "input"
    for planned in [*chain, None]:
        kind = planned.kind if planned else "dense"
        if spatial and kind == "dense":
            consumer = planned.block if planned else HEAD_BLOCK
            suffix = "pool" if pooling else "flatten"
            name, block = flattens.get(previous, (f"{consumer}_{suffix}", consumer))
            if block == HEAD_BLOCK != consumer:  # the source's head pooling now feeds an appended block
                name, block = f"{consumer}_{suffix}", consumer
            layer_class = keras.layers.GlobalAveragePooling2D if pooling else keras.layers.Flatten
            in_source = name in {known for known, _ in flattens.values()}
            result.append(PlannedLayer(name, block, "global_pool" if pooling else "flatten", layer_class, {},
                                       source=name if in_source else None, edit="kept" if in_source else "added"))
            spatial = False
        if planned is None:
            break
        spatial = spatial if kind in ("dropout", "other") else kind in ("conv", "pool")
        result.append(planned)
        previous = planned.name
    return result


def _check_input_fits(plan: StructurePlan, input_edit: Edit | None) -> None:
    """Refuse an input shape whose feature map would shrink to nothing in the (cut) seed CNN."""
    if input_edit is None:
        return
    smallest = next((side for side in range(1, 4097) if _final_side(plan.chain, side) >= 1), None)
    for side in plan.input_shape[:2]:
        if _final_side(plan.chain, side) < 1:
            raise ConfigError(
                f"Structure edit '{input_edit.text()}' is too small for the network: its convolutions and pooling "
                f"need sides of at least {smallest}. Pass e.g. --edit \"input {smallest}x{smallest}x"
                f"{plan.input_shape[2]}\", or cut earlier (e.g. --edit \"cut conv1\").")


def _final_side(chain: list[PlannedLayer], side: int) -> int:
    for planned in chain:
        if planned.kind not in ("conv", "pool"):
            continue
        config = planned.config
        size = config.get("kernel_size", config.get("pool_size", 1))
        size = size[0] if isinstance(size, (list, tuple)) else size
        stride = config.get("strides") or (size if planned.kind == "pool" else 1)
        stride = stride[0] if isinstance(stride, (list, tuple)) else stride
        side = -(-side // stride) if config.get("padding") == "same" else (side - size) // stride + 1
        if side < 1:
            return side
    return side


def edited_blocks(source_model: Any, edits: str | tuple[Edit, ...]) -> list[Block]:
    """The blocks a transfer with these edits would train (what freeze and copy depth count).

    Builds the edited architecture without carrying weights, so a study or a panel can size its
    depth choices before any run; "" gives the source's own blocks.

    Raises:
        ConfigError: for an edit this model cannot take.
    """
    from workbench.structure.spec import parse_edits

    parsed = parse_edits(edits) if isinstance(edits, str) else edits
    if not parsed:
        return model_blocks(source_model)
    return model_blocks(build_structure(plan_structure(source_model, parsed), 1, seed=0))
