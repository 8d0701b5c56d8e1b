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


# ------------------------------------------------------------------------------------------------
# Claims written from the numbers, both ways, and what each study could have seen
# ------------------------------------------------------------------------------------------------


def depth_sweep(frozen: dict[int, list[float]], fine_tuned: dict[int, list[float]] | None = None,
                structure: tuple[float, ...] = (0.60, 0.62, 0.58)):
    """A hand-made freeze-depth sweep: per n, one test accuracy per seed 0, 1, 2."""
    from workbench.config import RunConfig
    from workbench.sweeps import SWEEP_SERIES_FINE_TUNED, SWEEP_SERIES_FROZEN, Sweep

    base = RunConfig(kind="transfer", source="runs/source", task="mnist-5k:5-9", per_class=5)
    sweep = Sweep("freeze_depth", "freeze depth", base, list(range(len(structure))))
    for seed, scratch in enumerate(structure):
        for depth in frozen:
            sweep.add(FakeRun("structure", seed, scratch), "structure", depth)
        for series, values in ((SWEEP_SERIES_FROZEN, frozen), (SWEEP_SERIES_FINE_TUNED, fine_tuned or {})):
            for depth, accuracies in values.items():
                sweep.add(FakeRun("parameter", seed, accuracies[seed]), series, depth)
    return sweep


def budget_sweep(values: dict[str, dict[int, list[float]]]):
    """A hand-made label-budget sweep: mode → budget → one test accuracy per seed."""
    from workbench.config import RunConfig
    from workbench.sweeps import Sweep

    seeds = len(next(iter(next(iter(values.values())).values())))
    sweep = Sweep("per_class", "labels per class", RunConfig(kind="transfer", source="s", task="mnist-5k:5-9"),
                  list(range(seeds)))
    for seed in range(seeds):
        for mode, by_budget in values.items():
            for budget, accuracies in by_budget.items():
                sweep.add(FakeRun(mode, seed, accuracies[seed]), mode, budget)
    return sweep


def test_not_distinguishable_comes_with_what_the_study_could_have_seen():
    from workbench.findings import verdict
    from workbench.statistics import detectable_difference, paired_difference, seeds_needed

    difference = paired_difference([0.70, 0.62, 0.66], [0.60, 0.66, 0.64])
    text = verdict(difference)
    assert text.startswith("not distinguishable from structure")
    expected = detectable_difference(difference["sd"], 3)
    assert f"this study could only have seen differences above {expected:.3f}" in text
    assert f"about {seeds_needed(0.02, difference['sd'])} seeds would detect 0.020" in text
    assert f"about {seeds_needed(0.05, difference['sd'])} seeds would detect 0.050" in verdict(difference, detect=0.05)
    assert "could only have seen" not in verdict(paired_difference([0.9, 0.8, 0.85], [0.7, 0.7, 0.7]))
    assert "no power can be computed" in verdict(paired_difference([0.7], [0.6]))
    two_seeds = verdict(paired_difference([0.55, 0.25], [0.40, 0.40]))  # paired sd 0.21 from 2 seeds
    assert "larger than any accuracy difference can be" in two_seeds
    assert "larger than any" not in text


def test_frozen_fall_at_the_deepest_n_is_claimed_only_when_the_numbers_show_it():
    from workbench.findings import describe_deepest_drop

    falls = describe_deepest_drop(depth_sweep({1: [0.70, 0.74, 0.69], 4: [0.40, 0.45, 0.38]}))
    assert "falls at the deepest n = 4" in falls and "worse than its best n = 1" in falls
    assert "worse than structure" in falls  # and below structure there, with its interval
    rises = describe_deepest_drop(depth_sweep({1: [0.62, 0.63, 0.60], 4: [0.70, 0.74, 0.69]}))
    assert "does not fall at the deepest n = 4" in rises and "falls at" not in rises
    assert "beats structure" in rises
    noisy = describe_deepest_drop(depth_sweep({1: [0.70, 0.66, 0.69], 4: [0.72, 0.60, 0.66]}))
    assert "shows no fall at the deepest n = 4 that these seeds can tell from noise" in noisy
    assert "this study could only have seen differences above" in noisy
    one_seed = describe_deepest_drop(depth_sweep({1: [0.70], 4: [0.40]}, structure=(0.6,)))
    assert "undecided" in one_seed and "(AnB)** falls at" not in one_seed


