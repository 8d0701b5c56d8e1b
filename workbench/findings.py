"""Findings in words, written from the numbers: every claim a report or the CLI makes about a
comparison, a sweep or a transferability score ("beats structure", "frozen falls at the deepest n",
"the score ranks the cut points better than chance", "not distinguishable") comes from here, from
the paired differences, their intervals and what the study could have detected, never from fixed
text that could turn false.

Every "not distinguishable" carries the smallest difference the study could have detected (80%
power, two-sided, from the observed sd of the paired differences and n) and the number of seeds
that would detect a difference the user names (`detect`, default 0.02).

The functions return Markdown text; `workbench.notebook_support` displays it in the notebooks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench.formatting import format_interval, format_mean_sd, format_number, to_float
from workbench.statistics import (
    DEFAULT_DETECT,
    DEFAULT_POWER,
    MAX_SEEDS_NEEDED,
    detectable_difference,
    kendall_tau_critical,
    paired_difference_by_seed,
    seeds_needed,
)
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

RANK_ALPHA = 0.05


# ------------------------------------------------------------------------------------------------
# One paired difference
# ------------------------------------------------------------------------------------------------


def power_clause(difference: Mapping[str, Any], detect: float = DEFAULT_DETECT) -> str:
    """What a paired study could have seen: "this study could only have seen differences above
    0.090 (80% power, two-sided 5%, paired sd 0.050, n=3); about 42 seeds would detect 0.020".

    Args:
        difference: a paired difference (`statistics.paired_difference`: sd, n, confidence and,
            if present, detectable).
        detect: the difference the user wants to be able to see. Defaults to 0.02.
    """
    n = int(difference.get("n") or 0)
    if n < 2:
        return "no power can be computed from fewer than two seed pairs"
    alpha = 1 - float(difference.get("confidence", 0.95))
    sd = to_float(difference.get("sd"))
    if sd == 0:
        return f"the {n} paired differences did not vary at all (sd 0), so any difference would have shown"
    detectable = to_float(difference.get("detectable"))
    if not math.isfinite(detectable):
        detectable = detectable_difference(sd, n, alpha=alpha)
    needed = seeds_needed(detect, sd, alpha=alpha)
    seeds_text = (f"about {needed} seeds would detect {format_number(detect)}" if needed is not None
                  else f"more than {MAX_SEEDS_NEEDED} seeds would be needed to detect {format_number(detect)}")
    # Where the interval already excludes 0 the study saw a difference; say what else it could see.
    seen = to_float(difference.get("low")) > 0 or to_float(difference.get("high")) < 0
    lead = "these seeds could detect differences above" if seen else "this study could only have seen differences above"
    # An accuracy difference is at most 1: above that, no real difference could have shown.
    beyond = ", larger than any accuracy difference can be" if detectable > 1 else ""
    return (f"{lead} {format_number(detectable)}{beyond} ({round(100 * DEFAULT_POWER)}% power, two-sided "
            f"{round(100 * alpha)}%, paired sd {format_number(sd)}, n={n}); {seeds_text}")


def verdict(difference: Mapping[str, Any], baseline: str = "structure", detect: float = DEFAULT_DETECT,
            with_power: bool = True) -> str:
    """What a paired difference lets one say: beats, worse than, or not distinguishable from the
    baseline; "not distinguishable" comes with what the study could have seen (`power_clause`).

    Args:
        difference: a paired difference (mean, sd, n, low, high, confidence).
        baseline: the name of what it is compared with. Defaults to "structure".
        detect: the difference the user names for the seeds-needed estimate. Defaults to 0.02.
        with_power: append the power statement (tables that show it in columns leave it out).
            Defaults to True.
    """
    n = int(difference.get("n") or 0)
    if n < 2:
        undecided = "undecided: no interval from fewer than two seeds, run more seeds"
        return f"{undecided}; no power can be computed" if with_power else undecided
    confidence = round(100 * float(difference.get("confidence", 0.95)))
    if to_float(difference.get("low")) > 0:
        return f"beats {baseline} ({confidence}% CI above 0)"
    if to_float(difference.get("high")) < 0:
        return f"worse than {baseline} ({confidence}% CI below 0)"
    plain = f"not distinguishable from {baseline} (CI contains 0)"
    return f"{plain}; {power_clause(difference, detect)}" if with_power else plain


def difference_clause(difference: Mapping[str, Any], baseline: str = "structure",
                      detect: float = DEFAULT_DETECT) -> str:
    """A paired difference in words: "+0.096 ± 0.020 vs structure at the same seed, 95% CI
    [+0.050, +0.140], n=3: beats structure (95% CI above 0)"."""
    n = int(difference.get("n") or 0)
    interval = f", 95% CI {format_interval(difference)}" if n > 1 else ""
    return (f"{format_mean_sd(difference, signed=True, with_n=False)} vs {baseline} at the same seed{interval}, "
            f"n={n}: {verdict(difference, baseline, detect)}")


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
# Transferability scores (report 05, `workbench rank --verify`)
# ------------------------------------------------------------------------------------------------

SCORE_NAMES = {"logme": "LogME", "leep": "LEEP", "probe_accuracy": "linear-probe accuracy"}


