"""The panel's architecture view without a browser: the plain functions that turn control actions
into edit text and reports into preview rows, and the widgets that call them (set values, click)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

import workbench
from workbench.errors import ConfigError
from workbench.models import build_model
from workbench.panels import TransferPanel, layer_plan
from workbench.panels.structure_preview import (
    apply_edit,
    block_rows,
    edit_setting,
    edited_blocks,
    refreeze_report,
    structure_rows,
    without_cut_layers,
)
from workbench.runs import load_run
from workbench.transfer_modes import structure_summary, transfer_model

SEED_CNN_BLOCKS = ["conv1", "conv2", "conv3", "dense1", "head"]
RUN_TIMEOUT = 90


@pytest.fixture(scope="module")
def source_runs_dir(source_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One runs folder for the module holding a copy of the session's pretrained seed CNN, as `source`."""
    runs_dir = tmp_path_factory.mktemp("structure-panel-runs")
    shutil.copytree(source_run.path, runs_dir / "source")
    return runs_dir


@pytest.fixture(scope="module")
def source_model(source_runs_dir: Path):
    return load_run(source_runs_dir / "source").load_model()


def make_panel(runs_dir: Path, **options) -> TransferPanel:
    settings = {"epochs": 1, "per_class": 2, "task": "mnist-5k:5-9"}
    settings.update(options)
    return workbench.panel(runs_dir=runs_dir, **settings)


def preview_rows(panel: TransferPanel, edit: str) -> int:
    return panel.structure_preview.value.count(f"workbench-edit-{edit}")


# -- plain functions -----------------------------------------------------------------------------


def test_control_actions_become_canonical_edit_text() -> None:
    names = SEED_CNN_BLOCKS
    text = apply_edit("", "widen", "conv3", 96, names)
    text = apply_edit(text, "add", value=("dense", 128.0), block_names=names)
    text = apply_edit(text, "add", value=("dropout", 0.5), block_names=names)
    assert text == "widen conv3 to 96; add dense 128; add dropout 0.5"
    # A cut goes first in the canonical order and drops the growth of the blocks it removes.
    assert apply_edit(text, "cut", "conv2", block_names=names) == "cut conv2; add dense 128; add dropout 0.5"
    # The same control twice: a cut or deepen is undone, a widen replaced.
    cut = apply_edit(text, "cut", "conv3", block_names=names)
    assert cut.startswith("cut conv3; widen conv3 to 96")
    assert apply_edit(cut, "cut", "conv3", block_names=names) == text
    assert apply_edit(text, "widen", "conv3", 128, names).startswith("widen conv3 to 128;")
    deepened = apply_edit(text, "deepen", "conv1", block_names=names)
    assert "deepen after conv1" in deepened
    assert apply_edit(deepened, "deepen", "conv1", block_names=names) == text
    # One hidden width and one input shape: a new value replaces the old, 0 or empty removes it.
    text = apply_edit(apply_edit(text, "hidden", value=32), "hidden", value=48)
    assert text.endswith("; hidden 48") and edit_setting(text, "hidden") == "48"
    assert "hidden" not in apply_edit(text, "hidden", value=0)
    text = apply_edit(text, "input", value=" 32x32x1 ")
    assert text.startswith("input 32x32x1; ") and edit_setting(text, "input") == "32x32x1"
    assert "input" not in apply_edit(text, "input", value="")


def test_an_action_the_spec_refuses_raises_its_one_paragraph_error() -> None:
    with pytest.raises(ConfigError, match="add dropout 2.*between 0 and 1.*Allowed forms"):
        apply_edit("", "add", value=("dropout", 2.0))
    with pytest.raises(ConfigError, match="is not a known edit"):
        apply_edit("cut", "hidden", value=32)


