"""The transfer panel without a browser: set widget values, click buttons, wait for the worker thread."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import keras
import pytest

import workbench
from workbench.config import config_from_mapping
from workbench.figures import MODE_COLORS
from workbench.models import build_model
from workbench.panels import TransferPanel, layer_plan, preview_transfer, target_class_names
from workbench.runs import RUN_FILES, load_run
from workbench.transfer_modes import transfer_model

RUN_TIMEOUT = 90


@pytest.fixture
def source_runs_dir(source_run, runs_dir: Path) -> Path:
    """A runs folder holding a copy of the session's pretrained source run, as `source`."""
    shutil.copytree(source_run.path, runs_dir / "source")
    return runs_dir


def make_panel(runs_dir: Path, **options) -> TransferPanel:
    settings = {"epochs": 1, "per_class": 5, "task": "mnist-5k:5-9"}
    settings.update(options)
    return workbench.panel(runs_dir=runs_dir, **settings)


def finish(panel: TransferPanel) -> None:
    assert panel.wait(timeout=RUN_TIMEOUT), "the training thread did not finish in time"
    assert not panel.running


def run_dirs(runs_dir: Path) -> list[Path]:
    return sorted(path for path in runs_dir.iterdir() if path.name != "source")


class ClickStopAfterFirstBatch(keras.callbacks.Callback):
    """Presses the panel's Stop button after the first batch, as a person would mid-epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.panel: TransferPanel | None = None
        self.clicked_at_batch: int | None = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.clicked_at_batch is None and self.panel is not None:
            self.clicked_at_batch = batch
            self.panel.stop_button.click()


def test_widget_values_become_the_same_config_as_the_cli_flags(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir)
    panel.mode_buttons.value = "parameter"
    panel.freeze_slider.value = 2
    panel.per_class.value = 7
    panel.epochs.value = 3
    panel.learning_rate.value = 0.01
    panel.seed.value = 4
    expected = config_from_mapping({
        "source": str(source_runs_dir / "source"), "task": "mnist-5k:5-9", "mode": "parameter",
        "freeze-depth": 2, "per-class": 7, "epochs": 3, "learning-rate": 0.01, "seed": 4,
        "runs-dir": str(source_runs_dir),
    }, kind="transfer")
    assert panel.transfer_config() == expected

    # Feature mode fixes the depth itself, so none is passed; a budget of 0 means "all".
    panel.mode_buttons.value = "feature"
    panel.per_class.value = 0
    config = panel.transfer_config()
    assert config.freeze_depth is None and config.mode == "feature" and config.per_class is None


def test_freeze_slider_shows_frozen_blocks_and_parameter_counts_live(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir, freeze_depth=0)
    assert panel.freeze_slider.max == 4  # conv1, conv2, conv3, dense1 below the head
    assert "frozen blocks: none" in panel.freeze_info.value

    panel.freeze_slider.value = 2
    assert "frozen blocks: conv1, conv2 ·" in panel.freeze_info.value
    assert panel.freeze_info.value.count("workbench-block-frozen") == 2
    model, report = transfer_model(load_run(source_runs_dir / "source").load_model(), "parameter", 5, 2)
    assert f"<b>{report['trainable_params']:,}</b> trainable" in panel.freeze_info.value
    assert f"<b>{report['frozen_params']:,}</b> frozen" in panel.freeze_info.value

    panel.mode_buttons.value = "feature"
    assert panel.freeze_slider.disabled and panel.freeze_slider.value == 4
    assert "frozen blocks: conv1, conv2, conv3, dense1 ·" in panel.freeze_info.value
    assert "copy the source weights, freeze the whole feature extractor" in panel.mode_info.value
    panel.mode_buttons.value = "structure"
    assert panel.freeze_slider.disabled and panel.freeze_slider.value == 0
    panel.mode_buttons.value = "parameter"
    assert not panel.freeze_slider.disabled and panel.freeze_slider.value == 2  # the user's choice returns


@pytest.mark.parametrize("architecture", ["seed-cnn", "mobilenet_v2"])
def test_freeze_preview_predicts_the_transfer_report_exactly(architecture: str) -> None:
    source = build_model(architecture, 10, (32, 32, 3), seed=0)
    plan = layer_plan(source)
    cases = [("parameter", 0), ("parameter", 2), ("feature", None), ("structure", None)]
    if architecture == "mobilenet_v2":
        cases = [("parameter", 3)]  # BatchNorm statistics: frozen even in trainable blocks
    for mode, depth in cases:
        _, report = transfer_model(source, mode, 5, depth)
        preview = preview_transfer(plan, mode, depth, 5)
        assert preview["freeze_depth"] == report["freeze_depth"]
        assert preview["blocks"] == report["blocks"]
        assert (preview["trainable_params"], preview["frozen_params"]) == (
            report["trainable_params"], report["frozen_params"])
        fields = ("layer", "block", "action", "trainable", "params")
        assert [tuple(row[key] for key in fields) for row in preview["layers"]] == [
            tuple(row[key] for key in fields) for row in report["layers"]], (mode, depth)


def test_task_classes_are_checked_as_they_are_typed() -> None:
    assert target_class_names("mnist-5k:5-9") == ["5", "6", "7", "8", "9"]
    assert target_class_names("cifar10:cat,dog") == ["cat", "dog"]
    assert target_class_names("folder:/nowhere/at/all:a,b") is None
    with pytest.raises(workbench.WorkbenchError, match="'six'"):
        target_class_names("mnist-5k:5,six")


def test_start_trains_a_run_in_a_thread_and_overlays_its_curves(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir, epochs=2)
    panel.freeze_slider.value = 1
    panel.start_button.click()
    assert panel.running and panel.start_button.disabled and not panel.stop_button.disabled
    panel.start_button.click()  # a second click while training: refused, shown, nothing started
    assert "already training" in panel.message.value
    finish(panel)

    (first,) = run_dirs(source_runs_dir)
    run = load_run(first)
    assert run.status == "finished" and run.config["mode"] == "parameter" and run.config["freeze_depth"] == 1
    assert len(panel.curves.data) == 4
    assert [len(trace.x) for trace in panel.curves.data] == [2, 2, 2, 2]
    assert panel.curves.data[0].name == "parameter (freeze 1) · 5/class · s0 · #1 (train)"
    assert "finished" in panel.results.value and run.name in panel.results.value
    assert panel.report_dropdown.value == run.name
    assert [trace.name for trace in panel.report_figure.data] == ["frozen", "trainable"]
    assert not panel.start_button.disabled and panel.stop_button.disabled

    panel.mode_buttons.value = "feature"
    panel.epochs.value = 1
    panel.start_button.click()
    finish(panel)
    assert len(run_dirs(source_runs_dir)) == 2
    assert len(panel.curves.data) == 8
    assert {trace.legendgroup for trace in panel.curves.data} == {
        "parameter (freeze 1) · 5/class · s0 · #1", "feature · 5/class · s0 · #2"}
    assert panel.curves.data[4].line.color == MODE_COLORS["feature"]
    assert panel.curves.data[0].line.color == MODE_COLORS["parameter"]
    assert panel.results.value.count("workbench-result'") == 2
    assert panel.message.value == ""


def test_stop_clicked_after_the_first_batch_saves_a_complete_stopped_run(source_runs_dir: Path) -> None:
    stopper = ClickStopAfterFirstBatch()
    panel = make_panel(source_runs_dir, epochs=5, callbacks=[stopper])
    stopper.panel = panel
    panel.start_button.click()
    finish(panel)

    (path,) = run_dirs(source_runs_dir)
    assert not [name for name in path.parent.iterdir() if name.name.startswith(".")]
    for name in (*RUN_FILES, "model.keras", "transfer.json"):
        assert (path / name).is_file(), name
    run = load_run(path)
    assert run.status == "stopped"
    # Stop lands inside the first of five epochs: one partial epoch is kept, none completed.
    assert run.metrics["epochs_completed"] == 0
    assert len(run.history) == 1 and run.history[0]["partial"]
    assert stopper.clicked_at_batch == 0
    assert "stopped" in panel.results.value and "0/5" in panel.results.value
    assert "Stopped" in panel.status.value
    assert panel.curves.data[0].x[-1] < 1.0  # the curve ends where training stopped
    assert not panel.start_button.disabled and panel.stop_button.disabled


def test_stop_clicked_from_the_kernel_thread_while_fit_runs(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir, epochs=40)
    panel.start_button.click()
    deadline = time.monotonic() + RUN_TIMEOUT
    while not (panel.curves.data and len(panel.curves.data[0].x) >= 1):
        assert time.monotonic() < deadline and panel.running, panel.message.value
        time.sleep(0.05)
    epochs_seen = len(panel.curves.data[0].x)
    panel.stop_button.click()
    finish(panel)

    run = load_run(run_dirs(source_runs_dir)[0])
    assert run.status == "stopped"
    assert run.metrics["epochs_completed"] <= epochs_seen + 1 < 40


def test_bad_class_name_and_missing_source_are_shown_and_the_panel_stays_usable(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir)
    panel.task_text.value = "mnist-5k:5,six"
    assert "six" in panel.task_info.value  # shown while typing, before Start
    panel.start_button.click()
    assert "&#x27;six&#x27; in task" in panel.message.value and "Known classes" in panel.message.value
    assert not panel.running and not panel.start_button.disabled
    assert run_dirs(source_runs_dir) == []

    panel.task_text.value = "mnist-5k:5-9"
    shutil.rmtree(source_runs_dir / "source")
    panel.start_button.click()
    assert "does not exist" in panel.message.value and "source" in panel.message.value
    assert not panel.running

    panel.refresh_button.click()
    assert panel.source_dropdown.value is None
    assert "holds no run with a model yet" in panel.source_info.value
    assert panel.pretrain_section.selected_index == 0
    panel.start_button.click()
    assert "No source run is selected" in panel.message.value
    assert run_dirs(source_runs_dir) == []


def test_an_error_inside_the_training_thread_is_shown_and_the_next_run_works(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir, per_class=100_000)
    panel.start_button.click()
    finish(panel)
    assert "per_class=100000 is more than class" in panel.message.value
    assert "failed" in panel.message.value and "Failed" in panel.status.value
    assert isinstance(panel.errors[-1], workbench.WorkbenchError)
    assert run_dirs(source_runs_dir) == []

    panel.per_class.value = 5
    panel.start_button.click()
    finish(panel)
    assert panel.message.value == ""
    assert load_run(run_dirs(source_runs_dir)[0]).status == "finished"


def test_pretrain_section_trains_a_source_with_its_own_curves_and_selects_it(runs_dir: Path) -> None:
    panel = make_panel(runs_dir, pretrain_epochs=1, pretrain_per_class=10)
    assert panel.freeze_slider.disabled and panel.source_dropdown.options == ()
    panel.pretrain_name.value = "fresh"
    panel.pretrain_button.click()
    finish(panel)
    assert panel.message.value == ""
    assert panel.source_dropdown.value == str(runs_dir / "fresh")
    assert len(panel.pretrain_curves.data) == 4 and len(panel.curves.data) == 0
    assert not panel.freeze_slider.disabled and panel.freeze_slider.max == 4
    assert "pretrain" in panel.results.value
    assert panel.transfer_config().source == str(runs_dir / "fresh")


def test_the_panel_displays_as_a_widget(source_runs_dir: Path) -> None:
    bundle = make_panel(source_runs_dir)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_a_source_whose_model_cannot_be_read_is_reported_and_the_panel_still_opens(source_runs_dir: Path) -> None:
    (source_runs_dir / "source" / "model.keras").write_bytes(b"not a keras file")
    panel = make_panel(source_runs_dir)
    assert "Could not read the model of" in panel.message.value
    assert panel.freeze_slider.disabled and "Pick or pretrain a source run" in panel.freeze_info.value
    assert not panel.start_button.disabled


def test_an_unknown_mode_is_refused_with_the_allowed_ones(runs_dir: Path) -> None:
    with pytest.raises(workbench.WorkbenchError, match="mode='fine-tune' is not known. Allowed modes: parameter"):
        make_panel(runs_dir, mode="fine-tune")
