"""The baseline check for CI: every key figure against an earlier report, what counts as a
regression, the exit code 3, the JUnit file and the index."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml
from report_helpers import build_quick_reports, write_notebook

from workbench import reports
from workbench.cli import main
from workbench.errors import ReportError
from workbench.reports import NotebookResult
from workbench.reports.baseline import compare_figure, compare_report, is_checked, key_figures, load_baseline

COMPARISON_METRICS = {  # what 02_transfer_modes writes (workbench.study_tables.comparison_metrics)
    "test_accuracy": {"structure": {"mean": 0.79, "sd": 0.03, "n": 3, "values": [0.81, 0.81, 0.75]},
                      "parameter": {"mean": 0.79, "sd": 0.04, "n": 3, "values": [0.82, 0.81, 0.74]}},
    "best_mode": "parameter",
    "gain_over_structure": {"parameter": 0.003},
    "difference_vs_structure": {"parameter": {"mean": 0.003, "sd": 0.01, "n": 3, "low": -0.02, "high": 0.03}},
    "difference_vs_structure_95%_CI": {"parameter": "[-0.025, +0.030]"},
    "kendall tau · probe_accuracy": 0.6,
    "test_loss": 0.7,
    "run": "/somewhere/runs/source",
    "points": [{"series": "AnB", "x": 1, "mean": 0.5}],
}


def _figure(mean: float, values: list[float] | None = None, seeds: list[int] | None = None) -> dict:
    return {"mean": mean, "values": values, "seeds": seeds}


def _result(name: str, metrics: dict, status: str = "ok", parameters: dict | None = None, **extra) -> NotebookResult:
    return NotebookResult(name, f"Title of {name}", status, 2.5, parameters or {"seeds": 3}, metrics=metrics, **extra)


# ------------------------------------------------------------------------------------------------
# Key figures and the rule
# ------------------------------------------------------------------------------------------------


def test_key_figures_are_named_as_the_index_names_them_and_text_lists_and_paths_are_left_out() -> None:
    figures = key_figures(COMPARISON_METRICS)
    assert set(figures) == {"test accuracy · structure", "test accuracy · parameter",
                            "gain over structure · parameter",
                            "difference vs structure · parameter", "kendall tau · probe accuracy", "test loss"}
    assert figures["test accuracy · parameter"] == _figure(0.79, [0.82, 0.81, 0.74], None)


def test_only_accuracies_are_checked_not_differences_gains_correlations_or_losses() -> None:
    checked = {name for name in key_figures(COMPARISON_METRICS) if is_checked(name)}
    assert checked == {"test accuracy · structure", "test accuracy · parameter"}
    assert is_checked("best val accuracy") and is_checked("best_depth · AnB · test accuracy")
    assert not is_checked("best_mode_by_budget · 5 per class · gain over structure")
    assert not is_checked("transfer metrics · parameter · asymptotic gain")


def test_a_paired_drop_whose_interval_lies_below_zero_regressed() -> None:
    row = compare_figure("test accuracy", _figure(0.8, [0.80, 0.82, 0.78], [0, 1, 2]),
                         _figure(0.51, [0.50, 0.55, 0.49], [0, 1, 2]))
    assert row["paired"] and row["n"] == 3 and row["high"] < 0
    assert row["verdict"] == "regressed"
    assert math.isclose(row["change"], -0.29)


def test_a_paired_drop_whose_interval_crosses_zero_is_within_noise_even_when_large() -> None:
    # Mean change -0.06 (more than the unpaired tolerance), but one seed went up: noise.
    row = compare_figure("test accuracy", _figure(0.8, [0.80, 0.82, 0.78], [0, 1, 2]),
                         _figure(0.74, [0.62, 0.83, 0.77], [0, 1, 2]))
    assert row["paired"] and row["low"] < 0 < row["high"]
    assert row["verdict"] == "within noise"


def test_a_paired_rise_whose_interval_lies_above_zero_improved() -> None:
    row = compare_figure("test accuracy", _figure(0.5, [0.50, 0.52, 0.48], [0, 1, 2]),
                         _figure(0.8, [0.80, 0.83, 0.77], [0, 1, 2]))
    assert row["verdict"] == "improved"


def test_seeds_pair_by_seed_number_or_by_position_only_under_the_same_seeds_parameter() -> None:
    baseline, today = _figure(0.8, [0.80, 0.82, 0.78]), _figure(0.51, [0.50, 0.55, 0.49])
    assert compare_figure("test accuracy", baseline, today, same_seed_order=True)["paired"]
    unpaired = compare_figure("test accuracy", baseline, today, same_seed_order=False)
    assert not unpaired["paired"] and unpaired["verdict"] == "regressed"  # unpaired rule: fell by 0.29
    # Seeds 1 and 2 are in both: they pair, seed 0 and seed 7 do not.
    row = compare_figure("test accuracy", _figure(0.8, [0.80, 0.82, 0.78], [0, 1, 2]),
                         _figure(0.5, [0.50, 0.52, 0.48], [7, 1, 2]))
    assert row["paired"] and row["n"] == 2


def test_an_unpaired_accuracy_regressed_only_when_it_fell_by_more_than_the_tolerance() -> None:
    assert compare_figure("best val accuracy", _figure(0.90), _figure(0.86))["verdict"] == "within noise"
    assert compare_figure("best val accuracy", _figure(0.90), _figure(0.84))["verdict"] == "regressed"
    assert compare_figure("best val accuracy", _figure(0.80), _figure(0.86))["verdict"] == "improved"
    one_seed = compare_figure("test accuracy", _figure(0.8, [0.8], [0]), _figure(0.7, [0.7], [0]))
    assert not one_seed["paired"] and one_seed["verdict"] == "regressed"


def test_other_figures_are_shown_with_their_change_and_never_fail() -> None:
    row = compare_figure("test loss", _figure(0.5), _figure(5.0))
    assert row["verdict"] == "not checked" and math.isclose(row["change"], 4.5)
    assert compare_figure("gain over structure · parameter", _figure(0.2), _figure(-0.5))["verdict"] == "not checked"


def test_a_notebook_comparison_lists_new_and_missing_figures_and_the_parameters_that_changed() -> None:
    baseline_entry = {"metrics": {"test_accuracy": {"mean": 0.8}, "gone": 1.0},
                      "parameters": {"epochs": 10, "seeds": 3, "runs_dir": "/a/runs", "output_dir": "/a/x"}}
    result = _result("02", {"test_accuracy": {"mean": 0.7}, "added": 2.0},
                     parameters={"epochs": 1, "seeds": 3, "runs_dir": "/b/runs", "output_dir": "/b/x"})
    comparison = compare_report("02", baseline_entry, result)
    verdicts = {row["name"]: row["verdict"] for row in comparison["figures"]}
    assert verdicts == {"test accuracy": "regressed", "gone": "missing today", "added": "new"}
    assert comparison["status"] == "regressed" and comparison["regressed"] == ["test accuracy"]
    assert comparison["parameter_changes"] == ["epochs: 10 → 1"]  # where things went is no change
    assert compare_report("03", None, result)["status"] == "new"


def test_a_baseline_is_a_report_folder_or_its_index_and_anything_else_is_refused(tmp_path: Path) -> None:
    index = {"generated": "2026-11-30 10:00", "reports": [{"name": "01", "metrics": {}, "parameters": {}}]}
    (tmp_path / "index.json").write_text(json.dumps(index))
    assert load_baseline(tmp_path).reports.keys() == {"01"}
    assert load_baseline(tmp_path / "index.json").generated == "2026-11-30 10:00"
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"cells": []}))
    (tmp_path / "empty").mkdir()
    for path, message in ((tmp_path / "missing", "does not exist"), (tmp_path / "empty", "holds no index.json"),
                          (tmp_path / "broken.json", "cannot be read as JSON"),
                          (tmp_path / "other.json", "is not a report index (no `reports` list")):
        with pytest.raises(ReportError) as raised:
            load_baseline(path)
        assert message in str(raised.value)
        assert "Pass --baseline with the output folder of an earlier `workbench report`" in str(raised.value)


# ------------------------------------------------------------------------------------------------
# JUnit, the index, the exit code
# ------------------------------------------------------------------------------------------------


def _compared_results() -> list[NotebookResult]:
    baseline = reports.Baseline(Path("base/index.json"), "yesterday", {
        "good": {"metrics": {"test_accuracy": {"mean": 0.8}}, "parameters": {}},
        "worse": {"metrics": {"test_accuracy": {"mean": 0.8, "values": [0.80, 0.82, 0.78], "seeds": [0, 1, 2]}},
                  "parameters": {}}})
    results = [
        _result("good", {"test_accuracy": {"mean": 0.81}}),
        _result("worse", {"test_accuracy": {"mean": 0.51, "values": [0.50, 0.55, 0.49], "seeds": [0, 1, 2]}}),
        _result("broken", {}, status="failed", error={"ename": "ValueError", "evalue": "deliberate", "cell": 3,
                                                       "source": "raise ValueError"}),
        _result("slow", {}, status="timed out", error={"ename": "CellTimeoutError", "evalue": "after 5 s", "cell": 2,
                                                        "source": "time.sleep(60)"}),
    ]
    reports.compare_with_baseline(baseline, results)
    return results


def test_junit_has_one_case_per_notebook_marked_ok_failed_timed_out_or_regressed(tmp_path: Path) -> None:
    path = reports.write_junit(_compared_results(), tmp_path / "ci" / "junit.xml")
    suite = ElementTree.parse(path).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "2")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["good", "worse", "broken", "slow"]
    assert cases["good"].find("failure") is None and cases["good"].find("error") is None
    failure = cases["worse"].find("failure")
    assert failure.get("type") == "regressed"
    assert "test accuracy: 0.800 → 0.510, -0.290, paired 95% interval" in failure.get("message")
    assert cases["broken"].find("error").get("type") == "failed"
    assert cases["broken"].find("error").get("message") == "failed: ValueError: deliberate"
    assert "in cell In [3]" in cases["broken"].find("error").text
    assert cases["slow"].find("error").get("type") == "timed out"
    assert "[within noise]" in cases["good"].find("system-out").text


def test_the_index_shows_the_baseline_and_every_figures_change(tmp_path: Path) -> None:
    results = _compared_results()
    plan = reports.ReportPlan(tmp_path / "config.yaml", tmp_path, "workbench", 60, False, [])
    info = {"generated": "today", "seconds": 9.0, "quick": False, "kernel": "workbench", "config": "config.yaml",
            "command": "workbench report", "notes": [], "versions": {}, "baseline": {
                "index": "base/index.json", "generated": "yesterday", "rule": reports.REGRESSION_RULE,
                "regressed": {"worse": ["test accuracy"]}, "missing": []}}
    reports.write_index(plan, results, info)
    page = (tmp_path / "index.html").read_text()
    assert "Compared with baseline base/index.json (generated yesterday): regressions in worse (test accuracy)" in page
    assert '<span class="status status-regressed">regressed</span>' in page
    assert "<td>0.800</td><td>0.510</td><td>-0.290</td>" in page
    record = json.loads((tmp_path / "index.json").read_text())
    entry = next(report for report in record["reports"] if report["name"] == "worse")
    assert entry["baseline"]["figures"][0]["verdict"] == "regressed" and record["baseline"]["regressed"]


def test_exit_code_3_needs_fail_on_regression_and_a_failed_notebook_outranks_it(monkeypatch, tmp_path, capsys) -> None:
    import workbench.api

    (tmp_path / "index.json").write_text(json.dumps({"reports": []}))
    outcomes = {"regressed": _compared_results()[:2], "failed": _compared_results()}

    def report(**options):
        plan = reports.ReportPlan(Path("config.yaml"), tmp_path, "workbench", 60, False, [])
        plan.baseline = load_baseline(options["baseline"])
        return plan, outcomes[kind]

    monkeypatch.setattr(workbench.api, "report", report)
    for kind, flags, code in (("regressed", [], 0), ("regressed", ["--fail-on-regression"], 3),
                              ("failed", ["--fail-on-regression"], 1)):
        assert main(["report", "--baseline", str(tmp_path), *flags]) == code
        error = capsys.readouterr().err
        assert "regressed: test accuracy" in error and "Regressions: 1" in error


def test_fail_on_regression_without_a_baseline_and_a_bad_baseline_stop_before_anything_runs(tmp_path, capsys) -> None:
    output = tmp_path / "out"
    assert main(["report", "--fail-on-regression", "-o", str(output)]) == 2
    assert "--fail-on-regression compares key figures with a baseline, and none was given" in capsys.readouterr().err
    assert main(["report", "--baseline", str(tmp_path / "nowhere"), "-o", str(output)]) == 2
    assert f"Baseline '{tmp_path / 'nowhere'}' does not exist" in capsys.readouterr().err
    (tmp_path / "folder.xml").mkdir()
    assert main(["report", "--junit", str(tmp_path / "folder.xml"), "-o", str(output)]) == 2
    assert "--junit" in capsys.readouterr().err
    assert not output.exists()


# ------------------------------------------------------------------------------------------------
# Through `workbench report`: a planted regression in a tiny report set
# ------------------------------------------------------------------------------------------------


def _tiny_set(folder: Path) -> Path:
    write_notebook(folder / "scores.ipynb", "accuracy = [0.80, 0.82, 0.78]\noutput_dir = '.'",
                   "import statistics\nfrom workbench import notebook_support as support",
                   "support.record_metrics(output_dir, test_accuracy={'mean': statistics.mean(accuracy), "
                   "'sd': statistics.stdev(accuracy), 'n': len(accuracy), 'values': accuracy, 'seeds': [0, 1, 2]}, "
                   "test_loss=1 - statistics.mean(accuracy))")
    write_notebook(folder / "steady.ipynb", "score = 0.9\noutput_dir = '.'",
                   "from workbench import notebook_support as support",
                   "support.record_metrics(output_dir, best_val_accuracy=score)")
    config = {"kernel": "workbench", "timeout": 120, "jobs": 2,
              "notebooks": [{"path": "scores.ipynb"}, {"path": "steady.ipynb"}]}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder / "config.yaml"


def test_a_planted_regression_exits_3_with_its_junit_case_marked(tmp_path: Path, capsys) -> None:
    config = _tiny_set(tmp_path)
    base = ["report", "--config", str(config), "--no-log-output"]
    assert main([*base, "-o", str(tmp_path / "accepted")]) == 0
    capsys.readouterr()
    check = ["--baseline", str(tmp_path / "accepted"), "--fail-on-regression", "--junit", str(tmp_path / "junit.xml")]

    # The accuracies of `scores` fall on every seed: the paired interval lies below zero.
    assert main([*base, "-o", str(tmp_path / "today"), *check, "-p", "accuracy", "[0.50, 0.55, 0.49]",
                 "-p", "score", "0.88"]) == 3
    error = capsys.readouterr().err
    assert "scores: REGRESSED (parameters changed: accuracy: (default) → [0.5, 0.55, 0.49])" in error
    assert "Regressions: 1\n  scores: test accuracy (0.800 → 0.513, -0.287, paired 95% interval" in error
    cases = {case.get("name"): case for case in ElementTree.parse(tmp_path / "junit.xml").iter("testcase")}
    assert cases["scores"].find("failure").get("type") == "regressed"
    assert cases["steady"].find("failure") is None  # 0.90 → 0.88: unpaired, within 0.05
    index = json.loads((tmp_path / "today" / "index.json").read_text())
    assert index["baseline"]["regressed"] == {"scores": ["test accuracy"]}

    # Compared with itself (the baseline folder regenerated in place), nothing regressed.
    assert main([*base, "-o", str(tmp_path / "accepted"), *check]) == 0
    assert "Regressions: 0" in capsys.readouterr().err
    assert ElementTree.parse(tmp_path / "junit.xml").find(".//failure") is None


@pytest.fixture(scope="module")
def quick_reports(tmp_path_factory: pytest.TempPathFactory):
    """The quick report set, built once per session (`tests/report_helpers.py`)."""
    return build_quick_reports(tmp_path_factory)


def test_the_quick_report_set_compared_with_itself_has_every_key_figure_and_no_regression(quick_reports) -> None:
    baseline = load_baseline(quick_reports.output_dir)
    results = [_result(entry["name"], entry["metrics"], parameters=entry["parameters"])
               for entry in quick_reports.index()["reports"]]
    check = reports.compare_with_baseline(baseline, results)
    assert check["regressed"] == {} and check["missing"] == []
    rows = {(result.name, row["name"]): row for result in results for row in result.baseline["figures"]}
    assert rows[("02_transfer_modes", "test accuracy · parameter")]["verdict"] == "within noise"
    assert rows[("01_pretrain_source", "test accuracy")]["change"] == 0
    assert all(row["verdict"] in ("within noise", "not checked") for row in rows.values())
    assert len(rows) >= 20
