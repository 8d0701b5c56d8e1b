"""Pure parts of the experiments: learning-rate spreads, unfreeze stages, statistics, transfer metrics."""

from __future__ import annotations

import math

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
