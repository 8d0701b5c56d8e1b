"""The report notebooks' facade: one import (`from workbench import notebook_support as support`)
for everything a notebook calls, so that notebooks hold no function definitions.

It gathers what lives elsewhere — display (`notebook_display`), study tables (`study_tables`),
findings in words (`findings`), sweep key figures (`sweeps`), figures (`figures`) — and adds the
few helpers that only notebooks need: per-epoch log lines, the source-run fallback, task-distance
presets, sample predictions and the `metrics.json` sidecar.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

from workbench import findings
from workbench.notebook_display import (  # noqa: F401 - re-exported: the notebooks call them as support.*
    REPORT_RENDERER,
    ReportRenderer,
    code_span,
    escape_markdown_html,
    markdown,
    prepare_notebook,
    table,
)
from workbench.config import mode_label
from workbench.errors import SourceRunError
from workbench.fast_start import quiet_tensorflow_logs
from workbench.figures import (  # noqa: F401 - re-exported: the notebooks call them as support.*
    plot_budget_sweep,
    plot_depth_sweep,
    plot_sweep_differences,
)
from workbench.formatting import format_interval, format_mean_sd, json_safe  # noqa: F401 - re-exported
from workbench.reports import format_table_html, format_value  # noqa: F401 - re-exported for notebooks
from workbench.runs import Run, load_run
from workbench.study_tables import (  # noqa: F401 - re-exported: the notebooks call them as support.*
    TRANSFER_METRIC_NAMES,
    comparison_metrics,
    comparison_rows,
    paired_difference_rows,
    sweep_rows,
    transfer_metric_rows,
    transfer_metrics_summary,
)
from workbench.sweeps import (  # noqa: F401 - re-exported: the notebooks call them as support.*
    BASELINE_SERIES,
    budget_sweep_metrics,
    depth_sweep_metrics,
)
from workbench.findings import difference_clause, verdict  # noqa: F401 - re-exported for notebooks
from workbench.structure_study import (  # noqa: F401 - re-exported: the notebooks call them as support.*
    CUT_ARM,
    WIDENED_ARM,
    parameter_arm,
    structure_study_metrics,
    transfer_summary_rows,
    variant_difference_rows,
    variant_rows,
)

# Before TensorFlow loads (nothing here imports it at import time, so notebooks that only draw
# figures start fast): its C++ start-up logging would otherwise land in reports.
quiet_tensorflow_logs()

METRICS_FILE = "metrics.json"








# ------------------------------------------------------------------------------------------------
# Tables and text
# ------------------------------------------------------------------------------------------------










def describe_tasks(
    source_task: str, target_task: str, per_class: int | None, source_per_class: int | None = None,
    validation_split: float = 0.1, seed: int = 0, data_root: str | None = None,
) -> list[dict[str, Any]]:
    """One row per task (source, target): classes and the sizes of its train/validation/test splits.

    Loading the splits here also checks both tasks before any training starts. `data_root` is the
    folder copy a keras.datasets task is read from (`RunConfig.data_root`); None downloads.

    Raises:
        DataError: for an unknown dataset or class, or a budget larger than a class has.
        ConfigError: for a `data_root` that holds no copy of a task's dataset.
    """
    from workbench.data import check_data_root, prepare_task

    rows = []
    for role, task, budget in (("source", source_task, source_per_class), ("target", target_task, per_class)):
        data = prepare_task(task, budget, validation_split, seed, check_data_root(data_root, task))
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










def progress_lines(label: str) -> Any:
    """The notebooks' per-epoch progress (`workbench.callbacks.progress_lines`): one printed line per
    epoch, labelled, which papermill's `--log-output` forwards to the terminal."""
    from workbench.callbacks import progress_lines as lines

    return lines(label)


# The name the report notebooks have used since the first version.
epoch_log = progress_lines


def describe_paired_differences(comparison: Any, baseline: str = "structure") -> Any:
    """One Markdown sentence per mode: its paired difference from the baseline with CI, n and verdict
    (`workbench.findings.describe_paired_differences`)."""
    return markdown(findings.describe_paired_differences(comparison, baseline))


