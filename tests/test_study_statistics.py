"""Study statistics: every number with mean ± sd and n, paired differences with intervals, and the
findings written from them (`workbench.sweeps`, `study_tables`, `findings`), on hand-made runs: no
training. The report notebooks show exactly these (`workbench.notebook_support` re-exports them).
"""

from __future__ import annotations

import pytest


class FakeRun:
    """What comparisons and sweeps read from a run: name, config, test accuracy, history."""

    def __init__(self, mode: str, seed: int, accuracy: float, curve: tuple[float, ...] = (0.5, 0.7, 0.8)):
        self.name = f"{mode}-s{seed}"
        self.config = {"mode": mode, "seed": seed}
        self.test_accuracy = accuracy
        self.transfer_report: dict = {}
        self.history = [{"epoch": epoch, "accuracy": value, "val_accuracy": value, "seconds": 2.0}
                        for epoch, value in enumerate(curve, start=1)]


def fake_depth_sweep():
    from workbench.config import RunConfig
    from workbench.sweeps import Sweep

    base = RunConfig(kind="transfer", source="runs/source", task="mnist-5k:5-9", per_class=5)
    sweep = Sweep("freeze_depth", "freeze depth", base, [0, 1, 2])
    structure = {0: 0.60, 1: 0.62, 2: 0.58}
    frozen = {(1, 0): 0.70, (1, 1): 0.74, (1, 2): 0.69, (4, 0): 0.40, (4, 1): 0.45, (4, 2): 0.38}
    for seed in (0, 1, 2):
        baseline = FakeRun("structure", seed, structure[seed])
        for depth in (1, 4):
            sweep.add(baseline, "structure", depth)
        for depth in (1, 4):
            sweep.add(FakeRun("parameter", seed, frozen[depth, seed]), "frozen (AnB)", depth)
    return sweep


def fake_comparison():
    from workbench.config import RunConfig
    from workbench.experiments import Comparison

    base = RunConfig(kind="transfer", source="runs/source", task="mnist-5k:5-9", per_class=5)
    comparison = Comparison(base, [0, 1, 2], ["structure", "parameter"])
    for seed, (scratch, transferred) in enumerate([(0.60, 0.80), (0.62, 0.79), (0.58, 0.83)]):
        comparison.runs.append(FakeRun("structure", seed, scratch, curve=(0.3, 0.5, 0.6)))
        comparison.runs.append(FakeRun("parameter", seed, transferred, curve=(0.6, 0.75, 0.8)))
    return comparison


def test_mean_sd_text_carries_n_and_drops_the_sd_of_a_single_value():
    from workbench.formatting import format_mean_sd

    assert format_mean_sd({"mean": 0.8123, "sd": 0.0204, "n": 3}) == "0.812 ± 0.020 (n=3)"
    assert format_mean_sd({"mean": 0.05, "sd": 0.01, "n": 3}, signed=True, with_n=False) == "+0.050 ± 0.010"
    assert format_mean_sd({"mean": 0.8, "sd": 0.0, "n": 1}) == "0.800 (n=1)"
    assert format_mean_sd({"mean": float("nan"), "sd": float("nan"), "n": 0}) == "n/a (n=0)"


def test_sweep_differences_pair_each_point_with_structure_at_the_same_seed():
    from workbench.study_tables import sweep_rows
    from workbench.statistics import paired_difference

    sweep = fake_depth_sweep()
    differences = {row["x"]: row for row in sweep.differences()}
    expected = paired_difference([0.70, 0.74, 0.69], [0.60, 0.62, 0.58])
    assert differences[1]["mean"] == pytest.approx(expected["mean"])
    assert (differences[1]["low"], differences[1]["high"]) == pytest.approx((expected["low"], expected["high"]))
    assert differences[1]["significant"] and differences[1]["n"] == 3 and differences[1]["freeze_depth"] == 1
    assert differences[4]["high"] < 0  # deep frozen blocks hurt, beyond seed noise
    rows = sweep_rows(sweep)
    assert [(row["series"], row["blocks copied (n)"]) for row in rows] == [
        ("structure", "— (nothing copied)"), ("frozen (AnB)", 1), ("frozen (AnB)", 4)]
    assert rows[1]["test accuracy (mean ± sd)"].startswith("0.710 ± ") and rows[1]["n (seeds)"] == 3
    assert rows[1]["− structure, same seed (mean [95% CI])"] == (
        f"+0.110 ± {expected['sd']:.3f} [{expected['low']:+.3f}, {expected['high']:+.3f}]")


