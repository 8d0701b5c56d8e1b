"""What the report notebooks call, so that the notebooks themselves hold no function definitions.

A notebook in `notebooks/` is a `parameters` cell, a call to `prepare_notebook()`, calls into the
workbench API, figures from `workbench.figures` and a little prose. Everything with logic in it
lives here, where it is tested: the figure renderer for static reports, tables, per-epoch log
lines, sample predictions, the source-run fallback and the `metrics.json` sidecar.

Figures are shown through the `workbench_report` plotly renderer (see `ReportRenderer`): it emits
the figure as `text/html` (which nbconvert copies into the report) *and* as plotly's own MIME type
(which JupyterLab draws interactively). plotly ≥ 6 would otherwise pick `plotly_mimetype` alone
inside a kernel, and the HTML report would come out with blank figures.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

from workbench.errors import SourceRunError
from workbench.reports import format_table_html, format_value  # noqa: F401 - re-exported for notebooks
from workbench.runs import Run, load_run

# Before TensorFlow loads (nothing here imports it at import time, so notebooks that only draw
# figures start fast): its C++ start-up logging would otherwise land in reports.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPORT_RENDERER = "workbench_report"
METRICS_FILE = "metrics.json"
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
DEFAULT_FIGURE_HEIGHT = 480


class ReportRenderer(MimetypeRenderer):
    """A plotly renderer whose output survives papermill and nbconvert.

    Each figure becomes one display bundle with two representations:

    * `text/html`: a `<div>` plus a `Plotly.newPlot(...)` call holding the figure data, without
      plotly.js (the report template embeds plotly.js once per page) and without MathJax (which
      plotly's own HTML renderers load from a CDN);
    * `application/vnd.plotly.v1+json`: the figure for JupyterLab's plotly extension.

    nbconvert's HTML exporter ranks `text/html` above every other type present, so reports carry
    the HTML version. Figure element ids count up per kernel (`workbench-figure-1`, ...), so
    re-running a notebook produces the same HTML.
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config = dict(config or {"responsive": True, "displaylogo": False})
        # plotly renders with a shallow copy of the renderer, so the count lives in a shared object.
        self.figure_numbers = itertools.count(1)

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, Any]:
        """Return `{"text/html": ..., "application/vnd.plotly.v1+json": ...}` for one figure."""
        number = next(self.figure_numbers)
        height = (fig_dict.get("layout") or {}).get("height") or DEFAULT_FIGURE_HEIGHT
        figure_html = pio.to_html(
            fig_dict,
            config=self.config,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            div_id=f"workbench-figure-{number}",
            default_width="100%",
            # A percentage height inside an output cell of automatic height collapses to nothing.
            default_height=f"{int(height)}px",
            validate=False,
        )
        figure_json = json.loads(pio.to_json(fig_dict, validate=False, remove_uids=False))
        figure_json["config"] = dict(self.config)
        return {"text/html": figure_html, PLOTLY_MIMETYPE: figure_json}


def prepare_notebook() -> None:
    """Set up a notebook kernel for a static report. Call it once, right after the parameters cell.

    Registers `ReportRenderer` as plotly's default renderer (so a figure left as the last
    expression of a cell, or `.show()`n, lands in the HTML report with its data), and quiets
    TensorFlow's Python warnings (retracing notices), which would otherwise clutter every report.
    """
    pio.renderers[REPORT_RENDERER] = ReportRenderer()
    pio.renderers.default = REPORT_RENDERER
    for name in ("tensorflow", "absl"):
        # A filter, not a level: TensorFlow resets its logger to INFO (and to stdout, which the
        # report keeps) when it first loads in an interactive kernel, after this has run.
        logger = logging.getLogger(name)
        if not any(isinstance(item, _ErrorsOnly) for item in logger.filters):
            logger.addFilter(_ErrorsOnly())


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


# ------------------------------------------------------------------------------------------------
# Tables and text
# ------------------------------------------------------------------------------------------------


def table(rows: Sequence[Mapping[str, Any]], caption: str | None = None) -> Any:
    """Rows of dicts as a displayable HTML table (see `workbench.reports.format_table_html`)."""
    from IPython.display import HTML

    return HTML(format_table_html(rows, caption))


def markdown(text: str) -> Any:
    """Text as displayable Markdown, for prose that quotes computed numbers."""
    from IPython.display import Markdown

    return Markdown(text)


