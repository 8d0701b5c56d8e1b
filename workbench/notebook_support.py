"""What the report notebooks call, so that the notebooks themselves hold no function definitions.

A notebook in `notebooks/` is a `parameters` cell, a call to `prepare_notebook()`, calls into the
workbench API, figures from `workbench.figures` and a little prose. Everything with logic in it
lives here, where it is tested: the figure renderer for static reports, tables, per-epoch log
lines, sample predictions, the source-run fallback, task-distance presets, the statistics tables
of comparisons and sweeps (every number as mean ± sd with its n, every "beats structure" as a
paired difference with a confidence interval) and the `metrics.json` sidecar.

Figures are shown through the `workbench_report` plotly renderer (see `ReportRenderer`): it emits
the figure as `text/html` (which nbconvert copies into the report) *and* as plotly's own MIME type
(which JupyterLab draws interactively). plotly ≥ 6 would otherwise pick `plotly_mimetype` alone
inside a kernel, and the HTML report would come out with blank figures.
"""

from __future__ import annotations

import functools
import html
import itertools
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

from workbench.errors import SourceRunError
from workbench.fast_start import skip_slow_optional_imports
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
    skip_slow_optional_imports()  # before plotly's renderers import nbformat (workbench/fast_start.py)
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
    """Text as displayable Markdown, for prose that quotes computed numbers.

    nbconvert passes raw HTML in Markdown through to the report as it is, and this prose quotes
    user-supplied strings (tasks, folder paths, run names), so `&`, `<` and `>` outside code spans
    are escaped: a name such as `<img src=x onerror=alert(1)>` shows as typed. Quote a value as
    code with `code_span`.
    """
    from IPython.display import Markdown

    return Markdown(escape_markdown_html(text))


def escape_markdown_html(text: str) -> str:
    """Escape `&`, `<` and `>` in Markdown text, leaving code spans (which Markdown escapes itself) alone."""
    # re.split with a group alternates text (even indices) and backtick runs (odd indices); a code
    # span runs from a backtick run to the next run of the same length.
    parts = re.split(r"(`+)", str(text))
    escaped: list[str] = []
    index = 0
    while index < len(parts):
        part = parts[index]
        if index % 2:
            closing = next((later for later in range(index + 2, len(parts), 2) if parts[later] == part), None)
            if closing is not None:
                escaped.append("".join(parts[index:closing + 1]))
                index = closing + 1
                continue
            escaped.append(part)
        else:
            escaped.append(html.escape(part, quote=False))
        index += 1
    return "".join(escaped)


