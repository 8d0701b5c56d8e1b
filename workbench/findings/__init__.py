"""Findings in words, written from the numbers: every claim a report or the CLI makes about a
comparison, a sweep, a transferability score or a structure edit ("beats structure", "frozen falls
at the deepest n", "the score ranks the cut points better than chance", "the cut costs accuracy",
"the grown network computes the source's function", "not distinguishable") comes from here, from
the paired differences, their intervals and what the study could have detected, never from fixed
text that could turn false.

Every "not distinguishable" carries the smallest difference the study could have detected (80%
power, two-sided, from the observed sd of the paired differences and n) and the number of seeds
that would detect a difference the user names (`detect`, default 0.02).

The functions return Markdown text; `workbench.notebook_support` displays it in the notebooks.
"""

from workbench.findings.clauses import difference_clause, power_clause, verdict
from workbench.findings.scores import (
    RANK_ALPHA,
    SCORE_NAMES,
    describe_leep,
    describe_logme_convention,
    describe_verification,
    rank_verdict,
)
from workbench.findings.structure import (
    FUNCTION_PRESERVATION_TOLERANCE,
    describe_edit_against,
    describe_function_preservation,
    describe_structure_study,
)
from workbench.findings.studies import (
    describe_at_or_above_baseline,
    describe_best_at_budget,
    describe_best_mode,
    describe_budget_sweep,
    describe_deepest_drop,
    describe_depth_sweep,
    describe_gain_trend,
    describe_last_step,
    describe_paired_differences,
)

__all__ = [
    "FUNCTION_PRESERVATION_TOLERANCE",
    "RANK_ALPHA",
    "SCORE_NAMES",
    "describe_at_or_above_baseline",
    "describe_best_at_budget",
    "describe_best_mode",
    "describe_budget_sweep",
    "describe_deepest_drop",
    "describe_depth_sweep",
    "describe_edit_against",
    "describe_function_preservation",
    "describe_gain_trend",
    "describe_last_step",
    "describe_leep",
    "describe_logme_convention",
    "describe_paired_differences",
    "describe_structure_study",
    "describe_verification",
    "difference_clause",
    "power_clause",
    "rank_verdict",
    "verdict",
]
