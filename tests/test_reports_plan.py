"""Tests for `workbench.reports.plan` and the command's input checks: the report config, parameter
layers, `after` order, and bad input that stops `workbench report` before any kernel starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from report_helpers import REPORT_CONFIG, make_tiny_report_set, write_notebook

from workbench import reports
from workbench.cli import main
from workbench.errors import ConfigError
from workbench.reports import ReportError, plan_reports


@pytest.fixture
def tiny_report_set(tmp_path: Path) -> Path:
    """The tiny report set, for tests that only plan (nothing runs)."""
    return make_tiny_report_set(tmp_path / "set")


def test_report_config_warm_up_must_be_code_text(tmp_path):
    write_notebook(tmp_path / "first.ipynb", 'output_dir = "."', "1")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"warm_up": ["import x"], "notebooks": [{"path": "first.ipynb"}]}))
    with pytest.raises(reports.ReportError, match="`warm_up` .* must be Python code on one line"):
        reports.load_report_config(tmp_path / "config.yaml")


def test_parameter_layers_follow_papermill_precedence(tiny_report_set, tmp_path):
    def labels(**options) -> dict:
        return {notebook.name: notebook.parameters.get("label")
                for notebook in plan_reports(tiny_report_set, **options).notebooks}

    assert labels() == {"first": "from-config", "broken": None, "after": "from-entry"}
    assert labels(quick=True) == {"first": "from-quick", "broken": None, "after": "from-quick"}
    parameters_file = tmp_path / "parameters.yaml"
    parameters_file.write_text("label: from-file\n")
    assert labels(quick=True, parameters_file=parameters_file)["after"] == "from-file"
    assert labels(parameters_file=parameters_file, parameters={"label": "from-p"})["first"] == "from-p"
    plan = plan_reports(tiny_report_set)
    assert plan.notebooks[0].parameters["output_dir"] == str(tiny_report_set.parent / "out" / "first")
    assert "runs_dir" not in plan.notebooks[0].parameters  # only declared names are passed


def test_after_orders_notebooks_and_rejects_cycles(tiny_report_set):
    config = yaml.safe_load(tiny_report_set.read_text())
    config["notebooks"] = [{"path": "after.ipynb", "after": ["first"]}, {"path": "first.ipynb"}]
    tiny_report_set.write_text(yaml.safe_dump(config))
    assert [notebook.name for notebook in plan_reports(tiny_report_set).notebooks] == ["first", "after"]
    config["notebooks"][1]["after"] = ["after"]
    tiny_report_set.write_text(yaml.safe_dump(config))
    with pytest.raises(ReportError, match="cycle"):
        plan_reports(tiny_report_set)


@pytest.mark.parametrize(("arguments", "message"), [
    (["-p", "lable", "x"], "'lable' .* not declared by any notebook"),
    (["-p", "output_dir", "x"], "--output-dir"),
    (["-f", "missing.yaml"], "does not exist"),
    (["-j", "0"], "jobs=0"),
    (["--kernel", "no-such-kernel"], "not installed"),
    (["--timeout", "0"], "timeout=0"),
])
def test_bad_input_exits_2_with_one_readable_line_and_runs_nothing(tiny_report_set, capsys, arguments, message):
    assert main(["report", "--config", str(tiny_report_set), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("workbench report: error:") and re.search(message, error)
    assert not (tiny_report_set.parent / "out").exists()


def test_bad_real_parameter_values_are_caught_before_any_kernel_starts(tmp_path, capsys):
    for arguments, message in ((["-p", "epochs", "0"], "epochs"), (["-p", "target_task", "nope:1"], "nope"),
                               (["-p", "seeds", "-1"], "seeds")):
        assert main(["report", "--config", str(REPORT_CONFIG), "-o", str(tmp_path / "out"), *arguments]) == 2
        assert message in capsys.readouterr().err
    assert main(["report", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_report_config_with_unknown_keys_is_rejected(tmp_path):
    (tmp_path / "config.yaml").write_text("notebook: [a.ipynb]\n")
    with pytest.raises(ReportError, match="unknown key"):
        plan_reports(tmp_path / "config.yaml")


def test_output_dir_that_is_a_file_or_cannot_be_created_exits_2_with_the_fix(tiny_report_set, tmp_path, capsys,
                                                                             monkeypatch):
    taken = tmp_path / "taken.txt"
    taken.write_text("not a folder")
    for output, problem in ((taken, "is a file"), (taken / "reports", "lies inside")):
        assert main(["report", "--config", str(tiny_report_set), "-o", str(output)]) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"workbench report: error: Output folder {str(output)!r} {problem}"), error
        assert "--output-dir must be a folder" in error and "Traceback" not in error
    assert taken.read_text() == "not a folder"
    # A folder the system refuses to create (no permission, a read-only disk): the same kind of error.
    refused = tmp_path / "refused"
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args, **kwargs) -> None:
        if self == refused:
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    assert main(["report", "--config", str(tiny_report_set), "-o", str(refused), "--no-log-output"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"workbench report: error: Output folder {str(refused)!r} cannot be created "
                            "(Permission denied)"), error
    assert not refused.exists() and not (tiny_report_set.parent / "out").exists()


def test_sweep_lists_accept_whole_numbers_from_their_minimum_and_all_only_for_budgets():
    for name, value in (("depths", [0, 2, 4]), ("budgets", [1, 5, "all"]), ("budgets", [1, None]),
                        ("modes", ["structure", "parameter"])):
        reports.check_sweep_list(name, value)
    for name, value, message in (
        ("depths", [0, -1], "holds -1; allowed: whole numbers from 0"),
        ("depths", [0, "all"], "holds 'all'; allowed: whole numbers from 0"),
        ("budgets", [0, 5], "holds 0; allowed: whole numbers from 1, or all"),
        ("budgets", [True], "holds True"),
        ("depths", "0,2,4", "is not a non-empty list"),
        ("budgets", [], "is not a non-empty list"),
        ("modes", ["structure", "nope"], "holds 'nope'; allowed: parameter, feature, structure"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message) + r".*Pass a YAML list, e\.g\. -p " + name):
            reports.check_sweep_list(name, value)
