"""The quick report set, built once per test session and shared by the report and browser tests.

`workbench report --quick` over the real `reports/config.yaml` takes about two minutes on two cores,
so it runs once per session, in the background: `conftest.py` starts it as soon as the collected
tests include one that needs it (`start_quick_reports`), the report tests are moved to the end of
the run, and the first of them waits for it (`build_quick_reports`). Under pytest-xdist the
workers share one build through a folder beside their base temporary folders: whichever worker
creates its lock file starts the build; every worker reads the same result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
REPORT_CONFIG = REPOSITORY / "reports" / "config.yaml"
REPORT_NOTEBOOKS = (
    "01_pretrain_source", "02_transfer_modes", "03_freeze_depth", "04_label_budget", "05_transferability")
# Figures each report shows: 01 curves, confusion matrix, samples; 02 curves, bars, paired differences,
# two weight reports; 03 and 04 the sweep curve and its difference from structure; 05 the scores per
# block, two verification scatters, the drift heatmap and the CKA curves.
EXPECTED_FIGURES = {"01_pretrain_source": 3, "02_transfer_modes": 5, "03_freeze_depth": 2, "04_label_budget": 2,
                    "05_transferability": 5}
# The config's `quick` values for the sweeps (one seed), which the tests check the figures against.
QUICK_DEPTHS = [1, 4]
QUICK_BUDGETS = [1, 2]
# -f sets sample_count 4 and learning_rate 0.002; -p sets sample_count 6 (and so wins over -f).
PARAMETERS_FILE_TEXT = "sample_count: 4\nlearning_rate: 0.002\n"
CLI_SAMPLE_COUNT = 6


@dataclass
class QuickReports:
    """Where the quick report set went, and what `workbench report` returned."""

    output_dir: Path
    exit_code: int

    def html_path(self, name: str) -> Path:
        return self.output_dir / name / f"{name}.html"

    def html(self, name: str) -> str:
        return self.html_path(name).read_text(encoding="utf-8")

    def index(self) -> dict[str, Any]:
        return json.loads((self.output_dir / "index.json").read_text())


QUICK_REPORTS_FIXTURE = "quick_reports"
BUILD_TIMEOUT_SECONDS = 1500


def _shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base folder is <session base>/popen-gwN: share their parent.
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return root / "quick-reports-shared"


def start_quick_reports(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Start `workbench report --quick -j 2 -f FILE -p sample_count 6` in the background, once per session."""
    folder = _shared_folder(tmp_path_factory)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(folder / "started", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return  # another worker started it
    parameters_file = folder / "parameters.yaml"
    parameters_file.write_text(PARAMETERS_FILE_TEXT)
    command = [sys.executable, "-m", "workbench.cli",
               "report", "--config", str(REPORT_CONFIG), "--quick", "--output-dir", str(folder / "reports"), "-j", "2",
               "-f", str(parameters_file), "-p", "sample_count", str(CLI_SAMPLE_COUNT)]
    # The exit code goes to a file last, written by a small wrapper, so that any process can wait for it.
    wrapper = ("import subprocess, sys, pathlib; code = subprocess.call(sys.argv[2:]); "
               "done = pathlib.Path(sys.argv[1]); partial = done.with_suffix('.partial'); "
               "partial.write_text(str(code)); partial.replace(done)")
    with (folder / "build.log").open("wb") as log:
        builder = subprocess.Popen([sys.executable, "-c", wrapper, str(folder / "exit-code"), *command],
                                   stdout=log, stderr=subprocess.STDOUT, cwd=REPOSITORY, start_new_session=True)
    (folder / "builder-pid").write_text(str(builder.pid))


def stop_quick_reports(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Kill the background build (its whole process group) if it started and has not finished."""
    folder = _shared_folder(tmp_path_factory)
    pid_file = folder / "builder-pid"
    if not pid_file.is_file() or (folder / "exit-code").is_file():
        return
    try:
        os.killpg(int(pid_file.read_text()), signal.SIGKILL)  # start_new_session: its pid is the group id
    except (ProcessLookupError, PermissionError, ValueError):
        pass


def build_quick_reports(tmp_path_factory: pytest.TempPathFactory) -> QuickReports:
    """The quick report set: started here if `conftest.py` has not started it, then waited for."""
    start_quick_reports(tmp_path_factory)
    folder = _shared_folder(tmp_path_factory)
    deadline = time.monotonic() + BUILD_TIMEOUT_SECONDS
    while not (folder / "exit-code").is_file():
        if time.monotonic() > deadline:
            pytest.fail(f"the quick report set did not finish in {BUILD_TIMEOUT_SECONDS} s; see {folder / 'build.log'}")
        time.sleep(1)
    return QuickReports(folder / "reports", int((folder / "exit-code").read_text()))
