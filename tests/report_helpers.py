"""The quick report set, built once per test session and shared by the report and browser tests.

`workbench report --quick` over the real `reports/config.yaml` takes about two minutes on two cores,
so it runs once per session, in the background: `conftest.py` starts it as soon as the collected
tests include one that needs it (`start_quick_reports`), the report tests are moved to the end of
the run, and the first of them waits for it (`build_quick_reports`). Under pytest-xdist the
workers share one build through a folder beside their base temporary folders: whichever worker
creates its lock file starts the build; every worker reads the same result.

Below the build: helpers that read the figures out of a report page, and the tiny notebooks the
`test_reports_*` files run (no TensorFlow; a kernel starts in a second or two).
"""

from __future__ import annotations

import json
import os
import re
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
    "01_pretrain_source", "02_transfer_modes", "03_freeze_depth", "04_label_budget", "05_transferability",
    "06_structure")
# Figures each report shows: 01 curves, confusion matrix, samples; 02 curves, bars, paired differences,
# two weight reports; 03 and 04 the sweep curve and its difference from structure; 05 the scores per
# block, two verification scatters, the drift heatmap and the CKA curves; 06 bars, paired differences and
# two weight reports.
EXPECTED_FIGURES = {"01_pretrain_source": 3, "02_transfer_modes": 5, "03_freeze_depth": 2, "04_label_budget": 2,
                    "05_transferability": 5, "06_structure": 4}
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


# ------------------------------------------------------------------------------------------------
# Reading report pages, and tiny report sets that need no TensorFlow (shared by the test_reports_* files)
# ------------------------------------------------------------------------------------------------


def plotly_figures(page: str) -> list[list[dict]]:
    """The trace lists of every `Plotly.newPlot("id", [traces], ...)` call in a page."""
    return [traces for traces, _ in plotly_figures_with_layout(page)]


def plotly_figures_with_layout(page: str) -> list[tuple[list[dict], dict]]:
    """(traces, layout) of every `Plotly.newPlot("id", [traces], {layout}, ...)` call in a page."""
    decoder = json.JSONDecoder()
    figures = []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page):
        traces, end = decoder.raw_decode(page, match.end())
        layout_start = re.compile(r"\s*,\s*").match(page, end).end()
        layout, _ = decoder.raw_decode(page, layout_start)
        figures.append((traces, layout))
    return figures


def without_plotly_js(page: str) -> str:
    """The page minus the body of the inline plotly.js bundle, whose strings hold attribution links."""
    start = page.find("* plotly.js v")
    if start < 0:
        return page
    return page[:start] + page[page.index("</script>", start):]


def network_references(page: str) -> list[str]:
    """<script src>, and src/href attributes or CSS/JS imports that point at the network."""
    page = without_plotly_js(page)
    patterns = (r"""<script[^>]*\bsrc\s*=\s*["']?[^"'\s>]+""", r"""\b(?:src|href)\s*=\s*["']?(?:https?:)?//[^"'\s>]+""",
                r"""@import\s+(?:url\()?["']?(?:https?:)?//""", r"""\bimport\s*\(?\s*["'](?:https?:)?//""")
    return [found for pattern in patterns for found in re.findall(pattern, page)]


def write_notebook(path: Path, parameters: str, *cells: str) -> Path:
    """A tiny notebook: a title, a cell tagged `parameters`, then `cells`, on the workbench kernel."""
    import nbformat

    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "workbench", "display_name": "Python (workbench)",
                                                                 "language": "python"}})
    notebook.cells.append(nbformat.v4.new_markdown_cell(f"# Tiny report {path.stem}"))
    parameter_cell = nbformat.v4.new_code_cell(parameters)
    parameter_cell.metadata["tags"] = ["parameters"]
    notebook.cells.append(parameter_cell)
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, path)
    return path


FIGURE_CELLS = (
    "import plotly.graph_objects as go\nfrom workbench import notebook_support as support\nsupport.prepare_notebook()",
    "support.record_metrics(output_dir, score=0.5, label=label)",
    'go.Figure(go.Bar(x=["a", "b"], y=[1, 2]), layout_title_text=f"bars of {label}")',
)


def make_tiny_report_set(folder: Path) -> Path:
    """Three tiny notebooks: one draws a figure, one raises in its second code cell, one runs after it."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    write_notebook(folder / "first.ipynb", 'label = "default"\noutput_dir = "."', *FIGURE_CELLS)
    write_notebook(folder / "broken.ipynb", 'output_dir = "."', "value = 1",
                   'raise ValueError("deliberate failure for the test")', 'print("never reached")')
    write_notebook(folder / "after.ipynb", 'label = "default"\noutput_dir = "."', *FIGURE_CELLS)
    config = {
        "kernel": "workbench", "timeout": 120, "output_dir": "out",
        "parameters": {"label": "from-config"},
        "quick": {"label": "from-quick"},
        "notebooks": [{"path": "first.ipynb"}, {"path": "broken.ipynb"},
                      {"path": "after.ipynb", "after": ["broken"], "parameters": {"label": "from-entry"}}],
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder / "config.yaml"


def files_under(folder: Path) -> list[str]:
    """Every file below `folder`, as sorted relative paths."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
