"""Text tables for the command line and notebook output: transferability scores, source rankings
and their verification (`workbench rank`), and the paired differences of a study with what its
seeds could have detected (`workbench compare`, `sweep-depth`, `sweep-budget`).

The tables take the plain dicts that `workbench.diagnostics`, `workbench.verification` and the
studies return; the verdict lines come from `workbench.findings`, imported when first needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workbench.formatting import format_interval, format_mean_sd, format_number

__all__ = ["format_block_scores", "format_paired_differences", "format_source_ranking", "format_verification"]


def format_block_scores(result: Mapping[str, Any]) -> str:
    """A `score_blocks` result as a text table, with the suggested freeze depth marked.

    Args:
        result: the dict `diagnostics.score_blocks` returns.
    """
    budget = f"{result['per_class']} labels per class" if result.get("per_class") else "all labels"
    lines = [
        f"source {result['source']} → target {result['task']} ({budget}; {result['train_examples']} training, "
        f"{result['validation_examples']} validation images; {result['seconds']:.1f} s)",
        f"LEEP {result['leep']:.4f}",
        _logme_convention_line(result.get("logme_convention")),
        "",
        f"{'freeze depth':>12}  {'features at':<14} {'width':>7} {'LogME':>9} {'probe acc':>9}",
    ]
    for row in result["cut_points"]:
        marker = "  ← suggested" if row["freeze_depth"] == result["suggested_freeze_depth"] else ""
        lines.append(f"{row['freeze_depth']:>12}  {row['block']:<14} {row['features']:>7} {row['logme']:>9.4f} "
                     f"{row['probe_accuracy']:>9.3f}{marker}")
    lines += ["", f"suggested freeze depth {result['suggested_freeze_depth']}: {result['suggestion_rule']}"]
    return "\n".join(lines)


def format_source_ranking(rows: Sequence[Mapping[str, Any]]) -> str:
    """`rank_sources` rows as a text table, best first.

    Args:
        rows: the rows `diagnostics.rank_sources` returns.
    """
    lines = [f"{'rank':>4}  {'source':<24} {'source task':<16} {'LogME':>9} {'LEEP':>9} {'probe acc':>9}"]
    for row in rows:
        lines.append(f"{row['rank']:>4}  {str(row['source']):<24} {str(row.get('source_task') or '-'):<16} "
                     f"{row['logme']:>9.4f} {row['leep']:>9.4f} {row['probe_accuracy']:>9.3f}")
    conventions = list(dict.fromkeys(row["logme_convention"] for row in rows if row.get("logme_convention")))
    if conventions:
        lines += ["", _logme_convention_line(conventions[0])]
    return "\n".join(lines)


def _logme_convention_line(convention: str | None) -> str:
    from workbench.diagnostics.scores import DEFAULT_LOGME_CONVENTION, LOGME_CONVENTIONS

    convention = convention or DEFAULT_LOGME_CONVENTION
    return f"LogME convention: {convention} ({LOGME_CONVENTIONS.get(convention, 'unknown')})"


def format_verification(correlations: Mapping[str, Mapping[str, Any]], candidates: str = "cut points") -> str:
    """Kendall τ (with its p-value), weighted τ and Spearman ρ per score, with the number of
    points, as a text table; below it, per score, whether τ is distinguishable from a random
    ranking at this n (`findings.rank_verdict`).

    Args:
        correlations: score name → `diagnostics.verify_scores` result (the "correlations" of a
            `verification.verify_by_training` result).
        candidates: what was ranked, for the verdicts. Defaults to "cut points".
    """
    from workbench.findings import rank_verdict

    lines = [f"{'score':<16} {'n':>3} {'Kendall tau':>12} {'p':>6} {'weighted tau':>13} {'Spearman rho':>13}"]
    for name, result in correlations.items():
        lines.append(f"{name:<16} {result['n']:>3} {format_number(result['kendall_tau'], signed=True):>12} "
                     f"{format_number(result.get('kendall_p')):>6} "
                     f"{format_number(result.get('weighted_tau'), signed=True):>13} "
                     f"{format_number(result['spearman_rho'], signed=True):>13}")
    lines.append("")
    for name, result in correlations.items():
        judged = "no ranking to judge" if format_number(result.get("kendall_tau")) == "n/a" else rank_verdict(
            result, candidates)
        lines.append(f"{name}: {judged}")
    return "\n".join(lines)


def format_study_table(description: str, column: str, labelled_rows: Sequence[tuple[str, Mapping[str, Any]]],
                       differences: str, stopped: bool, failure_lines: Sequence[str]) -> str:
    """A study as text: how it was obtained, test accuracy mean ± sd, n and per-seed values per
    labelled row (a mode or an arm, under `column`), then the paired differences, a note when it
    was stopped, and the lines about runs whose worker failed."""
    width = max([24, *(len(label) + 1 for label, _ in labelled_rows)])
    lines = [description, "", f"{column:<{width}} {'test accuracy':>17} {'n':>3}   per seed"]
    for label, row in labelled_rows:
        per_seed = " ".join(f"{value:.3f}" for value in row["values"])
        lines.append(f"{label:<{width}} {format_mean_sd(row, with_n=False):>17} {row['n']:>3}   {per_seed}")
    if differences:
        lines += ["", differences]
    if stopped:
        lines.append("(stopped early: not every seed ran)")
    return "\n".join([*lines, *failure_lines])


def format_paired_differences(differences: Sequence[Mapping[str, Any]], baseline: str = "structure",
                              detect: float | None = None) -> str:
    """Paired differences from the baseline as text lines: mean [95% CI], n, the verdict, and
    what the seeds could have detected (smallest difference at 80% power, seeds to detect
    `detect`), for `workbench compare` and the sweeps.

    Args:
        differences: rows of `Comparison.paired_differences` (keyed by "mode") or
            `Sweep.differences` (keyed by "series" and "x").
        baseline: the name of the reference. Defaults to "structure".
        detect: the difference for the seeds-needed estimate. Defaults to 0.02.
    """
    from workbench.findings import power_clause, verdict
    from workbench.statistics import DEFAULT_DETECT

    detect = DEFAULT_DETECT if detect is None else detect
    rows = [row for row in differences if row.get("n")]
    if not rows:
        return ""
    lines = [f"paired difference vs {baseline} (same seed), mean [95% CI], n: verdict; what the seeds could detect"]
    for row in rows:
        name = _difference_name(row)
        interval = format_interval(row) if row["n"] > 1 else "(n=1: no interval)"
        judged = verdict(row, baseline, detect, with_power=False)
        lines.append(f"  {name:<28} {format_number(row['mean'], signed=True)} {interval}  n={row['n']}: {judged}; "
                     f"{power_clause(row, detect)}")
    return "\n".join(lines)


def _difference_name(row: Mapping[str, Any]) -> str:
    if "mode" in row:
        return str(row["mode"])
    x = row["x"]
    x_text = str(int(x)) if float(x).is_integer() else format_number(x, digits=1)
    return f"{row['series']}, n = {x_text}" if "freeze_depth" in row else f"{row['series']}, {x_text} per class"
