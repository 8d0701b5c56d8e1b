"""`TransferPanel`: the parts of the panel, composed into one widget and wired to each other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from workbench.config import ARCHITECTURES, DEFAULT_SOURCE_TASK, DEFAULT_TARGET_TASK, MODES, RunConfig
from workbench.errors import ConfigError
from workbench.fast_start import skip_slow_optional_imports
from workbench.panels.diagnose import DiagnosePart
from workbench.panels.layout import arrange
from workbench.panels.previews import SweepRequest
from workbench.panels.rank import RankPart
from workbench.panels.results import ResultsPart
from workbench.panels.source import SourcePart
from workbench.panels.structure import StructurePart
from workbench.panels.structure_preview import canonical_edits
from workbench.panels.summaries import format_outcome
from workbench.panels.sweep import SweepPart
from workbench.panels.techniques import TechniquesPart
from workbench.panels.transfer import TransferPart
from workbench.panels.worker import Worker
from workbench.presets import get_preset, preset_budgets
from workbench.runs import Run
from workbench.sweeps import Sweep


class TransferPanel:
    """The workbench's interactive panel (ipywidgets 8 and plotly FigureWidgets).

    Display it by making it the last expression of a cell (or with `IPython.display.display`).
    Widgets are public attributes, so scripts and tests can set `.value` and call `.click()`.
    Each belongs to one part (`source_part`, `structure_part` (the architecture view),
    `transfer_part`, `techniques_part`, `sweep_part`, `rank_part`, `diagnose_part`, `results_part`,
    and the `worker` with Stop, the status line and the message area); the panel exposes them all
    under their own names.

    Args:
        runs_dir: folder that holds the run directories: sources are listed from it, new runs are
            written to it. Defaults to "runs".
        source: the source run to preselect (a path or a name under `runs_dir`); None picks the
            newest pretrained run. Defaults to None.
        task: target task, `DATASET[:CLASSES]`. Defaults to "mnist-5k:5-9".
        mode: "parameter", "feature" or "structure". Defaults to "parameter".
        freeze_depth: blocks frozen in parameter mode. Defaults to 0.
        per_class: label budget per class; None or 0 takes every example. Defaults to 5.
        epochs: epochs per run. Defaults to 10.
        learning_rate: Adam learning rate. Defaults to 1e-3.
        seed: seed of the splits, budget draw and initial weights. Defaults to 0.
        batch_size: mini-batch size. Defaults to 32.
        pretrain_task: task of the "pretrain a new source" section. Defaults to "mnist-5k:0-4".
        pretrain_model: architecture to pretrain. Defaults to "seed-cnn".
        pretrain_epochs: pretraining epochs. Defaults to 5.
        pretrain_per_class: pretraining budget per class; None takes all. Defaults to None.
        live_every_batches: also plot a train point every N batches; None plots epoch ends
            only. Defaults to None.
        callbacks: extra Keras callbacks added to every run. Defaults to none.
        preset: a task-distance preset (`workbench.presets`, e.g. "cifar-far") chosen at start: it
            fills both tasks and, for the photo presets, epochs and labels per class. Defaults to None.
        data_root: the "Data root" box: a folder copy of CIFAR-10 read instead of downloading
            (`RunConfig.data_root`). Defaults to None.
        edits: structure edits to start the architecture view with, e.g. "cut conv2; add dense
            128" (`RunConfig.edits`). Defaults to none.
        grow_noise: the view's "Grow noise" box (`RunConfig.grow_noise`). Defaults to 0.
    """

    def __init__(
        self,
        runs_dir: str | Path = "runs",
        source: str | Path | None = None,
        task: str = DEFAULT_TARGET_TASK,
        mode: str = "parameter",
        freeze_depth: int = 0,
        per_class: int | None = 5,
        epochs: int = 10,
        learning_rate: float = 1e-3,
        seed: int = 0,
        batch_size: int = 32,
        pretrain_task: str = DEFAULT_SOURCE_TASK,
        pretrain_model: str = "seed-cnn",
        pretrain_epochs: int = 5,
        pretrain_per_class: int | None = None,
        live_every_batches: int | None = None,
        callbacks: Sequence[Any] = (),
        preset: str | None = None,
        data_root: str | Path | None = None,
        edits: str = "",
        grow_noise: float = 0.0,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"mode={mode!r} is not known. Allowed modes: {', '.join(MODES)}. Pass mode='parameter'.")
        if pretrain_model not in ARCHITECTURES:
            raise ConfigError(f"pretrain_model={pretrain_model!r} is not known. Allowed models: "
                              f"{', '.join(ARCHITECTURES)}. Pass pretrain_model='seed-cnn'.")
        # Before the first FigureWidget: plotly's widget imports its renderers, which import
        # nbformat and so jsonschema (3-4 s of lark parsers otherwise; workbench/fast_start.py).
        skip_slow_optional_imports()
        self.runs_dir = Path(runs_dir)
        self.live_every_batches = live_every_batches
        self.extra_callbacks = list(callbacks)
        self.worker = Worker(self._set_running, self.extra_callbacks)
        self.results_part = ResultsPart(self.worker, live_every_batches)
        self.source_part = SourcePart(self.runs_dir, self.worker, pretrain_task, pretrain_model, pretrain_epochs,
                                      pretrain_per_class, live_every_batches)
        self.techniques_part = TechniquesPart()
        self.structure_part = StructurePart(self.source_part, self.worker)
        self.transfer_part = TransferPart(self.runs_dir, self.source_part, self.structure_part, self.techniques_part,
                                          self.results_part, self.worker, task, mode, freeze_depth, per_class,
                                          epochs, learning_rate, seed, batch_size)
        self.sweep_part = SweepPart(self.source_part, self.transfer_part, self.techniques_part, self.results_part,
                                    self.worker)
        self.rank_part = RankPart(self.runs_dir, self.source_part, self.transfer_part, self.worker)
        self.diagnose_part = DiagnosePart(self.runs_dir, self.results_part, self.worker)
        self.results_part.on_run_shown = self.diagnose_part.show_placeholder
        self.structure_part.on_change = self._edits_changed
        # Every widget stays reachable as `panel.<name>`, as before the panel was split into parts.
        for part in (self.source_part, self.structure_part, self.transfer_part, self.techniques_part, self.sweep_part,
                     self.rank_part, self.diagnose_part, self.results_part):
            for name in part.EXPOSED:
                setattr(self, name, getattr(part, name))
        self.stop_button, self.status, self.message = self.worker.stop_button, self.worker.status, self.worker.message
        # The same lists as the parts': every error shown (newest last), and the runs trained here.
        self.errors: list[BaseException] = self.worker.errors
        self.session_runs: list[Run] = self.results_part.session_runs
        self.widget = arrange(self)
        self._connect()
        self.refresh_sources(select=source)
        self.transfer_part.show_task_classes()
        self.transfer_part.show_mode()
        self.data_root_text.value = str(data_root or "")
        if preset:
            self.preset_dropdown.value = get_preset(preset).name  # an unknown name fails here, naming the presets
        self.grow_noise.value = grow_noise
        if edits:
            # A spec that does not parse fails here, naming the item; one the source cannot take
            # (e.g. an unknown block) is shown in the view, as when it is typed.
            self.structure_part.set_edits(canonical_edits(edits))

    # -- composing and wiring -------------------------------------------------------------------

    def _connect(self) -> None:
        # Observers of one widget run in the order they are added: the source loads before Rank
        # rereads it, and the technique preview follows the epochs before the sweep plan does.
        wrap = self._handler
        self.worker.stop_button.on_click(wrap(lambda _: self.stop()))
        self.source_part.refresh_button.on_click(wrap(lambda _: self.refresh_sources()))
        self.source_part.pretrain_button.on_click(wrap(lambda _: self.pretrain()))
        self.source_part.source_dropdown.observe(
            wrap(lambda _: None if self.source_part.updating else self._load_source()), names="value")
        for part in (self.structure_part, self.transfer_part, self.results_part, self.rank_part, self.diagnose_part,
                     self.sweep_part):
            part.connect(wrap)
        self.transfer_part.preset_dropdown.observe(wrap(lambda _: self._fill_sweep_budgets()), names="value")

    def _fill_sweep_budgets(self) -> None:
        """A photo preset's label budgets into the sweep section (the digit presets keep the box as it is)."""
        budgets = preset_budgets(self.preset_dropdown.value)
        if budgets:
            self.sweep_budgets.value = ",".join("all" if budget is None else str(budget) for budget in budgets)

    def _edits_changed(self) -> None:
        """The architecture view's edits changed: the freeze preview, the slider and the sweep plan follow."""
        self.transfer_part.show_freeze()
        self.sweep_part.show_plan()

    def _handler(self, function: Callable[[Any], None]) -> Callable[[Any], None]:
        """Wrap a widget handler so that its exceptions appear in the panel instead of a log."""

        def handle(argument: Any = None) -> None:
            if isinstance(argument, widgets.Button):
                self.message.value = ""  # a new action: the last error no longer applies
            try:
                function(argument)
            except Exception as error:  # noqa: BLE001 - every error is shown, none is dropped
                self.worker.show_error(error)

        return handle

    def _set_running(self, running: bool) -> None:
        for control in (self.start_button, self.sweep_button, self.pretrain_button, self.source_dropdown,
                        self.refresh_button, self.clear_button, self.rank_button, self.diagnose_button):
            control.disabled = running
        if not running and self.structure_part.active:
            # Called in the worker thread as its job ends: the preview of the edits, paused while the
            # job ran, is built now (it also keeps Start disabled if the edits are refused).
            try:
                self.transfer_part.show_freeze(job_ended=True)
            except Exception as error:  # noqa: BLE001 - the thread must go on to release its lock
                self.worker.show_error(error, context="Could not preview the edited network")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- values → configs -----------------------------------------------------------------------

    def transfer_values(self) -> dict[str, Any]:
        """The transfer settings as `RunConfig` fields (what `config_from_mapping` takes)."""
        return self.transfer_part.values()

    def technique_values(self, mode: str | None = None) -> dict[str, Any]:
        """The technique settings as `RunConfig` fields for `mode` (defaults to the picked mode);
        see `TechniquesPart.values`."""
        return self.techniques_part.values(mode or self.mode_buttons.value)

    def transfer_config(self) -> RunConfig:
        """The validated transfer `RunConfig` of the current widget values (raises `WorkbenchError`)."""
        return self.transfer_part.config()

    def sweep_request(self) -> SweepRequest:
        """The sweep set up under "Sweep", checked before any run starts; see `SweepPart.request`."""
        return self.sweep_part.request()

    def pretrain_values(self) -> dict[str, Any]:
        """The pretraining settings as `RunConfig` fields."""
        return self.source_part.pretrain_values(self.batch_size.value)

    def pretrain_config(self) -> RunConfig:
        """The validated pretraining `RunConfig` of the pretrain section."""
        return self.source_part.pretrain_config(self.batch_size.value)

    def rank_settings(self) -> dict[str, Any]:
        """What Rank scores, checked; see `RankPart.settings`."""
        return self.rank_part.settings()

    # -- actions (the buttons) ------------------------------------------------------------------

    def start(self) -> None:
        """Start a transfer run in the worker thread (Start button); see `TransferPart.start`."""
        self.transfer_part.start()

    def sweep(self) -> None:
        """Run the sweep set up under "Sweep" in the worker thread (Sweep button); see `SweepPart.sweep`."""
        self.sweep_part.sweep()

    def pretrain(self) -> None:
        """Pretrain a new source model in the worker thread (Pretrain button); it becomes the source."""
        self.source_part.pretrain(self.batch_size.value, self._pretrain_done)

    def rank(self) -> None:
        """Score every freeze depth of the source in the worker thread (Rank button); see `RankPart.rank`."""
        self.rank_part.rank()

    def apply_suggestion(self) -> None:
        """Move the freeze-depth slider to Rank's suggested depth ("Use it" button)."""
        self.rank_part.apply_suggestion()

    def diagnose(self) -> None:
        """Weight drift and CKA per block of the selected run (Diagnose button); see `DiagnosePart.diagnose`."""
        self.diagnose_part.diagnose()

    def stop(self) -> None:
        """Ask the running job to stop after its current batch (Stop button)."""
        self.worker.stop()

    def clear_chart(self) -> None:
        """Remove every curve from the live chart (the runs stay in the table and on disk)."""
        self.results_part.clear_chart()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current job's thread ends; return False if it is still running after `timeout`."""
        return self.worker.wait(timeout)

    def refresh_sources(self, select: str | Path | None = None) -> None:
        """Rescan the runs folder for runs that hold a model, and select `select` (or keep the current)."""
        has_sources = self.source_part.refresh_options(select)
        self._load_source()
        if not has_sources:
            self.source_part.show_no_sources()

    def _load_source(self) -> None:
        """Read the selected source's blocks, and update everything that depends on them."""
        self.source_part.load()
        self.transfer_part.fit_to_source()
        self.techniques_part.update_copy_options(self.source_part.plan)
        self.structure_part.show_source()
        self.transfer_part.show_mode()
        self.sweep_part.show_plan()

    def _pretrain_done(self, run: Run) -> None:
        self.results_part.record(run)
        # Keep the report the user is reading; with none picked yet, show the new run's.
        self.results_part.update(select=self.report_dropdown.value or run.name)
        self.refresh_sources(select=run.path)
        self.status.value = format_outcome(run) + " It is now the selected source."

    # -- state ----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether a job (a run, a sweep, a Rank or a diagnosis) is in progress in the worker thread."""
        return self.worker.running

    @property
    def last_run(self) -> Run | None:
        """The latest run trained in this panel, or None."""
        return self.results_part.last_run

    @property
    def last_sweep(self) -> Sweep | None:
        """The latest sweep run in this panel, or None."""
        return self.sweep_part.last_sweep

    @property
    def last_rank(self) -> dict[str, Any] | None:
        """The latest Rank result (`diagnostics.score_blocks`), or None."""
        return self.rank_part.last_rank

    @property
    def last_diagnosis(self) -> dict[str, Any] | None:
        """The latest diagnosis ({"run", "label", "source", "drift", "cka"}), or None."""
        return self.diagnose_part.last_diagnosis


def panel(runs_dir: str | Path = "runs", **options: Any) -> TransferPanel:
    """Build the transfer panel; make it the last expression of a cell to display it.

    Args:
        runs_dir: folder of the run directories (sources are listed from it, runs written to it).
            Defaults to "runs".
        **options: the other `TransferPanel` arguments (task, per_class, epochs, mode, …).

    Returns:
        The panel.
    """
    return TransferPanel(runs_dir=runs_dir, **options)
