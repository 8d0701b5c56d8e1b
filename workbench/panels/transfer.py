"""The target task and the transfer itself: task, budget and training settings, the mode, the
freeze-depth slider with its live preview (of the edited network when the architecture view holds
edits), and Start."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from workbench.config import MODE_DESCRIPTIONS, MODES, RunConfig, config_from_mapping
from workbench.errors import ConfigError, SourceRunError, WorkbenchError
from workbench.models import Block
from workbench.panels.components import LABEL_STYLE, short_layout, wide_layout
from workbench.panels.previews import (
    LayerPlan,
    format_freeze_preview,
    preview_transfer,
    target_class_names,
    technique_stages,
)
from workbench.panels.results import ResultsPart
from workbench.panels.source import SourcePart
from workbench.panels.structure import StructurePart
from workbench.panels.structure_preview import without_cut_layers
from workbench.panels.summaries import format_outcome, format_problem, muted
from workbench.panels.techniques import TechniquesPart
from workbench.panels.worker import Worker
from workbench.presets import PRESETS, SOURCE, TARGET, get_preset
from workbench.runs import Run, load_run


class TransferPart:
    """Target task, training settings, mode, freeze depth and Start.

    Args:
        runs_dir: the folder new runs are written to.
        source, structure, techniques, results, worker: the panel's other parts this one reads and drives.
        task, mode, freeze_depth, per_class, epochs, learning_rate, seed, batch_size: initial
            values (see `TransferPanel`).

    Attributes:
        parameter_depth: the freeze depth the user chose for parameter transfer; the other modes
            fix the slider, and it returns when parameter transfer is picked again (or when edits
            that had fewer blocks are undone).
    """

    EXPOSED = ("task_text", "task_info", "per_class", "epochs", "learning_rate", "seed", "batch_size", "mode_buttons",
               "mode_info", "freeze_slider", "freeze_info", "start_button", "preset_dropdown", "preset_info")

    def __init__(self, runs_dir: Path, source: SourcePart, structure: StructurePart, techniques: TechniquesPart,
                 results: ResultsPart, worker: Worker, task: str, mode: str, freeze_depth: int,
                 per_class: int | None, epochs: int, learning_rate: float, seed: int, batch_size: int) -> None:
        self.runs_dir = runs_dir
        self.source = source
        self.structure = structure
        self._fitting = False  # True while the panel itself moves the slider (no user choice to record)
        self._copy_names: list[str] | None = None  # the blocks the copy-depth choices name
        self.techniques = techniques
        self.results = results
        self.worker = worker
        self.parameter_depth = int(freeze_depth or 0)
        wide, short, style = wide_layout(), short_layout(), LABEL_STYLE
        self.task_text = widgets.Text(value=task, description="Target task", layout=wide, style=style,
                                      continuous_update=False)
        self.task_info = widgets.HTML()
        self.per_class = widgets.IntText(value=per_class or 0, description="Labels/class", layout=short, style=style)
        self.epochs = widgets.IntText(value=epochs, description="Epochs", layout=short, style=style)
        self.learning_rate = widgets.FloatText(value=learning_rate, description="Learning rate", layout=short,
                                               style=style)
        self.seed = widgets.IntText(value=seed, description="Seed", layout=short, style=style)
        self.batch_size = widgets.IntText(value=batch_size, description="Batch size", layout=short, style=style)
        self.mode_buttons = widgets.ToggleButtons(
            options=list(MODES), value=mode, description="Mode", style=style,
            tooltips=[MODE_DESCRIPTIONS[name] for name in MODES],
        )
        self.mode_info = widgets.HTML()
        self.freeze_slider = widgets.IntSlider(value=0, min=0, max=1, description="Freeze depth", style=style,
                                               continuous_update=True, layout=wide)
        self.freeze_info = widgets.HTML()
        self.start_button = widgets.Button(description="Start", icon="play", button_style="success",
                                           tooltip="Train a transfer run with these settings")
        self.preset_dropdown = widgets.Dropdown(
            options=[("none: type the tasks", "")] + [(f"{item.name}: {item.source_task} → {item.target_task}", name)
                                                      for name, item in PRESETS.items()],
            value="", description="Preset", layout=wide, style=style)
        self.preset_info = widgets.HTML()
        for control, name in ((self.task_text, "task"), (self.per_class, "per-class"), (self.epochs, "epochs"),
                              (self.learning_rate, "learning-rate"), (self.seed, "seed"), (self.mode_buttons, "mode"),
                              (self.freeze_slider, "freeze-slider"), (self.start_button, "start"),
                              (self.freeze_info, "freeze"), (self.preset_dropdown, "preset")):
            control.add_class(f"workbench-{name}")

    def connect(self, wrap: Callable[[Callable], Callable]) -> None:
        """Wire the widgets to their handlers, each wrapped by `wrap` (which shows errors)."""
        self.start_button.on_click(wrap(lambda _: self.start()))
        self.task_text.observe(wrap(lambda _: self.show_task_classes()), names="value")
        self.preset_dropdown.observe(wrap(lambda _: self.apply_preset()), names="value")
        self.mode_buttons.observe(wrap(lambda _: self.show_mode()), names="value")
        self.freeze_slider.observe(wrap(lambda _: self._slider_moved()), names="value")
        for control in (*self.techniques.controls, self.epochs, self.learning_rate):
            control.observe(wrap(lambda _: self.show_techniques()), names="value")
        # What transfer_model reads of the techniques changes the edited network's preview too.
        for control in (self.techniques.copy_depth, self.techniques.batchnorm_buttons, self.techniques.head_init_buttons):
            control.observe(wrap(lambda _: self.show_freeze() if self.structure.active else None), names="value")

    # -- values → configs -----------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The transfer settings as `RunConfig` fields (what `config_from_mapping` takes)."""
        mode = self.mode_buttons.value
        return {
            "source": self.source.selected,
            "task": self.task_text.value.strip(),
            "data_root": self.source.data_root,
            "mode": mode,
            "freeze_depth": self.freeze_slider.value if mode == "parameter" else None,
            "per_class": self.per_class.value or None,
            "epochs": self.epochs.value,
            "learning_rate": self.learning_rate.value,
            "seed": self.seed.value,
            "batch_size": self.batch_size.value,
            "runs_dir": str(self.runs_dir),
            **self.techniques.values(mode),
            **self.structure.values(),
        }

    def config(self) -> RunConfig:
        """The validated transfer `RunConfig` of the current widget values.

        Raises:
            WorkbenchError: no source picked, or a bad value (named, with the fix).
        """
        self.source.require_selected()
        return config_from_mapping(self.values(), kind="transfer")

    # -- Start ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start a transfer run with the current settings in the worker thread (Start button).

        Raises:
            WorkbenchError: a bad setting, a missing source or a run already in progress; nothing
                starts and the panel stays usable.
        """
        self.worker.refuse_if_running()
        config = self.config()
        if self.structure.problem:  # the architecture view shows it; Start is disabled meanwhile
            raise ConfigError(self.structure.problem)
        target_class_names(config.task)
        if self.source.plan is not None:
            technique_stages(config, self.blocks())  # e.g. lr_low above the learning rate: refused now
        source = load_run(config.source, self.runs_dir)
        if not source.model_path.is_file():
            raise SourceRunError(f"Source run {str(source.path)!r} holds no model.keras. Pick another source run.")
        label, live = self.results.new_curves(config)
        self.worker.train(config, [live], label, self._done)

    def _done(self, run: Run) -> None:
        self.results.record(run)
        self.results.update(select=run.name)
        self.worker.status.value = format_outcome(run)

    def apply_preset(self) -> None:
        """Fill both tasks (target here, source in the pretrain section) from the chosen preset, and for
        the photo presets their epochs and labels per class; every box stays editable afterwards."""
        name = self.preset_dropdown.value
        if not name:
            self.preset_info.value = ""
            return
        chosen = get_preset(name)
        source, target = chosen.run_parameters(SOURCE), chosen.run_parameters(TARGET)
        self.source.pretrain_task.value = source["task"]
        self.source.pretrain_epochs.value = source.get("epochs", self.source.pretrain_epochs.value)
        if "epochs" in source:  # a sized preset: its source budget too (0 = every example)
            self.source.pretrain_per_class.value = source.get("per_class") or 0
        self.epochs.value = target.get("epochs", self.epochs.value)
        self.per_class.value = target.get("per_class", self.per_class.value)
        self.task_text.value = target["task"]
        needs_copy = " Without internet, set Data root to a CIFAR-10 folder copy." if "cifar" in name else ""
        self.preset_info.value = muted(html.escape(f"{chosen.description} Sizes: {chosen.describe_sizes()}."
                                                   f"{needs_copy}"))

    # -- display updates ------------------------------------------------------------------------

    def fit_to_source(self) -> None:
        """Let the freeze slider reach every depth of the selected source."""
        plan = self.source.plan
        self._copy_names = None  # the techniques part lists the new source's blocks
        if plan is not None:
            self._fit_slider(plan.deepest, min(self.freeze_slider.value, plan.deepest))

    def show_task_classes(self) -> None:
        """Check the typed task and list its classes (the freeze preview's head follows their number)."""
        self.show_freeze()  # the head's size follows the number of target classes
        try:
            names = target_class_names(self.task_text.value)
        except WorkbenchError as error:
            self.task_info.value = format_problem("workbench-task-error", str(error))
            return
        if names is None:
            self.task_info.value = muted("folder dataset: classes are checked when the run starts")
        else:
            self.task_info.value = muted(f"{len(names)} classes: "
                                         f"{html.escape(', '.join(names[:12]))}{' …' if len(names) > 12 else ''}")

    def show_mode(self) -> None:
        """Describe the mode and set the slider: the user's depth in parameter mode, the mode's own otherwise."""
        mode = self.mode_buttons.value
        self.mode_info.value = f"<i>{html.escape(mode)}</i>: {html.escape(MODE_DESCRIPTIONS[mode])}"
        plan = self.source.plan
        if plan is None:
            self.freeze_slider.disabled = True
            self.freeze_info.value = muted("Pick or pretrain a source run to see its blocks.")
            self.show_techniques()
            return
        # The mode fixes the depth outside parameter mode; the slider shows it (`show_freeze` sets
        # it), and the user's own depth is kept for when parameter transfer is picked again.
        self.freeze_slider.disabled = mode != "parameter"
        self.show_freeze()

    def _slider_moved(self) -> None:
        if not self._fitting and self.mode_buttons.value == "parameter":
            self.parameter_depth = self.freeze_slider.value
        self.show_freeze()

    def _fit_slider(self, deepest: int, depth: int) -> None:
        """Set the slider's range and value without recording them as the user's choice."""
        self._fitting = True
        try:
            self.freeze_slider.max = deepest
            self.freeze_slider.value = depth
        finally:
            self._fitting = False

    def show_freeze(self, job_ended: bool = False) -> None:
        """Preview which blocks the depth freezes and how many parameters still train.

        With edits, the preview is the edited network's (built by the architecture view), and the
        slider's range follows its blocks.

        Args:
            job_ended: called as the worker's job ends (in its thread): the edited network may be
                built now, and Start is about to be enabled. Defaults to False.
        """
        plan = self.source.plan
        if plan is None or self._fitting:
            return
        mode = self.mode_buttons.value
        try:
            names = target_class_names(self.task_text.value)
        except WorkbenchError:
            names = None
        classes = len(names) if names else None
        if self.structure.active:
            report = self._edited_preview(classes or plan.source_classes, job_ended)
            if report is None:
                self.show_techniques()
                return
        else:
            self.structure.show_report(None)
            fixed = {"feature": plan.deepest, "structure": 0}
            self._fit_slider(plan.deepest, fixed.get(mode, min(self.parameter_depth, plan.deepest)))
            report = preview_transfer(plan, mode, self.freeze_slider.value if mode == "parameter" else None, classes)
        self.freeze_info.value = format_freeze_preview(report)
        self.start_button.disabled = self.worker.running and not job_ended
        self._offer_copy_depths()
        self.show_techniques()

    def _offer_copy_depths(self) -> None:
        """Name the run's blocks (the edited network's) in the copy-depth choices, when they change."""
        plan = self.run_plan()
        if plan is not None and plan.block_names != self._copy_names:
            self._copy_names = plan.block_names
            self.techniques.update_copy_options(plan)

    def _edited_preview(self, classes: int, job_ended: bool) -> dict[str, Any] | None:
        """The edited network's report (slider fitted to its blocks), or None with the reason shown."""
        if self.worker.running and not job_ended:
            self.structure.show_paused()
            return None
        mode = self.mode_buttons.value
        values = {**self.values(), "freeze_depth": self.parameter_depth if mode == "parameter" else None}
        try:
            report = self.structure.preview(values, classes)
        except WorkbenchError as error:
            self.structure.show_problem(error)
            self.freeze_info.value = muted("The freeze preview follows the edited network: fix the edits "
                                           "under Architecture.")
            self.start_button.disabled = True
            return None
        self._fit_slider(len(report["blocks"]) - 1, report["freeze_depth"])
        self.structure.show_report(report)
        return without_cut_layers(report)

    def blocks(self) -> tuple[Block, ...]:
        """The blocks the run will have: the edited network's, or the source's without edits."""
        if self.structure.active and self.structure.blocks is not None:
            return self.structure.blocks
        return self.source.plan.blocks if self.source.plan is not None else ()

    def run_plan(self) -> LayerPlan | None:
        """The source's `LayerPlan` with the blocks the run will have (the edited network's when
        there are edits): what the technique plan, copy depths and sweep depths count."""
        plan = self.source.plan
        return None if plan is None else dataclasses.replace(plan, blocks=self.blocks())

    def show_techniques(self) -> None:
        """Enable the technique widgets that the mode allows and preview what training will do (on the
        edited network's blocks when there are edits; the edits themselves are the view's to check)."""
        self.techniques.show(self.mode_buttons.value, self.run_plan(),
                             lambda: {**self.values(), "edits": None, "grow_noise": None})
