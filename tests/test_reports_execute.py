"""Tests for `workbench.reports.execute`: one notebook, its timeout and how the failure is kept."""

from __future__ import annotations

import nbformat
import yaml
from report_helpers import write_notebook

from workbench import reports


def test_a_cell_past_the_timeout_fails_its_notebook_and_is_marked(tmp_path):
    write_notebook(tmp_path / "slow.ipynb", 'output_dir = "."', "import time\ntime.sleep(60)")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"notebooks": [{"path": "slow.ipynb"}], "output_dir": "out"}))
    plan, results = reports.build_reports(tmp_path / "config.yaml", timeout=3, log_output=False)
    assert results[0].status == "timed out"
    assert results[0].error["cell"] == 3 and "time.sleep(60)" in results[0].error["source"]
    executed = nbformat.read(tmp_path / "out" / "slow" / "slow.ipynb", as_version=4)
    assert "Timed out" in executed.cells[0].source
    assert "timed out" in (tmp_path / "out" / "index.html").read_text()
