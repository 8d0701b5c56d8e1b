"""Diagnose, beside the weight-transfer report: for the selected run, how far each block's weights
moved from the source (`figures.plot_drift_heatmap`) and how similar each block's representation
stayed, by linear CKA against the source model and, when the session holds one, the structure
(scratch) run of the same seed (`figures.plot_cka_by_block`)."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from workbench import figures
from workbench.diagnostics import cka_for_run, diagnose_run, run_label, source_run_of
from workbench.errors import WorkbenchError
from workbench.panels.components import accordion, figure_box, placeholder_figure, replace_figure
from workbench.panels.results import ResultsPart
from workbench.panels.summaries import format_diagnosis_summary, muted
from workbench.panels.worker import Worker
from workbench.runs import Run, structure_reference

# Test images used for CKA in the Diagnose view: enough for stable values, a second or two on a CPU.
DIAGNOSE_EXAMPLES = 300
FIGURE_TITLES = ("Weight drift", "Linear CKA per block")


class DiagnosePart:
    """The Diagnose button and section: weight drift and CKA per block of the run picked in the results.

    Args:
        runs_dir: the folder the runs and their sources are read from.
        results, worker: the panel's other parts this one reads and drives.

    Attributes:
        last_diagnosis: the latest diagnosis ({"run", "label", "source", "drift", "cka"}), or None.
    """

    EXPOSED = ("diagnose_button", "diagnose_structure", "diagnose_info", "drift_figure", "cka_figure",
               "diagnose_section")

    def __init__(self, runs_dir: Path, results: ResultsPart, worker: Worker) -> None:
        self.runs_dir = runs_dir
        self.results = results
        self.worker = worker
        self.last_diagnosis: dict[str, Any] | None = None
        self._diagnoses: dict[str, dict[str, Any]] = {}
        self.diagnose_button = widgets.Button(description="Diagnose", icon="stethoscope",
                                              tooltip="Weight drift and CKA per block of the selected run, "
                                                      "against its source model")
        self.diagnose_structure = widgets.Checkbox(
            value=True, indent=False, description="also compare with the structure run of the same seed, if any",
            layout=widgets.Layout(width="40em"))
        self.diagnose_info = widgets.HTML(muted("Pick a transfer run above and press Diagnose."))
        self.drift_figure = placeholder_figure("No run diagnosed yet", "Weight drift", 300)
        self.cka_figure = placeholder_figure("No run diagnosed yet", "Linear CKA per block", 340)
        self.diagnose_section = accordion([
            self.diagnose_structure,
            self.diagnose_info,
            figure_box(self.drift_figure, "workbench-drift"),
            figure_box(self.cka_figure, "workbench-cka"),
        ], "Diagnose: weight drift and CKA per block of the selected run")
        self.diagnose_button.add_class("workbench-diagnose")
        self.diagnose_info.add_class("workbench-diagnose-info")

    def connect(self, wrap: Callable[[Callable], Callable]) -> None:
        """Wire the widgets to their handlers, each wrapped by `wrap` (which shows errors)."""
        self.diagnose_button.on_click(wrap(lambda _: self.diagnose()))

    def diagnose(self) -> None:
        """Weight drift and CKA per block of the run picked under "Weight-transfer report" (Diagnose button).

        The models load and the activations are computed in the worker thread. A run that cannot be
        diagnosed (a pretraining run has no source; a source that is gone) is explained in the
        Diagnose section rather than failing.

        Raises:
            WorkbenchError: a job already in progress.
        """
        self.worker.refuse_if_running()
        self.diagnose_section.selected_index = 0
        run = self.results.selected_run()
        if run is None:
            self.show_problem(None, WorkbenchError(
                "No run is selected under 'Weight-transfer report': train a transfer run (Start), pick it there "
                "and press Diagnose."))
            return
        try:
            source_run_of(run, self.runs_dir)  # a pretraining run, or a source that is gone: say so now
        except WorkbenchError as error:
            self.show_problem(run, error)
            return
        reference = structure_reference(run, self.results.session_runs) if self.diagnose_structure.value else None
        compared = "the source" + (f" and the structure run {reference.name}" if reference is not None else "")
        self.diagnose_info.value = muted(f"Diagnosing {html.escape(run.name)}: weight drift "
                                         f"and CKA against {html.escape(compared)}…")
        self.worker.start(lambda stop_event: self._run(run, reference, stop_event),
                          f"diagnosing {run.name}", kind="diagnose")

    def show(self, result: Mapping[str, Any]) -> None:
        """Draw a diagnosis: the selected run's drift on top, other diagnosed runs of its source below."""
        others = [other["drift"] for name, other in self._diagnoses.items()
                  if name != result["run"] and other["source"] == result["source"]]
        source, label = figures.plain_text(result["source"]), figures.plain_text(result["label"])
        drift = figures.plot_drift_heatmap([result["drift"], *others],
                                           title=f"Weight drift from the source {source}, per block")
        replace_figure(self.drift_figure, drift)
        cka = figures.plot_cka_by_block(result["cka"], title=f"Linear CKA per block: {label}")
        cka.update_layout(height=340)
        replace_figure(self.cka_figure, cka)
        self.diagnose_info.value = format_diagnosis_summary(result)

    def show_problem(self, run: Run | None, error: BaseException) -> None:
        """Explain in the Diagnose section why a run cannot be diagnosed (no traceback: a user error)."""
        self.worker.errors.append(error)
        what = "Diagnose" if run is None else f"Cannot diagnose {run.name}"
        self.diagnose_info.value = (f"<div class='workbench-diagnose-problem' style='color:#9A6700'><b>"
                                    f"{html.escape(what)}</b>: {html.escape(str(error))}</div>")
        self._show_empty_figures("Nothing to diagnose for this run")

    def show_placeholder(self, run: Run) -> None:
        """A run not diagnosed yet: its cached result if any, else a hint to press Diagnose."""
        cached = self._diagnoses.get(run.name)
        if cached is not None:
            self.show(cached)
            return
        self.diagnose_info.value = muted(f"Press Diagnose for the weight drift and CKA of {html.escape(run.name)}.")
        self._show_empty_figures(f"Press Diagnose for {run.name}")

    def _show_empty_figures(self, text: str) -> None:
        for widget, title in zip((self.drift_figure, self.cka_figure), FIGURE_TITLES):
            replace_figure(widget, figures.empty_figure(text, title=title))

    def _run(self, run: Run, reference: Run | None, stop_event: threading.Event) -> None:
        """The Diagnose body in the worker thread: drift and CKA against the source (and the structure run)."""
        status = self.worker.status
        status.value = html.escape(f"Diagnosing {run.name}: loading the models…")
        try:
            diagnosis = diagnose_run(run, max_examples=DIAGNOSE_EXAMPLES, runs_dir=self.runs_dir)
            curves = [{**diagnosis["cka"], "label": "vs source"}]
            if reference is not None:
                status.value = html.escape(f"Diagnosing {run.name}: CKA against the structure run…")
                versus = cka_for_run(run, reference, max_examples=DIAGNOSE_EXAMPLES, runs_dir=self.runs_dir)
                curves.append({**versus, "label": f"vs structure (from scratch, s{reference.config.get('seed', 0)})"})
        except WorkbenchError as error:
            self.show_problem(run, error)
            status.value = f"Could not diagnose {html.escape(run.name)}: see the Diagnose section."
            return
        if stop_event.is_set():
            self.diagnose_info.value = "<span style='color:#9A6700'>Diagnosis stopped: nothing new is shown.</span>"
            status.value = "Diagnosis stopped."
            return
        result = {"run": run.name, "label": run_label(run), "source": diagnosis["drift"]["source"],
                  "drift": diagnosis["drift"], "cka": curves}
        self._diagnoses[run.name] = result
        self.last_diagnosis = result
        if self.results.report_dropdown.value == run.name:
            self.show(result)
        status.value = f"<span class='workbench-outcome'>Diagnosed {html.escape(run.name)}.</span>"
