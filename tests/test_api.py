"""The Python API: one import path for every public name, the same schema as the CLI, studies that
refuse bad plans before anything trains, and an API call that equals the engine call it wraps."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import workbench
from workbench import api
from workbench.config import config_from_mapping
from workbench.errors import ConfigError


@pytest.mark.parametrize("name", workbench.__all__)
def test_every_public_name_resolves_from_the_top_level(name: str) -> None:
    assert getattr(workbench, name) is not None


@pytest.mark.parametrize(("module", "names"), [
    ("workbench.experiments", ["Comparison", "Sweep", "sweep_freeze_depth", "sweep_label_budget", "resolve_seeds"]),
    ("workbench.notebook_support", ["format_mean_sd", "verdict", "comparison_metrics", "depth_sweep_metrics"]),
])
def test_names_that_moved_stay_importable_from_where_users_found_them(module: str, names: list[str]) -> None:
    loaded = importlib.import_module(module)
    assert all(callable(getattr(loaded, name)) for name in names)


def test_an_unknown_parameter_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="freez_depth"):
        workbench.transfer(source="runs/source", task="mnist-5k:5-9", freez_depth=2, runs_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("call", "fragment"), [
    (lambda runs: api.sweep_budget(source="s", budgets=[0, 5], runs_dir=runs), "budgets"),
    (lambda runs: api.sweep_budget(source="s", budgets=[5, 5], runs_dir=runs), "repeats"),
    (lambda runs: api.compare(source="s", modes=["parameter", "telepathy"], runs_dir=runs), "telepathy"),
    (lambda runs: api.compare(source="s", seeds=0, runs_dir=runs), "seeds=0"),
])
def test_studies_refuse_a_bad_plan_before_anything_trains(call, fragment: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=fragment):
        call(str(tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


def test_api_transfer_is_the_engine_run_of_the_same_config(source_run, runs_dir: Path) -> None:
    from workbench.training import train_run

    values = {"source": str(source_run.path), "task": "digits:0-2", "per_class": 8, "epochs": 1,
              "runs_dir": str(runs_dir), "mode": "feature"}
    through_api = workbench.transfer(name="api", **values)
    direct = train_run(config_from_mapping({**values, "name": "engine"}, kind="transfer"))
    assert through_api.test_accuracy == pytest.approx(direct.test_accuracy, abs=1e-6)
    assert through_api.metrics["confusion_matrix"] == direct.metrics["confusion_matrix"]
