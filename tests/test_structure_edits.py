"""Structure edits through transfer_model and the API: the rows, counts, freezing, heads, backbones, errors."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import workbench
from workbench.errors import ConfigError
from workbench.models import build_model, model_blocks
from workbench.transfer_modes import format_transfer_report, transfer_model


@pytest.fixture(scope="module")
def source_model():
    """A seed CNN (32x32x3, 5 classes) with recognisable, non-initial weights."""
    model = build_model("seed-cnn", 5, seed=1)
    model.set_weights([weight + 0.01 for weight in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def mobilenet():
    """MobileNetV2 without pretrained weights, at its smallest input (a few seconds to build)."""
    return build_model("mobilenet_v2", 5, input_shape=(32, 32, 3), seed=0)


def _rows(report: dict) -> dict[str, dict]:
    return {row["layer"]: row for row in report["layers"]}


def test_cut_and_new_top_reports_kept_cut_added_and_copied_layers(source_model) -> None:
    model, report = transfer_model(source_model, "parameter", num_classes=3,
                                   edits="add dense 128; cut conv2; add dropout 0.5")
    rows = _rows(report)
    assert [block.name for block in model_blocks(model)] == ["conv1", "conv2", "add1", "add2", "head"]
    assert [row["layer"] for row in report["layers"]] == [
        "input", "conv1_conv", "conv1_pool", "conv2_conv", "conv2_pool", "conv3_conv", "conv3_flatten", "dense1_dense",
        "add1_flatten", "add1_dense", "add2_dropout", "head"]
    assert {name: rows[name]["edit"] for name in ("conv2_conv", "conv3_conv", "dense1_dense", "add1_dense",
                                                   "add2_dropout")} == {
        "conv2_conv": "kept", "conv3_conv": "cut", "dense1_dense": "cut", "add1_dense": "added", "add2_dropout": "added"}
    assert rows["conv2_conv"]["action"] == "copied"
    np.testing.assert_array_equal(model.get_layer("conv2_conv").get_weights()[0],
                                  source_model.get_layer("conv2_conv").get_weights()[0])
    assert rows["dense1_dense"] == {**rows["dense1_dense"], "action": "cut", "params": 65_600, "trainable": False}
    assert report["edits"] == "cut conv2; add dense 128; add dropout 0.5"
    assert report["structure"] == {"kept": 6, "cut": 3, "added": 3, "grown": 0, "copied": 2}
    # conv2_pool leaves 6x6x64 = 2304 features: add1_dense has 2304 * 128 + 128 weights, the head 128 * 3 + 3.
    assert rows["add1_dense"]["params"] == 295_040 and rows["head"]["params"] == 387
    assert report["trainable_params"] == 896 + 18_496 + 295_040 + 387 and report["frozen_params"] == 0
    text = format_transfer_report(report)
    assert "structure: cut 3 layers, added 3, grown 0, copied 2" in text and "edits: cut conv2;" in text


def test_a_plain_transfer_reports_every_layer_kept_and_no_edits(source_model) -> None:
    _, report = transfer_model(source_model, "parameter", num_classes=5)
    assert {row["edit"] for row in report["layers"]} == {"kept"} and report["edits"] == ""
    assert report["structure"]["copied"] == 5 and "structure:" not in format_transfer_report(report)


def test_grown_layers_and_the_layer_after_a_widened_one_are_marked_grown(source_model) -> None:
    model, report = transfer_model(source_model, "parameter", num_classes=5,
                                   edits="widen conv2 to 96; deepen after dense1")
    rows = _rows(report)
    grown = "grown (function-preserving)"
    assert [rows[name]["edit"] for name in ("conv1_conv", "conv2_conv", "conv3_conv", "dense1_dense", "deep1_dense",
                                            "head")] == ["kept", grown, grown, "kept", grown, "kept"]
    assert "Net2WiderNet: 64 → 96" in rows["conv2_conv"]["reason"] and "divided" in rows["conv3_conv"]["reason"]
    assert rows["conv2_conv"]["params"] == 3 * 3 * 32 * 96 + 96 and rows["conv3_conv"]["params"] == 3 * 3 * 96 * 64 + 64
    assert rows["head"]["action"] == "copied" and report["structure"]["grown"] == 3


def test_structure_mode_builds_the_edited_architecture_with_fresh_weights_only(source_model) -> None:
    model, report = transfer_model(source_model, "structure", num_classes=5, edits="widen conv2 to 96; deepen after conv2")
    rows = _rows(report)
    assert {row["action"] for row in report["layers"]} == {"re-initialised", "no weights"}
    assert rows["deep1_conv"]["edit"] == "added" and rows["conv2_conv"]["edit"] == "kept"
    assert model.get_layer("conv2_conv").get_weights()[0].shape == (3, 3, 32, 96)
    assert report["structure"]["copied"] == 0 and report["frozen_params"] == 0


def test_freeze_depth_counts_the_edited_blocks_and_frozen_weights_stay_put(source_model) -> None:
    # head_init keras: a zero head would pass no gradient to conv3 in the one step this fit takes.
    model, report = transfer_model(source_model, "parameter", num_classes=5, freeze_depth=3, head_init="keras",
                                   edits="deepen after conv2; cut conv3")
    assert [block["name"] for block in report["blocks"]] == ["conv1", "conv2", "deep1", "conv3", "head"]
    assert [block["frozen"] for block in report["blocks"]] == [True, True, True, False, False]
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 32, 32, 3), dtype="float32"), rng.integers(0, 5, 16), epochs=1, verbose=0)
    for name in ("conv1_conv", "conv2_conv", "deep1_conv", "conv3_conv", "head"):
        unchanged = all(np.array_equal(a, b) for a, b in zip(before[name], model.get_layer(name).get_weights()))
        assert unchanged == (name in ("conv1_conv", "conv2_conv", "deep1_conv")), name
    with pytest.raises(ConfigError, match="outside 0..4"):
        transfer_model(source_model, "parameter", num_classes=5, freeze_depth=5, edits="deepen after conv2; cut conv3")


def test_feature_mode_with_an_added_block_trains_the_added_block_and_the_head_only(source_model) -> None:
    model, report = transfer_model(source_model, "feature", num_classes=3, edits="cut conv3; add dense 32")
    trainable = sorted(layer.name for layer in model.layers if layer.trainable_weights)
    assert trainable == ["add1_dense", "head"] and report["freeze_depth"] == 3
    assert report["head"]["init"] == "keras" and "fresh, like the block below it" in report["head"]["reason"]


def test_a_source_head_of_the_right_shape_is_not_copied_above_an_added_block(source_model) -> None:
    # Same class count, so the source head (64 -> 5) fits the new top's shape; but it read dense1's
    # features, which the added dense does not compute: the head rule gives it Keras' initialisation.
    model, report = transfer_model(source_model, "parameter", num_classes=5, edits="cut conv2; add dense 64", seed=3)
    head = _rows(report)["head"]
    assert head["action"] == "re-initialised" and head["init"] == "keras" and "below the head is new" in head["reason"]
    assert not np.allclose(model.get_layer("head").get_weights()[0], source_model.get_layer("head").get_weights()[0])
    _, plain = transfer_model(source_model, "parameter", num_classes=5, edits="cut dense1")
    assert _rows(plain)["head"]["action"] == "copied"


@pytest.mark.parametrize("head_init", ["zero", "keras"])
def test_a_new_head_on_copied_features_follows_head_init(source_model, head_init: str) -> None:
    model, report = transfer_model(source_model, "feature", num_classes=3, edits="cut conv3", head_init=head_init)
    assert report["head"]["init"] == head_init and report["freeze_depth"] == 3
    assert np.any(model.get_layer("head").get_weights()[0]) == (head_init == "keras")


def test_copy_depth_counts_the_edited_blocks(source_model) -> None:
    model, report = transfer_model(source_model, "parameter", num_classes=5, copy_depth=2,
                                   edits="deepen after conv1; widen conv2 to 80")
    rows = _rows(report)
    assert rows["conv1_conv"]["action"] == "copied" and rows["deep1_conv"]["edit"] == "grown (function-preserving)"
    assert rows["conv2_conv"]["action"] == "re-initialised" and rows["conv2_conv"]["edit"] == "kept"
    assert "above copy depth 2" in rows["conv3_conv"]["reason"] and rows["head"]["init"] == "keras"


def test_an_edited_source_can_be_edited_again(source_model) -> None:
    edited, _ = transfer_model(source_model, "parameter", num_classes=5, edits="cut conv3; add dense 32; deepen after conv1")
    again, report = transfer_model(edited, "parameter", num_classes=5, edits="add dense 16; widen add1 to 48")
    assert [block.name for block in model_blocks(again)] == ["conv1", "deep1", "conv2", "conv3", "add1", "add2", "head"]
    assert _rows(report)["deep1_conv"]["action"] == "copied"
    assert _rows(report)["add1_dense"]["edit"] == "grown (function-preserving)"


def test_an_input_edit_changes_the_input_and_starts_what_no_longer_fits_fresh(source_model) -> None:
    model, report = transfer_model(source_model, "parameter", num_classes=5, edits="input 28x28x1")
    rows = _rows(report)
    assert model.input_shape == (None, 28, 28, 1)
    assert rows["conv1_conv"]["action"] == "skipped" and rows["conv2_conv"]["action"] == "copied"
    assert rows["dense1_dense"]["action"] == "skipped"  # the flattened map is smaller


def test_a_backbone_is_cut_at_a_stage_and_gets_a_new_top(mobilenet) -> None:
    model, report = transfer_model(mobilenet, "feature", num_classes=3, edits="cut stage2; add dense 16")
    rows = _rows(report)
    assert [block.name for block in model_blocks(model)] == ["stem", "stage1", "stage2", "add1", "head"]
    assert rows["block_5_project"]["action"] == "copied" and rows["block_6_expand"]["action"] == "cut"
    assert rows["add1_pool"]["edit"] == "added" and rows["head"]["init"] == "keras"
    assert report["freeze_depth"] == 3 and not model.get_layer("block_5_project").trainable
    assert model.get_layer("add1_dense").trainable


@pytest.mark.parametrize("edits, words", [
    ("cut conv9", "names block 'conv9', which the source model does not have"),
    ("cut head", "names the head"),
    ("widen conv2 to 32", "would not widen conv2: it has 64 units"),
    ("input 8x8x3", "too small for the network"),
    ("add conv 16", "the network's top is flat"),
    ("hidden 32; cut conv3", "sets the width of the dense layer directly below the head"),
    ("widen dense1 to 96; hidden 32", "both set the width"),
    ("deepen after dense1; hidden 32", "the identity layer"),
])
def test_a_bad_edit_for_this_model_is_one_paragraph_with_the_fix(source_model, edits: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        transfer_model(source_model, "parameter", num_classes=5, edits=edits)
    message = str(caught.value)
    assert words in message and "--edit" in message and "\n" not in message


def test_growth_on_a_backbone_is_refused_as_seed_cnn_only(mobilenet) -> None:
    with pytest.raises(ConfigError, match="seed CNN only, not on mobilenet_v2"):
        transfer_model(mobilenet, "parameter", num_classes=5, edits="widen stage2 to 90")
    with pytest.raises(ConfigError, match="needs inputs of at least 32x32"):
        transfer_model(mobilenet, "parameter", num_classes=5, edits="cut stage1; input 16x16x3")


def _target(source_run, runs_dir: Path, **changes) -> dict:
    return {"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 5, "epochs": 1, "seed": 3,
            "runs_dir": str(runs_dir), "cache": False, **changes}


@pytest.fixture(scope="module")
def plain_run(source_run, tmp_path_factory: pytest.TempPathFactory):
    """Parameter transfer without edits: the run the edits that change nothing must equal."""
    return workbench.transfer(**_target(source_run, tmp_path_factory.mktemp("plain"), name="plain"))


@pytest.mark.parametrize("edits", ["cut dense1", "hidden 64"])
def test_an_edit_that_changes_nothing_trains_the_same_run(source_run, plain_run, runs_dir: Path, edits: str) -> None:
    edited = workbench.transfer(**_target(source_run, runs_dir, name="edited", edits=edits))
    assert edited.config["edits"] == edits and edited.transfer_report["structure"]["copied"] == 5
    assert edited.test_accuracy == pytest.approx(plain_run.test_accuracy, abs=1e-9)
    assert edited.metrics["test_loss"] == pytest.approx(plain_run.metrics["test_loss"], rel=1e-5)
    for mine, theirs in zip(edited.load_model().get_weights(), plain_run.load_model().get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)


def test_a_saved_edited_run_reloads_with_the_same_blocks(source_run, runs_dir: Path) -> None:
    edits = "deepen after conv1; cut conv3; add dense 32; add dropout 0.2"
    run = workbench.transfer(**_target(source_run, runs_dir, name="grown", mode="feature", edits=edits))
    model = run.load_model()
    # Feature transfer trained the added block (not on cached features) and left the extractor as it was.
    start, _ = transfer_model(source_run.load_model(), "feature", 5, edits=edits, seed=3)
    assert not np.allclose(model.get_layer("add1_dense").get_weights()[0], start.get_layer("add1_dense").get_weights()[0])
    for name in ("conv1_conv", "deep1_conv", "conv3_conv"):
        np.testing.assert_array_equal(model.get_layer(name).get_weights()[0], start.get_layer(name).get_weights()[0])
    blocks = [block.name for block in model_blocks(model)]
    assert blocks == [block["name"] for block in run.transfer_report["blocks"]]
    assert blocks == ["conv1", "deep1", "conv2", "conv3", "add1", "add2", "head"]
    assert "grown (function-preserving)" in (run.path / "transfer.txt").read_text()
    # The edited run is a source too: its blocks can be cut again.
    again = workbench.transfer(**_target(source_run, runs_dir, source=str(run.path), name="again",
                                         edits="cut add1", mode="feature"))
    assert [block["name"] for block in again.transfer_report["blocks"]] == blocks[:-2] + ["head"]


def test_the_edited_blocks_are_known_before_any_weights_move(source_model) -> None:
    from workbench.structure.builder import edited_blocks

    assert [block.name for block in edited_blocks(source_model, "cut conv2; add dense 8; deepen after conv1")] == [
        "conv1", "deep1", "conv2", "add1", "head"]
    assert edited_blocks(source_model, "") == model_blocks(source_model)


def test_an_input_edit_trains_on_images_resized_to_the_new_input(source_run, runs_dir: Path) -> None:
    run = workbench.transfer(**_target(source_run, runs_dir, name="small", edits="input 20x20x1"))
    assert run.load_model().input_shape == (None, 20, 20, 1)
    assert run.config["input_shape"] == [20, 20, 1]


@pytest.mark.parametrize("edits", ["cut conv9", "widen conv2 to 8"])
def test_the_api_refuses_a_bad_edit_before_any_run_directory_exists(source_run, runs_dir: Path, edits: str) -> None:
    with pytest.raises(ConfigError):
        workbench.transfer(**_target(source_run, runs_dir, name="bad", edits=edits))
    assert list(runs_dir.iterdir()) == []


def test_the_block_figure_leaves_cut_layers_out(source_model) -> None:
    from workbench.figures.transfer import summarize_blocks

    _, report = transfer_model(source_model, "parameter", num_classes=5, freeze_depth=1, edits="cut conv2; add dense 16")
    blocks = {block["block"]: block for block in summarize_blocks(report["layers"])}
    assert set(blocks) == {"conv1", "conv2", "add1", "head"}
    kept_params = sum(row["params"] for row in report["layers"] if row["action"] != "cut")
    assert sum(b["frozen_params"] + b["trainable_params"] for b in blocks.values()) == kept_params
    assert blocks["conv1"]["frozen_params"] > 0 and blocks["conv2"]["frozen_params"] == 0
