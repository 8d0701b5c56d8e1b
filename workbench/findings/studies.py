"""Findings about studies, in words: comparisons of modes (report 02, `workbench compare`),
freeze-depth sweeps (report 03, `workbench sweep-depth`) and label-budget sweeps (report 04,
`workbench sweep-budget`), each claim from the paired differences and their intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench.findings.clauses import difference_clause, power_clause
from workbench.formatting import format_interval, format_mean_sd, format_number, to_float
from workbench.statistics import DEFAULT_DETECT, paired_difference_by_seed
from workbench.sweeps import (
    BASELINE_SERIES,
    SWEEP_SERIES_FINE_TUNED,
    SWEEP_SERIES_FROZEN,
    budget_sweep_metrics,
    depth_sweep_metrics,
    whole_if_integral,
)

if TYPE_CHECKING:
    from workbench.experiments import Comparison
    from workbench.sweeps import Sweep


# ------------------------------------------------------------------------------------------------
# Comparisons (report 02, `workbench compare`)
# ------------------------------------------------------------------------------------------------


def describe_paired_differences(comparison: Comparison, baseline: str = "structure",
                                detect: float = DEFAULT_DETECT) -> str:
    """One Markdown line per mode (its paired difference from the baseline with CI, n, verdict
    and what the study could have seen), then the best mode against the runner-up."""
    lines = [f"- **{row['mode']}**: {difference_clause(row, baseline, detect)}."
             for row in comparison.paired_differences(baseline)]
    if not lines:
        return f"No mode ran alongside {baseline} at the same seed, so there is no paired difference."
    best = describe_best_mode(comparison, detect, baseline)
    return "\n".join(lines + ([best] if best else []))


def describe_best_mode(comparison: Comparison, detect: float = DEFAULT_DETECT, baseline: str = "") -> str:
    """Markdown: the mode with the highest mean test accuracy, and its paired difference from the
    runner-up (is the winner really ahead, or only by seed noise?); "" with fewer than two modes,
    or when the two are the baseline and a mode whose difference from it is already stated."""
    rows = sorted((row for row in comparison.rows() if math.isfinite(to_float(row["mean"]))),
                  key=lambda row: -row["mean"])
    if len(rows) < 2:
        return ""
    best, runner_up = rows[0], rows[1]
    if baseline in (best["mode"], runner_up["mode"]):
        return ""
    difference = next((row for row in comparison.paired_differences(runner_up["mode"])
                       if row["mode"] == best["mode"]), None)
    if difference is None:
        return ""
    return (f"- Highest mean: **{best['label']}**, {format_mean_sd(best)}; against the runner-up "
            f"{runner_up['label']}: {difference_clause(difference, runner_up['label'], detect)}.")


# ------------------------------------------------------------------------------------------------
# Freeze-depth sweeps (report 03, `workbench sweep-depth`)
# ------------------------------------------------------------------------------------------------


def describe_depth_sweep(sweep: Sweep, baseline: str = BASELINE_SERIES, detect: float = DEFAULT_DETECT) -> str:
    """Markdown: the baseline; for each transfer series its best and its deepest n, each with
    mean ± sd (n) and the paired difference from the baseline; then the claims (does frozen fall
    at the deepest n, does fine-tuned stay at or above the baseline), each from the numbers."""
    metrics = depth_sweep_metrics(sweep, baseline, detect)
    if "structure_accuracy" not in metrics:
        return "The structure baseline did not run, so there is nothing to compare against."
    lines = [f"- **{baseline}** (nothing copied, everything trained from scratch): "
             f"{format_mean_sd(metrics['structure_accuracy'])}."]
    for series, best in metrics["best_depth"].items():
        deepest = metrics["deepest"][series]
        lines.append(f"- **{series}**: best at n = {best['blocks copied']}, "
                     f"{format_mean_sd(best['test accuracy'])}{_difference_text(best, baseline, detect)}; at the "
                     f"deepest n = {deepest['blocks copied']}, {format_mean_sd(deepest['test accuracy'])}"
                     f"{_difference_text(deepest, baseline, detect)}.")
    claims = [describe_deepest_drop(sweep, SWEEP_SERIES_FROZEN, baseline, detect),
              describe_at_or_above_baseline(sweep, SWEEP_SERIES_FINE_TUNED, baseline, detect)]
    return "\n".join(lines + [f"- {claim}" for claim in claims if claim])


def describe_deepest_drop(sweep: Sweep, series: str = SWEEP_SERIES_FROZEN, baseline: str = BASELINE_SERIES,
                          detect: float = DEFAULT_DETECT) -> str:
    """Whether a series falls at its deepest n: against its own best n and against the baseline,
    both paired by seed. "" when the series did not run.

    The best n is picked from these same numbers, which flatters a fall (the best mean is partly
    luck); the sentence says so.
    """
    points = [point for point in sweep.ordered_points()
              if point["series"] == series and math.isfinite(to_float(point["mean"]))]
    if not points:
        return ""
    deepest = max(points, key=lambda point: point["x"])
    best = max(points, key=lambda point: point["mean"])
    depth, best_depth = whole_if_integral(deepest["x"]), whole_if_integral(best["x"])
    against = next((row for row in sweep.differences(baseline)
                    if row["series"] == series and row["x"] == deepest["x"]), None)
    against_text = f" Against {baseline} there: {difference_clause(against, baseline, detect)}." if against else ""
    if len(points) == 1:
        return f"**{series}** ran at one n only (n = {depth}), so there is no fall to measure.{against_text}"
    if best is deepest:
        return (f"**{series}** does not fall at the deepest n = {depth}: its mean is highest there, "
                f"{format_mean_sd(deepest)}.{against_text}")
    drop = paired_difference_by_seed(_by_seed(deepest), _by_seed(best))
    if drop["n"] < 2:
        lead = f"**{series}**: whether it falls at the deepest n = {depth} is undecided"
    elif drop["high"] < 0:
        lead = f"**{series}** falls at the deepest n = {depth}"
    else:
        lead = f"**{series}** shows no fall at the deepest n = {depth} that these seeds can tell from noise"
    caveat = " (the best n is picked from these same numbers, which makes a fall look larger)" if drop["n"] > 1 else ""
    return f"{lead}: {difference_clause(drop, f'its best n = {best_depth}', detect)}{caveat}.{against_text}"


def describe_at_or_above_baseline(sweep: Sweep, series: str = SWEEP_SERIES_FINE_TUNED,
                                  baseline: str = BASELINE_SERIES, detect: float = DEFAULT_DETECT) -> str:
    """Whether a series stays at or above the baseline at every n (Yosinski et al.'s finding for
    AnB+): names the n where it is above, below, and not distinguishable (with what the study
    could have seen there). "" when the series did not run."""
    rows = [row for row in sweep.differences(baseline) if row["series"] == series]
    if not rows:
        return ""
    if any(int(row["n"] or 0) < 2 for row in rows):
        return (f"**{series}** against {baseline}: undecided at some n (fewer than two seed pairs, no interval, "
                "no power can be computed); run more seeds.")
    below = [row for row in rows if row["high"] < 0]
    above = [row for row in rows if row["low"] > 0]
    unclear = [row for row in rows if row not in below and row not in above]
    parts = []
    if above:
        parts.append(f"above it at n = {_depth_list(above)}")
    if unclear:
        detail = "; ".join(f"n = {whole_if_integral(row['x'])}: {power_clause(row, detect)}" for row in unclear)
        parts.append(f"not distinguishable at n = {_depth_list(unclear)} ({detail})")
    if below:
        worst = min(below, key=lambda row: row["mean"])
        return (f"**{series}** falls below {baseline} at n = {_depth_list(below)} (95% CI below 0; at n = "
                f"{whole_if_integral(worst['x'])} by {format_number(worst['mean'], signed=True)} "
                f"{format_interval(worst)}); elsewhere " + ", ".join(parts or ["nothing else ran"]) + ".")
    return (f"**{series}** never falls distinguishably below {baseline} at the n tried: "
            + ", ".join(parts) + ".")


# ------------------------------------------------------------------------------------------------
# Label-budget sweeps (report 04, `workbench sweep-budget`)
# ------------------------------------------------------------------------------------------------


def describe_budget_sweep(sweep: Sweep, baseline: str = BASELINE_SERIES, detect: float = DEFAULT_DETECT) -> str:
    """Markdown: per budget, the best mode with mean ± sd (n) and its paired gain over the
    baseline; then, from the numbers, how each mode's gain changes with labels, the best mode at
    the fewest and the most labels against its runner-up, and what the last step of labels added."""
    metrics = budget_sweep_metrics(sweep, baseline, detect)
    lines = []
    for budget, entry in metrics["best_mode_by_budget"].items():
        gain = (_difference_text(entry, baseline, detect, key="gain over structure")
                if entry["best mode"] != baseline else "")
        lines.append(f"- **{budget}**: {entry['best mode']} is best, "
                     f"{format_mean_sd(entry['test accuracy'])}{gain}.")
    if not lines:
        return "No point of the sweep finished."
    budgets = sorted(dict.fromkeys(point["x"] for point in sweep.points()))
    claims = [describe_gain_trend(sweep, baseline, detect)]
    if len(budgets) > 1:
        claims += [describe_best_at_budget(sweep, budgets[0], "the fewest labels", detect),
                   describe_best_at_budget(sweep, budgets[-1], "the most labels", detect),
                   describe_last_step(sweep, detect)]
    return "\n".join(lines + [claim for claim in claims if claim])


def describe_gain_trend(sweep: Sweep, baseline: str = BASELINE_SERIES, detect: float = DEFAULT_DETECT) -> str:
    """Markdown, one line per transfer mode: its gain over the baseline at the fewest and at the
    most labels, and whether the gain shrinks, grows or stays (the change paired by seed: gain at
    the most labels minus gain at the fewest). "" with fewer than two budgets."""
    differences = sweep.differences(baseline)
    lines = []
    for series in dict.fromkeys(row["series"] for row in differences):
        rows = sorted((row for row in differences if row["series"] == series), key=lambda row: row["x"])
        if len(rows) < 2:
            continue
        fewest, most = rows[0], rows[-1]
        # The change of the gain, most labels minus fewest, paired by seed.
        change = paired_difference_by_seed(_gains_by_seed(sweep, series, most["x"], baseline),
                                           _gains_by_seed(sweep, series, fewest["x"], baseline))
        if change["n"] < 2:
            trend = "whether it changes is undecided (fewer than two seed pairs; no power can be computed)"
        elif change["high"] < 0:
            trend = f"the gain shrinks (change {_signed_with_interval(change)}, paired by seed)"
        elif change["low"] > 0:
            trend = f"the gain grows (change {_signed_with_interval(change)}, paired by seed)"
        else:
            trend = (f"no change these seeds can tell from noise ({_signed_with_interval(change)}; "
                     f"{power_clause(change, detect)})")
        lines.append(f"- **{series}** gains {_signed_with_interval(fewest)} over {baseline} at "
                     f"{_budget(fewest['x'])} and {_signed_with_interval(most)} at {_budget(most['x'])}: "
                     f"{trend}; {_where_distinguishable(rows, baseline)}.")
    return "\n".join(lines)


def describe_best_at_budget(sweep: Sweep, budget: float, where: str = "",
                            detect: float = DEFAULT_DETECT) -> str:
    """Markdown: at one budget, the mode with the highest mean and its paired difference from the
    runner-up. "" with fewer than two modes there."""
    points = sorted((point for point in sweep.points()
                     if point["x"] == budget and math.isfinite(to_float(point["mean"]))),
                    key=lambda point: -point["mean"])
    if len(points) < 2:
        return ""
    best, runner_up = points[0], points[1]
    difference = paired_difference_by_seed(_by_seed(best), _by_seed(runner_up))
    place = f"At {where} ({_budget(budget)})" if where else f"At {_budget(budget)}"
    return (f"- {place} **{best['series']}** has the highest mean, {format_mean_sd(best)}; against the "
            f"runner-up {runner_up['series']}: {difference_clause(difference, runner_up['series'], detect)}.")


def describe_last_step(sweep: Sweep, detect: float = DEFAULT_DETECT) -> str:
    """Markdown: what the last step of labels (second-most to most) added to each mode's test
    accuracy, paired by seed: still improving, or no gain these seeds can see. "" with fewer
    than two budgets."""
    budgets = sorted(dict.fromkeys(point["x"] for point in sweep.points()))
    if len(budgets) < 2:
        return ""
    lower, upper = budgets[-2], budgets[-1]
    points = {(point["series"], point["x"]): point for point in sweep.ordered_points()}
    parts = []
    for series in dict.fromkeys(point["series"] for point in sweep.ordered_points()):
        if (series, lower) not in points or (series, upper) not in points:
            continue
        step = paired_difference_by_seed(_by_seed(points[series, upper]), _by_seed(points[series, lower]))
        if step["n"] < 2:
            state = "undecided (fewer than two seeds; no power can be computed)"
        elif step["low"] > 0:
            state = "still improving"
        elif step["high"] < 0:
            state = "lower with more labels"
        else:
            state = f"no gain these seeds can tell from noise ({power_clause(step, detect)})"
        parts.append(f"**{series}** {_signed_with_interval(step)}, {state}")
    if not parts:
        return ""
    return f"- From {_budget(lower)} to {_budget(upper)}: " + "; ".join(parts) + "."


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def _difference_text(entry: Mapping[str, Any], baseline: str, detect: float = DEFAULT_DETECT,
                     key: str = "difference vs structure") -> str:
    difference = entry.get(key)
    return f" ({difference_clause(difference, baseline, detect)})" if difference else ""


def _by_seed(point: Mapping[str, Any]) -> dict[Any, float]:
    return dict(zip(point["seeds"], point["values"]))


def _gains_by_seed(sweep: Sweep, series: str, x: float, baseline: str) -> dict[Any, float]:
    points = {(point["series"], point["x"]): point for point in sweep.points()}
    mine, base = _by_seed(points[series, x]), _by_seed(points.get((baseline, x), {"seeds": [], "values": []}))
    return {seed: value - base[seed] for seed, value in mine.items() if seed in base}


def _signed_with_interval(difference: Mapping[str, Any]) -> str:
    interval = f" {format_interval(difference)}" if int(difference.get("n") or 0) > 1 else ""
    return f"{format_number(difference.get('mean'), signed=True)}{interval}"


def _budget(x: Any) -> str:
    return f"{whole_if_integral(x)} per class"


def _depth_list(rows: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(str(whole_if_integral(row["x"])) for row in rows)


def _where_distinguishable(rows: Sequence[Mapping[str, Any]], baseline: str) -> str:
    if any(int(row["n"] or 0) < 2 for row in rows):
        return "with fewer than two seed pairs at some budget there are no intervals to tell where it beats " + baseline
    above = [row for row in rows if row["low"] > 0]
    if not above:
        return "its gain is not distinguishable from 0 at any budget"
    return f"it beats {baseline} at {', '.join(_budget(row['x']) for row in above)}"