def describe_tasks(
    source_task: str, target_task: str, per_class: int | None, source_per_class: int | None = None,
    validation_split: float = 0.1, seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per task (source, target): classes and the sizes of its train/validation/test splits.

    Loading the splits here also checks both tasks before any training starts.

    Raises:
        DataError: for an unknown dataset or class, or a budget larger than a class has.
    """
    from workbench.data import prepare_task

    rows = []
    for role, task, budget in (("source", source_task, source_per_class), ("target", target_task, per_class)):
        data = prepare_task(task, budget, validation_split, seed)
        summary = data.summary()
        rows.append({
            "role": role,
            "task": task,
            "classes": ", ".join(data.class_names),
            "labels per class": "all" if budget is None else budget,
            "train": summary["train_examples"],
            "validation": summary["validation_examples"],
            "test": summary["test_examples"],
        })
    return rows


# ------------------------------------------------------------------------------------------------
# Training progress
# ------------------------------------------------------------------------------------------------


def epoch_log(label: str) -> Any:
    """A Keras callback that prints one line per epoch, like Keras' `verbose=2`, labelled.

    Under papermill each line is a stream output that `--log-output` forwards to the terminal, so
    the person running `workbench report` sees progress; `verbose=1` progress bars would flood
    the report instead.

    Args:
        label: text in front of every line, e.g. "pretrain" or "parameter seed 0".
    """
    return _epoch_log_class()(label)


@functools.cache
def _epoch_log_class() -> type:
    # Built on first use so that importing this module does not load TensorFlow.
    import keras

    class EpochLog(keras.callbacks.Callback):
        def __init__(self, label: str) -> None:
            super().__init__()
            self.label = label
            self.epochs: int | None = None

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.epochs = (self.params or {}).get("epochs")

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            print(format_epoch_line(self.label, epoch + 1, self.epochs, logs or {}), flush=True)

    return EpochLog


def format_epoch_line(label: str, epoch: int, epochs: int | None, logs: Mapping[str, Any]) -> str:
    """`"pretrain epoch 2/5: loss 0.3120, accuracy 0.912, val_loss ..."` (missing keys left out)."""
    of = f"/{epochs}" if epochs else ""
    shown = [f"{key} {float(logs[key]):.4f}" for key in ("loss", "accuracy", "val_loss", "val_accuracy") if key in logs]
    return f"{label} epoch {epoch}{of}: " + ", ".join(shown)


def epoch_logs_for(config: Any) -> list[Any]:
    """`run_callbacks` for `workbench.compare`: an `epoch_log` labelled with the run's mode and seed."""
    return [epoch_log(f"{config.mode} seed {config.seed}")]


def print_run_summary(run: Run) -> None:
    """`on_run_done` for `workbench.compare`: one line per finished run."""
    summary = run.summary()
    print(
        f"{summary['mode']} seed {summary['seed']}: {_epochs(summary['epochs'])}, test accuracy "
        f"{summary['test_accuracy']:.3f} ({summary['seconds']:.1f} s, {summary['status']})",
        flush=True,
    )


# ------------------------------------------------------------------------------------------------
# Runs and results
# ------------------------------------------------------------------------------------------------


def ensure_source_run(source_run: str, runs_dir: str, **pretrain_parameters: Any) -> Run:
    """Load the source run, or pretrain it under that name when it does not exist yet.

    The transfer notebook normally reuses the run that `01_pretrain_source` made; when it runs
    alone (or that notebook failed), it trains its own source instead of failing.

    Args:
        source_run: a run directory, or a run name under `runs_dir`.
        runs_dir: folder holding run directories.
        **pretrain_parameters: `workbench.pretrain` parameters used only when pretraining
            (task, epochs, per_class, learning_rate, seed, ...).

    Returns:
        The source run.
    """
    from workbench.api import pretrain

    try:
        run = load_run(source_run, runs_dir)
        print(f"Using source run {run.path} (test accuracy {run.test_accuracy:.3f}).", flush=True)
        return run
    except SourceRunError:
        name = Path(str(source_run)).name
        print(f"Source run {source_run!r} not found in {runs_dir!r}: pretraining it now as {name!r}.", flush=True)
        return pretrain(name=name, runs_dir=runs_dir, overwrite=True,
                        callbacks=[epoch_log("pretrain")], **pretrain_parameters)


def sample_predictions(run: Run, count: int = 16, seed: int = 0) -> dict[str, Any]:
    """Predict `count` test images of the run's task with its model, chosen reproducibly by `seed`.

    Returns:
        Keyword arguments for `workbench.figures.plot_sample_predictions`: images (uint8),
        true_labels, predicted_labels and class_names.
    """
    from workbench.data import make_pipeline, prepare_task

    config = run.config
    data = prepare_task(config["task"], config.get("per_class"), config.get("validation_split", 0.1),
                        config.get("seed", 0))
    images, labels = data.test
    chosen = np.sort(np.random.default_rng(seed).choice(len(labels), size=min(count, len(labels)), replace=False))
    model = run.load_model()
    input_shape = tuple(int(size) for size in model.input_shape[1:])
    logits = model.predict(make_pipeline(images[chosen], labels[chosen], input_shape, 64), verbose=0)
    return {
        "images": images[chosen],
        "true_labels": [int(label) for label in labels[chosen]],
        "predicted_labels": [int(label) for label in logits.argmax(axis=1)],
        "class_names": list(data.class_names),
    }


def histories_by_label(runs: Sequence[Run]) -> dict[str, list[dict[str, Any]]]:
    """Each run's history keyed "mode seed N", for overlaid learning curves in mode colours."""
    return {f"{run.summary()['mode']} seed {run.config.get('seed')}": run.history for run in runs}


def run_for_mode(runs: Sequence[Run], mode: str) -> Run | None:
    """The first run of a transfer mode (lowest seed first, as a comparison runs them)."""
    return next((run for run in runs if run.config.get("mode") == mode), None)


def plot_mode_transfer_report(runs: Sequence[Run], mode: str) -> Any:
    """`figures.plot_transfer_report` for the first run of `mode`, titled with the mode and seed.

    Returns:
        The figure, or an empty figure saying that no run of that mode exists.
    """
    from workbench.experiments import mode_label
    from workbench.figures import empty_figure, plot_transfer_report

    run = run_for_mode(runs, mode)
    if run is None or not run.transfer_report:
        return empty_figure(f"No {mode} transfer run to report on", title="Weight transfer")
    report = run.transfer_report
    figure = plot_transfer_report(report)
    label = mode_label(mode, report.get("freeze_depth"))
    counts = str(figure.layout.title.text).partition(": ")[2]
    figure.update_layout(title_text=f"{label[:1].upper()}{label[1:]} transfer, seed {run.config.get('seed')}: {counts}")
    return figure


def comparison_rows(comparison: Any) -> list[dict[str, Any]]:
    """The comparison as table rows: mode, freeze depth, mean ± sd, n and per-seed values."""
    return [
        {
            "mode": row["label"],
            "freeze depth": row["freeze_depth"],
            "test accuracy (mean)": row["mean"],
            "sd": row["sd"],
            "n (seeds)": row["n"],
            "per seed": row["values"],
        }
        for row in comparison.rows()
    ]


def comparison_metrics(comparison: Any) -> dict[str, Any]:
    """Key numbers of a comparison for `metrics.json`: accuracy per mode and the gain over scratch.

    `gain_over_structure` is each mode's mean test accuracy minus structure transfer's (the
    from-scratch baseline): positive means the transfer helped.
    """
    rows = {row["mode"]: row for row in comparison.rows()}
    accuracy = {mode: {"mean": row["mean"], "sd": row["sd"], "n": row["n"], "values": row["values"]}
                for mode, row in rows.items()}
    metrics: dict[str, Any] = {"test_accuracy": accuracy}
    finite = {mode: row["mean"] for mode, row in rows.items() if not math.isnan(row["mean"])}
    if finite:
        metrics["best_mode"] = max(finite, key=finite.get)
    if "structure" in finite:
        metrics["gain_over_structure"] = {mode: mean - finite["structure"]
                                          for mode, mean in finite.items() if mode != "structure"}
    return metrics


def record_metrics(output_dir: str | Path, **values: Any) -> None:
    """Merge key numbers into `<output_dir>/metrics.json`, the sidecar the report index reads.

    Each call adds to (or replaces keys of) what earlier calls in the same folder wrote, so a
    notebook can record numbers as it goes and a failure later keeps the earlier ones. NaN is
    written as null.

    Args:
        output_dir: the notebook's output folder (its `output_dir` parameter).
        **values: JSON-ready numbers, strings, lists and dicts.

    Returns nothing, so that a call at the end of a cell adds no output to the report.
    """
    from workbench.runs import write_json

    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / METRICS_FILE
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(_plain(values))
    write_json(path, current)


def _epochs(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def _plain(value: Any) -> Any:
    """numpy scalars and arrays, tuples and paths → plain JSON types."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def run_metrics(run: Run) -> dict[str, Any]:
    """Key numbers of one run for `metrics.json`: test accuracy and loss, epochs, examples, time."""
    summary = run.summary()
    return {
        "test_accuracy": run.test_accuracy,
        "test_loss": run.metrics.get("test_loss"),
        "best_val_accuracy": run.metrics.get("best_val_accuracy"),
        "epochs": summary["epochs"],
        "train_examples": run.manifest.get("data", {}).get("train_examples"),
        "train_seconds": summary["seconds"],
        "status": run.status,
        "run": str(run.path),
    }


def describe_run(run: Run) -> Any:
    """A Markdown sentence with a run's test accuracy, its test-set size and best validation accuracy."""
    metrics = run.metrics
    best = metrics.get("best_val_accuracy")
    validation = f" (best validation accuracy {best:.3f})" if best is not None else ""
    return markdown(
        f"Test accuracy on the {metrics.get('test_examples', '?')} held-out test images of "
        f"`{run.config.get('task')}`: **{run.test_accuracy:.3f}**{validation}; "
        f"{_epochs(len(run.history))}, status {run.status}."
    )
