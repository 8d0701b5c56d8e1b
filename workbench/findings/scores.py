"""Findings about transferability scores, in words (report 05, `workbench rank --verify`): how well
each score ranked the candidates against the fine-tuned accuracies, whether that is
distinguishable from a random ranking at this n, what LEEP can and cannot rank, and which LogME
convention the numbers use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from workbench.formatting import format_number, to_float
from workbench.statistics import kendall_tau_critical

RANK_ALPHA = 0.05


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