def describe_verification(correlations: Mapping[str, Mapping[str, Any]], candidates: str = "cut points") -> str:
    """Markdown, one line per score: how well it ranked the candidates against the fine-tuned
    accuracies (Kendall τ with its exact p and n, weighted τ, Spearman ρ), and whether that τ is
    distinguishable from a random ranking at this n (with the smallest |τ| that would have been).

    Args:
        correlations: score name → `diagnostics.verify_scores` result.
        candidates: what was ranked, for the text. Defaults to "cut points".
    """
    lines = []
    for name, result in correlations.items():
        title = SCORE_NAMES.get(name, name)
        n, tau = int(result.get("n") or 0), to_float(result.get("kendall_tau"))
        if not math.isfinite(tau):
            lines.append(f"- **{title}**: no ranking to judge (n = {n} {candidates} with both a score and an "
                         "accuracy, or the scores or the accuracies did not vary).")
            continue
        numbers = (f"Kendall τ = {format_number(tau, 2, signed=True)} (p = {format_number(result.get('kendall_p'), 3)}"
                   f", n = {n}), weighted τ = {format_number(result.get('weighted_tau'), 2, signed=True)}, "
                   f"Spearman ρ = {format_number(result.get('spearman_rho'), 2, signed=True)}")
        lines.append(f"- **{title}**: {numbers}: {rank_verdict(result, candidates)}.")
    return "\n".join(lines) if lines else "No score was verified."


def rank_verdict(result: Mapping[str, Any], candidates: str = "cut points", alpha: float = RANK_ALPHA) -> str:
    """What one rank correlation lets one say: ranks better than chance, in reverse, or not
    distinguishable from a random ranking at this n (and which |τ| would have been)."""
    n, tau, p = int(result.get("n") or 0), to_float(result.get("kendall_tau")), to_float(result.get("kendall_p"))
    critical = kendall_tau_critical(n, alpha)
    level = f"two-sided {round(100 * alpha)}%"
    if critical is None:
        return (f"with n = {n} {candidates} not even a perfect ranking (|τ| = 1) is distinguishable from a "
                f"random one ({level}); verify at least 5 {candidates}")
    if math.isfinite(p) and p <= alpha:
        direction = "better than chance" if tau > 0 else "in reverse (worse than chance)"
        return f"ranks the {candidates} {direction} ({level})"
    return (f"not distinguishable from a random ranking ({level}): with n = {n} {candidates} only "
            f"|τ| ≥ {format_number(critical, 2)} would be")


def describe_leep(block_scores: Mapping[str, Any]) -> str:
    """Markdown: the LEEP of a `score_blocks` result, what it can and cannot rank, and where LEEP is
    known to rank badly, with this source's numbers (source and target classes, the value an
    uninformative source would score)."""
    value = to_float(block_scores.get("leep"))
    target_classes = len(block_scores.get("classes") or [])
    source_classes = block_scores.get("source_classes")
    floor = f"log(1/{target_classes}) = {format_number(math.log(1 / target_classes))}" if target_classes else "n/a"
    lines = [f"- **LEEP** = {format_number(value)} for this source on this target "
             f"({source_classes if source_classes is not None else 'an unknown number of'} source classes, "
             f"{target_classes} target classes; a source whose predictions say nothing about the target scores "
             f"minus the entropy of the target labels, {floor} for balanced classes)."]
    lines.append("- LEEP is computed from the source head's class probabilities, so it is **one number per source "
                 "model**: it does not change with the cut point and cannot rank cut points (the verification above "
                 "checks LogME and the probe). It compares source models on one target "
                 "(`workbench rank --sources a,b,c`).")
    if isinstance(source_classes, int) and target_classes and source_classes < target_classes:
        lines.append(f"- With fewer source classes ({source_classes}) than target classes ({target_classes}), LEEP's "
                     "predictor mixes only as many distributions over the target classes as the source has classes, "
                     "so it under-rates features that separate the target classes finely.")
    lines.append("- Known weak spots of LEEP: it needs a source head trained on labelled classes; it sees the "
                 "features only through that head, so it rates the source as it is, not what fine-tuning makes of it "
                 "(the reason N-LEEP, Li et al. 2021, fits a Gaussian mixture to the features instead); and in "
                 "You et al.'s (2021) benchmark of fine-tuned ImageNet models it ranked the models less well than "
                 "LogME on most target datasets.")
    return "\n".join(lines)


def describe_logme_convention(block_scores: Mapping[str, Any]) -> str:
    """Markdown: which LogME convention a `score_blocks` result uses, and at which cut points its
    numbers part from the other convention's (features wider than the training examples)."""
    from workbench.diagnostics.scores import DEFAULT_LOGME_CONVENTION, LOGME_CONVENTIONS

    convention = block_scores.get("logme_convention") or DEFAULT_LOGME_CONVENTION
    examples = int(block_scores.get("train_examples") or 0)
    wide = [row for row in block_scores.get("cut_points", []) if int(row.get("features") or 0) > examples]
    other = next(name for name in LOGME_CONVENTIONS if name != convention)
    where = (f"At {len(wide)} of {len(block_scores.get('cut_points', []))} cut points (n = "
             f"{', '.join(str(row['freeze_depth']) for row in wide)}) the features are wider than the {examples} "
             f"training examples, so there the {other} convention would give different LogME numbers; compare "
             "LogME values only within one convention." if wide else
             f"Every cut point has at most as many features as the {examples} training examples, so both "
             "conventions give the same LogME here.")
    return f"LogME convention: **{convention}** ({LOGME_CONVENTIONS[convention]}). {where}"


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
