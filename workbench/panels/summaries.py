"""What happened, as HTML for the panel: the results table, the sweep table, Rank's
suggestion, the diagnosis summary, outcomes and errors. Plain values in, strings out; no widgets.
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError
from workbench.formatting import format_mean_sd, format_number
from workbench.runs import Run

if TYPE_CHECKING:
    from workbench.callbacks import ProgressUpdate

RESULT_COLUMNS = ("run", "mode", "freeze depth", "budget", "seed", "epochs", "best val acc", "test acc",
                  "seconds", "status")
STATUS_COLORS = {"finished": "#1A7F37", "stopped": "#9A6700", "failed": "#CF222E"}
RANK_SETTING_NAMES = {"source": "source run", "task": "target task", "per_class": "labels/class", "seed": "seed"}
MUTED = "color:#6C6C6C"


def muted(text: str) -> str:
    """A grey hint line (already HTML: escape user text before passing it)."""
    return f"<span style='{MUTED}'>{text}</span>"


def html_table(css_class: str, columns: Sequence[str], rows: Sequence[str]) -> str:
    """An HTML table with a CSS hook: `columns` escaped into its head, `rows` (already `<tr>` HTML) as its body."""
    head = "".join(f"<th style='padding:2px 8px;text-align:left'>{html.escape(column)}</th>" for column in columns)
    return (f"<table class='{css_class}' style='border-collapse:collapse;font-size:13px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


# -- runs ----------------------------------------------------------------------------------------


def result_row(run: Run) -> dict[str, str]:
    """One results-table row of a run, as display strings keyed by `RESULT_COLUMNS`."""
    summary = run.summary()
    planned = run.config.get("epochs")
    done = run.metrics.get("epochs_completed", summary["epochs"])
    budget = summary["per_class"]
    depth = summary["freeze_depth"]
    return {
        "run": summary["name"],
        "mode": str(summary["mode"]),
        "freeze depth": "–" if depth is None else str(depth),
        "budget": "all" if budget is None else f"{budget}/class",
        "seed": str(summary["seed"]),
        "epochs": f"{done}/{planned}",
        "best val acc": format_number(summary["best_val_accuracy"]),
        "test acc": format_number(summary["test_accuracy"]),
        "seconds": format_number(summary["seconds"], 1),
        "status": summary["status"],
    }


def format_results_table(rows: Sequence[Mapping[str, str]]) -> str:
    """An HTML table of result rows (see `result_row`), or a hint when there are none yet."""
    if not rows:
        return f"<p style='{MUTED}'>No runs in this session yet: press Start.</p>"
    body = []
    for row in rows:
        cells = []
        for column in RESULT_COLUMNS:
            value = html.escape(str(row.get(column, "")))
            style = "padding:2px 8px"
            if column == "status":
                style += f";color:{STATUS_COLORS.get(row.get(column, ''), '#24292F')};font-weight:600"
            cells.append(f"<td style='{style}'>{value}</td>")
        body.append(f"<tr class='workbench-result'>{''.join(cells)}</tr>")
    return html_table("workbench-results", RESULT_COLUMNS, body)


def format_outcome(run: Run) -> str:
    """The status line after a run: "Finished: NAME after 5 epoch(s), test accuracy 0.812."."""
    done = run.metrics.get("epochs_completed")
    verb = {"stopped": "Stopped", "failed": "Failed"}.get(run.status, "Finished")
    return (f"<span class='workbench-outcome'>{verb}: {html.escape(run.name)} after {done} epoch(s), "
            f"test accuracy {format_number(run.test_accuracy)}.</span>")


def format_progress(update: ProgressUpdate) -> str:
    """The status line while a run trains: "Training LABEL: epoch 3/10 · train acc 0.912 · val acc 0.712 · 4 s"."""
    of = f"{update.epoch}/{update.epochs or '?'}"
    if not update.epoch:
        return f"Training {update.label}: epoch {of}"
    shown = [f"{name} {format_number(update.logs[key])}"
             for key, name in (("accuracy", "train acc"), ("val_accuracy", "val acc")) if key in update.logs]
    return " · ".join([f"Training {update.label}: epoch {of}", *shown, f"{update.seconds:.0f} s"])


def format_error(error: BaseException, context: str = "") -> str:
    """An error as HTML for the panel: the message for user errors, plus the traceback otherwise."""
    prefix = f"<b>{html.escape(context)}</b><br>" if context else ""
    if isinstance(error, WorkbenchError):
        body = html.escape(str(error))
    else:
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        body = (f"{html.escape(type(error).__name__)}: {html.escape(str(error))}"
                f"<details><summary>traceback</summary><pre>{html.escape(trace)}</pre></details>")
    return (f"<div class='workbench-error' style='color:#CF222E;border:1px solid #CF222E;border-radius:4px;"
            f"padding:4px 8px;white-space:pre-wrap'>{prefix}{body}</div>")


def format_problem(css_class: str, text: str) -> str:
    """A user error shown in place, in red, with a CSS hook (e.g. a bad task typed in the task box)."""
    return f"<span class='{css_class}' style='color:#CF222E'>{html.escape(text)}</span>"


# -- sweeps --------------------------------------------------------------------------------------


def format_sweep_table(points: Sequence[Mapping[str, Any]], x_title: str, description: str = "",
                       stopped: bool = False) -> str:
    """An HTML table of sweep points: series, setting, test accuracy mean ± sd, n and per-seed values."""
    if not points:
        return f"<p style='{MUTED}'>No sweep run finished.</p>"
    columns = ("series", x_title, "test accuracy (mean ± sd)", "n", "per seed")
    body = []
    for point in points:
        per_seed = ", ".join(f"s{seed}: {format_number(value)}" for seed, value in zip(point.get("seeds", []),
                                                                                      point.get("values", [])))
        x = point["x"]
        cells = (point["series"], f"{x:g}" if isinstance(x, (int, float)) else str(x),
                 format_mean_sd(point, with_n=False), str(point["n"]), per_seed)
        body.append("<tr class='workbench-sweep-point'>" + "".join(
            f"<td style='padding:2px 8px'>{html.escape(str(cell))}</td>" for cell in cells) + "</tr>")
    caption = f"<div style='{MUTED}'>{html.escape(description)}</div>" if description else ""
    note = "<div style='color:#9A6700'>Stopped early: not every planned run ran.</div>" if stopped else ""
    return f"{caption}{html_table('workbench-sweep-table', columns, body)}{note}"


# -- Rank and Diagnose ---------------------------------------------------------------------------


def rank_key(source: str | None, task: str, per_class: int | None, seed: int) -> dict[str, Any]:
    """The settings a Rank result depends on, as compared to tell whether it still applies."""
    return {"source": source, "task": task.strip(), "per_class": per_class or None, "seed": int(seed)}


def format_rank_suggestion(result: Mapping[str, Any] | None, changed: Sequence[str] = ()) -> str:
    """The line beside the freeze-depth slider: the suggested depth and the rule that chose it.

    Args:
        result: a `diagnostics.score_blocks` result, or None before the first Rank.
        changed: names of the settings (see `RANK_SETTING_NAMES`) that differ from the ones the
            result was computed for; the suggestion is then shown as outdated. Defaults to none.

    Returns:
        HTML: a hint before any Rank, "suggested freeze depth: k (rule)" after one, and the
        outdated suggestion struck through with what changed once the settings move on.
    """
    if result is None:
        return (f"<span class='workbench-rank-suggestion' style='{MUTED}'>Rank scores every freeze depth "
                "of the source on this task in seconds, before training.</span>")
    depth = result["suggested_freeze_depth"]
    rule = html.escape(str(result.get("suggestion_rule", "")))
    if changed:
        what = ", ".join(RANK_SETTING_NAMES.get(name, name) for name in changed)
        return (f"<span class='workbench-rank-suggestion workbench-rank-outdated' style='color:#9A6700'>"
                f"<s>suggested freeze depth: {depth}</s> was for another {html.escape(what)}: press Rank again."
                f"</span>")
    return (f"<span class='workbench-rank-suggestion'><b>suggested freeze depth: {depth}</b> "
            f"<span style='{MUTED}'>({rule})</span></span>")


def format_rank_details(result: Mapping[str, Any]) -> str:
    """A caption under the scores figure: what was scored, on how many images, LEEP and the time."""
    budget = f"{result['per_class']} labels per class" if result.get("per_class") else "all labels"
    return (f"<div class='workbench-rank-details' style='{MUTED}'>{html.escape(str(result['source']))} → "
            f"{html.escape(str(result['task']))} ({html.escape(budget)}, seed {result['seed']}): "
            f"{len(result['cut_points'])} cut points scored on {result['train_examples']} training and "
            f"{result['validation_examples']} validation images in {format_number(result['seconds'], 1)} s; "
            f"LEEP {format_number(result['leep'])}. These are estimates made before training: a freeze-depth "
            f"sweep checks them.</div>")


def format_diagnosis_summary(diagnosis: Mapping[str, Any]) -> str:
    """One paragraph under the Diagnose figures: drift of frozen and trained blocks, CKA at the top.

    Args:
        diagnosis: {"run", "drift": a `drift_for_run` result, "cka": a list of `cka_for_run`
            results}, as the panel stores it in `last_diagnosis`.
    """
    blocks = diagnosis["drift"]["blocks"]
    frozen = [row["block"] for row in blocks if row["frozen"]]
    moved = [f"{row['block']} {format_number(row['drift'])}" for row in blocks
             if not row["frozen"] and row["origin"] == "copied"]
    fresh = [row["block"] for row in blocks if row["origin"] == "fresh"]
    parts = [f"frozen: {', '.join(frozen)} (drift 0)" if frozen else "no frozen block"]
    if moved:
        parts.append(f"trained from the source: {', '.join(moved)}")
    if fresh:
        parts.append(f"re-initialised (no drift to measure): {', '.join(fresh)}")
    for curve in diagnosis["cka"]:
        rows = curve["rows"]
        if rows:
            parts.append(f"CKA {curve['label']} at {rows[-1]['block']}: {format_number(rows[-1]['cka'])}")
    return (f"<div class='workbench-diagnose-summary'><b>{html.escape(str(diagnosis['run']))}</b>: "
            f"{html.escape(' · '.join(parts))}</div>")