def code_span(value: Any) -> str:
    """`value` as a Markdown code span that its own backticks cannot end early."""
    text = str(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


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

    The transfer notebooks normally reuse the run that `01_pretrain_source` made; when one runs
    alone (or that notebook failed), it trains its own source instead of failing. When the run
    exists but learned another task than `task` (a preset with its own source task), the source
    is pretrained (or reused) under `<source_run>-<task>` instead, leaving the shared run alone.

    Args:
        source_run: a run directory, or a run name under `runs_dir`.
        runs_dir: folder holding run directories.
        **pretrain_parameters: `workbench.pretrain` parameters used only when pretraining
            (task, epochs, per_class, learning_rate, seed, ...).

    Returns:
        The source run.
    """
    from workbench.api import pretrain

    task = pretrain_parameters.get("task")
    name = Path(str(source_run)).name
    try:
        run = load_run(source_run, runs_dir)
    except SourceRunError:
        print(f"Source run {source_run!r} not found in {runs_dir!r}: pretraining it now as {name!r}.", flush=True)
        return pretrain(name=name, runs_dir=runs_dir, overwrite=True,
                        callbacks=[epoch_log("pretrain")], **pretrain_parameters)
    if task is None or run.config.get("task") == task:
        print(f"Using source run {run.path} (test accuracy {run.test_accuracy:.3f}).", flush=True)
        return run
    own_name = f"{name}-{_slug(task)}"
    try:
        own = load_run(own_name, runs_dir)
        if own.config.get("task") == task:
            print(f"Using source run {own.path} for source task {task} (test accuracy {own.test_accuracy:.3f}).",
                  flush=True)
            return own
    except SourceRunError:
        pass
    print(f"Source run {run.path} learned {run.config.get('task')}, not {task}: pretraining {own_name!r} now.",
          flush=True)
    return pretrain(name=own_name, runs_dir=runs_dir, overwrite=True,
                    callbacks=[epoch_log("pretrain")], **pretrain_parameters)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-") or "task"


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
    from-scratch baseline): positive means the transfer helped. `difference_vs_structure` is the
    same difference paired by seed, with sd, n and the 95% interval (`low`, `high`).
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
        # The same gain paired by seed, with its spread, n and 95% interval: "does X beat structure?"
        paired = [row for row in comparison.paired_differences("structure") if row["n"]]
        metrics["difference_vs_structure"] = {row["mode"]: _difference_summary(row) for row in paired}
        metrics["difference_vs_structure_95%_CI"] = {row["mode"]: format_interval(row) for row in paired}
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
        f"{code_span(run.config.get('task'))}: **{run.test_accuracy:.3f}**{validation}; "
        f"{_epochs(len(run.history))}, status {run.status}."
    )


# ------------------------------------------------------------------------------------------------
# Task-distance presets
# ------------------------------------------------------------------------------------------------


def choose_tasks(preset: str | None, source_task: str, target_task: str) -> dict[str, str]:
    """The tasks a sweep notebook uses: a named task-distance preset's, or the ones given.

    Args:
        preset: a name from `workbench.presets.PRESETS` ("near", "far"); empty or None keeps
            `source_task` and `target_task`.
        source_task, target_task: the notebook's own task parameters.

    Returns:
        source_task, target_task, preset (the name, "" for none) and description (Markdown
        saying where the tasks came from).

    Raises:
        ConfigError: for an unknown preset name, listing the known ones.
    """
    from workbench.presets import describe_presets, get_preset

    if preset is None or not str(preset).strip():
        return {
            "source_task": source_task, "target_task": target_task, "preset": "",
            "description": (f"Source task {code_span(source_task)} → target task {code_span(target_task)}, as "
                            "given. The task-distance presets (`-p preset near` or `-p preset far`) replace both:\n\n"
                            + describe_presets()),
        }
    chosen = get_preset(preset)
    return {
        "source_task": chosen.source_task, "target_task": chosen.target_task, "preset": chosen.name,
        "description": (f"Task-distance preset **{chosen.name}**: source task `{chosen.source_task}` → target task "
                        f"`{chosen.target_task}` (replacing `source_task` and `target_task`).\n\n"
                        f"{chosen.description}"),
    }


# ------------------------------------------------------------------------------------------------
# Numbers with their spread: mean ± sd (n), paired differences with confidence intervals
# ------------------------------------------------------------------------------------------------


def format_mean_sd(summary: Mapping[str, Any], signed: bool = False, with_n: bool = True, digits: int = 3) -> str:
    """`{"mean", "sd", "n"}` as text: "0.812 ± 0.020 (n=3)"; "n/a (n=0)" when nothing was measured.

    A single value has no spread, so with n=1 the sd is left out ("0.812 (n=1)") rather than
    shown as a misleading ± 0.000.

    Args:
        summary: a dict with mean, sd and n (as `workbench.statistics.summarize` returns).
        signed: write the mean with its sign (for differences and gains). Defaults to False.
        with_n: append "(n=k)". Defaults to True.
        digits: decimals of mean and sd. Defaults to 3.
    """
    mean, sd, n = _float(summary.get("mean")), _float(summary.get("sd")), int(summary.get("n") or 0)
    suffix = f" (n={n})" if with_n else ""
    if not math.isfinite(mean):
        return f"n/a{suffix}"
    text = f"{mean:+.{digits}f}" if signed else f"{mean:.{digits}f}"
    if math.isfinite(sd) and n > 1:
        text += f" ± {sd:.{digits}f}"
    return text + suffix


def format_interval(difference: Mapping[str, Any]) -> str:
    """A paired difference's confidence interval: "[+0.010, +0.090]", or why there is none."""
    low, high = _float(difference.get("low")), _float(difference.get("high"))
    if math.isfinite(low) and math.isfinite(high):
        return f"[{low:+.3f}, {high:+.3f}]"
    return "none: needs n ≥ 2 seeds" if int(difference.get("n") or 0) < 2 else "n/a"


def verdict(difference: Mapping[str, Any], baseline: str = "structure") -> str:
    """What a paired difference lets one say: beats, worse than, or not distinguishable from the baseline."""
    n = int(difference.get("n") or 0)
    if n < 2:
        return "undecided: no interval from fewer than two seeds, run more seeds"
    confidence = round(100 * float(difference.get("confidence", 0.95)))
    if _float(difference.get("low")) > 0:
        return f"beats {baseline} ({confidence}% CI above 0)"
    if _float(difference.get("high")) < 0:
        return f"worse than {baseline} ({confidence}% CI below 0)"
    return f"not distinguishable from {baseline} (CI contains 0)"


def difference_clause(difference: Mapping[str, Any], baseline: str = "structure") -> str:
    """A paired difference in words: "+0.096 ± 0.020 vs structure at the same seed, 95% CI
    [+0.050, +0.140], n=3: beats structure (95% CI above 0)"."""
    n = int(difference.get("n") or 0)
    interval = f", 95% CI {format_interval(difference)}" if n > 1 else ""
    return (f"{format_mean_sd(difference, signed=True, with_n=False)} vs {baseline} at the same seed{interval}, "
            f"n={n}: {verdict(difference, baseline)}")


def paired_difference_rows(comparison: Any, baseline: str = "structure") -> list[dict[str, Any]]:
    """Table rows for "mode X beats structure": the mean paired difference (same seed), its sd, the
    95% t-interval, n and the verdict, one row per mode."""
    labels = {row["mode"]: row["label"] for row in comparison.rows()}
    return [
        {
            "mode": labels.get(row["mode"], row["mode"]),
            f"test accuracy − {baseline} (mean ± sd)": format_mean_sd(row, signed=True, with_n=False),
            "95% CI": format_interval(row),
            "n (seed pairs)": row["n"],
            "verdict": verdict(row, baseline),
        }
        for row in comparison.paired_differences(baseline)
    ]


def describe_paired_differences(comparison: Any, baseline: str = "structure") -> Any:
    """One Markdown sentence per mode: its paired difference from the baseline with CI, n and verdict."""
    lines = [f"- **{row['mode']}**: {difference_clause(row, baseline)}." for row in comparison.paired_differences(baseline)]
    if not lines:
        return markdown(f"No mode ran alongside {baseline} at the same seed, so there is no paired difference.")
    return markdown("\n".join(lines))


TRANSFER_METRIC_NAMES = (
    ("jumpstart", "jumpstart (validation accuracy after epoch 1, minus structure's)"),
    ("asymptotic_gain", "asymptotic gain (final test accuracy, minus structure's)"),
    ("transfer_ratio", "transfer ratio (area under the validation curve, relative to structure's)"),
    ("threshold", "threshold (validation accuracy to reach)"),
    ("epochs_to_threshold", "epochs to threshold"),
    ("seconds_to_threshold", "seconds to threshold"),
)
_SIGNED_METRICS = ("jumpstart", "asymptotic_gain", "transfer_ratio")
_METRIC_DIGITS = {"epochs_to_threshold": 2, "seconds_to_threshold": 2}


def transfer_metric_rows(comparison: Any, threshold: float | None = None,
                         baseline: str = "structure") -> list[dict[str, Any]]:
    """Taylor & Stone's transfer metrics as a table: one row per metric, one column per mode
    (and the baseline's own time to threshold), every cell "mean ± sd (n=k)".

    n can differ between cells: a seed whose run never reached the threshold has no time to it.

    Args:
        comparison: a `Comparison`.
        threshold: validation accuracy for time to threshold; None takes 90% of the baseline's
            best at each seed. Defaults to None.
        baseline: the reference mode. Defaults to "structure".
    """
    metrics = comparison.transfer_metrics(baseline, threshold)
    labels = {row["mode"]: row["label"] for row in comparison.rows()}
    rows = []
    for key, title in TRANSFER_METRIC_NAMES:
        row: dict[str, Any] = {"metric": title}
        for entry in metrics:
            row[labels.get(entry["mode"], entry["mode"])] = format_mean_sd(
                entry[key], signed=key in _SIGNED_METRICS, digits=_METRIC_DIGITS.get(key, 3))
        baseline_key = f"baseline_{key}"
        own = next((entry[baseline_key] for entry in metrics if baseline_key in entry), None)
        if key == "threshold" and metrics:
            own = metrics[0]["threshold"]  # the same per seed for every mode: set by the baseline
        row[f"{baseline} (itself)"] = (format_mean_sd(own, digits=_METRIC_DIGITS.get(key, 3)) if own is not None
                                       else "— (the reference)")
        rows.append(row)
    return rows


SUMMARY_TRANSFER_METRICS = ("jumpstart", "asymptotic_gain", "transfer_ratio", "epochs_to_threshold")


def transfer_metrics_summary(comparison: Any, threshold: float | None = None,
                             baseline: str = "structure") -> dict[str, Any]:
    """The headline transfer metrics for `metrics.json` (and so the report index): per mode,
    jumpstart, asymptotic gain, transfer ratio and epochs to threshold, each as {mean, sd, n}."""
    return {entry["mode"]: {key.replace("_", " "): entry[key] for key in SUMMARY_TRANSFER_METRICS}
            for entry in comparison.transfer_metrics(baseline, threshold)}


# ------------------------------------------------------------------------------------------------
# Sweeps: freeze depth and label budget
# ------------------------------------------------------------------------------------------------

BASELINE_SERIES = "structure"


def print_sweep_run(run: Run, sweep: Any) -> None:
    """`on_run_done` for the sweeps: one line per finished run, with the count so far."""
    summary = run.summary()
    print(f"[{len({item.name for item in sweep.runs})}] {run.name}: test accuracy {summary['test_accuracy']:.3f} "
          f"({_epochs(summary['epochs'])}, {summary['seconds']:.1f} s, {summary['status']})", flush=True)


def sweep_points(sweep: Any) -> list[dict[str, Any]]:
    """`sweep.points()` with the series in the order they ran (baseline first), not alphabetical,
    so legends and tables read structure, then the transfer series."""
    order = list(dict.fromkeys(coordinate["series"] for coordinate in sweep.coordinates))
    return sorted(sweep.points(), key=lambda point: (order.index(point["series"]), point["x"]))


def sweep_differences(sweep: Any, baseline: str = BASELINE_SERIES, confidence: float = 0.95) -> list[dict[str, Any]]:
    """Each sweep point minus the baseline at the same x and seed: mean, sd, n and a t-interval.

    Seeds without a baseline run at that x are left out of the pairs (n says how many remain).

    Returns:
        One dict per non-baseline point: series, x, the sweep's x key, mean, sd, n, low, high,
        confidence, significant.
    """
    from workbench.statistics import paired_difference

    points = sweep_points(sweep)
    reference = {point["x"]: dict(zip(point["seeds"], point["values"])) for point in points
                 if point["series"] == baseline}
    differences = []
    for point in points:
        if point["series"] == baseline:
            continue
        base = reference.get(point["x"], {})
        pairs = [(value, base[seed]) for seed, value in zip(point["seeds"], point["values"]) if seed in base]
        result = paired_difference([value for value, _ in pairs], [value for _, value in pairs], confidence)
        differences.append({"series": point["series"], "x": point["x"], sweep.kind: point["x"], "baseline": baseline,
                            **result})
    return differences


def sweep_rows(sweep: Any, baseline: str = BASELINE_SERIES) -> list[dict[str, Any]]:
    """The sweep as table rows: series, x, test accuracy mean ± sd, n, difference from the baseline
    at the same seed with its 95% CI, and the per-seed values.

    In a freeze-depth sweep the baseline does not depend on n (one run per seed, drawn at every
    n), so it gets one row.
    """
    differences = {(row["series"], row["x"]): row for row in sweep_differences(sweep, baseline)}
    x_title = "blocks copied (n)" if sweep.kind == "freeze_depth" else sweep.x_title
    rows = []
    for point in sweep_points(sweep):
        is_baseline = point["series"] == baseline
        if is_baseline and sweep.kind == "freeze_depth":
            if any(row["series"] == baseline for row in rows):
                continue
            x_text: Any = "— (nothing copied)"
        else:
            x_text = _format_x(point["x"])
        difference = differences.get((point["series"], point["x"]))
        rows.append({
            "series": point["series"],
            x_title: x_text,
            "test accuracy (mean ± sd)": format_mean_sd(point, with_n=False),
            "n (seeds)": point["n"],
            f"− {baseline}, same seed (mean [95% CI])":
                "— (the baseline)" if difference is None else
                f"{format_mean_sd(difference, signed=True, with_n=False)} {format_interval(difference)}",
            "per seed": point["values"],
        })
    return rows


def plot_depth_sweep(sweep: Any, title: str | None = None) -> Any:
    """Yosinski's figure: test accuracy (mean ± sd over seeds) against the number of copied blocks."""
    from workbench.figures import plot_sweep

    figure = plot_sweep(sweep_points(sweep), "freeze_depth", "blocks copied from the source (n)",
                        title=title or f"Target test accuracy against blocks copied (mean ± sd, n={len(sweep.seeds)} "
                                       f"seed{'s' if len(sweep.seeds) != 1 else ''} per point)")
    figure.update_xaxes(dtick=1)  # n counts blocks: whole numbers only
    return figure


def plot_budget_sweep(sweep: Any, title: str | None = None) -> Any:
    """The data-efficiency curve: test accuracy (mean ± sd over seeds) against labels per class, log x."""
    from workbench.figures import plot_sweep

    return plot_sweep(sweep_points(sweep), "per_class", "labels per class (log scale)", log_x=True,
                      title=title or f"Data efficiency: test accuracy against labels per class (mean ± sd, "
                                     f"n={len(sweep.seeds)} seed{'s' if len(sweep.seeds) != 1 else ''} per point)")


def plot_sweep_differences(sweep: Any, baseline: str = BASELINE_SERIES, title: str | None = None) -> Any:
    """Each series minus the baseline at the same seed, against the swept value, with 95% intervals.

    A point whose interval stays above the dashed zero line is a setting where the transfer beats
    the baseline by more than seed noise. Series keep the colours of the sweep figure; with a
    single seed there is no interval and the points stand alone.

    Returns:
        One line per non-baseline series with asymmetric error bars (the confidence interval), or an
        empty figure when no point has a paired baseline.
    """
    import plotly.graph_objects as go

    from workbench.figures import TEMPLATE, assign_colors, empty_figure

    rows = [row for row in sweep_differences(sweep, baseline) if row["n"]]
    x_title = "blocks copied from the source (n)" if sweep.kind == "freeze_depth" else "labels per class (log scale)"
    title = title or f"Test accuracy minus {baseline} at the same seed: mean and 95% CI"
    if not rows:
        return empty_figure(f"No point has a {baseline} run at the same seed", title=title)
    colors = assign_colors(point["series"] for point in sweep_points(sweep))
    figure = go.Figure()
    for series in dict.fromkeys(row["series"] for row in rows):
        members = [row for row in rows if row["series"] == series]
        means = [_float(row["mean"]) for row in members]
        lows = [_float(row["low"]) for row in members]
        highs = [_float(row["high"]) for row in members]
        figure.add_trace(go.Scatter(
            x=[row["x"] for row in members], y=means, mode="lines+markers", name=series,
            line={"color": colors.get(series), "width": 2}, marker={"size": 8},
            error_y={"type": "data", "symmetric": False, "visible": True, "thickness": 1.5,
                     "array": [high - mean if math.isfinite(high) else 0.0 for mean, high in zip(means, highs)],
                     "arrayminus": [mean - low if math.isfinite(low) else 0.0 for mean, low in zip(means, lows)]},
            customdata=[[format_interval(row), int(row["n"])] for row in members],
            hovertemplate=(f"<b>{series}</b><br>{x_title}: %{{x}}<br>− {baseline}: %{{y:+.3f}} "
                           "95% CI %{customdata[0]} (n=%{customdata[1]})<extra></extra>"),
        ))
    figure.add_hline(y=0, line={"color": "#555555", "dash": "dash"})
    figure.update_layout(
        template=TEMPLATE, title={"text": title}, hovermode="closest",
        xaxis={"title": {"text": x_title}, "type": "log" if sweep.kind == "per_class" else "linear",
               **({"dtick": 1} if sweep.kind == "freeze_depth" else {})},
        yaxis={"title": {"text": f"test accuracy − {baseline} (mean, 95% CI)"}, "zeroline": False},
    )
    return figure


def depth_sweep_metrics(sweep: Any, baseline: str = BASELINE_SERIES) -> dict[str, Any]:
    """Key numbers of a freeze-depth sweep for `metrics.json`.

    Returns:
        `structure_accuracy` ({mean, sd, n}); `best_depth`: per transfer series, the n with the
        highest mean ("blocks copied"), its "test accuracy" and its paired "difference vs
        structure" ({mean, sd, n, low, high, ...}) with the "difference 95% CI" as text;
        `deepest`: the same at the largest n (where frozen source-specific layers hurt most);
        `points`: every point (left out of the index, kept for scripts).
    """
    points = sweep_points(sweep)
    differences = {(row["series"], row["x"]): row for row in sweep_differences(sweep, baseline)}
    base = next((point for point in points if point["series"] == baseline), None)
    metrics: dict[str, Any] = {}
    if base is not None:
        metrics["structure_accuracy"] = _summary(base)
    best: dict[str, Any] = {}
    deepest: dict[str, Any] = {}
    for series in dict.fromkeys(point["series"] for point in points if point["series"] != baseline):
        members = [point for point in points if point["series"] == series and math.isfinite(_float(point["mean"]))]
        if not members:
            continue
        for target, chosen in ((best, max(members, key=lambda point: point["mean"])),
                               (deepest, max(members, key=lambda point: point["x"]))):
            target[series] = {"blocks copied": _format_x(chosen["x"]), "test accuracy": _summary(chosen)}
            difference = differences.get((series, chosen["x"]))
            if difference is not None:
                target[series]["difference vs structure"] = _difference_summary(difference)
                target[series]["difference 95% CI"] = format_interval(difference)
    metrics["best_depth"] = best
    metrics["deepest"] = deepest
    metrics["points"] = [_point_record(point) for point in points]
    return metrics


def budget_sweep_metrics(sweep: Any, baseline: str = BASELINE_SERIES) -> dict[str, Any]:
    """Key numbers of a label-budget sweep for `metrics.json`.

    Returns:
        `best_mode_by_budget`: per budget ("5 per class"), the "best mode" (highest mean test
        accuracy), its "test accuracy" ({mean, sd, n}) and, unless it is the baseline, its paired
        "gain over structure" ({mean, sd, n, low, high, ...}) with the "gain 95% CI" as text;
        `points`: every point.
    """
    points = sweep_points(sweep)
    differences = {(row["series"], row["x"]): row for row in sweep_differences(sweep, baseline)}
    by_budget: dict[str, Any] = {}
    for x in sorted(dict.fromkeys(point["x"] for point in points)):
        members = [point for point in points if point["x"] == x and math.isfinite(_float(point["mean"]))]
        if not members:
            continue
        chosen = max(members, key=lambda point: point["mean"])
        entry: dict[str, Any] = {"best mode": chosen["series"], "test accuracy": _summary(chosen)}
        difference = differences.get((chosen["series"], x))
        if difference is not None:
            entry["gain over structure"] = _difference_summary(difference)
            entry["gain 95% CI"] = format_interval(difference)
        by_budget[f"{_format_x(x)} per class"] = entry
    return {"best_mode_by_budget": by_budget, "points": [_point_record(point) for point in points]}


def describe_depth_sweep(sweep: Any, baseline: str = BASELINE_SERIES) -> Any:
    """Markdown: the baseline, and for each transfer series its best and its deepest n, each with
    mean ± sd (n) and the paired difference from the baseline with its interval."""
    metrics = depth_sweep_metrics(sweep, baseline)
    if "structure_accuracy" not in metrics:
        return markdown("The structure baseline did not run, so there is nothing to compare against.")
    lines = [f"- **{baseline}** (nothing copied, everything trained from scratch): "
             f"{format_mean_sd(metrics['structure_accuracy'])}."]
    for series, best in metrics["best_depth"].items():
        deepest = metrics["deepest"][series]
        lines.append(f"- **{series}**: best at n = {best['blocks copied']}, "
                     f"{format_mean_sd(best['test accuracy'])}{_difference_text(best, baseline)}; at the deepest "
                     f"n = {deepest['blocks copied']}, {format_mean_sd(deepest['test accuracy'])}"
                     f"{_difference_text(deepest, baseline)}.")
    return markdown("\n".join(lines))


def describe_budget_sweep(sweep: Any, baseline: str = BASELINE_SERIES) -> Any:
    """Markdown: per budget, the best mode with mean ± sd (n) and its paired gain over the baseline."""
    metrics = budget_sweep_metrics(sweep, baseline)
    lines = []
    for budget, entry in metrics["best_mode_by_budget"].items():
        gain = _difference_text(entry, baseline, key="gain over structure") if entry["best mode"] != baseline else ""
        lines.append(f"- **{budget}**: {entry['best mode']} is best, "
                     f"{format_mean_sd(entry['test accuracy'])}{gain}.")
    return markdown("\n".join(lines) if lines else "No point of the sweep finished.")


def _difference_text(entry: Mapping[str, Any], baseline: str, key: str = "difference vs structure") -> str:
    difference = entry.get(key)
    return f" ({difference_clause(difference, baseline)})" if difference else ""


def _summary(point: Mapping[str, Any]) -> dict[str, Any]:
    return {"mean": point["mean"], "sd": point["sd"], "n": point["n"]}


def _difference_summary(difference: Mapping[str, Any]) -> dict[str, Any]:
    return {key: difference[key] for key in ("mean", "sd", "n", "low", "high", "confidence", "significant")}


def _point_record(point: Mapping[str, Any]) -> dict[str, Any]:
    return {key: point[key] for key in ("series", "x", "mean", "sd", "n", "values", "seeds")}


def _format_x(value: Any) -> Any:
    number = _float(value)
    return int(number) if math.isfinite(number) and number == int(number) else value


def _float(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan
