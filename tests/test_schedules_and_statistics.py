"""Pure parts of the experiments: learning-rate spreads, unfreeze stages, statistics, transfer metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.errors import ConfigError
from workbench.schedules import Stage, block_learning_rates, unfreeze_stages
from workbench.statistics import area_under_curve, paired_difference, summarize, time_to_threshold, transfer_metrics


def test_geometric_spread_runs_from_lr_low_to_the_head_rate() -> None:
    rates = block_learning_rates("geometric", 1e-2, 5, lr_low=1e-4)
    assert rates[0] == pytest.approx(1e-4) and rates[-1] == pytest.approx(1e-2)
    ratios = [b / a for a, b in zip(rates, rates[1:])]
    assert all(ratio == pytest.approx(ratios[0]) for ratio in ratios) and ratios[0] > 1


def test_layer_decay_multiplies_down_from_the_head() -> None:
    assert block_learning_rates("decay", 1.0, 4, layer_decay=0.5) == [0.125, 0.25, 0.5, 1.0]
    assert block_learning_rates("uniform", 0.3, 3) == [0.3, 0.3, 0.3]


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"kind": "slice"}, "Allowed: uniform, geometric, decay"),
    ({"kind": "geometric", "lr_low": 1.0}, "at most learning_rate"),
    ({"kind": "decay", "layer_decay": 1.5}, "(0, 1]"),
])
def test_bad_spreads_are_refused(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace("]", r"\]")):
        block_learning_rates(learning_rate=0.01, num_blocks=5, **kwargs)


def test_gradual_unfreezing_opens_one_block_per_step_top_down() -> None:
    stages = unfreeze_stages("gradual", epochs=6, final_depth=1, max_depth=4, every=1)
    assert [(s.first_epoch, s.end_epoch, s.freeze_depth) for s in stages] == [(0, 1, 4), (1, 2, 3), (2, 3, 2), (3, 6, 1)]
    slow = unfreeze_stages("gradual", epochs=5, final_depth=0, max_depth=4, every=2)
    assert [(s.first_epoch, s.end_epoch, s.freeze_depth) for s in slow] == [(0, 2, 4), (2, 4, 3), (4, 5, 2)]


def test_two_stage_is_fastais_fine_tune() -> None:
    assert unfreeze_stages("two-stage", epochs=5, final_depth=0, max_depth=4) == [
        Stage(0, 1, 4), Stage(1, 5, 0, lr_scale=0.5, block_lr="geometric")]
    assert unfreeze_stages("none", epochs=3, final_depth=2, max_depth=4) == [Stage(0, 3, 2)]


def test_stages_cover_every_epoch_once() -> None:
    for kind in ("none", "gradual", "two-stage"):
        for epochs in (1, 2, 7):
            stages = unfreeze_stages(kind, epochs=epochs, final_depth=0, max_depth=4, every=2)
            covered = [epoch for stage in stages for epoch in range(stage.first_epoch, stage.end_epoch)]
            assert covered == list(range(epochs))


def test_summary_uses_the_sample_standard_deviation() -> None:
    assert summarize([1.0, 2.0, 3.0]) == {"mean": 2.0, "sd": 1.0, "n": 3}
    assert summarize([0.5]) == {"mean": 0.5, "sd": 0.0, "n": 1}
    assert summarize([math.nan, 1.0])["n"] == 1


def test_paired_difference_interval_matches_a_t_interval() -> None:
    result = paired_difference([0.9, 0.8, 0.85], [0.7, 0.7, 0.7])
    # differences 0.2, 0.1, 0.15: mean 0.15, sd 0.05, t(0.975, 2) = 4.303
    assert result["mean"] == pytest.approx(0.15)
    assert result["high"] - result["mean"] == pytest.approx(4.3027 * 0.05 / math.sqrt(3), rel=1e-3)
    assert result["significant"]
    assert not paired_difference([0.9, 0.5], [0.7, 0.7])["significant"]
    assert math.isnan(paired_difference([0.9], [0.7])["low"])


def test_transfer_metrics_on_hand_made_curves() -> None:
    transfer = [0.6, 0.8, 0.9, 0.9]
    baseline = [0.2, 0.4, 0.6, 0.8]
    metrics = transfer_metrics(transfer, baseline, threshold=0.75)
    assert metrics["jumpstart"] == pytest.approx(0.4)
    assert metrics["asymptotic_gain"] == pytest.approx(0.1)
    expected_ratio = (area_under_curve(transfer) - area_under_curve(baseline)) / area_under_curve(baseline)
    assert metrics["transfer_ratio"] == pytest.approx(expected_ratio) and metrics["transfer_ratio"] > 0
    assert (metrics["epochs_to_threshold"], metrics["baseline_epochs_to_threshold"]) == (2, 4)


def test_time_to_threshold_counts_seconds_and_never_reached_is_nan() -> None:
    assert time_to_threshold([0.1, 0.5, 0.9], [2.0, 3.0, 4.0], 0.5) == {"epochs": 2.0, "seconds": 5.0}
    assert math.isnan(time_to_threshold([0.1, 0.2], [1.0, 1.0], 0.9)["epochs"])


def test_area_is_normalised_by_length() -> None:
    assert area_under_curve([1.0, 1.0, 1.0]) == pytest.approx(1.0)
    assert area_under_curve([0.0, 1.0]) == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------
# What a paired study could have seen (power), and when a rank correlation is distinguishable
# --------------------------------------------------------------------------------------------


def test_power_of_the_paired_t_test_matches_g_power() -> None:
    from workbench.statistics import paired_t_power, seeds_needed

    # G*Power 3.1, "Means: difference between two dependent means (matched pairs)", two tails,
    # alpha 0.05, power 0.8: d = 0.5 needs 34 pairs (actual power 0.8078), d = 0.8 needs 15 (0.8213).
    assert paired_t_power(0.5, 34) == pytest.approx(0.8078, abs=1e-4)
    assert paired_t_power(0.5, 33) < 0.8 < paired_t_power(0.5, 34)
    assert seeds_needed(0.5, sd=1.0) == 34
    assert seeds_needed(0.8, sd=1.0) == 15 and paired_t_power(0.8, 15) == pytest.approx(0.8213, abs=1e-4)
    assert paired_t_power(0.0, 10) == pytest.approx(0.05)  # no true difference: rejects at the level alpha
    assert math.isnan(paired_t_power(0.5, 1))


def test_detectable_difference_is_where_power_reaches_80_percent_and_shrinks_with_seeds() -> None:
    from workbench.statistics import detectable_difference, paired_t_power

    detectable = [detectable_difference(0.05, n) for n in (2, 3, 5, 10, 30)]
    assert all(earlier > later for earlier, later in zip(detectable, detectable[1:]))
    for n, value in zip((2, 3, 5, 10, 30), detectable):
        assert paired_t_power(value / 0.05, n) == pytest.approx(0.8, abs=1e-9)
    # With many pairs the t-test becomes the z-test: (z(0.975) + z(0.8)) · sd / √n = 2.8016 · sd / √n.
    assert detectable_difference(1.0, 10_000) == pytest.approx(2.8016 / 100, rel=1e-3)
    assert detectable_difference(0.0, 3) == 0.0  # pairs that did not vary would show any difference
    assert math.isnan(detectable_difference(0.05, 1)) and math.isnan(detectable_difference(float("nan"), 3))


def test_detectable_difference_holds_up_in_simulated_paired_studies() -> None:
    from scipy import stats

    from workbench.statistics import detectable_difference

    rng = np.random.default_rng(3)
    n, sd = 5, 0.04
    true_difference = detectable_difference(sd, n)
    studies = rng.normal(true_difference, sd, size=(20_000, n))
    rejected = stats.ttest_1samp(studies, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.8, abs=0.015)  # 80% of such studies see it


def test_seeds_needed_says_when_it_cannot_be_computed() -> None:
    from workbench.statistics import MAX_SEEDS_NEEDED, seeds_needed

    assert seeds_needed(0.02, sd=0.0) == 2
    assert seeds_needed(0.02, sd=float("nan")) is None and seeds_needed(0.0, sd=0.05) is None
    assert seeds_needed(1e-6, sd=1.0) is None  # beyond MAX_SEEDS_NEEDED
    assert 2 < seeds_needed(0.02, sd=0.05) < MAX_SEEDS_NEEDED
    assert seeds_needed(-0.02, sd=0.05) == seeds_needed(0.02, sd=0.05)


def test_paired_difference_carries_what_it_could_have_detected() -> None:
    from workbench.statistics import detectable_difference

    result = paired_difference([0.9, 0.8, 0.85], [0.7, 0.7, 0.7])
    assert result["detectable"] == pytest.approx(detectable_difference(0.05, 3))
    assert math.isnan(paired_difference([0.9], [0.7])["detectable"])
    assert paired_difference([0.8, 0.9], [0.7, 0.8])["detectable"] == pytest.approx(0.0, abs=1e-12)


def test_kendall_tau_critical_values_match_the_exact_test() -> None:
    import itertools

    from scipy import stats

    from workbench.statistics import kendall_tau_critical

    for n in range(2, 8):
        taus = {}
        for order in itertools.permutations(range(n)):
            result = stats.kendalltau(range(n), order, method="exact")
            taus[round(abs(result.statistic), 9)] = result.pvalue
        significant = [tau for tau, p in taus.items() if p <= 0.05]
        expected = min(significant) if significant else None
        assert kendall_tau_critical(n) == (pytest.approx(expected) if expected is not None else None), n
    # The published table (two-sided 5%): n = 5: 1.000, 8: 0.643, 10: 0.511.
    assert kendall_tau_critical(5) == pytest.approx(1.0)
    assert kendall_tau_critical(8) == pytest.approx(0.643, abs=1e-3)
    assert kendall_tau_critical(10) == pytest.approx(0.511, abs=1e-3)
    assert kendall_tau_critical(60) == pytest.approx(1.96 * math.sqrt(2 * 125 / (9 * 60 * 59)), rel=1e-3)