def test_sweep_difference_figure_draws_the_confidence_interval_as_error_bars():
    from workbench.notebook_support import plot_depth_sweep, plot_sweep_differences

    sweep = fake_depth_sweep()
    figure = plot_sweep_differences(sweep)
    [trace] = figure.data
    assert trace.name == "frozen (AnB)" and list(trace.x) == [1, 4]
    rows = sweep.differences()
    assert list(trace.error_y.array) == pytest.approx([row["high"] - row["mean"] for row in rows])
    assert list(trace.error_y.arrayminus) == pytest.approx([row["mean"] - row["low"] for row in rows])
    assert trace.customdata[0][1] == 3  # n in the hover text
    curve = plot_depth_sweep(sweep)
    assert [item.name for item in curve.data] == ["structure", "frozen (AnB)"]  # baseline first, as run
    assert curve.data[1].line.color == trace.line.color  # a series keeps its colour across figures
    assert "n=3 seeds" in curve.layout.title.text


def test_sweep_key_numbers_name_the_best_and_deepest_n_with_their_intervals():
    from workbench.findings import describe_depth_sweep
    from workbench.sweeps import depth_sweep_metrics

    metrics = depth_sweep_metrics(fake_depth_sweep())
    assert metrics["structure_accuracy"] == pytest.approx({"mean": 0.6, "sd": 0.02, "n": 3})
    best, deepest = metrics["best_depth"]["frozen (AnB)"], metrics["deepest"]["frozen (AnB)"]
    assert best["blocks copied"] == 1 and deepest["blocks copied"] == 4
    assert best["difference vs structure"]["low"] > 0 and best["difference 95% CI"].startswith("[+")
    text = describe_depth_sweep(fake_depth_sweep())
    assert "best at n = 1, 0.710 ± 0.026 (n=3)" in text and "beats structure" in text
    assert "worse than structure" in text


def test_budget_key_numbers_give_the_best_mode_per_budget_and_its_paired_gain():
    from workbench.config import RunConfig
    from workbench.sweeps import Sweep
    from workbench.findings import describe_budget_sweep
    from workbench.sweeps import budget_sweep_metrics

    sweep = Sweep("per_class", "labels per class", RunConfig(kind="transfer", source="s", task="mnist-5k:5-9"), [0, 1])
    for seed in (0, 1):
        for budget, scratch, transferred in ((1, 0.30, 0.50), (25, 0.90, 0.88)):
            sweep.add(FakeRun("structure", seed, scratch + 0.01 * seed), "structure", budget)
            sweep.add(FakeRun("parameter", seed, transferred + 0.02 * seed), "parameter", budget)
    metrics = budget_sweep_metrics(sweep)["best_mode_by_budget"]
    assert list(metrics) == ["1 per class", "25 per class"]
    assert metrics["1 per class"]["best mode"] == "parameter"
    assert metrics["1 per class"]["gain over structure"]["mean"] == pytest.approx(0.205)
    assert metrics["1 per class"]["gain over structure"]["n"] == 2
    assert metrics["25 per class"]["best mode"] == "structure" and "gain over structure" not in metrics["25 per class"]
    assert "**1 per class**: parameter is best, 0.510 ± 0.014 (n=2)" in describe_budget_sweep(sweep)


def test_comparison_tables_give_paired_intervals_and_transfer_metrics_with_n():
    from workbench.findings import describe_paired_differences
    from workbench.study_tables import comparison_metrics, paired_difference_rows, transfer_metric_rows

    comparison = fake_comparison()
    [row] = paired_difference_rows(comparison)
    assert row["mode"] == "parameter" and row["n (seed pairs)"] == 3
    assert row["95% CI"].startswith("[+") and row["verdict"].startswith("beats structure")
    assert "beats structure" in describe_paired_differences(comparison)
    table = {entry["metric"].split(" (")[0]: entry for entry in transfer_metric_rows(comparison)}
    assert table["jumpstart"]["parameter"] == "+0.300 ± 0.000 (n=3)"
    assert table["asymptotic gain"]["parameter"].startswith("+0.207 ± ")
    # 90% of structure's best (0.6) is 0.54: parameter reaches it after 1 epoch, structure after 3.
    assert table["epochs to threshold"]["parameter"] == "1.00 ± 0.00 (n=3)"
    assert table["epochs to threshold"]["structure (itself)"] == "3.00 ± 0.00 (n=3)"
    assert table["seconds to threshold"]["structure (itself)"] == "6.00 ± 0.00 (n=3)"
    assert table["jumpstart"]["structure (itself)"].startswith("—")
    metrics = comparison_metrics(comparison)
    assert metrics["difference_vs_structure"]["parameter"]["n"] == 3
    assert metrics["difference_vs_structure_95%_CI"]["parameter"] == row["95% CI"]
