"""Tests for `workbench.reports.html` and `index` without a kernel: the index entry of a failed notebook."""

from __future__ import annotations



from workbench import reports






def test_index_entry_for_a_failure_names_the_error_and_the_cell():
    failed = reports.NotebookResult("02_x", "X", "failed", 3.0, {"epochs": 2},
                                    error={"ename": "DataError", "evalue": "Unknown dataset 'nope'", "cell": 5,
                                           "source": "comparison = workbench.compare("})
    ok = reports.NotebookResult("01_y", "Y <b>", "ok", 1.0, {"epochs": 2},
                                metrics={"test_accuracy": {"feature": {"mean": 0.5, "sd": 0.1, "n": 3, "values": [1]}},
                                         "gain_over_structure": {"feature": 0.05}},
                                files={"html": "01_y.html"})
    page = reports.format_index_html([ok, failed], {"generated": "2025-01-01T00:00:00", "seconds": 4.0, "kernel": "k",
                                                     "versions": {"plotly": "7"}, "config": "c.yaml", "command": "wb"})
    assert "Failed in cell In [5]: DataError: Unknown dataset &#x27;nope&#x27;" in page
    assert "comparison = workbench.compare(" in page
    assert "1 of 2 reports failed: 02_x" in page
    assert "test accuracy · feature</td><td>0.500 ± 0.100 (n=3)" in page
    assert "gain over structure · feature</td><td>+0.050" in page
    assert "Y &lt;b&gt;" in page and '<a href="01_y/01_y.html">' in page
    assert "<script" not in page


def test_key_figures_read_mean_sd_and_n_as_one_text_and_leave_lists_and_paths_out():
    rows = dict(reports.flatten_metrics({
        "test_accuracy": {"mean": 0.8123, "sd": 0.0204, "n": 3, "values": [0.8, 0.81, 0.83]},
        "single": {"mean": 0.8, "sd": 0.0, "n": 1},
        "no_n": {"mean": 0.5, "sd": 0.1},
        "gain_over_structure": {"parameter": 0.05, "feature": float("nan")},
        "best": {"blocks copied": 2, "run": "runs/x", "frozen": True, "missing": None},
        "points": [1, 2],
    }))
    assert rows == {"test accuracy": "0.812 ± 0.020 (n=3)", "single": "0.800 (n=1)", "no n": "0.500",
                    "gain over structure · parameter": "+0.050", "gain over structure · feature": "n/a",
                    "best · blocks copied": "2", "best · frozen": "yes", "best · missing": "—"}


def test_index_json_writes_nan_as_null(tmp_path):
    import json

    plan = reports.ReportPlan(tmp_path / "config.yaml", tmp_path, "workbench", 60, False, [])
    result = reports.NotebookResult("01", "One", "ok", 1.0, {"epochs": 1}, metrics={"score": float("nan")})
    reports.write_index(plan, [result], {"generated": "2025-01-01T00:00:00", "seconds": 1.0, "kernel": "k",
                                         "versions": {}, "config": "c.yaml", "command": "wb", "path": tmp_path})
    record = json.loads((tmp_path / "index.json").read_text())
    assert record["reports"][0]["metrics"] == {"score": None} and record["path"] == str(tmp_path)