def test_fine_tuned_at_or_above_structure_is_claimed_only_when_no_n_falls_below():
    from workbench.findings import describe_at_or_above_baseline, describe_depth_sweep

    frozen = {1: [0.70, 0.74, 0.69], 4: [0.40, 0.45, 0.38]}
    holds = depth_sweep(frozen, fine_tuned={1: [0.72, 0.75, 0.70], 4: [0.61, 0.66, 0.57]})
    text = describe_at_or_above_baseline(holds)
    assert text.startswith("**fine-tuned (AnB+)** never falls distinguishably below structure")
    assert "above it at n = 1" in text and "not distinguishable at n = 4" in text
    assert "could only have seen differences above" in text
    broken = describe_at_or_above_baseline(depth_sweep(frozen, fine_tuned={1: [0.72, 0.75, 0.70],
                                                                           4: [0.50, 0.53, 0.47]}))
    assert "falls below structure at n = 4" in broken and "never falls" not in broken
    full = describe_depth_sweep(holds)
    assert "falls at the deepest n = 4" in full and "never falls distinguishably below" in full


def test_gain_over_structure_shrinking_with_labels_is_claimed_only_when_the_change_is_clear():
    from workbench.findings import describe_gain_trend

    shrinks = describe_gain_trend(budget_sweep({"structure": {1: [0.30, 0.32, 0.31], 25: [0.90, 0.91, 0.89]},
                                                "feature": {1: [0.55, 0.58, 0.57], 25: [0.91, 0.90, 0.90]}}))
    assert "the gain shrinks" in shrinks and "it beats structure at 1 per class" in shrinks
    stays = describe_gain_trend(budget_sweep({"structure": {1: [0.30, 0.32, 0.31], 25: [0.60, 0.62, 0.61]},
                                              "feature": {1: [0.40, 0.45, 0.38], 25: [0.70, 0.69, 0.74]}}))
    assert "no change these seeds can tell from noise" in stays and "shrinks" not in stays
    assert "this study could only have seen differences above" in stays
    grows = describe_gain_trend(budget_sweep({"structure": {1: [0.30, 0.32, 0.31], 25: [0.60, 0.62, 0.61]},
                                              "feature": {1: [0.31, 0.33, 0.31], 25: [0.80, 0.83, 0.80]}}))
    assert "the gain grows" in grows
    one_seed = describe_gain_trend(budget_sweep({"structure": {1: [0.30], 25: [0.90]}, "feature": {1: [0.55], 25: [0.91]}}))
    assert "undecided" in one_seed and "no intervals" in one_seed and "shrinks" not in one_seed


def test_the_best_mode_at_the_fewest_labels_is_said_to_lead_only_when_its_interval_says_so():
    from workbench.findings import describe_best_at_budget, describe_budget_sweep

    clear = budget_sweep({"structure": {1: [0.30, 0.32, 0.31]}, "feature": {1: [0.55, 0.58, 0.57]},
                          "parameter": {1: [0.45, 0.47, 0.47]}})
    text = describe_best_at_budget(clear, 1, "the fewest labels")
    assert "**feature** has the highest mean" in text and "beats parameter" in text
    close = budget_sweep({"structure": {1: [0.30, 0.32, 0.31]}, "feature": {1: [0.55, 0.50, 0.57]},
                          "parameter": {1: [0.52, 0.53, 0.52]}})
    text = describe_best_at_budget(close, 1)
    assert "**feature** has the highest mean" in text and "not distinguishable from parameter" in text
    assert "beats parameter" not in text
    whole = describe_budget_sweep(budget_sweep({"structure": {1: [0.30, 0.32, 0.31], 25: [0.80, 0.82, 0.81]},
                                                "feature": {1: [0.55, 0.58, 0.57], 25: [0.83, 0.84, 0.86]}}))
    assert "At the fewest labels (1 per class)" in whole and "At the most labels (25 per class)" in whole
    assert "From 1 per class to 25 per class" in whole and "still improving" in whole


