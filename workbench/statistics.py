"""Honest numbers: summaries over seeds, paired differences with confidence intervals, and the
transfer metrics of Taylor & Stone (2009) computed from learning curves.

Pure functions on plain lists; nothing here trains.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


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
        mean, sd, n, low, high, confidence, and `significant` (the interval excludes 0).

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
            "significant": bool(n >= 2 and (low > 0 or high < 0))}


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