def test_block_rows_list_each_source_block_with_its_shape_parameters_and_edits() -> None:
    model = build_model("seed-cnn", 5, (28, 28, 1), seed=0)
    plan = layer_plan(model)
    rows = block_rows(plan)
    assert [row["block"] for row in rows] == SEED_CNN_BLOCKS
    by_name = {row["block"]: row for row in rows}
    for row in rows:  # the view's parameter counts are Keras' own
        assert row["params"] == sum(model.get_layer(name).count_params() for name in row["layers"])
    assert by_name["conv1"]["layers"] == ["input", "conv1_conv", "conv1_pool"]
    assert by_name["conv1"]["output_shape"] == "13×13×32" and by_name["dense1"]["output_shape"] == "64"
    assert (by_name["conv2"]["kind"], by_name["conv2"]["width"]) == ("conv", 64)
    assert (by_name["dense1"]["kind"], by_name["dense1"]["width"]) == ("dense", 64)
    assert [row["growable"] for row in rows] == [True, True, True, True, False]  # never the head
    assert all(row["status"] == "kept" for row in rows[:-1])

    rows = block_rows(plan, "cut conv2; widen conv1 to 48; deepen after conv2")
    assert [row["cut"] for row in rows] == [False, False, True, True, False]
    assert rows[0]["status"] == "widened to 48" and rows[0]["widened_to"] == 48
    assert rows[0]["changes"] == ["widen conv1 to 48"]
    assert rows[1]["cut_here"] and rows[1]["deepened"] and rows[1]["status"] == "top (cut here), layer added after"
    assert rows[2]["status"] == "cut" and rows[4]["status"] == "new head"
    # Net2Net growth is offered on the seed CNN only.
    backbone = dataclasses.replace(plan, architecture="mobilenet_v2")
    assert not any(row["growable"] for row in block_rows(backbone))


def test_preview_rows_come_from_the_transfer_report(source_model) -> None:
    _, report = transfer_model(source_model, "parameter", 5, 1, edits="cut conv2; add dense 32; widen conv1 to 48")
    rows = structure_rows(report)
    assert [row["layer"] for row in rows] == [row["layer"] for row in report["layers"]]
    by_layer = {row["layer"]: row for row in rows}
    assert by_layer["conv3_conv"]["state"] == "cut" and by_layer["conv3_conv"]["weights"] == "—"
    assert by_layer["dense1_dense"]["edit"] == "cut"
    assert by_layer["add1_dense"]["edit"] == "added" and by_layer["add1_dense"]["weights"] == "fresh"
    assert by_layer["conv1_conv"]["edit"] == "grown (function-preserving)"
    assert by_layer["conv1_conv"]["weights"] == "grown from the source"
    assert by_layer["conv1_conv"]["state"] == "frozen" and by_layer["add1_dense"]["state"] == "trainable"
    kept = without_cut_layers(report)
    assert sum(row["params"] for row in kept["layers"]) == report["trainable_params"] + report["frozen_params"]
    assert [block.name for block in edited_blocks(report)] == ["conv1", "conv2", "add1", "head"]


def test_moving_the_depth_on_a_built_model_gives_transfer_models_own_report(source_model) -> None:
    edits = "cut conv3; widen conv1 to 40; deepen after conv2; add dense 16"
    model, built = transfer_model(source_model, "parameter", 5, 0, edits=edits)
    fields = ("layer", "block", "edit", "action", "trainable", "params")
    for depth in (3, 1, 4, 0):  # back and forth on the same model
        _, expected = transfer_model(source_model, "parameter", 5, depth, edits=edits)
        moved = refreeze_report(model, built, depth)
        assert moved["freeze_depth"] == depth and moved["blocks"] == expected["blocks"]
        assert (moved["trainable_params"], moved["frozen_params"]) == (
            expected["trainable_params"], expected["frozen_params"])
        assert [tuple(row[key] for key in fields) for row in moved["layers"]] == [
            tuple(row[key] for key in fields) for row in expected["layers"]], depth
    assert [block["name"] for block in built["blocks"]] == ["conv1", "conv2", "deep1", "conv3", "add1", "head"]
    with pytest.raises(ConfigError, match="freeze_depth=6 is outside 0..5"):
        refreeze_report(model, built, 6)


