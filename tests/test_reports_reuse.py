"""Kept notebooks: a regeneration into the same folder does not run a notebook whose inputs did not
change (`workbench.reports.reuse`), and runs every notebook whose inputs did, with those after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from report_helpers import write_notebook

from workbench import reports
from workbench.cli import main

CELLS = ("from workbench import notebook_support as support",
         "support.record_metrics(output_dir, accuracy=0.5, label=str(label))")


@pytest.fixture(autouse=True)
def fixed_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """The package's code as one fixed fingerprint: these tests change other inputs, and a module
    edited while they run (development beside the suite) would change every key."""
    monkeypatch.setattr("workbench.reports.reuse.package_fingerprint", lambda: "fixed")


def _tiny_set(folder: Path) -> Path:
    """`first`, and `second` that runs after it; `second` also names a folder (`data`)."""
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "a.txt").write_text("one")
    write_notebook(folder / "first.ipynb", "label = 'a'\noutput_dir = '.'", *CELLS)
    write_notebook(folder / "second.ipynb", f"label = 'b'\ndata = {str(folder / 'data')!r}\noutput_dir = '.'", *CELLS)
    config = {"kernel": "workbench", "timeout": 120, "output_dir": "out",
              "notebooks": [{"path": "first.ipynb"}, {"path": "second.ipynb", "after": ["first"]}]}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder / "config.yaml"


def _report(config: Path, capsys: pytest.CaptureFixture, *flags: str) -> dict[str, bool]:
    """Run `workbench report`; which notebooks were kept rather than run."""
    assert main(["report", "--config", str(config), "--no-log-output", *flags]) == 0
    capsys.readouterr()
    index = json.loads((config.parent / "out" / "index.json").read_text())
    return {entry["name"]: bool(entry["reused"]) for entry in index["reports"]}


def test_a_regeneration_with_nothing_changed_runs_no_notebook(tmp_path: Path, capsys) -> None:
    config = _tiny_set(tmp_path)
    assert _report(config, capsys) == {"first": False, "second": False}
    executed = tmp_path / "out" / "first" / "first.ipynb"
    before = executed.stat().st_mtime_ns
    assert main(["report", "--config", str(config), "--no-log-output"]) == 0
    error = capsys.readouterr().err
    assert "ok  first (kept, inputs unchanged; it ran" in error
    assert "Notebooks: 2 of 2 kept from the previous report in this folder" in error
    assert executed.stat().st_mtime_ns == before  # not run: the executed notebook is the old one
    page = (tmp_path / "out" / "index.html").read_text()
    assert "(inputs unchanged)" in page and '<a href="first/first.html">' in page
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["reports"][0]["metrics"] == {"accuracy": 0.5, "label": "a"}
    # --no-cache runs everything again.
    assert _report(config, capsys, "--no-cache") == {"first": False, "second": False}
    assert executed.stat().st_mtime_ns != before


def test_a_changed_input_runs_that_notebook_and_the_ones_after_it(tmp_path: Path, capsys) -> None:
    config = _tiny_set(tmp_path)
    _report(config, capsys)
    assert _report(config, capsys) == {"first": True, "second": True}
    # `data` is declared by `second` only: `first` is kept. (The output folder, inside the folder
    # named here, changes at every run and is left out.)
    assert _report(config, capsys, "-p", "data", str(tmp_path)) == {"first": True, "second": False}
    assert _report(config, capsys, "-p", "data", str(tmp_path)) == {"first": True, "second": True}
    # `label` reaches both; `second` runs after `first`, so it runs again too.
    assert _report(config, capsys, "-p", "label", "x") == {"first": False, "second": False}
    # A file in a folder a parameter names changed.
    (tmp_path / "data" / "a.txt").write_text("two, longer")
    assert _report(config, capsys, "-p", "label", "x") == {"first": True, "second": False}
    # The run folder changed (a run trained or deleted by hand): every notebook runs.
    (tmp_path / "out" / "runs" / "by-hand").mkdir(parents=True)
    assert _report(config, capsys, "-p", "label", "x") == {"first": False, "second": False}


def test_a_failed_notebook_or_a_missing_page_is_never_kept(tmp_path: Path) -> None:
    config = _tiny_set(tmp_path)
    plan = reports.plan_reports(config)
    keys, state = reports.notebook_keys(plan), reports.runs_state(plan)
    entries = []
    for notebook in plan.notebooks:
        notebook.folder.mkdir(parents=True)
        for name in (f"{notebook.name}.html", f"{notebook.name}.ipynb", "metrics.json"):
            (notebook.folder / name).write_text("{}")
        entries.append({"name": notebook.name, "status": "ok", "seconds": 3.0, "key": keys[notebook.name],
                        "files": {"html": f"{notebook.name}/{notebook.name}.html",
                                  "metrics": f"{notebook.name}/metrics.json"}})
    index = {"generated": "before", "runs_state": state, "reports": entries}
    (plan.output_dir / "index.json").write_text(json.dumps(index))
    assert set(reports.reusable_results(plan, keys, state)) == {"first", "second"}
    assert reports.reusable_results(plan, keys, "another state") == {}
    plan.cache = False
    assert reports.reusable_results(plan, keys, state) == {}
    plan.cache = True
    entries[0]["status"] = "failed"  # and `second` runs after it, so it is not kept either
    (plan.output_dir / "index.json").write_text(json.dumps(index))
    assert reports.reusable_results(plan, keys, state) == {}
    entries[0]["status"] = "ok"
    (plan.notebooks[1].folder / "second.html").unlink()
    (plan.output_dir / "index.json").write_text(json.dumps(index))
    assert set(reports.reusable_results(plan, keys, state)) == {"first"}


def test_a_changed_notebook_file_changes_its_key_and_the_keys_after_it(tmp_path: Path) -> None:
    config = _tiny_set(tmp_path)
    before = reports.notebook_keys(reports.plan_reports(config))
    write_notebook(tmp_path / "first.ipynb", "label = 'a'\noutput_dir = '.'", *CELLS, "print('one more cell')")
    after = reports.notebook_keys(reports.plan_reports(config))
    assert before["first"] != after["first"] and before["second"] != after["second"]
