"""Shared wording for one paired difference: what it lets one say (`verdict`), the difference in
words with its interval (`difference_clause`), and what the study could have seen
(`power_clause`: the smallest difference detectable at 80% power, two-sided, from the observed sd
of the paired differences and n, and the number of seeds that would detect a difference the user
names). Every other findings module writes its verdicts through these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from workbench.formatting import format_interval, format_mean_sd, format_number, to_float
from workbench.statistics import DEFAULT_DETECT, DEFAULT_POWER, MAX_SEEDS_NEEDED, detectable_difference, seeds_needed


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
