"""Text tables for the command line (`workbench rank`) and notebook output: transferability scores,
source rankings and their verification.

Pure Python: the tables take the plain dicts that `workbench.diagnostics` and
`workbench.verification` return, so printing them needs neither Keras nor numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workbench.formatting import format_number

__all__ = ["format_block_scores", "format_source_ranking", "format_verification"]


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
    return "\n".join(lines)


def format_verification(correlations: Mapping[str, Mapping[str, Any]]) -> str:
    """Kendall τ and Spearman ρ per score, with the number of points, as a text table.

    Args:
        correlations: score name → `diagnostics.verify_scores` result (the "correlations" of a
            `verification.verify_by_training` result).
    """
    lines = [f"{'score':<16} {'n':>3} {'Kendall tau':>12} {'Spearman rho':>13}"]
    for name, result in correlations.items():
        lines.append(f"{name:<16} {result['n']:>3} {format_number(result['kendall_tau'], signed=True):>12} "
                     f"{format_number(result['spearman_rho'], signed=True):>13}")
    return "\n".join(lines)
