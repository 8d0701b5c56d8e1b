"""The panel's source: the dropdown of runs that hold a model, and the "Pretrain a new source model"
section that trains one."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from workbench.callbacks import LiveCurves
from workbench.config import ARCHITECTURES, RunConfig, config_from_mapping
from workbench.errors import SourceRunError
from workbench.panels.components import LABEL_STYLE, accordion, make_curve_figure, short_layout, wide_layout
from workbench.panels.previews import LayerPlan, layer_plan, target_class_names
from workbench.panels.summaries import muted
from workbench.panels.worker import Worker
from workbench.runs import Run, list_runs, load_run


def source_runs(runs_dir: str | Path) -> list[Run]:
    """Runs in `runs_dir` that hold a model, newest first (pretrained sources before transfers)."""
    runs = [run for run in list_runs(runs_dir) if run.model_path.is_file()]
    runs.reverse()
    return sorted(runs, key=lambda run: run.config.get("kind") != "pretrain")


def describe_source(run: Run) -> str:
    """One line for the source dropdown: name, what it was trained on, architecture, test accuracy."""
    kind = run.config.get("kind", "?")
    accuracy = run.test_accuracy
    shown = f"test acc {accuracy:.3f}" if math.isfinite(accuracy) else "no test accuracy"
    return f"{run.name} · {kind} {run.config.get('task', '?')} · {run.manifest.get('architecture', '?')} · {shown}"


class SourcePart:
    """The source run picker and the pretraining section.

    Args:
        runs_dir: the folder sources are listed from and new runs are written to.
        worker: the panel's worker (pretraining runs in its thread; errors go to its message area).
        pretrain_task, pretrain_model, pretrain_epochs, pretrain_per_class: the pretraining
            section's initial values (see `TransferPanel`).
        live_every_batches: also plot a train point every N batches; None plots epoch ends only.

    Attributes:
        plan: the selected source's `LayerPlan`, or None when none is selected or it cannot be read.
        updating: True while the dropdown's options are replaced (its value changes by itself then).
    """

    EXPOSED = ("source_dropdown", "refresh_button", "source_info", "pretrain_task", "pretrain_model",
               "pretrain_per_class", "pretrain_epochs", "pretrain_learning_rate", "pretrain_seed", "pretrain_name",
               "pretrain_button", "pretrain_curves", "pretrain_section", "data_root_text")

    def __init__(self, runs_dir: Path, worker: Worker, pretrain_task: str, pretrain_model: str, pretrain_epochs: int,
                 pretrain_per_class: int | None, live_every_batches: int | None = None) -> None:
        self.runs_dir = runs_dir
        self.worker = worker
        self.live_every_batches = live_every_batches
        self.plan: LayerPlan | None = None
        self.updating = False
        self._plans: dict[str, LayerPlan] = {}
        self._build(pretrain_task, pretrain_model, pretrain_epochs, pretrain_per_class)

    def _build(self, pretrain_task: str, pretrain_model: str, pretrain_epochs: int,
               pretrain_per_class: int | None) -> None:
        wide, short, style = wide_layout(), short_layout(), LABEL_STYLE
        self.source_dropdown = widgets.Dropdown(description="Source run", options=[], style=style,
                                                layout=widgets.Layout(width="52em"))
        self.refresh_button = widgets.Button(icon="refresh", tooltip="Rescan the runs folder for source runs",
                                             layout=widgets.Layout(width="3em"))
        self.source_info = widgets.HTML()
        self.pretrain_task = widgets.Text(value=pretrain_task, description="Task", layout=wide, style=style,
                                          continuous_update=False)
        self.pretrain_model = widgets.Dropdown(options=list(ARCHITECTURES), value=pretrain_model, description="Model",
                                               layout=wide, style=style)
        self.pretrain_per_class = widgets.IntText(value=pretrain_per_class or 0, description="Labels/class",
                                                  tooltip="0 takes every example", layout=short, style=style)
        self.pretrain_epochs = widgets.IntText(value=pretrain_epochs, description="Epochs", layout=short, style=style)
        self.pretrain_learning_rate = widgets.FloatText(value=1e-3, description="Learning rate", layout=short,
                                                        style=style)
        self.pretrain_seed = widgets.IntText(value=0, description="Seed", layout=short, style=style)
        self.pretrain_name = widgets.Text(value="", placeholder="optional, e.g. source", description="Run name",
                                          layout=wide, style=style)
        self.pretrain_button = widgets.Button(description="Pretrain", icon="graduation-cap", button_style="primary",
                                              tooltip="Train a new source model on this task")
        self.pretrain_curves = make_curve_figure("Pretraining: accuracy and loss per epoch")
        # Every run the panel starts (pretrain, transfer, sweep, Rank) reads cifar10 from here when it is set.
        self.data_root_text = widgets.Text(value="", description="Data root", layout=wide, style=style,
                                           placeholder="optional: a CIFAR-10 folder copy (train/, test/) instead "
                                                       "of downloading", continuous_update=False)
        self.data_root_text.add_class("workbench-data-root")
        self.pretrain_section = accordion([
            widgets.HBox([self.pretrain_task, self.pretrain_model]),
            widgets.HBox([self.pretrain_per_class, self.pretrain_epochs, self.pretrain_learning_rate,
                          self.pretrain_seed]),
            widgets.HBox([self.pretrain_name, self.pretrain_button]),
            self.pretrain_curves,
        ], "Pretrain a new source model")
        self.source_dropdown.add_class("workbench-source")
        self.pretrain_button.add_class("workbench-pretrain")

    @property
    def selected(self) -> str | None:
        """The path of the selected source run, or None."""
        return self.source_dropdown.value

    def require_selected(self) -> None:
        """Raise `SourceRunError`, saying how to get a source, when none is selected."""
        if not self.source_dropdown.value:
            raise SourceRunError(
                f"No source run is selected, and {str(self.runs_dir)!r} holds no run with a model. "
                "Pretrain one under 'Pretrain a new source model' (or press the refresh button after "
                "`workbench pretrain --name source`)."
            )

    def refresh_options(self, select: str | Path | None = None) -> bool:
        """Rescan the runs folder and select `select` (or keep the current); False when there is none.

        The caller loads the selected source (`load`) afterwards.
        """
        options = [(describe_source(run), str(run.path)) for run in source_runs(self.runs_dir)]
        wanted = None
        if select is not None:
            candidates = {str(Path(select)), str(self.runs_dir / str(select))}
            wanted = next((value for _, value in options if value in candidates), None)
            if wanted is None:
                self.worker.show_error(SourceRunError(
                    f"Source run {str(select)!r} is not a run with a model in {str(self.runs_dir)!r}. "
                    "Pick one from the list or pretrain one below."))
        current = self.source_dropdown.value
        if wanted is None:
            wanted = current if current in [value for _, value in options] else (options[0][1] if options else None)
        # Changing the options makes the dropdown pick a value by itself; load only the final one.
        self.updating = True
        try:
            self.source_dropdown.options = options
            self.source_dropdown.value = wanted
        finally:
            self.updating = False
        return bool(options)

    def load(self) -> LayerPlan | None:
        """Read the selected source's blocks for the previews (each model is loaded once per panel)."""
        path = self.source_dropdown.value
        self.plan = None
        try:
            if path and path not in self._plans:
                self._plans[path] = layer_plan(load_run(path).load_model())
            self.plan = self._plans.get(path) if path else None
        except Exception as error:  # noqa: BLE001 - an unreadable source is shown; the panel stays usable
            self.source_info.value = ""
            self.worker.show_error(error, context=f"Could not read the model of {path}")
        if self.plan is not None:
            blocks = ", ".join(self.plan.block_names)
            self.source_info.value = muted(f"{html.escape(self.plan.architecture)}, "
                                           f"{len(self.plan.blocks)} blocks: {html.escape(blocks)}")
        return self.plan

    def show_no_sources(self) -> None:
        """Say that the runs folder holds no source yet, and open the pretraining section."""
        self.source_info.value = (f"<span style='color:#9A6700'>{html.escape(str(self.runs_dir))} holds no run with "
                                  "a model yet: pretrain a source model below.</span>")
        self.pretrain_section.selected_index = 0

    @property
    def data_root(self) -> str | None:
        """The "Data root" box: a folder copy of CIFAR-10 (checked by `RunConfig`), or None to download."""
        return self.data_root_text.value.strip() or None

    def pretrain_values(self, batch_size: int) -> dict[str, Any]:
        """The pretraining settings as `RunConfig` fields (the batch size is the panel's)."""
        return {
            "task": self.pretrain_task.value.strip(),
            "data_root": self.data_root,
            "model": self.pretrain_model.value,
            "per_class": self.pretrain_per_class.value or None,
            "epochs": self.pretrain_epochs.value,
            "learning_rate": self.pretrain_learning_rate.value,
            "seed": self.pretrain_seed.value,
            "name": self.pretrain_name.value.strip() or None,
            "batch_size": batch_size,
            "runs_dir": str(self.runs_dir),
        }

    def pretrain_config(self, batch_size: int) -> RunConfig:
        """The validated pretraining `RunConfig` of the pretrain section."""
        return config_from_mapping(self.pretrain_values(batch_size), kind="pretrain")

    def pretrain(self, batch_size: int, on_done: Callable[[Run], None]) -> None:
        """Pretrain a new source model in the worker thread, drawing its curves in this section.

        Raises:
            WorkbenchError: a bad setting or a job already in progress; nothing starts.
        """
        self.worker.refuse_if_running()
        config = self.pretrain_config(batch_size)
        target_class_names(config.task)
        label = f"pretrain {config.model} · {config.task}"
        live = LiveCurves(self.pretrain_curves, label=label, every_n_batches=self.live_every_batches)
        self.worker.train(config, [live], label, on_done)
