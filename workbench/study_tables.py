"""Study results as table rows and key figures: what the report notebooks show as tables and
record in `metrics.json`, and what the panel and the CLI tabulate. Pure: rows in, rows out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from workbench.findings import verdict
from workbench.formatting import format_interval, format_mean_sd, format_number
from workbench.statistics import DEFAULT_DETECT, DEFAULT_POWER, MAX_SEEDS_NEEDED
from workbench.sweeps import BASELINE_SERIES, difference_summary, power_figures, whole_if_integral

DETECTABLE_TITLE = f"detectable difference ({round(100 * DEFAULT_POWER)}% power)"

if TYPE_CHECKING:
    from workbench.experiments import Comparison
    from workbench.sweeps import Sweep


def comparison_rows(comparison: Comparison) -> list[dict[str, Any]]:
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


def comparison_metrics(comparison: Comparison, detect: float = DEFAULT_DETECT) -> dict[str, Any]:
    """Key numbers of a comparison for `metrics.json`: accuracy per mode and the gain over scratch.

    `gain_over_structure` is each mode's mean test accuracy minus structure transfer's (the
    from-scratch baseline): positive means the transfer helped. `difference_vs_structure` is the
    same difference paired by seed, with sd, n, the 95% interval (`low`, `high`), the smallest
    difference the seeds could detect with 80% power (`detectable`) and the seeds needed to
    detect `detect`; the last two also stand alone per mode, as "detectable difference (80%
    power)" and "seeds to detect 0.020", for the report index.

    Args:
        comparison: a `Comparison`.
        detect: the difference for the seeds-needed estimate. Defaults to 0.02.
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
        metrics["difference_vs_structure"] = {row["mode"]: difference_summary(row, detect) for row in paired}
        metrics["difference_vs_structure_95%_CI"] = {row["mode"]: format_interval(row) for row in paired}
        for row in paired:
            for name, value in power_figures(row, detect).items():
                metrics.setdefault(name, {})[row["mode"]] = value
    return metrics


def paired_difference_rows(comparison: Comparison, baseline: str = "structure",
                           detect: float = DEFAULT_DETECT) -> list[dict[str, Any]]:
    """Table rows for "mode X beats structure": the mean paired difference (same seed), its sd, the
    95% t-interval, n, the verdict, the smallest difference these seeds could detect with 80%
    power, and the seeds needed to detect `detect`, one row per mode."""
    labels = {row["mode"]: row["label"] for row in comparison.rows()}
    return [
        {
            "mode": labels.get(row["mode"], row["mode"]),
            f"test accuracy − {baseline} (mean ± sd)": format_mean_sd(row, signed=True, with_n=False),
            "95% CI": format_interval(row),
            "n (seed pairs)": row["n"],
            "verdict": verdict(row, baseline, detect, with_power=False),
            **power_cells(row, detect),
        }
        for row in comparison.paired_differences(baseline)
    ]


def power_cells(difference: dict[str, Any], detect: float = DEFAULT_DETECT) -> dict[str, str]:
    """Two table cells: the smallest difference the pairs could detect with 80% power, and the
    seeds that would detect `detect` ("needs n ≥ 2 seeds" where no power can be computed)."""
    figures = power_figures(difference, detect)
    seeds_title = f"seeds to detect {format_number(detect)}"
    if int(difference.get("n") or 0) < 2:
        missing = "none: needs n ≥ 2 seeds"
        return {DETECTABLE_TITLE: missing, seeds_title: missing}
    seeds = figures[seeds_title]
    return {DETECTABLE_TITLE: format_number(figures[DETECTABLE_TITLE]),
            seeds_title: f"more than {MAX_SEEDS_NEEDED}" if seeds is None else str(seeds)}


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


def transfer_metric_rows(comparison: Comparison, threshold: float | None = None,
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


def transfer_metrics_summary(comparison: Comparison, threshold: float | None = None,
                             baseline: str = "structure") -> dict[str, Any]:
    """The headline transfer metrics for `metrics.json` (and so the report index): per mode,
    jumpstart, asymptotic gain, transfer ratio and epochs to threshold, each as {mean, sd, n}."""
    return {entry["mode"]: {key.replace("_", " "): entry[key] for key in SUMMARY_TRANSFER_METRICS}
            for entry in comparison.transfer_metrics(baseline, threshold)}


def sweep_rows(sweep: Sweep, baseline: str = BASELINE_SERIES) -> list[dict[str, Any]]:
    """The sweep as table rows: series, x, test accuracy mean ± sd, n, difference from the baseline
    at the same seed with its 95% CI, the smallest difference these seeds could detect with 80%
    power, and the per-seed values.

    In a freeze-depth sweep the baseline does not depend on n (one run per seed, drawn at every
    n), so it gets one row.
    """
    differences = {(row["series"], row["x"]): row for row in sweep.differences(baseline)}
    x_title = "blocks copied (n)" if sweep.kind == "freeze_depth" else sweep.x_title
    rows = []
    for point in sweep.ordered_points():
        is_baseline = point["series"] == baseline
        if is_baseline and sweep.kind == "freeze_depth":
            if any(row["series"] == baseline for row in rows):
                continue
            x_text: Any = "— (nothing copied)"
        else:
            x_text = whole_if_integral(point["x"])
        difference = differences.get((point["series"], point["x"]))
        rows.append({
            "series": point["series"],
            x_title: x_text,
            "test accuracy (mean ± sd)": format_mean_sd(point, with_n=False),
            "n (seeds)": point["n"],
            f"− {baseline}, same seed (mean [95% CI])":
                "— (the baseline)" if difference is None else
                f"{format_mean_sd(difference, signed=True, with_n=False)} {format_interval(difference)}",
            DETECTABLE_TITLE: "— (the baseline)" if difference is None else power_cells(difference)[DETECTABLE_TITLE],
            "per seed": point["values"],
        })
    return rows

