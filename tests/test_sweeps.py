"""Sweeps over freeze depth and label budget: their points, and their statistics against the baseline."""

from __future__ import annotations

from pathlib import Path

from workbench.config import config_from_mapping
from workbench.sweeps import sweep_freeze_depth, sweep_label_budget


def test_freeze_depth_sweep_has_one_point_per_setting_and_seed(source_run, runs_dir: Path) -> None:
    base = config_from_mapping({"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 5,
                                "epochs": 1, "runs_dir": str(runs_dir)}, kind="transfer")
    sweep = sweep_freeze_depth(base, depths=[0, 4], seeds=2)
    points = sweep.points()
    assert {(point["series"], point["x"]) for point in points} == {
        (series, depth) for series in ("structure", "frozen (AnB)", "fine-tuned (AnB+)") for depth in (0, 4)}
    assert all(point["n"] == 2 and sorted(point["seeds"]) == [0, 1] for point in points)
    assert len(sweep.runs) == 2 * (1 + 2 * 2) + 2  # the structure run is drawn at both depths
    frozen_four = next(run for run in sweep.runs if run.name.endswith("frozen4-s0"))
    assert frozen_four.transfer_report["freeze_depth"] == 4 and frozen_four.transfer_report["copy_depth"] == 4


def test_label_budget_sweep_covers_every_mode_and_budget(source_run, runs_dir: Path) -> None:
    base = config_from_mapping({"source": str(source_run.path), "task": "mnist-5k:5-9", "epochs": 1,
                                "runs_dir": str(runs_dir)}, kind="transfer")
    sweep = sweep_label_budget(base, budgets=[1, 3], seeds=1, modes=["structure", "feature"])
    points = sweep.points()
    assert sorted((point["series"], point["x"]) for point in points) == [
        ("feature", 1), ("feature", 3), ("structure", 1), ("structure", 3)]
    assert all(point["n"] == 1 for point in points)
    assert "labels per class" in sweep.format_table()

