"""The "Sweep" section: a freeze-depth or label-budget sweep set up in the panel and run by the Sweep
button in the worker thread (`sweeps.sweep_freeze_depth` / `sweep_label_budget`), redrawing the
sweep figure (`figures.plot_sweep`: mean ± sd per series) as each run's point comes in."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from workbench import figures
from workbench.config import RunConfig, config_from_mapping, resolve_seeds
from workbench.errors import ConfigError, SourceRunError, WorkbenchError
from workbench.experiments import mode_label
from workbench.panels.components import LABEL_STYLE, accordion, placeholder_figure, replace_figure, short_layout
from workbench.panels.previews import (
    SWEEP_NAMES,
    SweepRequest,
    budget_text,
    format_sweep_plan,
    sweep_budgets,
    sweep_depths,
    target_class_names,
    technique_stages,
)
from workbench.panels.results import ResultsPart
from workbench.panels.source import SourcePart
from workbench.panels.summaries import format_problem, format_sweep_table, muted
from workbench.panels.techniques import TechniquesPart
from workbench.panels.transfer import TransferPart
from workbench.panels.worker import Worker
from workbench.runs import Run
from workbench.sweeps import Sweep, count_sweep_runs, sweep_freeze_depth, sweep_label_budget


def failed_runs_text(failures: list[Any]) -> str:
    """' 1 run failed: NAME (reason).' for the status line (escaped), or '' (a worker of a cluster died)."""
    if not failures:
        return ""
    listed = "; ".join(f"{failure.name} ({failure.reason})" for failure in failures)
    return html.escape(f" {len(failures)} run(s) failed and are left out: {listed}.")


@dataclass
class SweepJob:
    """The state of the sweep running in the worker thread: runs started and done, the sweep so far."""

    request: SweepRequest
    started: int = 0
    done: int = 0
    sweep: Sweep | None = None


class SweepPart:
    """The sweep settings, the Sweep button, and the sweep's progress, live figure and table.

    Args:
        source, transfer, techniques, results, worker: the panel's other parts this one reads and drives.

    Attributes:
        last_sweep: the latest sweep (also one stopped early or failed part-way), or None.
    """

    EXPOSED = ("sweep_kind", "sweep_depths", "sweep_fine_tuned", "sweep_budgets", "sweep_mode_checks", "sweep_seeds",
               "sweep_plan_info", "sweep_section", "sweep_progress", "sweep_info", "sweep_figure", "sweep_table",
               "sweep_button")

    def __init__(self, source: SourcePart, transfer: TransferPart, techniques: TechniquesPart, results: ResultsPart,
                 worker: Worker) -> None:
        self.source = source
        self.transfer = transfer
        self.techniques = techniques
        self.results = results
        self.worker = worker
        self.last_sweep: Sweep | None = None
        style = LABEL_STYLE
        self.sweep_kind = widgets.ToggleButtons(
            options=[("freeze depth", "freeze_depth"), ("label budget", "per_class")], value="freeze_depth",
            description="Sweep over", style=style)
        self.sweep_depths = widgets.Text(value="", placeholder="all depths", description="Depths", style=style,
                                         layout=widgets.Layout(width="24em"), continuous_update=False,
                                         tooltip="blocks copied (and frozen for AnB), e.g. 0,2,4; empty = every depth")
        self.sweep_fine_tuned = widgets.Checkbox(value=True, description="also fine-tune every block (AnB+)",
                                                 indent=False)
        self.sweep_budgets = widgets.Text(value="1,5,25", description="Budgets", style=style,
                                          layout=widgets.Layout(width="24em"), continuous_update=False,
                                          tooltip="labels per class, e.g. 1,5,25,all")
        self.sweep_mode_checks = {mode: widgets.Checkbox(value=True, description=mode, indent=False,
                                                         layout=widgets.Layout(width="8em"))
                                  for mode in ("structure", "feature", "parameter")}
        self.sweep_seeds = widgets.IntText(value=3, description="Seeds", layout=short_layout(), style=style,
                                           tooltip="seeds 0..n-1; every point is a mean ± sd over them")
        self.sweep_plan_info = widgets.HTML()
        self.sweep_section = accordion([
            self.sweep_kind,
            widgets.HBox([self.sweep_depths, self.sweep_fine_tuned]),
            widgets.HBox([self.sweep_budgets, widgets.Label("modes"), *self.sweep_mode_checks.values()]),
            self.sweep_seeds,
            widgets.HTML(muted("The other settings above (task, budget, epochs, learning rate, "
                               "techniques as for parameter transfer) apply to every run; press Sweep below.")),
            self.sweep_plan_info,
        ], "Sweep: freeze depth or label budget")
        self.sweep_progress = widgets.IntProgress(value=0, min=0, max=1, description="Sweep", style=style,
                                                  layout=widgets.Layout(width="30em"))
        self.sweep_info = widgets.HTML(muted("No sweep yet."))
        self.sweep_figure = placeholder_figure("No sweep yet: set one up under 'Sweep' and press Sweep", "Sweep", 380)
        self.sweep_table = widgets.HTML()
        self.sweep_button = widgets.Button(description="Sweep", icon="line-chart", button_style="info",
                                           tooltip="Run the sweep set up under 'Sweep' and plot its curve live")
        for control, name in ((self.sweep_button, "sweep"), (self.sweep_info, "sweep-info"),
                              (self.sweep_table, "sweep-table")):
            control.add_class(f"workbench-{name}")

    def connect(self, wrap: Callable[[Callable], Callable]) -> None:
        """Wire the widgets to their handlers, each wrapped by `wrap` (which shows errors)."""
        self.sweep_button.on_click(wrap(lambda _: self.sweep()))
        for control in (self.sweep_kind, self.sweep_depths, self.sweep_fine_tuned, self.sweep_budgets,
                        *self.sweep_mode_checks.values(), self.sweep_seeds, self.transfer.epochs):
            control.observe(wrap(lambda _: self.show_plan()), names="value")

    # -- the request ----------------------------------------------------------------------------

    def request(self) -> SweepRequest:
        """The sweep set up under "Sweep", checked before any run starts.

        Every run of the sweep takes the panel's settings (task, budget, epochs, learning rate,
        batch size, and the techniques as they apply to parameter transfer); the sweep sets the
        mode, seed, copy and freeze depth (depth sweep) or budget (label-budget sweep) per run.

        Raises:
            WorkbenchError: no source, a bad list or seed count, or settings that one of the
                sweep's modes cannot take (e.g. per-block rates for the structure baseline).
        """
        self.source.require_selected()
        kind, swept, seeds, modes = self.settings()
        depth = self.transfer.parameter_depth
        plan = self.transfer.run_plan()  # the edited network's blocks when there are edits
        if plan is not None:
            depth = min(depth, plan.deepest)  # as the slider shows it
        values = {**self.transfer.values(), **self.techniques.values("parameter"), "mode": "parameter",
                  "freeze_depth": depth}
        if kind == "freeze_depth":
            values.update(copy_depth=None, freeze_depth=None)  # the sweep sets both per run
        base = config_from_mapping(values, kind="transfer")
        request = SweepRequest(kind, base, swept, seeds, modes, self.sweep_fine_tuned.value)
        self._check_modes(request)
        return request

    def settings(self) -> tuple[str, tuple[int | None, ...], tuple[int, ...], tuple[str, ...]]:
        """The sweep section's kind, depths or budgets, seeds and modes, each checked.

        Raises:
            WorkbenchError: a bad list, seed count or depth, or no mode ticked.
        """
        kind = self.sweep_kind.value
        seeds = tuple(resolve_seeds(self.sweep_seeds.value))
        if kind == "freeze_depth":
            if self.source.plan is None:
                raise SourceRunError("The source run's blocks are unknown (pick a source run whose model can be "
                                     "read), so there are no depths to sweep.")
            depths = sweep_depths(self.sweep_depths.value, self.transfer.run_plan())
            return kind, tuple(depths), seeds, ("structure", "parameter")
        budgets = sweep_budgets(self.sweep_budgets.value)
        modes = tuple(mode for mode, check in self.sweep_mode_checks.items() if check.value)
        if not modes:
            raise ConfigError("No mode is ticked for the label-budget sweep. Tick structure, feature and/or parameter.")
        return kind, tuple(budgets), seeds, modes

    def _check_modes(self, request: SweepRequest) -> None:
        """Build one config per mode the sweep runs, as the sweep will, so a misfit fails now, not mid-sweep."""
        base = request.base_config
        name = SWEEP_NAMES[request.kind]
        for mode in request.modes:
            try:
                config = base.replace(mode=mode, freeze_depth=base.freeze_depth if mode == "parameter" else None)
                if mode == "parameter" and self.source.plan is not None:
                    technique_stages(config, self.transfer.blocks())
            except ConfigError as error:
                raise ConfigError(
                    f"The {name} also trains {mode} transfer runs, and with these settings: {error} "
                    "In the panel: set the techniques that belong to parameter transfer only (block LRs, "
                    "unfreeze, copy blocks) back to uniform, none and all blocks for this sweep, or untick "
                    f"{mode} (label-budget sweep)."
                ) from None

    def show_plan(self) -> None:
        """Enable the settings of the chosen sweep and say how many runs it will train."""
        depth_sweep = self.sweep_kind.value == "freeze_depth"
        self.sweep_depths.disabled = self.sweep_fine_tuned.disabled = not depth_sweep
        self.sweep_budgets.disabled = depth_sweep
        for check in self.sweep_mode_checks.values():
            check.disabled = depth_sweep
        if depth_sweep and self.source.plan is None:
            self.sweep_plan_info.value = ""  # the source section already says what is missing
            return
        try:
            kind, swept, seeds, modes = self.settings()
        except WorkbenchError as error:
            self.sweep_plan_info.value = format_problem("workbench-sweep-plan-error", str(error))
            return
        runs = count_sweep_runs(kind, swept, seeds, modes, self.sweep_fine_tuned.value)
        self.sweep_plan_info.value = format_sweep_plan(kind, swept, seeds, modes, runs, self.transfer.epochs.value)

    # -- running it -----------------------------------------------------------------------------

    def sweep(self) -> None:
        """Run the sweep set up under "Sweep" in the worker thread (Sweep button).

        Each finished run joins the results table, and the sweep figure is redrawn from the
        sweep's points (mean ± sd over seeds, one line per series) as they come in. Stop stops
        the current run after its batch and starts no further run. With the WORKBENCH_CLUSTER
        environment variable set (before the panel starts), the runs train on that Dask cluster,
        their epochs still draw here, and Stop stops them there too (`engine.train_runs`).

        Raises:
            WorkbenchError: a bad setting, a missing source or a run already in progress; nothing
                starts and the panel stays usable.
        """
        self.worker.refuse_if_running()
        request = self.request()
        target_class_names(request.base_config.task)
        job = SweepJob(request)
        self.sweep_table.value = ""
        self.show_progress(job)
        self.worker.start(lambda stop_event: self._run(job, stop_event),
                          f"{SWEEP_NAMES[request.kind]} ({request.planned_runs} runs)", kind="sweep")

    def _run(self, job: SweepJob, stop_event: threading.Event) -> None:
        """The sweep's body in the worker thread; `workbench.sweeps` trains the runs, the hooks draw them."""
        request = job.request
        hooks: dict[str, Any] = {"run_callbacks": lambda config: self._callbacks(job, config),
                                 "on_run_done": lambda run, sweep: self._run_done(job, run, sweep),
                                 "stop_event": stop_event}
        try:
            if request.kind == "freeze_depth":
                job.sweep = sweep_freeze_depth(request.base_config, list(request.values), list(request.seeds),
                                               request.include_fine_tuned, **hooks)
            else:
                job.sweep = sweep_label_budget(request.base_config, list(request.values), list(request.seeds),
                                               list(request.modes), **hooks)
        finally:
            # Also after a failed run: the points so far stay drawn and listed.
            self.last_sweep = job.sweep
            self.show_progress(job, final=True)
            if job.sweep is not None:
                self.sweep_table.value = format_sweep_table(job.sweep.points(), request.x_title, job.sweep.describe(),
                                                            stopped=stop_event.is_set())
            else:
                self.sweep_table.value = format_sweep_table([], request.x_title)
        planned = request.planned_runs
        if stop_event.is_set():
            self.worker.status.value = (f"<span class='workbench-outcome'>Sweep stopped after {job.done} of {planned} "
                                        "runs; the points so far are drawn and listed below.</span>")
        else:
            self.worker.status.value = (f"<span class='workbench-outcome'>Sweep finished: {planned} runs, "
                                        f"{len(job.sweep.points())} points (mean ± sd over {len(request.seeds)} "
                                        f"seed(s)).{failed_runs_text(job.sweep.failures)}</span>")

    def _callbacks(self, job: SweepJob, config: RunConfig) -> list[Any]:
        """Callbacks of one sweep run: the status line ("sweep run k of N …") and the panel's extras."""
        job.started += 1
        depth = config.freeze_depth if config.mode == "parameter" else None
        copied = f" · copy {config.copy_depth}" if config.copy_depth is not None else ""
        description = (f"sweep run {job.started} of {job.request.planned_runs} "
                       f"({mode_label(config.mode, depth)}{copied} · {budget_text(config)} · s{config.seed})")
        return [self.worker.progress(description), *self.worker.extra_callbacks]

    def _run_done(self, job: SweepJob, run: Run, sweep: Sweep) -> None:
        """A sweep run finished: it joins the results table and the sweep figure gains its point."""
        job.done += 1
        job.sweep = sweep
        self.results.record(run)
        self.results.update(select=run.name)
        self.show_progress(job)

    def show_progress(self, job: SweepJob, final: bool = False) -> None:
        """Redraw the sweep figure from the points so far, and the "k of N runs" progress."""
        request = job.request
        planned = request.planned_runs
        points = job.sweep.points() if job.sweep is not None else []
        suffix = " (stopped)" if final and self.worker.stop_event.is_set() else ""
        title = (f"{SWEEP_NAMES[request.kind].capitalize()} on {request.base_config.task}: "
                 f"{job.done} of {planned} runs{suffix}")
        figure = figures.plot_sweep(points, request.kind, request.x_title, log_x=request.log_x, title=title)
        figure.update_layout(height=380)
        replace_figure(self.sweep_figure, figure)
        self.sweep_progress.max = max(planned, 1)
        self.sweep_progress.value = job.done
        self.sweep_info.value = (f"<span class='workbench-sweep-progress'>{job.done} of {planned} runs done{suffix}"
                                 "</span>")
