"""The panel's results: the live chart every run draws into, the table of the session's runs, and
the weight-transfer report of the run picked below it."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as widgets

from workbench import figures
from workbench.callbacks import LiveCurves
from workbench.config import RunConfig
from workbench.errors import WorkbenchError
from workbench.experiments import mode_label
from workbench.panels.components import LABEL_STYLE, make_curve_figure, placeholder_figure, replace_figure
from workbench.panels.previews import budget_text
from workbench.panels.summaries import format_results_table, result_row
from workbench.panels.worker import Worker
from workbench.runs import Run
from workbench.transfer_modes import format_transfer_report


class ResultsPart:
    """The live chart, the results table and the weight-transfer report.

    Args:
        worker: the panel's worker (Clear waits for the job to end).
        live_every_batches: also plot a train point every N batches; None plots epoch ends only.

    Attributes:
        session_runs: the runs trained since the panel opened, oldest first.
        last_run: the latest of them, or None.
        on_run_shown: called with the run whose report is shown (the Diagnose part's hook).
    """

    EXPOSED = ("curves", "clear_button", "results", "report_dropdown", "report_text", "report_figure")

    def __init__(self, worker: Worker, live_every_batches: int | None = None) -> None:
        self.worker = worker
        self.live_every_batches = live_every_batches
        self.session_runs: list[Run] = []
        self.last_run: Run | None = None
        self.on_run_shown: Callable[[Run], None] = lambda run: None
        self._runs_started = 0
        self._mode_repeats: dict[str, int] = {}
        self._extra_colors = 0
        self._updating_reports = False
        self.clear_button = widgets.Button(description="Clear chart", icon="eraser",
                                           tooltip="Remove the curves (runs stay on disk and in the table)")
        self.curves = make_curve_figure()
        self.results = widgets.HTML(value=format_results_table([]))
        self.report_dropdown = widgets.Dropdown(description="Report of", options=[], style=LABEL_STYLE,
                                                layout=widgets.Layout(width="52em"))
        self.report_text = widgets.HTML()
        self.report_figure = placeholder_figure("No run selected yet", "Weight transfer", 300)
        self.results.add_class("workbench-results-table")

    def connect(self, wrap: Callable[[Callable], Callable]) -> None:
        """Wire the widgets to their handlers, each wrapped by `wrap` (which shows errors)."""
        self.clear_button.on_click(wrap(lambda _: self.clear_chart()))
        self.report_dropdown.observe(
            wrap(lambda _: None if self._updating_reports else self.show_report()), names="value")

    def new_curves(self, config: RunConfig) -> tuple[str, LiveCurves]:
        """The label of the next transfer run ("parameter (freeze 1) · 5/class · s0 · #1") and the
        callback that draws it on the chart, in its mode's colour (distinct colours for repeats)."""
        self._runs_started += 1
        depth = config.freeze_depth if config.mode == "parameter" else None
        label = f"{mode_label(config.mode, depth)} · {budget_text(config)} · s{config.seed} · #{self._runs_started}"
        live = LiveCurves(self.curves, label=label, color=self._next_color(config.mode),
                          every_n_batches=self.live_every_batches)
        return label, live

    def clear_chart(self) -> None:
        """Remove every curve from the live chart (the runs stay in the table and on disk)."""
        if self.worker.running:
            raise WorkbenchError("A run is training: clear the chart after it finishes or is stopped.")
        self.curves.data = ()
        self._mode_repeats.clear()
        self._extra_colors = 0

    def record(self, run: Run) -> None:
        """A run finished (or stopped): it joins the session's runs."""
        self.last_run = run
        self.session_runs.append(run)

    def update(self, select: str | None) -> None:
        """Redraw the results table and the report choices, and show the report of run `select`."""
        self.results.value = format_results_table([result_row(run) for run in self.session_runs])
        self._updating_reports = True
        try:
            self.report_dropdown.options = [run.name for run in self.session_runs]
            self.report_dropdown.value = select
        finally:
            self._updating_reports = False
        self.show_report()

    def selected_run(self) -> Run | None:
        """The run picked under "Weight-transfer report", or None."""
        name = self.report_dropdown.value
        return next((run for run in self.session_runs if run.name == name), None)

    def show_report(self) -> None:
        """Draw the picked run's weight-transfer report (a pretraining run has none)."""
        run = self.selected_run()
        if run is None:
            return
        self.on_run_shown(run)
        if run.transfer_report is None:
            replace_figure(self.report_figure, figures.empty_figure(
                f"{run.name} is a pretraining run: no weights were transferred", title="Weight transfer"))
            self.report_text.value = ""
            return
        replace_figure(self.report_figure, figures.plot_transfer_report(run.transfer_report))
        self.report_text.value = (f"<details><summary>layer by layer</summary><pre style='font-size:11px'>"
                                  f"{html.escape(format_transfer_report(run.transfer_report))}</pre></details>")

    def _next_color(self, mode: str) -> str:
        """The mode's colour for its first run on the chart, then distinct colours for repeats."""
        repeats = self._mode_repeats.get(mode, 0)
        self._mode_repeats[mode] = repeats + 1
        if repeats == 0:
            return figures.MODE_COLORS[mode]
        color = figures.FALLBACK_COLORS[self._extra_colors % len(figures.FALLBACK_COLORS)]
        self._extra_colors += 1
        return color
