"""Findings about structure transfer, in words (report 06, `workbench.api.compare_structures`):
every arm against fresh weights, each edited arm against the plain reference arm, and whether a
grown network computes the source's function.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.findings.clauses import difference_clause
from workbench.findings.studies import describe_paired_differences
from workbench.formatting import format_number, format_scientific, to_float
from workbench.statistics import DEFAULT_DETECT

if TYPE_CHECKING:
    from workbench.experiments import VariantComparison


# ------------------------------------------------------------------------------------------------
# Structure transfer (report 06, `workbench.api.compare_structures`)
# ------------------------------------------------------------------------------------------------

# A grown network computes the source's function when no logit moves by more than this, relative
# to the largest source logit (at least 1): float32 round-off, not a change of function.
FUNCTION_PRESERVATION_TOLERANCE = 1e-4


def describe_structure_study(comparison: VariantComparison, reference: str,
                             preservation: Mapping[str, Any] | None = None, detect: float = DEFAULT_DETECT) -> str:
    """Markdown: every arm against the comparison's baseline (fresh weights) with its interval and
    what the seeds could have seen; each edited arm against the plain `reference` arm (did the edit
    help, cost, or make no difference the seeds can see); then the function-preservation check."""
    lines = [describe_paired_differences(comparison, comparison.baseline, detect)]
    lines += [describe_edit_against(comparison, arm, reference, detect)
              for arm in comparison.arms if arm not in (comparison.baseline, reference)]
    if preservation is not None:
        lines.append(f"- {describe_function_preservation(preservation)}")
    return "\n".join(line for line in lines if line)


def describe_edit_against(comparison: VariantComparison, arm: str, reference: str,
                          detect: float = DEFAULT_DETECT) -> str:
    """Markdown: one arm against another at the same seed, in words only as strong as the interval:
    "does better than", "costs accuracy against", or no difference these seeds can tell from
    noise (with what they could have seen). "" when either arm has no runs."""
    if not (comparison.runs_by_arm.get(arm) and comparison.runs_by_arm.get(reference)):
        return ""
    difference = next(row for row in comparison.paired_differences(reference) if row["arm"] == arm)
    if int(difference["n"]) < 2:
        lead = f"whether **{arm}** differs from **{reference}** is undecided"
    elif difference["low"] > 0:
        lead = f"**{arm}** does better than **{reference}**"
    elif difference["high"] < 0:
        lead = f"**{arm}** costs accuracy against **{reference}**"
    else:
        lead = f"**{arm}** makes no difference to **{reference}** that these seeds can tell from noise"
    return f"- {lead}: {difference_clause(difference, reference, detect)}."


def describe_function_preservation(check: Mapping[str, Any],
                                   tolerance: float = FUNCTION_PRESERVATION_TOLERANCE) -> str:
    """Markdown: whether a grown network computed the source's function before training, from the
    largest |logit difference| on target images (`structure_study.function_preservation`)."""
    largest, scale = to_float(check.get("max_abs_logit_difference")), to_float(check.get("max_abs_logit"))
    noise = to_float(check.get("grow_noise")) or 0.0
    what = (f"**Function preservation** of `{check.get('edits')}` (the grown network with the source's own head, "
            f"before training, on {check.get('images')} target test images)")
    if not (math.isfinite(largest) and math.isfinite(scale)):
        return f"{what}: could not be measured (no images or no logits)."
    relative = largest / max(1.0, scale)
    measured = (f"the largest |logit difference| from the source is {format_scientific(largest)} "
                f"({format_scientific(relative)} relative to the largest logit, {format_number(scale)})")
    noise_text = f"grow_noise {format_number(noise)}" if noise else "grow_noise 0"
    if relative <= tolerance:
        return (f"{what}: {measured}, within float tolerance ({format_scientific(tolerance)}) with {noise_text}: "
                "it computes the source's function.")
    if noise:
        return (f"{what}: {measured}, beyond float tolerance ({format_scientific(tolerance)}): the {noise_text} "
                "moves it off the source's function; grow_noise 0 preserves the function exactly.")
    return (f"{what}: {measured}, beyond float tolerance ({format_scientific(tolerance)}) with {noise_text}: it "
            "does not compute the source's function, so these edits do more than function-preserving growth.")
