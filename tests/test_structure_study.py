"""The structure study (report 06): comparisons whose arms are named config variants, the four
structure arms, what each arm's transfer moved, and the widened network's function preservation."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

import workbench
from workbench.config import config_from_mapping
from workbench.errors import ConfigError
from workbench.experiments import run_variants
from workbench.formatting import json_safe
from workbench.runs import list_runs
from workbench.structure_study import (
    CUT_ARM,
    FRESH_ARM,
    WIDENED_ARM,
    structure_arms,
    structure_study_metrics,
    transfer_summary,
    transfer_summary_rows,
    variant_difference_rows,
    variant_rows,
)

REPOSITORY = Path(__file__).resolve().parents[1]
TARGET = "mnist-5k:5-9"


@pytest.fixture(scope="module")
def two_arms(source_run, tmp_path_factory):
    """Two arms that share a mode, 2 seeds, 1 epoch, 2 labels per class: four tiny runs."""
    runs_dir = tmp_path_factory.mktemp("variant-runs")
    base = config_from_mapping({"source": str(source_run.path), "task": TARGET, "per_class": 2, "epochs": 1,
                                "runs_dir": str(runs_dir), "name": "arms"}, kind="transfer")
    variants = {"fresh": {"mode": "structure"}, "parameter (freeze 2)": {"mode": "parameter", "freeze_depth": 2}}
    return run_variants(base, variants, seeds=2), runs_dir


@pytest.fixture(scope="module")
def structure_study(source_run, tmp_path_factory):
    """The four structure arms at one seed (1 epoch, 2 labels per class)."""
    runs_dir = tmp_path_factory.mktemp("structure-runs")
    comparison = workbench.compare_structures(source=str(source_run.path), task=TARGET, per_class=2, seeds=1,
                                              epochs=1, runs_dir=str(runs_dir), name="structures")
    return comparison, runs_dir


def test_variant_arms_train_every_seed_on_identical_splits_and_pair_by_seed(two_arms) -> None:
    comparison, runs_dir = two_arms
    assert comparison.arms == ["fresh", "parameter (freeze 2)"] and comparison.baseline == "fresh"
    assert sorted(run.name for run in list_runs(runs_dir)) == [
        "arms-fresh-s0", "arms-fresh-s1", "arms-parameter-freeze-2-s0", "arms-parameter-freeze-2-s1"]
    fresh, frozen = comparison.rows()
    assert (fresh["transfer_mode"], fresh["freeze_depth"]) == ("structure", 0)
    assert (frozen["transfer_mode"], frozen["freeze_depth"]) == ("parameter", 2)
    assert fresh["seeds"] == frozen["seeds"] == [0, 1] and fresh["n"] == frozen["n"] == 2
    fingerprints = {(run.config["seed"], run.manifest["data"]["fingerprint"]) for run in comparison.runs}
    assert len(fingerprints) == 2  # one per seed, shared by both arms
    [difference] = comparison.paired_differences()
    expected = [a - b for a, b in zip(frozen["values"], fresh["values"])]
    assert difference["arm"] == difference["mode"] == "parameter (freeze 2)" and difference["baseline"] == "fresh"
    assert difference["mean"] == pytest.approx(np.mean(expected)) and difference["n"] == 2
    assert difference["low"] <= difference["mean"] <= difference["high"] and "detectable" in difference
    [against_frozen] = comparison.paired_differences("parameter (freeze 2)")
    assert against_frozen["mean"] == pytest.approx(-difference["mean"])
    table = comparison.format_table()
    assert "parameter (freeze 2)" in table and "95% CI" in table and "seeds 0, 1" in table


def test_variant_tables_and_key_figures_carry_intervals_and_what_the_seeds_could_detect(two_arms) -> None:
    comparison, _ = two_arms
    rows = variant_rows(comparison)
    assert [row["arm"] for row in rows] == ["fresh", "parameter (freeze 2)"] and rows[1]["freeze depth"] == 2
    [difference] = variant_difference_rows(comparison)
    assert difference["arm"] == "parameter (freeze 2)" and "95% CI" in difference
    assert "detectable difference (80% power)" in difference
    metrics = json.loads(json.dumps(json_safe(structure_study_metrics(comparison))))
    assert set(metrics["test_accuracy"]) == {"fresh", "parameter (freeze 2)"}
    assert metrics["test_accuracy"]["fresh"]["seeds"] == [0, 1]
    assert metrics["difference_vs_baseline"]["parameter (freeze 2)"]["n"] == 2
    assert "function_preservation" not in metrics


@pytest.mark.parametrize("variants, baseline, message", [
    ({}, None, "at least one arm"),
    ({"a": {"mode": "structure", "freeze_dept": 2}}, None, "Unknown setting.*freeze_dept.*Allowed settings"),
    ({"a": {"mode": "structure"}}, "b", "baseline='b' is not one of the arms"),
    ({"cut + top": {}, "cut top": {}}, None, "would name their runs alike"),
    ({"a": {"mode": "sideways"}}, None, "mode='sideways'"),
    ({"a": "structure"}, None, "not a mapping"),
])
def test_bad_variants_are_refused_before_any_run(source_run, runs_dir, variants, baseline, message) -> None:
    base = config_from_mapping({"source": str(source_run.path), "task": TARGET, "runs_dir": str(runs_dir)},
                               kind="transfer")
    with pytest.raises(ConfigError, match=message):
        run_variants(base, variants, seeds=1, baseline=baseline)
    assert list(runs_dir.iterdir()) == []


def test_structure_arms_are_the_baseline_then_three_parameter_transfers() -> None:
    arms = structure_arms(freeze_depth=1, grow_noise=0.01)
    assert list(arms) == [FRESH_ARM, "parameter (freeze 1)", CUT_ARM, WIDENED_ARM]
    assert arms[FRESH_ARM] == {"mode": "structure", "edits": "", "grow_noise": 0.0}
    assert arms[CUT_ARM] == {"mode": "parameter", "freeze_depth": 1, "edits": "cut conv2; add dense 64",
                             "grow_noise": 0.0}
    assert arms[WIDENED_ARM]["grow_noise"] == 0.01 and arms[WIDENED_ARM]["edits"] == "widen dense1 to 128"
    assert list(structure_arms(cut_edits="", widen_edits=None)) == [FRESH_ARM, "parameter"]


def test_the_transfer_summary_takes_the_reports_own_counts_or_counts_its_rows() -> None:
    rows = [
        {"layer": "conv1_conv", "action": "copied", "edit": "kept", "params": 10},
        {"layer": "conv1_pool", "action": "no weights", "edit": "kept", "params": 0},
        {"layer": "conv3_conv", "action": "cut", "edit": "cut", "params": 30},
        {"layer": "add1_dense", "action": "re-initialised", "edit": "added", "params": 40},
        {"layer": "dense1_dense", "action": "grown", "edit": "grown (function-preserving)", "params": 50},
    ]
    report = {"edits": "cut conv2; add dense 64", "trainable_params": 100, "frozen_params": 7, "layers": rows}
    assert transfer_summary(report) == {"edits": "cut conv2; add dense 64", "kept": 2, "cut": 1, "added": 1,
                                        "grown": 1, "copied": 1, "trainable_params": 100, "frozen_params": 7}
    own = {"kept": 6, "cut": 3, "added": 2, "grown": 0, "copied": 3}
    assert {key: transfer_summary({**report, "structure": own})[key] for key in own} == own
    plain = transfer_summary({"layers": [{"layer": "x", "action": "copied", "params": 3}]})
    assert (plain["kept"], plain["copied"], plain["edits"]) == (1, 1, "")


def test_the_api_refuses_edits_that_each_arm_sets_itself(source_run, runs_dir) -> None:
    with pytest.raises(ConfigError, match="cut_edits=.*widen_edits="):
        workbench.compare_structures(source=str(source_run.path), task=TARGET, edits="cut conv2",
                                     runs_dir=str(runs_dir))
    with pytest.raises(ConfigError, match="seeds=0"):
        workbench.compare_structures(source="no-such-run", task=TARGET, seeds=0, runs_dir=str(runs_dir))
    assert list(runs_dir.iterdir()) == []


@pytest.mark.parametrize("changes, message", [
    ({"cut_edits": "cut conv9"}, r"The 'cut \+ new top' arm \(cut conv9\).*conv9"),
    ({"widen_edits": "widen dense1 to 32"}, r"The 'widened \(Net2Net\)' arm.*only adds units"),
    ({"freeze_depth": 4}, r"The 'cut \+ new top' arm.*freeze_depth=4 is outside 0..3"),  # fits plain transfer
])
def test_a_bad_arm_stops_the_study_before_any_run_directory(source_run, runs_dir, changes, message) -> None:
    with pytest.raises(ConfigError, match=message):
        workbench.compare_structures(source=str(source_run.path), task=TARGET, seeds=1, epochs=1,
                                     runs_dir=str(runs_dir), **changes)
    assert list(runs_dir.iterdir()) == []


def test_the_structure_study_trains_four_arms_and_reports_what_each_moved(structure_study) -> None:
    comparison, runs_dir = structure_study
    assert comparison.arms == [FRESH_ARM, "parameter", CUT_ARM, WIDENED_ARM] and comparison.baseline == FRESH_ARM
    assert len(list_runs(runs_dir)) == 4
    summaries = {row["arm"]: row for row in transfer_summary_rows(comparison)}
    assert summaries[FRESH_ARM]["layers copied"] == 0 and summaries[FRESH_ARM]["edits"] == "—"
    assert summaries["parameter"]["layers copied"] == 5 and summaries["parameter"]["layers grown"] == 0
    cut = summaries[CUT_ARM]
    assert cut["edits"] == "cut conv2; add dense 64" and cut["layers cut"] >= 2 and cut["layers added"] >= 1
    assert cut["layers copied"] >= 2  # conv1 and conv2 keep their source weights
    assert cut["trainable params"] == comparison.runs_by_arm[CUT_ARM][0].transfer_report["trainable_params"]
    widened = summaries[WIDENED_ARM]
    assert widened["edits"] == "widen dense1 to 128" and widened["layers grown"] >= 1 and widened["layers cut"] == 0
    assert widened["trainable params"] > summaries["parameter"]["trainable params"]


def test_the_widened_source_computes_the_same_logits_before_training(source_run) -> None:
    from workbench.structure_study import function_preservation

    exact = function_preservation(source_run, "widen dense1 to 128", TARGET, count=64)
    assert exact["images"] == 64 and exact["edits"] == "widen dense1 to 128" and exact["grown_layers"]
    assert exact["max_abs_logit_difference"] <= 1e-4 * max(1.0, exact["max_abs_logit"])
    noisy = function_preservation(source_run, "widen dense1 to 128", TARGET, grow_noise=0.05, count=64)
    assert exact["max_abs_logit_difference"] < noisy["max_abs_logit_difference"] < noisy["max_abs_logit"]
    cut = function_preservation(source_run, "cut conv2; add dense 64", TARGET, count=64)
    assert cut["max_abs_logit_difference"] > 1e-2 and cut["grown_layers"] == []


def test_the_notebook_facade_draws_an_arms_weight_transfer_without_its_cut_layers(structure_study) -> None:
    from workbench import notebook_support as support

    comparison, _ = structure_study
    figure = support.plot_arm_transfer_report(comparison, CUT_ARM)
    blocks = list(figure.data[0].y)
    assert "conv3" not in blocks and "conv1" in blocks and "cut conv2" in figure.layout.title.text
    empty = support.plot_arm_transfer_report(comparison, "missing")
    assert not empty.data and empty.layout.annotations[0].text == "No run of missing to report on"
    check = {"edits": "widen dense1 to 128", "grow_noise": 0.0, "images": 8, "max_abs_logit_difference": 2.5e-7,
             "max_abs_logit": 9.0, "grown_layers": ["dense1_dense"]}
    [row] = support.preservation_rows(check)
    assert row["max |logit difference|"] == "2.5e-07" and support.preservation_rows(None) == []


def test_notebook_06_is_thin_and_declares_the_arms_as_parameters() -> None:
    from workbench import reports

    notebook = nbformat.read(REPOSITORY / "notebooks" / "06_structure.ipynb", as_version=4)
    declared = set(reports.declared_parameters(REPOSITORY / "notebooks" / "06_structure.ipynb"))
    assert {"preset", "per_class", "epochs", "seeds", "freeze_depth", "cut_edits", "widen_edits", "grow_noise",
            "jobs", "source_run", "runs_dir", "output_dir", "data_root"} <= declared
    source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "def " not in source and "lambda" not in source and "compare_structures(" in source