def describe_depth_sweep(sweep: Any, baseline: str = BASELINE_SERIES) -> Any:
    """Markdown: the baseline, and each transfer series at its best and deepest n
    (`workbench.findings.describe_depth_sweep`)."""
    return markdown(findings.describe_depth_sweep(sweep, baseline))


def describe_budget_sweep(sweep: Any, baseline: str = BASELINE_SERIES) -> Any:
    """Markdown: per budget, the best mode and its paired gain (`workbench.findings.describe_budget_sweep`)."""
    return markdown(findings.describe_budget_sweep(sweep, baseline))


def print_run_summary(run: Run) -> None:
    """`on_run_done` for `workbench.compare`: one line per finished run."""
    from workbench.run_cache import reuse_note

    summary = run.summary()
    print(
        f"{summary['mode']} seed {summary['seed']}: {_epochs(summary['epochs'])}, test accuracy "
        f"{summary['test_accuracy']:.3f} ({summary['seconds']:.1f} s, {summary['status']}){reuse_note(run)}",
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
                        callbacks=[progress_lines("pretrain")], **pretrain_parameters)
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
                    callbacks=[progress_lines("pretrain")], **pretrain_parameters)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-") or "task"


def sample_predictions(run: Run, count: int = 16, seed: int = 0) -> dict[str, Any]:
    """Predict `count` test images of the run's task with its model, chosen reproducibly by `seed`.

    Returns:
        Keyword arguments for `workbench.figures.plot_sample_predictions`: images (uint8),
        true_labels, predicted_labels and class_names.
    """
    from workbench.data import make_pipeline

    data = run.task_data()
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
    from workbench.figures import empty_figure, plot_transfer_report

    run = run_for_mode(runs, mode)
    if run is None or not run.transfer_report:
        return empty_figure(f"No {mode} transfer run to report on", title="Weight transfer")
    label = mode_label(mode, run.transfer_report.get("freeze_depth"))
    return plot_transfer_report(run.transfer_report,
                                heading=f"{label[:1].upper()}{label[1:]} transfer, seed {run.config.get('seed')}")






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
    current.update(json_safe(values))
    write_json(path, current)


