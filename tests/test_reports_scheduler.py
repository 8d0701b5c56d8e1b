"""Tests for `workbench.reports.scheduler` (and `execute` under it) on tiny notebooks that need no
TensorFlow: a failure does not stop the others, a second run gives the same files, `-j 2` warms
kernels and keeps `after` order, and the longest notebook starts first."""

from __future__ import annotations

import json

import nbformat
import pytest
import yaml
from report_helpers import files_under, make_tiny_report_set, plotly_figures, write_notebook

from workbench import reports
from workbench.cli import main


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny set run twice: first one job at a time, then with -j 2."""
    config = make_tiny_report_set(tmp_path_factory.mktemp("tiny") / "set")
    output = config.parent / "out"
    runs = {"config": config, "output": output}
    runs["first_code"] = main(["report", "--config", str(config), "--no-log-output"])
    runs["first_files"] = files_under(output)
    runs["first_index"] = json.loads((output / "index.json").read_text())
    # --no-cache: run every notebook again (unchanged ones would otherwise be kept, workbench.reports.reuse).
    runs["second_code"] = main(["report", "--config", str(config), "--no-log-output", "-j", "2", "--no-cache"])
    return runs


def test_failing_notebook_is_marked_failed_others_still_render_and_exit_is_nonzero(tiny_runs):
    output = tiny_runs["output"]
    assert tiny_runs["first_code"] == 1
    index = json.loads((output / "index.json").read_text())
    status = {entry["name"]: entry for entry in index["reports"]}
    assert status["first"]["status"] == "ok" and status["after"]["status"] == "ok"
    broken = status["broken"]
    assert broken["status"] == "failed"
    assert broken["error"]["ename"] == "ValueError"
    assert "deliberate failure" in broken["error"]["evalue"]
    assert broken["error"]["cell"] == 4 and "raise ValueError" in broken["error"]["source"]
    # The executed notebook is kept for debugging, and rendered too.
    assert (output / "broken" / "broken.ipynb").is_file() and (output / "broken" / "broken.html").is_file()
    page = (output / "index.html").read_text()
    assert "Failed in cell In [4]: ValueError: deliberate failure for the test" in page
    assert "1 of 3 reports failed: broken" in page
    # The others rendered their figures and metrics.
    assert len(plotly_figures((output / "first" / "first.html").read_text())) == 1
    assert json.loads((output / "after" / "metrics.json").read_text()) == {"score": 0.5, "label": "from-entry"}


def test_running_twice_gives_the_same_set_of_files(tiny_runs):
    output = tiny_runs["output"]
    # The second time ran with -j 2 over the first one's output: same files, same statuses.
    assert tiny_runs["second_code"] == 1
    assert files_under(output) == tiny_runs["first_files"]
    assert "first/first.html" in tiny_runs["first_files"] and "index.html" in tiny_runs["first_files"]
    # Each kernel wrote its own log, whether papermill started it (first run) or a worker warmed it (-j 2).
    assert {"first/kernel.log", "broken/kernel.log", "after/kernel.log"} <= set(tiny_runs["first_files"])
    second_index = json.loads((output / "index.json").read_text())
    assert [(entry["name"], entry["status"]) for entry in second_index["reports"]] == \
        [(entry["name"], entry["status"]) for entry in tiny_runs["first_index"]["reports"]]


def test_with_two_jobs_a_waiting_notebook_starts_in_a_kernel_warmed_while_its_prerequisite_ran(tmp_path):
    probe = ("import sys\nprint('warmed:', 'xml.dom.minidom' in sys.modules, 'xml' in dir(), "
             "get_ipython().execution_count)")
    write_notebook(tmp_path / "first.ipynb", 'output_dir = "."', "import time\ntime.sleep(2)")
    write_notebook(tmp_path / "second.ipynb", 'output_dir = "."', probe)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({
        "output_dir": "out", "warm_up": "import xml.dom.minidom",
        "notebooks": [{"path": "first.ipynb"}, {"path": "second.ipynb", "after": ["first"]}]}))

    def second_run(jobs: int) -> tuple[str, dict, dict]:
        # cache=False: the second run must run both notebooks again, not keep them (reports.reuse).
        plan, results = reports.build_reports(tmp_path / "config.yaml", jobs=jobs, log_output=False, cache=False)
        assert [result.status for result in results] == ["ok", "ok"]
        notebooks = {name: nbformat.read(tmp_path / "out" / name / f"{name}.ipynb", as_version=4)
                     for name in ("first", "second")}
        output = "".join(output.get("text", "") for output in notebooks["second"].cells[-1].outputs)
        return output, notebooks["first"].metadata.papermill, notebooks["second"].metadata.papermill

    cold, _, _ = second_run(jobs=1)  # one at a time: nothing is warmed
    warm, first, second = second_run(jobs=2)
    assert cold.startswith("warmed: False False "), cold
    # The warm-up ran before: its module is loaded, its names did not leak, and the cells count as
    # in a cold kernel.
    assert warm == cold.replace("False False", "True False", 1), (warm, cold)
    assert second["start_time"] >= first["end_time"]


def test_notebooks_that_took_longest_last_time_start_first(tmp_path):
    notebooks = [reports.NotebookPlan(name, tmp_path / f"{name}.ipynb", tmp_path / name, after, {}, name)
                 for name, after in (("01", []), ("02", ["01"]), ("03", ["01"]), ("04", ["01"]), ("new", []))]
    plan = reports.ReportPlan(tmp_path / "config.yaml", tmp_path, "workbench", 60, False, notebooks)
    assert reports.previous_seconds(plan) == {}  # no earlier run: plan order
    assert [n.name for n in reports.longest_first(notebooks, {})] == ["01", "02", "03", "04", "new"]
    index = {"quick": False, "reports": [
        {"name": "01", "status": "ok", "seconds": 16.0}, {"name": "02", "status": "ok", "seconds": 74.0},
        {"name": "03", "status": "ok", "seconds": 126.0}, {"name": "04", "status": "failed", "seconds": 300.0}]}
    (tmp_path / "index.json").write_text(json.dumps(index))
    seconds = reports.previous_seconds(plan)
    assert seconds == {"01": 16.0, "02": 74.0, "03": 126.0}  # a failed run's time says nothing
    assert [n.name for n in reports.longest_first(notebooks, seconds)] == ["03", "02", "01", "04", "new"]
    (tmp_path / "index.json").write_text(json.dumps({**index, "quick": True}))
    assert reports.previous_seconds(plan) == {}  # --quick times do not order a full run
    (tmp_path / "index.json").write_text("{not json")
    assert reports.previous_seconds(plan) == {}
