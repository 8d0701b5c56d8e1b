"""Findings in words, written from the numbers: every claim a report or the CLI makes about a
comparison or a sweep ("beats structure", "not distinguishable") comes from here, from the paired
differences and their intervals, never from fixed text that could turn false.

The functions return Markdown text; `workbench.notebook_support` displays it in the notebooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.formatting import format_interval, format_mean_sd, to_float
from workbench.sweeps import BASELINE_SERIES, budget_sweep_metrics, depth_sweep_metrics

if TYPE_CHECKING:
    from workbench.experiments import Comparison
    from workbench.sweeps import Sweep


def verdict(difference: Mapping[str, Any], baseline: str = "structure") -> str:
    """What a paired difference lets one say: beats, worse than, or not distinguishable from the baseline."""
    n = int(difference.get("n") or 0)
    if n < 2:
        return "undecided: no interval from fewer than two seeds, run more seeds"
    confidence = round(100 * float(difference.get("confidence", 0.95)))
    if to_float(difference.get("low")) > 0:
        return f"beats {baseline} ({confidence}% CI above 0)"
    if to_float(difference.get("high")) < 0:
        return f"worse than {baseline} ({confidence}% CI below 0)"
    return f"not distinguishable from {baseline} (CI contains 0)"


def difference_clause(difference: Mapping[str, Any], baseline: str = "structure") -> str:
    """A paired difference in words: "+0.096 ± 0.020 vs structure at the same seed, 95% CI
    [+0.050, +0.140], n=3: beats structure (95% CI above 0)"."""
    n = int(difference.get("n") or 0)
    interval = f", 95% CI {format_interval(difference)}" if n > 1 else ""
    return (f"{format_mean_sd(difference, signed=True, with_n=False)} vs {baseline} at the same seed{interval}, "
            f"n={n}: {verdict(difference, baseline)}")


def describe_paired_differences(comparison: Comparison, baseline: str = "structure") -> str:
    """One Markdown sentence per mode: its paired difference from the baseline with CI, n and verdict."""
    lines = [f"- **{row['mode']}**: {difference_clause(row, baseline)}." for row in comparison.paired_differences(baseline)]
    if not lines:
        return f"No mode ran alongside {baseline} at the same seed, so there is no paired difference."
    return "\n".join(lines)


def describe_depth_sweep(sweep: Sweep, baseline: str = BASELINE_SERIES) -> str:
    """Markdown: the baseline, and for each transfer series its best and its deepest n, each with
    mean ± sd (n) and the paired difference from the baseline with its interval."""
    metrics = depth_sweep_metrics(sweep, baseline)
    if "structure_accuracy" not in metrics:
        return "The structure baseline did not run, so there is nothing to compare against."
    lines = [f"- **{baseline}** (nothing copied, everything trained from scratch): "
             f"{format_mean_sd(metrics['structure_accuracy'])}."]
    for series, best in metrics["best_depth"].items():
        deepest = metrics["deepest"][series]
        lines.append(f"- **{series}**: best at n = {best['blocks copied']}, "
                     f"{format_mean_sd(best['test accuracy'])}{_difference_text(best, baseline)}; at the deepest "
                     f"n = {deepest['blocks copied']}, {format_mean_sd(deepest['test accuracy'])}"
                     f"{_difference_text(deepest, baseline)}.")
    return "\n".join(lines)


def describe_budget_sweep(sweep: Sweep, baseline: str = BASELINE_SERIES) -> str:
    """Markdown: per budget, the best mode with mean ± sd (n) and its paired gain over the baseline."""
    metrics = budget_sweep_metrics(sweep, baseline)
    lines = []
    for budget, entry in metrics["best_mode_by_budget"].items():
        gain = _difference_text(entry, baseline, key="gain over structure") if entry["best mode"] != baseline else ""
        lines.append(f"- **{budget}**: {entry['best mode']} is best, "
                     f"{format_mean_sd(entry['test accuracy'])}{gain}.")
    return "\n".join(lines) if lines else "No point of the sweep finished."


def _difference_text(entry: Mapping[str, Any], baseline: str, key: str = "difference vs structure") -> str:
    difference = entry.get(key)
    return f" ({difference_clause(difference, baseline)})" if difference else ""

