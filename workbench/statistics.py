"""Honest numbers: summaries over seeds, paired differences with confidence intervals, what a paired
study could have detected (power), rank-correlation thresholds, and the transfer metrics of Taylor &
Stone (2009) computed from learning curves.

Pure functions on plain lists; nothing here trains.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workbench.formatting import to_float

DEFAULT_POWER = 0.8
DEFAULT_DETECT = 0.02
# Seeds needed beyond this are reported as "more than" it: no study here runs that many.
MAX_SEEDS_NEEDED = 100_000


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (ddof=1; 0 for a single value) and n, ignoring NaN."""
    finite = [float(value) for value in values if value is not None and not math.isnan(float(value))]
    if not finite:
        return {"mean": math.nan, "sd": math.nan, "n": 0}
    sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0
    return {"mean": float(np.mean(finite)), "sd": sd, "n": len(finite)}


def paired_difference(
    treatment: Sequence[float], baseline: Sequence[float], confidence: float = 0.95
) -> dict[str, Any]:
    """Mean paired difference treatment − baseline with a Student-t confidence interval.

    Pairs share a seed (same splits, same budget draw), so pairing removes the seed-to-seed
    variation both share. With one pair the interval is undefined (NaN).

    Args:
        treatment: per-seed values of the mode under test.
        baseline: per-seed values of the baseline, in the same seed order.
        confidence: interval coverage. Defaults to 0.95.

    Returns:
        mean, sd, n, low, high, confidence, `significant` (the interval excludes 0), and
        `detectable`: the smallest true difference these n pairs would have detected with 80%
        power at the two-sided level 1 − confidence (`detectable_difference`; NaN below n = 2).

    Raises:
        ValueError: when the two lists differ in length.
    """
    if len(treatment) != len(baseline):
        raise ValueError(f"paired values need equal lengths, got {len(treatment)} and {len(baseline)}")
    differences = [float(a) - float(b) for a, b in zip(treatment, baseline)]
    summary = summarize(differences)
    n = summary["n"]
    if n < 2:
        low = high = math.nan
    else:
        from scipy import stats

        half_width = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * summary["sd"] / math.sqrt(n)
        low, high = summary["mean"] - half_width, summary["mean"] + half_width
    return {**summary, "low": low, "high": high, "confidence": confidence,
            "significant": bool(n >= 2 and (low > 0 or high < 0)),
            "detectable": detectable_difference(summary["sd"], n, alpha=1 - confidence)}


def paired_difference_by_seed(
    treatment: Mapping[Any, float], baseline: Mapping[Any, float], confidence: float = 0.95
) -> dict[str, Any]:
    """`paired_difference` of two seed → value mappings, on the seeds both hold (sorted).

    Args:
        treatment: seed → value of the series under test.
        baseline: seed → value of the series it is compared with.
        confidence: interval coverage. Defaults to 0.95.

    Returns:
        What `paired_difference` returns, plus `seeds`: the seeds that formed the pairs.
    """
    seeds = sorted(seed for seed in treatment if seed in baseline)
    result = paired_difference([treatment[seed] for seed in seeds], [baseline[seed] for seed in seeds], confidence)
    return {**result, "seeds": seeds}


