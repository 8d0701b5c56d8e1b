"""The command line's text tables (`workbench.text_tables`), pinned character for character on
hand-made results (the texts the tables printed before they moved out of `diagnostics`)."""

from __future__ import annotations

import math

from workbench import diagnostics, text_tables


def block_scores(per_class: int | None) -> dict:
    rows = [(0, -0.4, 0.7), (1, -0.3, 0.8), (2, -0.2, 0.85), (3, math.nan, 0.1)]
    return {"source": "src", "task": "t", "per_class": per_class, "train_examples": 25, "validation_examples": 10,
            "seconds": 1.234, "leep": -1.23456, "suggested_freeze_depth": 2, "suggestion_rule": "rule text",
            "cut_points": [{"freeze_depth": depth, "block": f"b{depth}", "features": 10 * depth, "logme": value,
                            "probe_accuracy": accuracy} for depth, value, accuracy in rows]}


def test_block_scores_table_marks_the_suggested_depth_and_names_the_budget() -> None:
    table = ("freeze depth  features at      width     LogME probe acc\n"
             "           0  b0                   0   -0.4000     0.700\n"
             "           1  b1                  10   -0.3000     0.800\n"
             "           2  b2                  20   -0.2000     0.850  ← suggested\n"
             "           3  b3                  30       nan     0.100\n"
             "\n"
             "suggested freeze depth 2: rule text")
    convention = ("LogME convention: workbench (the exact log evidence: every zero eigenvalue of FᵀF counts in "
                  "log|A|)\n")
    assert text_tables.format_block_scores(block_scores(5)) == (
        "source src → target t (5 labels per class; 25 training, 10 validation images; 1.2 s)\nLEEP -1.2346\n"
        + convention + "\n" + table)
    reference = text_tables.format_block_scores({**block_scores(5), "logme_convention": "reference"})
    assert "LogME convention: reference (as thuml/LogME and the published tables" in reference
    assert text_tables.format_block_scores(block_scores(None)).startswith(
        "source src → target t (all labels; 25 training, 10 validation images; 1.2 s)\n")


def test_source_ranking_table_has_one_line_per_source_and_a_dash_for_an_unknown_task() -> None:
    rows = [{"rank": 1, "source": "a", "source_task": None, "logme": 0.1, "leep": -1.0, "probe_accuracy": 0.8},
            {"rank": 2, "source": "bb", "source_task": "mnist", "logme": math.nan, "leep": -0.9, "probe_accuracy": 0.9}]
    assert text_tables.format_source_ranking(rows) == (
        "rank  source                   source task          LogME      LEEP probe acc\n"
        "   1  a                        -                   0.1000   -1.0000     0.800\n"
        "   2  bb                       mnist                  nan   -0.9000     0.900")


def test_verification_table_signs_correlations_and_writes_n_a_for_none() -> None:
    correlations = {"logme": {"n": 5, "kendall_tau": 1.0, "kendall_p": 0.0167, "weighted_tau": 1.0,
                              "spearman_rho": 1.0},
                    "probe_accuracy": {"n": 4, "kendall_tau": 0.0, "kendall_p": 1.0, "weighted_tau": -0.1,
                                       "spearman_rho": -0.2},
                    "x": {"n": 2, "kendall_tau": math.nan, "spearman_rho": math.nan}}
    assert text_tables.format_verification(correlations) == (
        "score              n  Kendall tau      p  weighted tau  Spearman rho\n"
        "logme              5       +1.000  0.017        +1.000        +1.000\n"
        "probe_accuracy     4       +0.000  1.000        -0.100        -0.200\n"
        "x                  2          n/a    n/a           n/a           n/a\n"
        "\n"
        "logme: ranks the cut points better than chance (two-sided 5%)\n"
        "probe_accuracy: with n = 4 cut points not even a perfect ranking (|τ| = 1) is distinguishable from a "
        "random one (two-sided 5%); verify at least 5 cut points\n"
        "x: no ranking to judge")


def test_source_ranking_table_states_its_logme_convention() -> None:
    rows = [{"rank": 1, "source": "a", "source_task": None, "logme": 0.1, "leep": -1.0, "probe_accuracy": 0.8,
             "logme_convention": "reference"}]
    assert text_tables.format_source_ranking(rows).endswith("\n\nLogME convention: reference (as thuml/LogME and "
                                                            "the published tables: with fewer examples than feature "
                                                            "dimensions (N < D), the D − N zero eigenvalues of FᵀF "
                                                            "are left out of log|A|)")


def test_the_tables_stay_importable_from_diagnostics() -> None:
    assert diagnostics.format_block_scores is text_tables.format_block_scores
    assert diagnostics.format_source_ranking is text_tables.format_source_ranking
    assert diagnostics.format_verification is text_tables.format_verification