def _epochs(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"




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
    """A Markdown sentence with a run's test accuracy, its test-set size and best validation accuracy,
    and whether the run cache served it (`workbench.run_cache.reuse_note`)."""
    from workbench.run_cache import reuse_note

    metrics = run.metrics
    best = metrics.get("best_val_accuracy")
    validation = f" (best validation accuracy {best:.3f})" if best is not None else ""
    return markdown(
        f"Test accuracy on the {metrics.get('test_examples', '?')} held-out test images of "
        f"{code_span(run.config.get('task'))}: **{run.test_accuracy:.3f}**{validation}; "
        f"{_epochs(len(run.history))}, status {run.status}{escape_markdown_html(reuse_note(run))}."
    )


# ------------------------------------------------------------------------------------------------
# Task-distance presets
# ------------------------------------------------------------------------------------------------


def choose_tasks(preset: str | None, source_task: str, target_task: str) -> dict[str, str]:
    """The tasks a report notebook uses: a named task-distance preset's, or the ones given.

    Under `workbench report -p preset NAME`, the preset's study sizes (epochs, label budgets) reach
    the notebooks as parameters too (`workbench.reports.plan`); here only the tasks are replaced,
    so a notebook run alone with `-p preset NAME` still uses the preset's tasks.

    Args:
        preset: a name from `workbench.presets.PRESETS` ("near", "far", "cifar-near",
            "cifar-far"); empty or None keeps `source_task` and `target_task`.
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
                            "given. The task-distance presets (`-p preset near`, `far`, `cifar-near` or `cifar-far`) "
                            "replace both:\n\n"
                            + describe_presets()),
        }
    chosen = get_preset(preset)
    return {
        "source_task": chosen.source_task, "target_task": chosen.target_task, "preset": chosen.name,
        "description": (f"Task-distance preset **{chosen.name}**: source task `{chosen.source_task}` → target task "
                        f"`{chosen.target_task}` (replacing `source_task` and `target_task`).\n\n"
                        f"{chosen.description} Sizes: {chosen.describe_sizes()}."),
    }


# ------------------------------------------------------------------------------------------------
# Numbers with their spread: mean ± sd (n), paired differences with confidence intervals
# ------------------------------------------------------------------------------------------------






















# ------------------------------------------------------------------------------------------------
# Sweeps: freeze depth and label budget
# ------------------------------------------------------------------------------------------------



def print_sweep_run(run: Run, sweep: Any) -> None:
    """`on_run_done` for the sweeps: one line per finished run, with the count so far."""
    from workbench.run_cache import reuse_note

    summary = run.summary()
    print(f"[{len({item.name for item in sweep.runs})}] {run.name}: test accuracy {summary['test_accuracy']:.3f} "
          f"({_epochs(summary['epochs'])}, {summary['seconds']:.1f} s, {summary['status']}){reuse_note(run)}",
          flush=True)


# ------------------------------------------------------------------------------------------------
# The structure study (report 06)
# ------------------------------------------------------------------------------------------------


def print_arm_run(run: Run) -> None:
    """`on_run_done` for `workbench.compare_structures`: one line per finished run, named by its arm."""
    from workbench.run_cache import reuse_note

    summary = run.summary()
    print(f"{run.name}: test accuracy {summary['test_accuracy']:.3f} ({_epochs(summary['epochs'])}, "
          f"{summary['seconds']:.1f} s, {summary['status']}){reuse_note(run)}", flush=True)


def describe_structure_study(comparison: Any, reference: str, preservation: Mapping[str, Any] | None = None) -> Any:
    """Markdown: each arm against fresh weights, each edited arm against `reference` (plain parameter
    transfer), and the function-preservation check (`workbench.findings.describe_structure_study`)."""
    return markdown(findings.describe_structure_study(comparison, reference, preservation))


def check_function_preservation(source: Run, edits: str | None, task: str, grow_noise: float = 0.0,
                                data_root: str | None = None) -> dict[str, Any] | None:
    """`structure_study.function_preservation` of the widened arm's edits on the target's test
    images; None when `edits` is empty (the arm was left out)."""
    from workbench.structure_study import function_preservation

    if not edits:
        return None
    return function_preservation(source, edits, task, grow_noise, data_root=data_root)


def preservation_rows(check: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The function-preservation check as one table row (none without a check)."""
    from workbench.formatting import format_scientific

    if check is None:
        return []
    return [{"edits": check["edits"], "grow noise": check["grow_noise"], "target test images": check["images"],
             "max |logit difference|": format_scientific(check["max_abs_logit_difference"]),
             "largest source logit": check["max_abs_logit"], "grown layers": check["grown_layers"] or "—"}]


def plot_arm_transfer_report(comparison: Any, arm: str) -> Any:
    """`figures.plot_transfer_report` for the first run of one arm of a `VariantComparison`, titled
    with the arm, its edits and seed; layers the edits cut are left out of the bars (they are not
    in the new model; `transfer_summary_rows` counts them).

    Returns:
        The figure, or an empty figure saying that the arm has no run.
    """
    from workbench.figures import empty_figure, plot_transfer_report

    runs = comparison.runs_by_arm.get(arm, [])
    if not runs or not runs[0].transfer_report:
        return empty_figure(f"No run of {arm} to report on", title="Weight transfer")
    report = runs[0].transfer_report
    edits = f" ({report['edits']})" if report.get("edits") else ""
    kept = {**report, "layers": [row for row in report.get("layers", []) if row.get("edit") != "cut"]}
    return plot_transfer_report(kept, heading=f"{arm}{edits}, seed {runs[0].config.get('seed')}")
