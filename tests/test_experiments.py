"""Comparisons: every mode on identical splits, paired differences, transfer metrics, one study config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import workbench
from workbench.config import RunConfig, config_from_mapping
from workbench.runs import list_runs


def test_compare_runs_every_mode_on_identical_splits(source_run, runs_dir: Path) -> None:
    comparison = workbench.compare(source=str(source_run.path), task="mnist-5k:5-9", per_class=5, seeds=2,
                                   epochs=1, runs_dir=str(runs_dir))
    rows = comparison.rows()
    assert [row["mode"] for row in rows] == ["structure", "feature", "parameter"]
    assert all(row["n"] == 2 and row["seeds"] == [0, 1] for row in rows)
    fingerprints = {(run.config["seed"], run.manifest["data"]["fingerprint"]) for run in comparison.runs}
    assert len(fingerprints) == 2  # one fingerprint per seed, shared by all three modes
    table = comparison.format_table()
    assert "±" in table and "seeds 0, 1" in table
    assert len(list_runs(runs_dir)) == 6


def test_comparison_reports_paired_differences_and_transfer_metrics(source_run, runs_dir: Path) -> None:
    comparison = workbench.compare(source=str(source_run.path), task="mnist-5k:5-9", per_class=5, seeds=2,
                                   epochs=2, runs_dir=str(runs_dir), modes=["structure", "parameter"])
    [difference] = comparison.paired_differences()
    runs = {(run.config["mode"], run.config["seed"]): run.test_accuracy for run in comparison.runs}
    expected = np.mean([runs[("parameter", seed)] - runs[("structure", seed)] for seed in (0, 1)])
    assert difference["mode"] == "parameter" and difference["mean"] == pytest.approx(expected)
    assert difference["low"] <= difference["mean"] <= difference["high"]
    [metrics] = comparison.transfer_metrics()
    assert set(metrics) >= {"jumpstart", "asymptotic_gain", "transfer_ratio", "epochs_to_threshold"}
    assert metrics["asymptotic_gain"]["mean"] == pytest.approx(expected)
    assert "95% CI" in comparison.format_table()


def test_one_study_config_with_parameter_techniques_drives_every_mode() -> None:
    from workbench.experiments import config_for_mode

    base = config_from_mapping({"source": "s", "unfreeze": "gradual", "block_lr": "geometric", "freeze_depth": 2,
                                "copy_depth": 3}, kind="transfer")
    structure = config_for_mode(base, "structure", seed=1)
    assert (structure.unfreeze, structure.block_lr, structure.freeze_depth, structure.copy_depth) == (
        "none", "uniform", None, None)
    parameter = config_for_mode(base, "parameter", seed=1)
    assert (parameter.unfreeze, parameter.freeze_depth, parameter.copy_depth) == ("gradual", 2, 3)
    assert not RunConfig(kind="transfer", source="s", mode="feature", batchnorm="train").uses_feature_cache()