def test_the_last_step_of_labels_is_called_a_plateau_only_when_nothing_is_gained():
    from workbench.findings import describe_last_step

    sweep = budget_sweep({"feature": {5: [0.70, 0.72, 0.71], 25: [0.71, 0.70, 0.73]},
                          "parameter": {5: [0.70, 0.72, 0.71], 25: [0.85, 0.86, 0.84]}})
    text = describe_last_step(sweep)
    feature, parameter = text.split("; **parameter**")
    assert "no gain these seeds can tell from noise" in feature and "still improving" in parameter
    assert "still improving" not in feature


def test_verification_claims_follow_tau_its_p_value_and_n():
    from workbench.diagnostics import verify_scores
    from workbench.findings import describe_verification

    five = verify_scores([1, 2, 3, 4, 5], [0.1, 0.3, 0.2, 0.5, 0.4])  # tau = 0.6 on 5 points
    assert five["kendall_tau"] == pytest.approx(0.6)
    text = describe_verification({"logme": five})
    assert "not distinguishable from a random ranking" in text and "only |τ| ≥ 1.00 would be" in text
    assert "weighted τ" in text and "Spearman ρ" in text and "n = 5" in text
    eight = verify_scores(range(8), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    assert "ranks the cut points better than chance" in describe_verification({"logme": eight})
    reverse = verify_scores(range(8), [0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    assert "in reverse" in describe_verification({"probe_accuracy": reverse}, "sources")
    three = verify_scores([1, 2, 3], [0.1, 0.2, 0.3])
    assert "not even a perfect ranking" in describe_verification({"logme": three})
    flat = verify_scores([1, 2, 3], [0.5, 0.5, 0.5])
    assert "no ranking to judge" in describe_verification({"logme": flat})


def test_leep_and_logme_convention_notes_are_written_from_the_scores():
    from workbench.findings import describe_leep, describe_logme_convention

    scores = {"leep": -1.2345, "classes": ["5", "6", "7", "8", "9"], "source_classes": 5, "train_examples": 25,
              "logme_convention": "workbench",
              "cut_points": [{"freeze_depth": 0, "features": 3072}, {"freeze_depth": 4, "features": 16}]}
    leep_text = describe_leep(scores)
    assert "**LEEP** = -1.234" in leep_text or "**LEEP** = -1.235" in leep_text
    assert "log(1/5) = -1.609" in leep_text and "cannot rank cut points" in leep_text
    assert "fewer source classes" not in leep_text
    assert "fewer source classes (2) than target classes (5)" in describe_leep({**scores, "source_classes": 2})
    convention = describe_logme_convention(scores)
    assert "**workbench**" in convention and "(n = 0)" in convention and "reference convention" in convention
    narrow = describe_logme_convention({**scores, "logme_convention": "reference", "train_examples": 5000})
    assert "**reference**" in narrow and "both conventions give the same LogME here" in narrow


def test_tables_and_key_figures_carry_the_detectable_difference_and_the_seeds_needed():
    from workbench.statistics import seeds_needed
    from workbench.study_tables import comparison_metrics, paired_difference_rows, sweep_rows
    from workbench.sweeps import budget_sweep_metrics, depth_sweep_metrics

    comparison = fake_comparison()
    [row] = paired_difference_rows(comparison, detect=0.05)
    difference = comparison.paired_differences()[0]
    assert row["detectable difference (80% power)"] == f"{difference['detectable']:.3f}"
    assert row["seeds to detect 0.050"] == str(seeds_needed(0.05, difference["sd"]))
    metrics = comparison_metrics(comparison)
    assert metrics["detectable difference (80% power)"]["parameter"] == pytest.approx(difference["detectable"])
    assert metrics["seeds to detect 0.020"]["parameter"] == seeds_needed(0.02, difference["sd"])
    assert metrics["difference_vs_structure"]["parameter"]["seeds_to_detect"]["difference"] == 0.02
    depth = depth_sweep_metrics(fake_depth_sweep())["deepest"]["frozen (AnB)"]
    assert depth["detectable difference (80% power)"] > 0 and depth["seeds to detect 0.020"] >= 2
    rows = sweep_rows(fake_depth_sweep())
    assert rows[0]["detectable difference (80% power)"] == "— (the baseline)"
    assert float(rows[1]["detectable difference (80% power)"]) > 0
    one_seed = budget_sweep({"structure": {1: [0.3]}, "feature": {1: [0.5]}})
    entry = budget_sweep_metrics(one_seed)["best_mode_by_budget"]["1 per class"]
    assert entry["seeds to detect 0.020"] is None  # no power from one seed pair


def test_cli_study_tables_print_the_power_of_every_paired_comparison():
    from workbench.text_tables import format_paired_differences

    comparison = fake_comparison()
    table = comparison.format_table(detect=0.05)
    assert "parameter" in table and "beats structure" in table
    assert "these seeds could detect differences above" in table and "seeds would detect 0.050" in table
    lines = format_paired_differences(fake_depth_sweep().differences()).splitlines()
    assert lines[1].lstrip().startswith("frozen (AnB), n = 1") and "n=3" in lines[1]
    single = format_paired_differences(depth_sweep({1: [0.7]}, structure=(0.6,)).differences())
    assert "(n=1: no interval)" in single and "no power can be computed" in single


@pytest.mark.parametrize("arguments", [
    ["compare", "--source", "runs/source", "--detect", "0"],
    ["compare", "--source", "runs/source", "-p", "detect", "two"],
    ["sweep-depth", "--source", "runs/source", "--detect", "1.5"],
    ["sweep-budget", "--source", "runs/source", "-p", "detect", "-0.1"],
])
def test_a_bad_detect_value_is_one_readable_line_and_exit_code_2(arguments, tmp_path, monkeypatch, capsys):
    from workbench.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "is not a difference in accuracy" in error and "--detect 0.02" in error
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_the_readme_quotes_the_verdict_as_the_workbench_writes_it():
    from pathlib import Path

    from workbench.findings import verdict

    # Paired differences with mean 0 and sd 0.030 over 3 seeds: the README's example.
    difference = {"mean": 0.0, "sd": 0.030, "n": 3, "low": -0.0745, "high": 0.0745, "confidence": 0.95}
    readme = " ".join(Path(__file__).parent.parent.joinpath("README.md").read_text().split())
    assert f'"{verdict(difference)}"' in readme


def test_the_best_mode_of_a_comparison_is_said_to_lead_only_when_its_interval_says_so():
    from workbench.config import RunConfig
    from workbench.experiments import Comparison
    from workbench.findings import describe_best_mode, describe_paired_differences

    def comparison(feature: list[float], parameter: list[float]) -> Comparison:
        base = RunConfig(kind="transfer", source="runs/source", task="mnist-5k:5-9", per_class=5)
        result = Comparison(base, [0, 1, 2], ["structure", "feature", "parameter"])
        for seed in range(3):
            result.runs += [FakeRun("structure", seed, 0.5), FakeRun("feature", seed, feature[seed]),
                            FakeRun("parameter", seed, parameter[seed])]
        return result

    clear = describe_best_mode(comparison([0.70, 0.72, 0.71], [0.80, 0.83, 0.81]))
    assert "Highest mean: **parameter**" in clear and "beats feature" in clear
    close = describe_best_mode(comparison([0.70, 0.80, 0.71], [0.78, 0.74, 0.75]))
    assert "Highest mean: **parameter**" in close and "not distinguishable from feature" in close
    assert "this study could only have seen differences above" in close
    assert "Highest mean" in describe_paired_differences(comparison([0.70, 0.72, 0.71], [0.80, 0.83, 0.81]))
    assert describe_best_mode(fake_comparison()) != "" and describe_best_mode(fake_comparison(), baseline="structure") == ""
