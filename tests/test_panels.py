"""The transfer panel without a browser: set widget values, click buttons, wait for the worker thread."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import ipywidgets as widgets
import keras
import pytest

import workbench
from workbench.config import config_from_mapping
from workbench.figures import MODE_COLORS
from workbench.models import build_model
from workbench.panels import (
    TransferPanel,
    count_sweep_runs,
    layer_plan,
    parse_sweep_values,
    preview_transfer,
    sweep_budgets,
    target_class_names,
    technique_stages,
)
from workbench.schedules import block_learning_rates
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


def displayed_widgets(root: widgets.Widget) -> list[widgets.Widget]:
    """Every widget in the tree under `root`: what the frontend renders when `root` is displayed."""
    found = [root]
    for child in getattr(root, "children", ()):
        found += displayed_widgets(child)
    return found


def test_the_panel_displays_as_one_widget_that_holds_every_control(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir)
    bundle = panel._repr_mimebundle_()
    # The display shows the panel's own column, not some other widget.
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id
    shown = {id(widget) for widget in displayed_widgets(panel.widget)}
    controls = {name: value for name, value in vars(panel).items() if isinstance(value, widgets.Widget)}
    controls.update({f"augment_checks[{name}]": check for name, check in panel.augment_checks.items()})
    controls.update({f"sweep_mode_checks[{name}]": check for name, check in panel.sweep_mode_checks.items()})
    assert len(controls) > 60
    # Every control the panel exposes is on screen: none was left out when the parts were composed.
    assert [name for name, control in controls.items() if id(control) not in shown] == []


def test_building_the_panel_keeps_jsonschemas_slow_optional_import_out(runs_dir: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The panel's first FigureWidget imports nbformat, and with it jsonschema's 3-4 s of lark parsers,
    unless the panel has skipped them first (`workbench.fast_start`; conftest skips them for the tests)."""
    import sys

    from workbench.fast_start import SKIPPED_MODULES

    for name in SKIPPED_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    make_panel(runs_dir)
    assert {name: sys.modules.get(name, "importable") for name in SKIPPED_MODULES} == dict.fromkeys(SKIPPED_MODULES)


def test_a_source_whose_model_cannot_be_read_is_reported_and_the_panel_still_opens(source_runs_dir: Path) -> None:
    (source_runs_dir / "source" / "model.keras").write_bytes(b"not a keras file")
    panel = make_panel(source_runs_dir)
    assert "Could not read the model of" in panel.message.value
    assert panel.freeze_slider.disabled and "Pick or pretrain a source run" in panel.freeze_info.value
    assert not panel.start_button.disabled


def test_an_unknown_mode_is_refused_with_the_allowed_ones(runs_dir: Path) -> None:
    with pytest.raises(workbench.WorkbenchError, match="mode='fine-tune' is not known. Allowed modes: parameter"):
        make_panel(runs_dir, mode="fine-tune")


# ------------------------------------------------------------------------------------------------
# Fine-tuning techniques and sweeps
# ------------------------------------------------------------------------------------------------