# -- the widgets ---------------------------------------------------------------------------------


def test_the_view_lists_the_source_blocks_with_their_controls(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir)
    assert list(panel.structure_part.controls) == SEED_CNN_BLOCKS
    assert len(panel.blocks_box.children) == 5
    assert "conv2" in panel.blocks_box.children[1].children[0].value
    assert "No edits" in panel.structure_preview.value
    assert panel.transfer_config().edits == "" and panel.transfer_config().grow_noise == 0.0


def test_the_panel_can_open_with_edits_and_refuses_a_spec_that_does_not_parse(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir, edits="add dense 16;cut conv3", grow_noise=0.01)
    assert panel.edits_text.value == "cut conv3; add dense 16" and panel.freeze_slider.max == 4
    config = panel.transfer_config()
    assert (config.edits, config.grow_noise) == ("cut conv3; add dense 16", 0.01)
    with pytest.raises(ConfigError, match="'snip conv3' is not a known edit"):
        make_panel(source_runs_dir, edits="snip conv3")


def test_cut_here_updates_the_edits_preview_slider_and_config(source_runs_dir: Path, source_model) -> None:
    panel = make_panel(source_runs_dir, freeze_depth=3)
    panel.structure_part.controls["conv2"].cut.click()
    assert panel.edits_text.value == "cut conv2"
    assert panel.structure_part.controls["conv2"].cut.description == "undo cut"
    assert panel.structure_part.controls["conv3"].cut.disabled
    # conv1, conv2 and the head remain: the slider's range follows, the user's depth 3 → 2.
    assert panel.freeze_slider.max == 2 and panel.freeze_slider.value == 2
    _, report = transfer_model(source_model, "parameter", 5, 2, edits="cut conv2")
    assert f"<b>{report['trainable_params']:,}</b> trainable" in panel.freeze_info.value
    assert f"<b>{report['frozen_params']:,}</b> frozen" in panel.freeze_info.value
    assert "frozen blocks: conv1, conv2 ·" in panel.freeze_info.value
    assert preview_rows(panel, "cut") == sum(row["edit"] == "cut" for row in report["layers"]) == 3
    assert structure_summary(report["structure"]) in panel.structure_preview.value  # "structure: cut 3 layers, …"
    assert panel.transfer_config().edits == "cut conv2"
    assert not panel.start_button.disabled

    panel.structure_part.controls["conv2"].cut.click()  # undo: the source's blocks and the user's depth return
    assert panel.edits_text.value == "" and panel.freeze_slider.max == 4 and panel.freeze_slider.value == 3
    assert "No edits" in panel.structure_preview.value


def test_typing_a_spec_updates_the_controls_and_a_bad_one_disables_start(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir)
    panel.edits_text.value = "hidden 32;  ADD dense 16; widen conv2 to 96"
    assert panel.edits_text.value == "widen conv2 to 96; add dense 16; hidden 32"  # canonical, in place
    assert panel.hidden_width.value == 32
    assert panel.structure_part.controls["conv2"].widen_to.value == 96
    assert "widened to 96" in panel.structure_part.controls["conv2"].label.value
    assert preview_rows(panel, "added") >= 1 and preview_rows(panel, "grown") >= 2
    assert panel.freeze_slider.max == 5  # add1 joins the blocks below the head

    panel.edits_text.value = "widen conv2 to 16"  # fewer units: refused by the model, shown in place
    error = panel.structure_info.value
    assert "workbench-structure-error" in error and "conv2" in error and "Traceback" not in error
    assert panel.start_button.disabled and panel.structure_preview.value == ""
    panel.start_button.click()  # even a programmatic click starts nothing
    assert not panel.running and "workbench-error" in panel.message.value

    panel.edits_text.value = "cut conv2; chop conv3"  # does not parse: kept as typed, controls wait
    assert panel.edits_text.value == "cut conv2; chop conv3"
    assert "chop conv3" in panel.structure_info.value and "Allowed forms" in panel.structure_info.value
    assert panel.start_button.disabled and panel.append_button.disabled
    assert panel.structure_part.controls["conv1"].cut.disabled

    panel.clear_edits_button.click()
    assert panel.edits_text.value == "" and panel.structure_info.value == ""
    assert not panel.start_button.disabled and not panel.append_button.disabled
    assert panel.freeze_slider.max == 4 and panel.hidden_width.value == 0


