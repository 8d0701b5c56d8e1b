"""The CI workflow (.github/workflows/reports.yml) cannot run here, so its commands are checked: each
`make` target exists in the Makefile, each `workbench` command parses with the real CLI parser, the
README shows each command as it is, and the baseline it checks against is a readable report index."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from workbench.cli.parser import build_parser
from workbench.reports import load_baseline

REPOSITORY = Path(__file__).resolve().parents[1]
WORKFLOW = REPOSITORY / ".github" / "workflows" / "reports.yml"


def workflow_commands() -> list[list[str]]:
    """Every `make ...` and `workbench ...` command in the workflow's `run:` steps, as words."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    commands = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            script = step.get("run", "").replace("\\\n", " ")
            for line in script.splitlines():
                words = shlex.split(line, comments=True)
                if words and words[0] in ("make", "workbench"):
                    commands.append(words)
    return commands


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", (REPOSITORY / "Makefile").read_text(), flags=re.MULTILINE))


def test_the_workflow_runs_make_test_and_the_quick_report_with_the_baseline_check() -> None:
    commands = [" ".join(words) for words in workflow_commands()]
    assert "make test" in commands
    report = next(command for command in commands if command.startswith("workbench report"))
    assert "--quick" in report and "--baseline" in report and "--fail-on-regression" in report and "--junit" in report


@pytest.mark.parametrize("words", [words for words in workflow_commands() if words[0] == "make"], ids=" ".join)
def test_every_make_target_of_the_workflow_is_in_the_makefile(words: list[str]) -> None:
    targets = [word for word in words[1:] if not word.startswith("-") and "=" not in word]
    assert targets and set(targets) <= makefile_targets()


@pytest.mark.parametrize("words", [words for words in workflow_commands() if words[0] == "workbench"], ids=" ".join)
def test_every_workbench_command_of_the_workflow_parses_and_its_baseline_is_a_report_index(words: list[str]) -> None:
    try:
        arguments = build_parser().parse_args(words[1:])
    except SystemExit as stop:  # argparse exits on an unknown subcommand or option
        pytest.fail(f"`{' '.join(words)}` does not parse (exit {stop.code})")
    if getattr(arguments, "baseline", None):
        baseline = load_baseline(REPOSITORY / arguments.baseline)
        assert baseline.reports, "the committed baseline lists no reports"


def test_the_readme_shows_every_command_of_the_workflow_as_it_is() -> None:
    readme = (REPOSITORY / "README.md").read_text()
    for words in workflow_commands():
        assert " ".join(words) in readme, f"`{' '.join(words)}` is in the workflow but not in README.md"


def test_the_workflow_keeps_reports_as_an_artifact_even_when_a_step_failed() -> None:
    steps = [step for job in yaml.safe_load(WORKFLOW.read_text())["jobs"].values() for step in job["steps"]]
    upload = next(step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "reports/" in upload["with"]["path"].split()