class WatchSweep(keras.callbacks.Callback):
    """At the start of every run of a sweep, notes the sweep figure's traces and the progress line,
    and presses Stop after the first batch of run `stop_in_run` (when given)."""

    def __init__(self, stop_in_run: int | None = None) -> None:
        super().__init__()
        self.panel: TransferPanel | None = None
        self.stop_in_run = stop_in_run
        self.runs_begun = 0
        self.stopped = False
        self.seen: list[tuple[list[str], str, bool, bool]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.runs_begun += 1
        panel = self.panel
        self.seen.append(([trace.name for trace in panel.sweep_figure.data], panel.sweep_info.value,
                          panel.start_button.disabled, panel.sweep_button.disabled))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.runs_begun == self.stop_in_run and not self.stopped:
            self.stopped = True
            self.panel.stop_button.click()


def test_technique_widgets_become_the_same_config_as_the_cli_flags(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir, epochs=4)
    panel.freeze_slider.value = 1
    panel.block_lr_buttons.value = "geometric"
    panel.lr_low.value = 1e-5
    panel.unfreeze_buttons.value = "gradual"
    panel.unfreeze_every.value = 2
    panel.batchnorm_buttons.value = "train"
    panel.copy_depth.value = 3
    panel.augment_checks["translate"].value = True
    panel.augment_checks["flip"].value = True
    common = {"source": str(source_runs_dir / "source"), "task": "mnist-5k:5-9", "per-class": 5, "epochs": 4,
              "runs-dir": str(source_runs_dir)}
    assert panel.transfer_config() == config_from_mapping({
        **common, "mode": "parameter", "freeze-depth": 1, "block-lr": "geometric", "lr-low": 1e-5,
        "unfreeze": "gradual", "unfreeze-every": 2, "batchnorm": "train", "copy-depth": 3,
        "augment": "flip,translate"}, kind="transfer")

    panel.block_lr_buttons.value = "decay"
    panel.layer_decay.value = 0.5
    config = panel.transfer_config()
    assert (config.block_lr, config.layer_decay, config.lr_low) == ("decay", 0.5, None)

    # In feature mode the parameter-only settings stay on their (disabled) widgets but are not
    # passed, exactly like the freeze depth; the feature cache choice is.
    panel.mode_buttons.value = "feature"
    panel.cache_buttons.value = "off"
    assert panel.transfer_config() == config_from_mapping({
        **common, "mode": "feature", "batchnorm": "train", "cache-features": "off", "augment": "flip,translate"},
        kind="transfer")
    panel.mode_buttons.value = "structure"
    config = panel.transfer_config()
    assert (config.batchnorm, config.cache_features, config.augment) == ("frozen", "auto", "flip,translate")


def test_technique_widgets_are_enabled_only_where_the_mode_allows_them(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir)
    parameter_only = (panel.block_lr_buttons, panel.unfreeze_buttons, panel.copy_depth)

    def enabled() -> dict[str, bool]:
        controls = {"block_lr": panel.block_lr_buttons, "lr_low": panel.lr_low, "layer_decay": panel.layer_decay,
                    "unfreeze": panel.unfreeze_buttons, "unfreeze_every": panel.unfreeze_every,
                    "copy_depth": panel.copy_depth, "batchnorm": panel.batchnorm_buttons, "cache": panel.cache_buttons,
                    "augment": panel.augment_checks["flip"]}
        return {name: not control.disabled for name, control in controls.items()}

    assert enabled() == {"block_lr": True, "lr_low": False, "layer_decay": False, "unfreeze": True,
                         "unfreeze_every": False, "copy_depth": True, "batchnorm": True, "cache": False,
                         "augment": True}
    panel.block_lr_buttons.value = "geometric"
    panel.unfreeze_buttons.value = "gradual"
    assert enabled()["lr_low"] and enabled()["unfreeze_every"] and not enabled()["layer_decay"]
    panel.block_lr_buttons.value = "decay"
    assert enabled()["layer_decay"] and not enabled()["lr_low"]
    # The copy-depth choices are the source's blocks: all, or the first 0..4 of conv1..dense1, head.
    assert [value for _, value in panel.copy_depth.options] == ["all", 0, 1, 2, 3, 4]

    panel.mode_buttons.value = "feature"
    assert not any(enabled()[name] for name in ("block_lr", "lr_low", "layer_decay", "unfreeze", "unfreeze_every",
                                                "copy_depth"))
    assert enabled()["cache"] and enabled()["batchnorm"] and enabled()["augment"]
    panel.mode_buttons.value = "structure"
    assert enabled() == {name: name == "augment" for name in enabled()}
    panel.mode_buttons.value = "parameter"
    assert not any(control.disabled for control in parameter_only)
    assert panel.block_lr_buttons.value == "decay"  # the user's choice is kept while disabled


def test_technique_preview_shows_the_per_block_rates_and_the_unfreeze_stages(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir, epochs=3)
    panel.block_lr_buttons.value = "geometric"
    panel.lr_low.value = 1e-5
    rates = block_learning_rates("geometric", 1e-3, 5, lr_low=1e-5)
    expected = ", ".join(f"{name} {rate:.1e}" for name, rate in zip(["conv1", "conv2", "conv3", "dense1", "head"], rates))
    assert f"epochs 1–3: {expected}" in panel.technique_info.value
    assert "conv1 1.0e-05" in expected and "head 1.0e-03" in expected

    panel.freeze_slider.value = 2
    panel.unfreeze_buttons.value = "gradual"
    stages = technique_stages(panel.transfer_config(), layer_plan(load_run(source_runs_dir / "source").load_model()).blocks)
    assert [(stage["first_epoch"], stage["last_epoch"], stage["freeze_depth"]) for stage in stages] == [
        (1, 1, 4), (2, 2, 3), (3, 3, 2)]
    assert "epoch 1: head at 1.0e-03 (conv1, conv2, conv3, dense1 frozen) → epoch 2: dense1" in panel.technique_info.value
    assert "(conv1, conv2 frozen)" in panel.technique_info.value  # the last stage reaches the freeze depth

    panel.unfreeze_buttons.value = "two-stage"
    stages = technique_stages(panel.transfer_config(), layer_plan(load_run(source_runs_dir / "source").load_model()).blocks)
    assert stages[1]["block_lr"] == "geometric" and stages[1]["learning_rates"]["head"] == pytest.approx(5e-4)
    assert "epochs 2–3: conv3 5.0e-05" in panel.technique_info.value  # half the rate, spread lr/100..lr

    panel.mode_buttons.value = "feature"
    assert "head at 1.0e-03 (conv1, conv2, conv3, dense1 frozen)" in panel.technique_info.value
    assert "the head trains on cached features" in panel.technique_info.value
    panel.augment_checks["rotate"].value = True
    assert "no feature cache (augmentation" in panel.technique_info.value
    assert "augmentation: rotate" in panel.technique_info.value


def test_a_bad_technique_combination_is_shown_and_the_panel_stays_usable(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir, mode="feature")
    panel.cache_buttons.value = "on"
    panel.augment_checks["flip"].value = True
    # Shown while choosing, before Start, and again (as the panel's message) on Start.
    assert "cache_features=&#x27;on&#x27; needs feature transfer without augmentation" in panel.technique_info.value
    panel.start_button.click()
    assert "cache_features=&#x27;on&#x27; needs feature transfer without augmentation" in panel.message.value
    assert not panel.running and not panel.start_button.disabled and run_dirs(source_runs_dir) == []

    # Rates that cannot be spread are refused at Start too, not in the thread after loading data.
    panel.mode_buttons.value = "parameter"
    panel.block_lr_buttons.value = "geometric"
    panel.lr_low.value = 0.1
    assert "lr_low=0.1 must be above 0 and at most learning_rate=0.001" in panel.technique_info.value
    panel.start_button.click()
    assert "lr_low=0.1 must be above 0" in panel.message.value and not panel.running

    # A sweep also trains the structure baseline, which takes no per-block rates: refused up front.
    panel.lr_low.value = 0.0
    panel.sweep_button.click()
    assert "The freeze-depth sweep also trains structure transfer runs" in panel.message.value
    assert "block_lr only apply to parameter transfer" in panel.message.value
    panel.sweep_depths.value = "0,9"
    assert "9 is deeper than this source model allows (0..4" in panel.sweep_plan_info.value
    panel.block_lr_buttons.value = "uniform"
    panel.sweep_button.click()
    assert "9 is deeper than this source model allows (0..4" in panel.message.value
    panel.sweep_depths.value = "0,two"
    assert "holds &#x27;two&#x27;; allowed: whole numbers from 0" in panel.sweep_plan_info.value
    assert not panel.running and run_dirs(source_runs_dir) == []

    # Fixed: the same panel trains.
    panel.mode_buttons.value = "feature"
    panel.cache_buttons.value = "auto"
    panel.start_button.click()
    finish(panel)
    assert panel.message.value == ""
    run = load_run(run_dirs(source_runs_dir)[0])
    assert run.status == "finished" and run.config["augment"] == "flip" and run.config["cache_features"] == "auto"


def test_sweep_values_are_parsed_and_counted() -> None:
    assert parse_sweep_values("0, 2,4", "depths", allow_all=False) == [0, 2, 4]
    assert parse_sweep_values("1,5,all", "budgets", allow_all=True) == [1, 5, None]
    assert parse_sweep_values("  ", "depths", allow_all=False) is None
    assert parse_sweep_values(" ; , ", "budgets", allow_all=True) is None
    # The rules (and words) of `config.parse_int_list`, which the CLI and papermill use too.
    with pytest.raises(workbench.WorkbenchError, match="holds 'all'; allowed: whole numbers from 0. Type the depths"):
        parse_sweep_values("0,all", "depths", allow_all=False)
    with pytest.raises(workbench.WorkbenchError, match="repeats a value"):
        parse_sweep_values("1,1", "budgets", allow_all=True)
    # A budget is labels per class: 0 is refused, with what is allowed.
    assert sweep_budgets("1, 5,ALL") == [1, 5, None]
    with pytest.raises(workbench.WorkbenchError, match="budgets='1,0' holds '0'; allowed: whole numbers from 1, or all"):
        sweep_budgets("1,0")
    with pytest.raises(workbench.WorkbenchError, match="budgets='' is empty"):
        sweep_budgets("")
    # Depth sweep: one structure run per seed, then AnB (and AnB+) per depth.
    assert count_sweep_runs("freeze_depth", [0, 2, 4], [0, 1], include_fine_tuned=True) == 2 * (1 + 3 * 2)
    assert count_sweep_runs("per_class", [1, 5, None], [0, 1, 2], ["structure", "feature"]) == 18


def test_depth_sweep_from_the_panel_draws_its_points_live_and_lists_them(source_runs_dir: Path) -> None:
    watcher = WatchSweep()
    panel = make_panel(source_runs_dir, callbacks=[watcher])
    watcher.panel = panel
    panel.sweep_depths.value = "0,4"
    panel.sweep_seeds.value = 1
    panel.sweep_fine_tuned.value = False
    assert "<b>3</b> runs" in panel.sweep_plan_info.value  # structure, then frozen at depth 0 and 4
    panel.sweep_button.click()
    assert panel.running and panel.sweep_button.disabled and panel.start_button.disabled
    panel.start_button.click()  # one job at a time
    assert "already training" in panel.message.value
    finish(panel)

    # Live: each run began with the points of the runs before it already drawn.
    assert [names for names, *_ in watcher.seen] == [[], ["structure"], ["frozen (AnB)", "structure"]]
    assert [info for _, info, *_ in watcher.seen][1].endswith("1 of 3 runs done</span>")
    assert all(start_disabled and sweep_disabled for *_, start_disabled, sweep_disabled in watcher.seen)

    sweep = panel.last_sweep
    assert not sweep.stopped and len(sweep.runs) == 4  # the structure run counts at both depths
    points = sweep.points()
    assert [(point["series"], point["freeze_depth"], point["n"]) for point in points] == [
        ("frozen (AnB)", 0, 1), ("frozen (AnB)", 4, 1), ("structure", 0, 1), ("structure", 4, 1)]
    traces = {trace.name: trace for trace in panel.sweep_figure.data}
    assert set(traces) == {"frozen (AnB)", "structure"}
    for point in points:
        trace = traces[point["series"]]
        assert trace.y[list(trace.x).index(point["freeze_depth"])] == pytest.approx(point["mean"])
        assert trace.error_y.visible
    assert panel.sweep_figure.layout.xaxis.title.text == "freeze depth"
    assert "3 of 3 runs done" in panel.sweep_info.value and panel.sweep_progress.value == 3
    assert "Sweep finished: 3 runs, 4 points" in panel.status.value
    assert panel.sweep_table.value.count("workbench-sweep-point") == 4
    # Every run is a session run: on disk, in the results table and in the report dropdown.
    assert len(run_dirs(source_runs_dir)) == 3
    assert panel.results.value.count("workbench-result'") == 3
    assert panel.report_dropdown.options == tuple(run.name for run in panel.session_runs)
    assert not panel.sweep_button.disabled and not panel.start_button.disabled and panel.stop_button.disabled
    assert [str(error) for error in panel.errors] == [  # only the refused Start; nothing failed in the thread
        "A run is already training: wait for it to finish, or press Stop first."]


def test_stop_during_a_budget_sweep_ends_it_after_the_current_run(source_runs_dir: Path) -> None:
    watcher = WatchSweep(stop_in_run=2)
    panel = make_panel(source_runs_dir, callbacks=[watcher])
    watcher.panel = panel
    panel.sweep_kind.value = "per_class"
    assert panel.sweep_depths.disabled and not panel.sweep_budgets.disabled
    panel.sweep_budgets.value = "1,2"
    panel.sweep_mode_checks["feature"].value = False
    panel.sweep_seeds.value = 1
    assert "<b>4</b> runs" in panel.sweep_plan_info.value
    panel.sweep_button.click()
    finish(panel)

    assert watcher.runs_begun == 2  # Stop landed in the second run; no third run started
    assert panel.last_sweep.stopped
    assert [run.config["mode"] for run in panel.session_runs] == ["structure", "parameter"]
    assert panel.session_runs[-1].status == "stopped"  # kept, complete, marked stopped
    assert len(run_dirs(source_runs_dir)) == 2 and panel.results.value.count("workbench-result'") == 2
    assert "Sweep stopped after 2 of 4 runs" in panel.status.value
    assert "2 of 4 runs done (stopped)" in panel.sweep_info.value
    assert {trace.name for trace in panel.sweep_figure.data} == {"structure", "parameter"}
    assert panel.sweep_figure.layout.xaxis.type == "log"
    assert "Stopped early" in panel.sweep_table.value
    assert not panel.sweep_button.disabled and panel.stop_button.disabled


# ------------------------------------------------------------------------------------------------
# Rank (scores before training) and Diagnose (drift and CKA after it)
# ------------------------------------------------------------------------------------------------


def test_rank_suggests_a_freeze_depth_beside_the_slider_and_use_it_moves_the_slider(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir, mode="feature")
    assert panel.apply_rank_button.disabled and "Rank scores every freeze depth" in panel.rank_suggestion.value
    panel.rank_button.click()
    assert panel.running and panel.rank_button.disabled and panel.start_button.disabled
    panel.start_button.click()  # one job at a time: Start waits for Rank
    assert "Ranking the blocks of source on mnist-5k:5-9 is in progress" in panel.message.value
    finish(panel)
    assert run_dirs(source_runs_dir) == []  # Rank trains nothing

    result = panel.last_rank
    depth = result["suggested_freeze_depth"]
    assert 0 <= depth <= panel.freeze_slider.max == 4
    assert [row["freeze_depth"] for row in result["cut_points"]] == [0, 1, 2, 3, 4]  # one per slider position
    assert (result["task"], result["per_class"], result["seed"]) == ("mnist-5k:5-9", 5, 0)
    assert f"<b>suggested freeze depth: {depth}</b>" in panel.rank_suggestion.value
    assert "(deepest freeze depth whose linear-probe accuracy is within" in panel.rank_suggestion.value  # the rule
    assert f"suggested freeze depth {depth}" in panel.status.value
    bars, line = panel.rank_figure.data
    assert list(bars.x) == [f"{row['freeze_depth']}: {row['block']}" for row in result["cut_points"]]
    assert list(bars.y) == pytest.approx([row["probe_accuracy"] for row in result["cut_points"]])
    assert panel.rank_section.selected_index == 0 and "25 training and" in panel.rank_details.value

    # "Use it" switches to parameter transfer (the slider's mode) and moves the slider there, away
    # from the depth the user had set for parameter transfer.
    panel.mode_buttons.value = "parameter"
    panel.freeze_slider.value = 0 if depth else 4
    panel.mode_buttons.value = "feature"
    assert not panel.apply_rank_button.disabled and panel.apply_rank_button.description == f"Use {depth}"
    panel.apply_rank_button.click()
    assert panel.mode_buttons.value == "parameter" and not panel.freeze_slider.disabled
    assert panel.freeze_slider.value == depth and f"freeze depth {depth}:" in panel.freeze_info.value
    assert panel.transfer_config().freeze_depth == depth
    assert panel.message.value == ""

    # Another seed is another label draw: the suggestion no longer applies until Rank runs again.
    panel.seed.value = 1
    assert "workbench-rank-outdated" in panel.rank_suggestion.value and "another seed" in panel.rank_suggestion.value
    assert panel.apply_rank_button.disabled
    with pytest.raises(workbench.WorkbenchError, match="computed for another seed: press Rank again"):
        panel.apply_suggestion()
    panel.seed.value = 0
    assert not panel.apply_rank_button.disabled


def test_diagnose_shows_frozen_blocks_unmoved_and_trained_blocks_moved(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir, per_class=5, epochs=1)
    panel.diagnose_button.click()  # nothing trained yet: said in the Diagnose section
    assert "No run is selected" in panel.diagnose_info.value and not panel.running
    panel.freeze_slider.value = 2
    panel.start_button.click()
    finish(panel)
    transfer_run = panel.last_run
    assert panel.report_dropdown.value == transfer_run.name
    assert "Press Diagnose" in panel.diagnose_info.value

    panel.diagnose_button.click()
    assert panel.running and panel.diagnose_button.disabled and panel.start_button.disabled
    finish(panel)
    assert panel.message.value == "" and panel.diagnose_section.selected_index == 0
    blocks = {row["block"]: row for row in panel.last_diagnosis["drift"]["blocks"]}
    assert [name for name, row in blocks.items() if row["frozen"]] == ["conv1", "conv2"]
    assert blocks["conv1"]["drift"] == 0 and blocks["conv2"]["drift"] == 0
    assert all(blocks[name]["drift"] > 0 for name in ("conv3", "dense1", "head"))
    (heatmap,) = panel.drift_figure.data
    assert list(heatmap.x) == ["conv1", "conv2", "conv3", "dense1", "head"]
    assert list(heatmap.z[0][:2]) == [0, 0] and all(value > 0 for value in heatmap.z[0][2:])
    (versus_source,) = panel.cka_figure.data
    assert versus_source.name == "vs source" and list(versus_source.x) == list(heatmap.x)
    # Frozen blocks compute exactly what the source computes: CKA 1 there.
    assert list(versus_source.y[:2]) == pytest.approx([1.0, 1.0], abs=1e-6)
    assert "frozen: conv1, conv2 (drift 0)" in panel.diagnose_info.value

    # With a structure run of the same seed in the session, CKA is also drawn against it.
    panel.mode_buttons.value = "structure"
    panel.start_button.click()
    finish(panel)
    panel.report_dropdown.value = transfer_run.name
    assert "frozen: conv1, conv2" in panel.diagnose_info.value  # the earlier diagnosis, kept
    panel.diagnose_button.click()
    finish(panel)
    assert [trace.name for trace in panel.cka_figure.data] == ["vs source", "vs structure (from scratch, s0)"]
    assert all(0 <= value <= 1 + 1e-6 for value in panel.cka_figure.data[1].y)
    assert panel.message.value == ""


def test_diagnose_on_a_pretraining_run_says_it_has_no_source(runs_dir: Path) -> None:
    panel = make_panel(runs_dir, pretrain_epochs=1, pretrain_per_class=5)
    panel.pretrain_button.click()
    finish(panel)
    assert panel.report_dropdown.value == panel.last_run.name  # the only run: its report is shown
    panel.diagnose_button.click()
    assert not panel.running  # refused before any model loads
    assert "is a pretrain run with no source model, so there is nothing to compare it with" in panel.diagnose_info.value
    assert "workbench-diagnose-problem" in panel.diagnose_info.value
    assert "Traceback" not in panel.diagnose_info.value and panel.message.value == ""
    assert panel.drift_figure.layout.annotations[0].text == "Nothing to diagnose for this run"
    assert not panel.diagnose_button.disabled and not panel.start_button.disabled


def test_the_new_head_toggle_becomes_head_init_where_a_head_sits_on_copied_features(source_runs_dir: Path) -> None:
    panel = make_panel(source_runs_dir)
    panel.head_init_buttons.value = "keras"
    assert panel.transfer_config().head_init == "keras"
    panel.mode_buttons.value = "feature"
    assert panel.transfer_config().head_init == "keras" and not panel.head_init_buttons.disabled
    panel.mode_buttons.value = "structure"  # nothing copied: the head is fresh like every other block
    assert panel.transfer_config().head_init == "zero" and panel.head_init_buttons.disabled