def test_append_hidden_input_and_grow_noise_reach_the_config(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir, mode="feature")
    panel.append_kind.value = "dropout"
    assert panel.append_size.value == 0.5
    panel.append_button.click()
    panel.append_kind.value = "dense"
    panel.append_size.value = 24
    panel.append_button.click()
    panel.hidden_width.value = 40
    assert panel.edits_text.value == "add dropout 0.5; add dense 24; hidden 40"
    # Feature transfer freezes the blocks that carry source weights; the added ones train.
    assert panel.freeze_slider.disabled and panel.freeze_slider.max == 6 and panel.freeze_slider.value == 4
    assert "frozen blocks: conv1, conv2, conv3, dense1 ·" in panel.freeze_info.value
    panel.hidden_width.value = 0
    panel.grow_noise.value = 0.01
    panel.structure_part.controls["dense1"].widen_to.value = 80
    panel.structure_part.controls["dense1"].widen.click()
    config = panel.transfer_config()
    assert config.edits == "widen dense1 to 80; add dropout 0.5; add dense 24" and config.grow_noise == 0.01
    panel.input_shape_text.value = "32x32x1"
    assert panel.transfer_config().edits.startswith("input 32x32x1; ")
    assert panel.message.value == ""


def test_the_technique_choices_plan_and_sweep_follow_the_edited_blocks(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir)
    panel.edits_text.value = "cut conv2; add dense 16"
    assert ("3: conv1, conv2, add1", 3) in panel.copy_depth.options
    panel.block_lr_buttons.value = "geometric"
    assert "conv1 " in panel.technique_info.value and "add1 " in panel.technique_info.value
    panel.copy_depth.value = 1  # conv2 now starts fresh: the preview's weights column follows
    weights = {row["layer"]: row["weights"] for row in structure_rows(panel.structure_part.report)}
    assert weights["conv1_conv"] == "copied" and weights["conv2_conv"] == "fresh"
    assert panel.transfer_config().copy_depth == 1
    panel.copy_depth.value, panel.block_lr_buttons.value = "all", "uniform"  # as the sweep's structure arm needs
    request = panel.sweep_request()  # a freeze-depth sweep counts the edited network's depths
    assert request.values == (0, 1, 2, 3) and request.base_config.edits == "cut conv2; add dense 16"
    panel.clear_edits_button.click()
    assert ("3: conv1, conv2, conv3", 3) in panel.copy_depth.options and panel.structure_part.report is None
    assert panel.sweep_request().values == (0, 1, 2, 3, 4)


def test_no_model_is_built_for_the_preview_while_a_job_runs(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir)
    with panel.worker._lock:  # as while a run trains in the worker thread
        panel.edits_text.value = "cut conv3"
        assert "updates when it ends" in panel.structure_info.value and "No edits" in panel.structure_preview.value
        panel._set_running(False)  # what the worker calls as its job ends
    assert preview_rows(panel, "cut") > 0 and panel.freeze_slider.max == 3
    assert not panel.start_button.disabled


def test_start_trains_the_edited_network_and_its_report_shows_the_edits(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir)
    panel.edits_text.value = "cut conv2; add dense 16"
    panel.start_button.click()
    assert panel.wait(timeout=RUN_TIMEOUT) and not panel.running
    assert panel.message.value == ""
    run = panel.last_run
    assert run.status == "finished" and run.config["edits"] == "cut conv2; add dense 16"
    assert {row["edit"] for row in run.transfer_report["layers"]} >= {"kept", "cut", "added"}
    assert "add1_dense" in panel.report_text.value
    assert structure_summary(run.transfer_report["structure"]) in panel.report_text.value