def paired_t_power(effect_size: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test: the chance that n pairs reject "no difference" at
    level `alpha` when the true mean difference is `effect_size` paired standard deviations.

    Exact, from the noncentral t distribution (df = n − 1, noncentrality d·√n), both tails
    counted, as G*Power and statsmodels' `TTestPower` compute it.

    Args:
        effect_size: true mean difference divided by the sd of the paired differences (Cohen's d
            of the differences); its sign does not matter.
        n: number of pairs (seeds); at least 2.
        alpha: two-sided significance level. Defaults to 0.05.

    Returns:
        The power, in [alpha, 1]; NaN for n < 2.
    """
    if n < 2 or not math.isfinite(effect_size):
        return math.nan
    from scipy import stats

    freedom = n - 1
    critical = float(stats.t.ppf(1 - alpha / 2, freedom))
    shift = abs(effect_size) * math.sqrt(n)
    lower = float(stats.nct.cdf(-critical, freedom, shift))
    # scipy's noncentral t returns NaN for this far tail at large shifts, where it is below 1e-9.
    return float(stats.nct.sf(critical, freedom, shift)) + (lower if math.isfinite(lower) else 0.0)


def detectable_difference(sd: float, n: int, power: float = DEFAULT_POWER, alpha: float = 0.05) -> float:
    """The smallest true mean difference that n pairs with this sd of differences detect with the
    given power by a two-sided paired t-test at level `alpha` (the minimum detectable difference).

    Solved exactly on the noncentral t (`paired_t_power`), not by the normal approximation. The
    observed sd stands in for the true one: with few seeds it is itself uncertain, so read the
    result as the order of magnitude the study could see.

    Args:
        sd: sample standard deviation of the paired differences.
        n: number of pairs (seeds).
        power: the chance of detecting it. Defaults to 0.8.
        alpha: two-sided significance level. Defaults to 0.05.

    Returns:
        The difference, in the units of the values (accuracy); 0.0 when the differences did not
        vary at all (sd 0: any difference shows); NaN for n < 2 or a missing sd.
    """
    if n < 2 or not math.isfinite(to_float(sd)):
        return math.nan
    if sd == 0:
        return 0.0
    from scipy import optimize

    high = 1.0
    while paired_t_power(high, n, alpha) < power:
        high *= 2
    effect = optimize.brentq(lambda d: paired_t_power(d, n, alpha) - power, 0.0, high, xtol=1e-12)
    return float(effect * sd)


def seeds_needed(difference: float, sd: float, power: float = DEFAULT_POWER, alpha: float = 0.05) -> int | None:
    """How many pairs (seeds) a two-sided paired t-test needs to detect a true mean `difference`
    with the given power, when the paired differences spread with this sd.

    Exact on the noncentral t (`paired_t_power`); the sd is the one observed, so the answer is
    an estimate, good to plan the next study, not a guarantee.

    Args:
        difference: the difference to detect (accuracy units, e.g. 0.02); its sign does not matter.
        sd: standard deviation of the paired differences.
        power: the chance of detecting it. Defaults to 0.8.
        alpha: two-sided significance level. Defaults to 0.05.

    Returns:
        The smallest n ≥ 2 that reaches the power; 2 when sd is 0; None when it cannot be
        computed (no sd, a difference of 0) or exceeds `MAX_SEEDS_NEEDED`.
    """
    sd, difference = to_float(sd), abs(to_float(difference))
    if not (math.isfinite(sd) and math.isfinite(difference)) or difference == 0:
        return None
    if sd == 0:
        return 2
    effect = difference / sd
    if paired_t_power(effect, MAX_SEEDS_NEEDED, alpha) < power:
        return None
    low, high = 1, 2  # power(low) < target <= power(high), power rising with n
    while paired_t_power(effect, high, alpha) < power:
        low, high = high, min(2 * high, MAX_SEEDS_NEEDED)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if paired_t_power(effect, middle, alpha) < power else (low, middle)
    return high


def kendall_tau_critical(n: int, alpha: float = 0.05) -> float | None:
    """The smallest |Kendall τ| that n untied points can show and still be distinguishable from 0
    (two-sided exact test at level `alpha`).

    Exact for n ≤ 50, from the null distribution of the number of discordant pairs (the Mahonian
    numbers: every ordering equally likely); above, the normal approximation with
    var τ = 2(2n + 5) / (9n(n − 1)).

    Args:
        n: number of ranked points.
        alpha: two-sided significance level. Defaults to 0.05.

    Returns:
        The critical |τ|, or None when even a perfect ranking (|τ| = 1) would not reach the level
        (n ≤ 4 at 5%).
    """
    if n < 2:
        return None
    pairs = n * (n - 1) // 2
    if n > 50:
        from scipy import stats

        threshold = float(stats.norm.ppf(1 - alpha / 2)) * math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))
        return threshold if threshold <= 1 else None
    counts = [1]  # counts[k]: orderings of m items with k discordant pairs
    for size in range(2, n + 1):
        grown = [0] * (len(counts) + size - 1)
        for discordant, count in enumerate(counts):
            for extra in range(size):
                grown[discordant + extra] += count
        counts = grown
    total = sum(counts)
    # |τ| ≥ t means k ≤ K or k ≥ pairs − K for the discordant count K of τ = t; by symmetry both
    # tails hold the same mass.
    tail = 0
    for discordant in range(pairs // 2 + 1):
        tail += counts[discordant]
        mass = 2 * tail if 2 * discordant != pairs else total
        if mass / total > alpha:
            if discordant == 0:
                return None
            return 1 - 4 * (discordant - 1) / (n * (n - 1))
    return 0.0


def area_under_curve(values: Sequence[float]) -> float:
    """Area under a per-epoch curve, trapezoidal, normalised by the number of intervals (so a curve
    that is 1.0 throughout has area 1.0 whatever its length)."""
    points = [float(value) for value in values]
    if not points:
        return math.nan
    if len(points) == 1:
        return points[0]
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 renamed trapz
    return float(trapezoid(points) / (len(points) - 1))


def time_to_threshold(accuracies: Sequence[float], seconds: Sequence[float], threshold: float) -> dict[str, float]:
    """Epochs and cumulative seconds until an accuracy curve first reaches `threshold` (NaN if never)."""
    elapsed = 0.0
    for epoch, (accuracy, epoch_seconds) in enumerate(zip(accuracies, seconds), start=1):
        elapsed += float(epoch_seconds)
        if float(accuracy) >= threshold:
            return {"epochs": float(epoch), "seconds": elapsed}
    return {"epochs": math.nan, "seconds": math.nan}


def transfer_metrics(
    transfer_curve: Sequence[float],
    baseline_curve: Sequence[float],
    transfer_seconds: Sequence[float] | None = None,
    baseline_seconds: Sequence[float] | None = None,
    threshold: float | None = None,
    transfer_final: float | None = None,
    baseline_final: float | None = None,
) -> dict[str, float]:
    """Taylor & Stone's transfer metrics of one transfer curve against the from-scratch baseline.

    Args:
        transfer_curve: accuracy per epoch of the transferred model (validation accuracy).
        baseline_curve: the same for the structure (from-scratch) baseline at the same seed.
        transfer_seconds, baseline_seconds: seconds per epoch, for time to threshold.
        threshold: accuracy to reach; defaults to 90% of the baseline's best.
        transfer_final, baseline_final: final scores (test accuracy); default to the curves' ends.

    Returns:
        jumpstart (difference after the first epoch), asymptotic_gain (difference of final
        scores), transfer_ratio ((area_transfer − area_baseline) / area_baseline), threshold,
        epochs_to_threshold and seconds_to_threshold for both (NaN where never reached).
    """
    if not transfer_curve or not baseline_curve:
        raise ValueError("transfer metrics need at least one epoch in both curves")
    threshold = 0.9 * max(baseline_curve) if threshold is None else float(threshold)
    final_transfer = float(transfer_curve[-1] if transfer_final is None else transfer_final)
    final_baseline = float(baseline_curve[-1] if baseline_final is None else baseline_final)
    area_transfer, area_baseline = area_under_curve(transfer_curve), area_under_curve(baseline_curve)
    ones = [1.0] * max(len(transfer_curve), len(baseline_curve))
    reach_transfer = time_to_threshold(transfer_curve, transfer_seconds or ones, threshold)
    reach_baseline = time_to_threshold(baseline_curve, baseline_seconds or ones, threshold)
    return {
        "jumpstart": float(transfer_curve[0]) - float(baseline_curve[0]),
        "asymptotic_gain": final_transfer - final_baseline,
        "transfer_ratio": (area_transfer - area_baseline) / area_baseline if area_baseline else math.nan,
        "threshold": threshold,
        "epochs_to_threshold": reach_transfer["epochs"],
        "baseline_epochs_to_threshold": reach_baseline["epochs"],
        "seconds_to_threshold": reach_transfer["seconds"],
        "baseline_seconds_to_threshold": reach_baseline["seconds"],
    }
