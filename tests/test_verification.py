"""Verification by training (`workbench.verification`): the sweep or the comparisons it trains are
replaced by fakes, so these check only what verification adds (configs, correlations, run lists)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from workbench import diagnostics, verification
from workbench.errors import ConfigError

TARGET_TASK = "mnist-5k:5-9"


def test_verification_by_training_sweeps_the_scored_depths_and_correlates(monkeypatch, tmp_path) -> None:
    # The sweep itself is the sweeps module's (tested there, and end to end by `workbench rank
    # --verify`); here it is replaced so that only what this module adds is checked, in milliseconds.
    from workbench.sweeps import SWEEP_SERIES_FROZEN

    calls = {}

    def fake_sweep(base_config, depths, seeds, include_fine_tuned, on_run_done=None, stop_event=None, jobs=1,
                   cluster=None):
        calls.update(base=base_config, depths=depths, seeds=seeds, include_fine_tuned=include_fine_tuned, jobs=jobs,
                     cluster=cluster)
        points = ([{"series": SWEEP_SERIES_FROZEN, "x": depth, "mean": 0.6 + 0.1 * depth} for depth in depths]
                  + [{"series": "structure", "x": depth, "mean": 0.5} for depth in depths])
        runs = [SimpleNamespace(name=name) for name in ("v-structure-s0", "v-structure-s0", "v-frozen0-s0")]
        return SimpleNamespace(points=lambda: points, runs=runs, describe=lambda: "fake sweep", stopped=False,
                               failures=[])

    monkeypatch.setattr("workbench.sweeps.sweep_freeze_depth", fake_sweep)
    scores = {"source_path": "runs/source", "task": TARGET_TASK, "per_class": 5, "seed": 3,
              "cut_points": [{"freeze_depth": depth, "logme": value, "probe_accuracy": accuracy}
                             for depth, value, accuracy in [(0, -0.5, 0.7), (1, -0.2, 0.9), (2, -0.3, 0.8)]]}
    result = verification.verify_by_training(scores, epochs=2, seeds=1, runs_dir=tmp_path, name="v", jobs=2,
                                             cluster="tcp://10.0.0.5:8786")
    base = calls["base"]
    assert calls["jobs"] == 2 and calls["cluster"] == "tcp://10.0.0.5:8786"
    assert (base.source, base.task, base.per_class, base.seed, base.epochs) == ("runs/source", TARGET_TASK, 5, 3, 2)
    assert calls["depths"] == [0, 1, 2] and calls["include_fine_tuned"] is False
    for correlation in result["correlations"].values():
        assert correlation["n"] == 3 and -1.0 <= correlation["kendall_tau"] <= 1.0
        assert -1.0 <= correlation["spearman_rho"] <= 1.0
    assert result["runs"] == ["v-structure-s0", "v-frozen0-s0"]
    with pytest.raises(ConfigError, match="not a source run"):
        verification.verify_by_training({**scores, "source_path": None})


def test_source_verification_fine_tunes_each_ranked_source_and_correlates(monkeypatch, tmp_path) -> None:
    calls = []
    accuracy_of = {"a": [0.6, 0.7], "b": [0.9, 0.8]}

    def fake_comparison(base_config, seeds, modes, on_run_done=None, stop_event=None, jobs=1, cluster=None):
        calls.append({"base": base_config, "seeds": seeds, "modes": modes, "jobs": jobs, "cluster": cluster})
        source = base_config.name.rsplit("-", 1)[1]
        runs = [SimpleNamespace(name=f"{base_config.name}-s{seed}", test_accuracy=accuracy)
                for seed, accuracy in enumerate(accuracy_of[source])]
        return SimpleNamespace(runs=runs, stopped=False, failures=[])

    monkeypatch.setattr("workbench.experiments.run_comparison", fake_comparison)
    ranking = [{"rank": 1, "source": "b", "source_path": "runs/b", "logme": 0.3, "leep": -0.9, "probe_accuracy": 0.9},
               {"rank": 2, "source": "a", "source_path": "runs/a", "logme": 0.1, "leep": -1.0, "probe_accuracy": 0.8}]
    result = verification.verify_sources_by_training(ranking, TARGET_TASK, per_class=5, epochs=2, seeds=2,
                                                     mode="feature", runs_dir=tmp_path, name="v", jobs=2,
                                                     learning_rate=0.01)
    assert [(call["base"].source, call["base"].name, call["base"].task, call["base"].per_class,
             call["base"].epochs, call["base"].learning_rate) for call in calls] == [
        ("runs/b", "v-b", TARGET_TASK, 5, 2, 0.01), ("runs/a", "v-a", TARGET_TASK, 5, 2, 0.01)]
    assert all(call["modes"] == ["feature"] and call["seeds"] == 2 and call["jobs"] == 2 for call in calls)
    assert result["accuracies"] == {"b": pytest.approx(0.85), "a": pytest.approx(0.65)}
    assert result["runs"] == ["v-b-s0", "v-b-s1", "v-a-s0", "v-a-s1"] and result["stopped"] is False
    assert result["correlations"]["logme"]["n"] == 2
    assert result["correlations"]["logme"]["kendall_tau"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="ranked as models, not runs"):
        verification.verify_sources_by_training([{**ranking[0], "source_path": None}], TARGET_TASK)


def test_verification_stays_importable_from_diagnostics() -> None:
    assert diagnostics.verify_by_training is verification.verify_by_training
    assert diagnostics.verify_sources_by_training is verification.verify_sources_by_training
