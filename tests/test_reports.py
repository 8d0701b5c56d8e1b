"""Tests for `workbench report`: papermill execution, offline HTML, metrics sidecars and the index.

The real notebooks run once per session with `--quick` parameters (see `report_helpers`); the
failure, timeout, precedence and idempotence tests use tiny notebooks written here, which need
no TensorFlow and start in a second or two.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
import yaml
from report_helpers import (
    CLI_SAMPLE_COUNT,
    EXPECTED_FIGURES,
    QUICK_BUDGETS,
    QUICK_DEPTHS,
    REPORT_CONFIG,
    REPORT_NOTEBOOKS,
    REPOSITORY,
    build_quick_reports,
)

from workbench import reports
from workbench.cli import main
from workbench.reports import ReportError, plan_reports


@pytest.fixture(scope="module")
def quick_reports(tmp_path_factory: pytest.TempPathFactory):
    return build_quick_reports(tmp_path_factory)


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


def figure_titled(page: str, words: str) -> tuple[list[dict], dict]:
    """The one figure of a page whose title contains `words`."""
    found = [(traces, layout) for traces, layout in plotly_figures_with_layout(page)
             if words in str((layout.get("title") or {}).get("text", ""))]
    assert len(found) == 1, [layout.get("title") for _, layout in plotly_figures_with_layout(page)]
    return found[0]


def table_rows(page: str, caption: str) -> list[list[str]]:
    """The body rows (cell texts) of the workbench table with this caption."""
    import html as html_module

    match = re.search(r"<caption>" + re.escape(html_module.escape(caption)) + r"</caption>(.*?)</table>", page, re.S)
    assert match, f"no table captioned {caption!r}"
    body = match.group(1).split("<tbody>", 1)[1]
    return [[html_module.unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


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


def injected_parameters(notebook_path: Path) -> str:
    notebook = nbformat.read(notebook_path, as_version=4)
    return "".join(cell.source for cell in notebook.cells if "injected-parameters" in cell.metadata.get("tags", []))


# ------------------------------------------------------------------------------------------------
# The real notebooks, executed once with --quick
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_notebook_executes_with_quick_parameters(quick_reports):
    assert quick_reports.exit_code == 0
    index = quick_reports.index()
    assert [entry["name"] for entry in index["reports"]] == list(REPORT_NOTEBOOKS)
    for entry in index["reports"]:
        assert entry["status"] == "ok", entry["error"]
        folder = quick_reports.output_dir / entry["name"]
        executed = nbformat.read(folder / f"{entry['name']}.ipynb", as_version=4)
        code_cells = [cell for cell in executed.cells if cell.cell_type == "code"]
        assert all(cell.execution_count for cell in code_cells), "every code cell ran"
        assert not [output for cell in code_cells for output in cell.outputs if output.output_type == "error"]
    assert index["quick"] is True


@pytest.mark.slow
def test_parameters_reach_the_notebooks_with_p_winning_over_f_over_quick(quick_reports):
    injected = injected_parameters(quick_reports.output_dir / "01_pretrain_source" / "01_pretrain_source.ipynb")
    assert f"sample_count = {CLI_SAMPLE_COUNT}" in injected  # -p 6 beats -f 4 and quick 8
    assert "learning_rate = 0.002" in injected  # -f beats the config's 0.001
    assert "source_epochs = 1" in injected  # quick beats the config's 5
    assert "epochs = 1" in injected_parameters(quick_reports.output_dir / "02_transfer_modes" / "02_transfer_modes.ipynb")
    # ... and the notebook used the value: the sample grid shows six images.
    assert f"of {CLI_SAMPLE_COUNT} correct" in quick_reports.html("01_pretrain_source")


@pytest.mark.slow
def test_dependent_notebook_starts_after_its_prerequisite_even_with_two_jobs(quick_reports):
    def papermill_times(name: str) -> dict:
        path = quick_reports.output_dir / name / f"{name}.ipynb"
        return nbformat.read(path, as_version=4).metadata.papermill

    source_run = quick_reports.output_dir / "runs" / "source"
    for name in ("02_transfer_modes", "03_freeze_depth", "04_label_budget", "05_transferability"):
        assert papermill_times(name)["start_time"] >= papermill_times("01_pretrain_source")["end_time"]
        assert f"Using source run {source_run} " in quick_reports.html(name)  # reused 01's run


@pytest.mark.slow
@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_html_report_carries_its_figures_as_plotly_data(quick_reports, name):
    page = quick_reports.html(name)
    figures = plotly_figures(page)
    assert len(figures) == EXPECTED_FIGURES[name]
    assert all(len(traces) >= 1 for traces in figures), "no empty figure"
    trace_types = {trace.get("type") for traces in figures for trace in traces}
    expected_types = {"01_pretrain_source": {"scatter", "heatmap", "image"}, "02_transfer_modes": {"scatter", "bar"},
                      "03_freeze_depth": {"scatter"}, "04_label_budget": {"scatter"},
                      "05_transferability": {"bar", "scatter", "heatmap"}}
    assert expected_types[name] <= trace_types
    # plotly.js itself: inline, exactly once, ahead of the figures that need it.
    assert page.count("* plotly.js v") == 1
    assert page.index("* plotly.js v") < page.index("Plotly.newPlot(")


def check_sweep_curve(traces: list[dict], layout: dict, series: list[str], x_values: list[float]) -> None:
    """One line per series, a point per x with a finite accuracy, and error bars (± sd) on every point."""
    assert [trace["name"] for trace in traces] == series
    for trace in traces:
        assert trace["type"] == "scatter" and trace["x"] == x_values
        assert all(0.0 <= value <= 1.0 for value in trace["y"])
        error = trace["error_y"]
        assert error["visible"] is True and len(error["array"]) == len(x_values)
        assert all(value >= 0 for value in error["array"])
        assert all(len(data) == 2 and data[1] == 1 for data in trace["customdata"])  # hover shows n (one seed)
    assert "sd" in layout["yaxis"]["title"]["text"]


@pytest.mark.slow
def test_freeze_depth_report_draws_accuracy_against_n_with_error_bars(quick_reports):
    page = quick_reports.html("03_freeze_depth")
    traces, layout = figure_titled(page, "against blocks copied")
    check_sweep_curve(traces, layout, ["structure", "frozen (AnB)", "fine-tuned (AnB+)"], QUICK_DEPTHS)
    assert len(set(traces[0]["y"])) == 1  # structure copies nothing: one run per seed, the same at every n
    assert "n=1 seed" in layout["title"]["text"]
    differences, _ = figure_titled(page, "minus structure at the same seed")
    assert [trace["name"] for trace in differences] == ["frozen (AnB)", "fine-tuned (AnB+)"]
    assert all("error_y" in trace and trace["x"] == QUICK_DEPTHS for trace in differences)
    rows = table_rows(page, "Test accuracy per series and number of copied blocks")
    assert len(rows) == 1 + 2 * len(QUICK_DEPTHS)  # structure once, then AnB and AnB+ at each n
    assert all(row[3] == "1" for row in rows)  # the n column
    assert "Yosinski" in page and "How to read it" in page


@pytest.mark.slow
def test_label_budget_report_draws_the_data_efficiency_curve_on_a_log_axis(quick_reports):
    page = quick_reports.html("04_label_budget")
    traces, layout = figure_titled(page, "Data efficiency")
    check_sweep_curve(traces, layout, ["structure", "feature", "parameter"], QUICK_BUDGETS)
    assert layout["xaxis"]["type"] == "log"
    differences, _ = figure_titled(page, "minus structure at the same seed")
    assert [trace["name"] for trace in differences] == ["feature", "parameter"]
    rows = table_rows(page, "Test accuracy per mode and labels per class")
    assert len(rows) == 3 * len(QUICK_BUDGETS)
    assert "per class</strong>:" in page and " is best, " in page  # the key numbers in prose


@pytest.mark.slow
def test_transfer_report_shows_transfer_metrics_and_paired_differences_with_n(quick_reports):
    page = quick_reports.html("02_transfer_modes")
    metrics = table_rows(page, "Transfer metrics against structure (mean ± sd over seeds, n)")
    names = [row[0] for row in metrics]
    for metric in ("jumpstart", "asymptotic gain", "transfer ratio", "epochs to threshold", "seconds to threshold"):
        assert any(name.startswith(metric) for name in names), metric
    for row in metrics:
        assert all(re.search(r"\(n=\d\)$", cell) or cell.startswith("—") for cell in row[1:]), row
    differences = table_rows(page, "Paired difference from structure (same seed)")
    assert [row[0] for row in differences] == ["feature", "parameter"]
    assert all(row[3] == "1" and "run more seeds" in row[4] for row in differences)  # n=1: no interval, said so
    traces, _ = figure_titled(page, "minus structure (same seed)")
    assert [trace["y"] for trace in traces] == [["feature"], ["parameter"]]
    assert all("error_x" in trace for trace in traces)


@pytest.mark.slow
@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_html_report_hides_code_and_loads_nothing_from_the_network(quick_reports, name):
    page = quick_reports.html(name)
    assert network_references(page) == []
    outside_plotly_js = without_plotly_js(page)
    assert "MathJax" not in outside_plotly_js and "require.js" not in page and "mermaid" not in outside_plotly_js
    assert not re.search(r'class="[^"]*\bjp-InputArea-editor', page), "no code input areas"
    assert not re.search(r'class="[^"]*\bjp-InputPrompt', page)
    source = nbformat.read(REPOSITORY / "notebooks" / f"{name}.ipynb", as_version=4)
    for cell in source.cells:
        if cell.cell_type == "code":
            assert cell.source.splitlines()[0] not in page, "code is hidden"
    assert "cudart_stub" not in page, "stderr noise stays in the executed notebook"
    assert "WARNING:tensorflow" not in page


@pytest.mark.slow
def test_metrics_sidecars_hold_the_key_numbers(quick_reports):
    source = json.loads((quick_reports.output_dir / "01_pretrain_source" / "metrics.json").read_text())
    assert 0.0 <= source["test_accuracy"] <= 1.0 and source["epochs"] == 1
    transfer = json.loads((quick_reports.output_dir / "02_transfer_modes" / "metrics.json").read_text())
    assert set(transfer["test_accuracy"]) == {"structure", "feature", "parameter"}
    for summary in transfer["test_accuracy"].values():
        assert summary["n"] == 1 and 0.0 <= summary["mean"] <= 1.0
    assert set(transfer["gain_over_structure"]) == {"feature", "parameter"}
    assert set(transfer["difference_vs_structure"]) == {"feature", "parameter"}
    assert transfer["difference_vs_structure"]["parameter"]["n"] == 1
    assert transfer["difference_vs_structure"]["parameter"]["mean"] == pytest.approx(
        transfer["gain_over_structure"]["parameter"])
    assert set(transfer["transfer_metrics"]["parameter"]) == {"jumpstart", "asymptotic gain", "transfer ratio",
                                                              "epochs to threshold"}
    depth = json.loads((quick_reports.output_dir / "03_freeze_depth" / "metrics.json").read_text())
    assert depth["structure_accuracy"]["n"] == 1
    assert set(depth["best_depth"]) == {"frozen (AnB)", "fine-tuned (AnB+)"}
    assert depth["best_depth"]["frozen (AnB)"]["blocks copied"] in QUICK_DEPTHS
    assert {entry["blocks copied"] for entry in depth["deepest"].values()} == {max(QUICK_DEPTHS)}
    assert len(depth["points"]) == 3 * len(QUICK_DEPTHS)  # structure drawn at every n, plus AnB and AnB+
    budget = json.loads((quick_reports.output_dir / "04_label_budget" / "metrics.json").read_text())
    assert list(budget["best_mode_by_budget"]) == [f"{value} per class" for value in QUICK_BUDGETS]
    for entry in budget["best_mode_by_budget"].values():
        assert entry["best mode"] in {"structure", "feature", "parameter"} and entry["test accuracy"]["n"] == 1
    assert len(budget["points"]) == 3 * len(QUICK_BUDGETS)


@pytest.mark.slow
def test_index_links_every_report_with_figures_parameters_date_and_versions(quick_reports):
    page = (quick_reports.output_dir / "index.html").read_text()
    links = re.findall(r'href="([^"]+)"', page)
    for name in REPORT_NOTEBOOKS:
        assert f"{name}/{name}.html" in links
    for link in links:
        assert (quick_reports.output_dir / link).is_file(), link
    index = quick_reports.index()
    accuracy = index["reports"][1]["metrics"]["test_accuracy"]["parameter"]["mean"]
    assert f"test accuracy · parameter</td><td>{accuracy:.3f} (n=1)" in page
    assert "<td>sample_count</td><td>6</td>" in page
    assert f"Generated {index['generated']}" in page and "with --quick parameters" in page
    import plotly

    assert f"<td>plotly</td><td>{plotly.__version__}</td>" in page
    assert page.count('class="status status-ok"') == len(REPORT_NOTEBOOKS)
    assert "best depth · frozen (AnB) · test accuracy</td><td>" in page
    assert network_references(page) == []


# ------------------------------------------------------------------------------------------------
# The notebooks themselves
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_report_notebooks_are_thin_parameterised_and_committed_without_outputs(name):
    notebook = nbformat.read(REPOSITORY / "notebooks" / f"{name}.ipynb", as_version=4)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [] and cell.execution_count is None
        tree = ast.parse(cell.source)
        definitions = [node for node in ast.walk(tree)
                       if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))]
        assert definitions == [], f"no function or class definitions in notebooks: {cell.source[:60]}"
        assert "verbose=1" not in cell.source.replace(" ", "")
    declared = set(reports.declared_parameters(REPOSITORY / "notebooks" / f"{name}.ipynb"))
    required = {"source_task", "target_task", "learning_rate", "output_dir", "runs_dir"}
    required |= {
        "01_pretrain_source": {"per_class", "source_epochs", "source_seed"},
        "02_transfer_modes": {"per_class", "epochs", "seeds", "freeze_depth", "threshold", "source_run"},
        "03_freeze_depth": {"preset", "per_class", "epochs", "seeds", "depths", "include_fine_tuned", "source_run"},
        "04_label_budget": {"preset", "budgets", "modes", "epochs", "seeds", "freeze_depth", "source_run"},
        "05_transferability": {"per_class", "epochs", "seeds", "depths", "source_run"},
    }[name]
    assert required <= declared


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_report_notebooks_replace_their_own_named_runs_so_a_second_make_report_works(name):
    # `make report` writes into reports/ again and again: a call that names its runs in runs_dir
    # must replace the previous report's runs, or the second regeneration stops on "already exists".
    notebook = nbformat.read(REPOSITORY / "notebooks" / f"{name}.ipynb", as_version=4)
    naming_calls = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            keywords = {keyword.arg: keyword.value for keyword in getattr(node, "keywords", [])}
            if isinstance(node, ast.Call) and "name" in keywords and "runs_dir" in keywords:
                naming_calls.append(ast.unparse(node.func))
                overwrite = keywords.get("overwrite")
                assert isinstance(overwrite, ast.Constant) and overwrite.value is True, \
                    f"{name}: {ast.unparse(node.func)}(name=...) without overwrite=True"
    assert naming_calls or name == "01_pretrain_source", name


def test_report_config_lists_existing_notebooks_with_mnist_defaults():
    config = yaml.safe_load(REPORT_CONFIG.read_text())
    for entry in config["notebooks"]:
        assert (REPORT_CONFIG.parent / entry["path"]).is_file()
    assert config["parameters"]["source_task"] == "mnist-5k:0-4"
    assert config["parameters"]["target_task"] == "mnist-5k:5-9"
    assert config["parameters"]["per_class"] == 5
    plan = plan_reports(REPORT_CONFIG, output_dir="/tmp/unused-report-dir")
    assert [notebook.name for notebook in plan.notebooks] == list(REPORT_NOTEBOOKS)
    assert all(notebook.after == ["01_pretrain_source"] for notebook in plan.notebooks[1:])  # all reuse 01's source
    sweeps = {notebook.name: notebook.parameters for notebook in plan.notebooks[2:]}
    assert sweeps["03_freeze_depth"]["seeds"] >= 3 and sweeps["04_label_budget"]["seeds"] >= 3  # an interval needs n ≥ 2
    quick = {notebook.name: notebook.parameters for notebook in plan_reports(REPORT_CONFIG, output_dir="/tmp/unused-report-dir", quick=True).notebooks}
    assert quick["03_freeze_depth"]["depths"] == QUICK_DEPTHS and quick["04_label_budget"]["budgets"] == QUICK_BUDGETS
    assert all(quick[name]["seeds"] == 1 and quick[name]["epochs"] == 1 for name in ("03_freeze_depth", "04_label_budget"))


# ------------------------------------------------------------------------------------------------
# Tiny notebooks: failure, timeout, precedence, idempotence
# ------------------------------------------------------------------------------------------------


def write_notebook(path: Path, parameters: str, *cells: str) -> Path:
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


@pytest.fixture
def tiny_report_set(tmp_path: Path) -> Path:
    """The tiny report set, for tests that only plan (nothing runs)."""
    return make_tiny_report_set(tmp_path / "set")


def files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny set run twice: first one job at a time, then with -j 2."""
    config = make_tiny_report_set(tmp_path_factory.mktemp("tiny") / "set")
    output = config.parent / "out"
    runs = {"config": config, "output": output}
    runs["first_code"] = main(["report", "--config", str(config), "--no-log-output"])
    runs["first_files"] = files_under(output)
    runs["first_index"] = json.loads((output / "index.json").read_text())
    runs["second_code"] = main(["report", "--config", str(config), "--no-log-output", "-j", "2"])
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
    second_index = json.loads((output / "index.json").read_text())
    assert [(entry["name"], entry["status"]) for entry in second_index["reports"]] == \
        [(entry["name"], entry["status"]) for entry in tiny_runs["first_index"]["reports"]]


def test_with_two_jobs_a_waiting_notebook_starts_in_a_kernel_warmed_while_its_prerequisite_ran(tmp_path):
    probe = ("import sys\nprint('warmed:', 'xml.dom.minidom' in sys.modules, 'xml' in dir(), "
             "get_ipython().execution_count)")
    write_notebook(tmp_path / "first.ipynb", 'output_dir = "."', "import time\ntime.sleep(4)")
    write_notebook(tmp_path / "second.ipynb", 'output_dir = "."', probe)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({
        "output_dir": "out", "warm_up": "import xml.dom.minidom",
        "notebooks": [{"path": "first.ipynb"}, {"path": "second.ipynb", "after": ["first"]}]}))

    def second_run(jobs: int) -> tuple[str, dict, dict]:
        plan, results = reports.build_reports(tmp_path / "config.yaml", jobs=jobs, log_output=False)
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


def test_report_config_warm_up_must_be_code_text(tmp_path):
    write_notebook(tmp_path / "first.ipynb", 'output_dir = "."', "1")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"warm_up": ["import x"], "notebooks": [{"path": "first.ipynb"}]}))
    with pytest.raises(reports.ReportError, match="`warm_up` .* must be Python code on one line"):
        reports.load_report_config(tmp_path / "config.yaml")


def test_a_cell_past_the_timeout_fails_its_notebook_and_is_marked(tmp_path):
    write_notebook(tmp_path / "slow.ipynb", 'output_dir = "."', "import time\ntime.sleep(60)")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"notebooks": [{"path": "slow.ipynb"}], "output_dir": "out"}))
    plan, results = reports.build_reports(tmp_path / "config.yaml", timeout=3, log_output=False)
    assert results[0].status == "timed out"
    assert results[0].error["cell"] == 3 and "time.sleep(60)" in results[0].error["source"]
    executed = nbformat.read(tmp_path / "out" / "slow" / "slow.ipynb", as_version=4)
    assert "Timed out" in executed.cells[0].source
    assert "timed out" in (tmp_path / "out" / "index.html").read_text()


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


def test_missing_default_kernel_is_provided_for_this_interpreter(monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager

    monkeypatch.setattr(KernelSpecManager, "find_kernel_specs", lambda self: {})
    monkeypatch.setenv("JUPYTER_PATH", "")
    choice = reports.resolve_kernel("workbench")
    assert choice.name == "workbench" and "not installed" in choice.note
    folder = Path(os.environ["JUPYTER_PATH"].split(os.pathsep)[0])
    assert folder == choice.provided_dir
    spec = json.loads((folder / "kernels" / "workbench" / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    choice.release()
    assert not folder.exists() and os.environ["JUPYTER_PATH"] == ""
    with pytest.raises(ReportError, match="not installed"):
        reports.resolve_kernel("some-other-kernel")


# ------------------------------------------------------------------------------------------------
# Figures in reports: the renderer and the index, without a kernel
# ------------------------------------------------------------------------------------------------


def test_report_renderer_emits_figure_data_as_html_with_unique_ids_and_no_cdn():
    import plotly.graph_objects as go
    import plotly.io as pio

    from workbench import figures, notebook_support

    previous = pio.renderers.default
    notebook_support.prepare_notebook()
    assert pio.renderers.default == notebook_support.REPORT_RENDERER
    try:
        check_two_figures(figures, go, pio)
    finally:
        pio.renderers.default = previous


def check_two_figures(figures, go, pio) -> None:
    figure = figures.plot_comparison([{"mode": "parameter", "label": "parameter", "mean": 0.8, "sd": 0.1, "n": 3,
                                       "values": [0.7, 0.8, 0.9], "seeds": [0, 1, 2]}])
    # plotly renders through a copy of the renderer: ids must still differ between figures.
    first = pio.renderers._build_mime_bundle(figure.to_dict())
    second = pio.renderers._build_mime_bundle(go.Figure(go.Scatter(y=[1, 2])).to_dict())
    for bundle in (first, second):
        assert set(bundle) == {"text/html", "application/vnd.plotly.v1+json"}
        assert network_references(bundle["text/html"]) == [] and "MathJax" not in bundle["text/html"]
        assert "* plotly.js v" not in bundle["text/html"]  # the page embeds it once, not every figure
    ids = [re.search(r'id="([^"]+)"', bundle["text/html"]).group(1) for bundle in (first, second)]
    assert ids[0] != ids[1]
    traces = plotly_figures(first["text/html"])[0]
    assert traces[0]["type"] == "bar" and traces[0]["y"] == [0.8]


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


@pytest.mark.slow
def test_transfer_notebook_pretrains_its_own_source_when_the_given_one_is_missing_or_another_task(tmp_path, capsys):
    from workbench import notebook_support

    runs_dir = tmp_path / "runs"
    made = notebook_support.ensure_source_run("source", str(runs_dir), task="mnist-5k:0-4", per_class=5, epochs=1)
    assert made.path == runs_dir / "source" and made.config["kind"] == "pretrain"
    assert "pretraining it now" in capsys.readouterr().out
    again = notebook_support.ensure_source_run("source", str(runs_dir), task="mnist-5k:0-4", epochs=99)
    assert again.path == made.path and len(again.history) == 1  # reused, not retrained
    assert "Using source run" in capsys.readouterr().out
    # A preset with another source task gets its own source run; the shared one stays as it was.
    other = notebook_support.ensure_source_run("source", str(runs_dir), task="mnist-5k:5-9", per_class=5, epochs=1)
    assert other.path == runs_dir / "source-mnist-5k-5-9" and other.config["task"] == "mnist-5k:5-9"
    assert "learned mnist-5k:0-4, not mnist-5k:5-9" in capsys.readouterr().out
    assert notebook_support.ensure_source_run("source", str(runs_dir), task="mnist-5k:5-9").path == other.path
    assert notebook_support.load_run("source", str(runs_dir)).config["task"] == "mnist-5k:0-4"


# ------------------------------------------------------------------------------------------------
# Statistics in reports: every number with mean ± sd and n, paired differences with intervals
# (hand-made runs, no training)
# ------------------------------------------------------------------------------------------------


class FakeRun:
    """What comparisons and sweeps read from a run: name, config, test accuracy, history."""

    def __init__(self, mode: str, seed: int, accuracy: float, curve: tuple[float, ...] = (0.5, 0.7, 0.8)):
        self.name = f"{mode}-s{seed}"
        self.config = {"mode": mode, "seed": seed}
        self.test_accuracy = accuracy
        self.transfer_report: dict = {}
        self.history = [{"epoch": epoch, "accuracy": value, "val_accuracy": value, "seconds": 2.0}
                        for epoch, value in enumerate(curve, start=1)]


def fake_depth_sweep():
    from workbench.config import RunConfig
    from workbench.experiments import Sweep

    base = RunConfig(kind="transfer", source="runs/source", task="mnist-5k:5-9", per_class=5)
    sweep = Sweep("freeze_depth", "freeze depth", base, [0, 1, 2])
    structure = {0: 0.60, 1: 0.62, 2: 0.58}
    frozen = {(1, 0): 0.70, (1, 1): 0.74, (1, 2): 0.69, (4, 0): 0.40, (4, 1): 0.45, (4, 2): 0.38}
    for seed in (0, 1, 2):
        baseline = FakeRun("structure", seed, structure[seed])
        for depth in (1, 4):
            sweep.add(baseline, "structure", depth)
        for depth in (1, 4):
            sweep.add(FakeRun("parameter", seed, frozen[depth, seed]), "frozen (AnB)", depth)
    return sweep


def fake_comparison():
    from workbench.config import RunConfig
    from workbench.experiments import Comparison

    base = RunConfig(kind="transfer", source="runs/source", task="mnist-5k:5-9", per_class=5)
    comparison = Comparison(base, [0, 1, 2], ["structure", "parameter"])
    for seed, (scratch, transferred) in enumerate([(0.60, 0.80), (0.62, 0.79), (0.58, 0.83)]):
        comparison.runs.append(FakeRun("structure", seed, scratch, curve=(0.3, 0.5, 0.6)))
        comparison.runs.append(FakeRun("parameter", seed, transferred, curve=(0.6, 0.75, 0.8)))
    return comparison


def test_mean_sd_text_carries_n_and_drops_the_sd_of_a_single_value():
    from workbench.notebook_support import format_mean_sd

    assert format_mean_sd({"mean": 0.8123, "sd": 0.0204, "n": 3}) == "0.812 ± 0.020 (n=3)"
    assert format_mean_sd({"mean": 0.05, "sd": 0.01, "n": 3}, signed=True, with_n=False) == "+0.050 ± 0.010"
    assert format_mean_sd({"mean": 0.8, "sd": 0.0, "n": 1}) == "0.800 (n=1)"
    assert format_mean_sd({"mean": float("nan"), "sd": float("nan"), "n": 0}) == "n/a (n=0)"


def test_sweep_differences_pair_each_point_with_structure_at_the_same_seed():
    from workbench.notebook_support import sweep_differences, sweep_rows
    from workbench.statistics import paired_difference

    sweep = fake_depth_sweep()
    differences = {row["x"]: row for row in sweep_differences(sweep)}
    expected = paired_difference([0.70, 0.74, 0.69], [0.60, 0.62, 0.58])
    assert differences[1]["mean"] == pytest.approx(expected["mean"])
    assert (differences[1]["low"], differences[1]["high"]) == pytest.approx((expected["low"], expected["high"]))
    assert differences[1]["significant"] and differences[1]["n"] == 3 and differences[1]["freeze_depth"] == 1
    assert differences[4]["high"] < 0  # deep frozen blocks hurt, beyond seed noise
    rows = sweep_rows(sweep)
    assert [(row["series"], row["blocks copied (n)"]) for row in rows] == [
        ("structure", "— (nothing copied)"), ("frozen (AnB)", 1), ("frozen (AnB)", 4)]
    assert rows[1]["test accuracy (mean ± sd)"].startswith("0.710 ± ") and rows[1]["n (seeds)"] == 3
    assert rows[1]["− structure, same seed (mean [95% CI])"] == (
        f"+0.110 ± {expected['sd']:.3f} [{expected['low']:+.3f}, {expected['high']:+.3f}]")


def test_sweep_difference_figure_draws_the_confidence_interval_as_error_bars():
    from workbench.notebook_support import plot_depth_sweep, plot_sweep_differences, sweep_differences

    sweep = fake_depth_sweep()
    figure = plot_sweep_differences(sweep)
    [trace] = figure.data
    assert trace.name == "frozen (AnB)" and list(trace.x) == [1, 4]
    rows = sweep_differences(sweep)
    assert list(trace.error_y.array) == pytest.approx([row["high"] - row["mean"] for row in rows])
    assert list(trace.error_y.arrayminus) == pytest.approx([row["mean"] - row["low"] for row in rows])
    assert trace.customdata[0][1] == 3  # n in the hover text
    curve = plot_depth_sweep(sweep)
    assert [item.name for item in curve.data] == ["structure", "frozen (AnB)"]  # baseline first, as run
    assert curve.data[1].line.color == trace.line.color  # a series keeps its colour across figures
    assert "n=3 seeds" in curve.layout.title.text


def test_sweep_key_numbers_name_the_best_and_deepest_n_with_their_intervals():
    from workbench.notebook_support import depth_sweep_metrics, describe_depth_sweep

    metrics = depth_sweep_metrics(fake_depth_sweep())
    assert metrics["structure_accuracy"] == pytest.approx({"mean": 0.6, "sd": 0.02, "n": 3})
    best, deepest = metrics["best_depth"]["frozen (AnB)"], metrics["deepest"]["frozen (AnB)"]
    assert best["blocks copied"] == 1 and deepest["blocks copied"] == 4
    assert best["difference vs structure"]["low"] > 0 and best["difference 95% CI"].startswith("[+")
    text = describe_depth_sweep(fake_depth_sweep()).data
    assert "best at n = 1, 0.710 ± 0.026 (n=3)" in text and "beats structure" in text
    assert "worse than structure" in text


def test_budget_key_numbers_give_the_best_mode_per_budget_and_its_paired_gain():
    from workbench.config import RunConfig
    from workbench.experiments import Sweep
    from workbench.notebook_support import budget_sweep_metrics, describe_budget_sweep

    sweep = Sweep("per_class", "labels per class", RunConfig(kind="transfer", source="s", task="mnist-5k:5-9"), [0, 1])
    for seed in (0, 1):
        for budget, scratch, transferred in ((1, 0.30, 0.50), (25, 0.90, 0.88)):
            sweep.add(FakeRun("structure", seed, scratch + 0.01 * seed), "structure", budget)
            sweep.add(FakeRun("parameter", seed, transferred + 0.02 * seed), "parameter", budget)
    metrics = budget_sweep_metrics(sweep)["best_mode_by_budget"]
    assert list(metrics) == ["1 per class", "25 per class"]
    assert metrics["1 per class"]["best mode"] == "parameter"
    assert metrics["1 per class"]["gain over structure"]["mean"] == pytest.approx(0.205)
    assert metrics["1 per class"]["gain over structure"]["n"] == 2
    assert metrics["25 per class"]["best mode"] == "structure" and "gain over structure" not in metrics["25 per class"]
    assert "**1 per class**: parameter is best, 0.510 ± 0.014 (n=2)" in describe_budget_sweep(sweep).data


def test_comparison_tables_give_paired_intervals_and_transfer_metrics_with_n():
    from workbench.notebook_support import (
        comparison_metrics,
        describe_paired_differences,
        paired_difference_rows,
        transfer_metric_rows,
    )

    comparison = fake_comparison()
    [row] = paired_difference_rows(comparison)
    assert row["mode"] == "parameter" and row["n (seed pairs)"] == 3
    assert row["95% CI"].startswith("[+") and row["verdict"].startswith("beats structure")
    assert "beats structure" in describe_paired_differences(comparison).data
    table = {entry["metric"].split(" (")[0]: entry for entry in transfer_metric_rows(comparison)}
    assert table["jumpstart"]["parameter"] == "+0.300 ± 0.000 (n=3)"
    assert table["asymptotic gain"]["parameter"].startswith("+0.207 ± ")
    # 90% of structure's best (0.6) is 0.54: parameter reaches it after 1 epoch, structure after 3.
    assert table["epochs to threshold"]["parameter"] == "1.00 ± 0.00 (n=3)"
    assert table["epochs to threshold"]["structure (itself)"] == "3.00 ± 0.00 (n=3)"
    assert table["seconds to threshold"]["structure (itself)"] == "6.00 ± 0.00 (n=3)"
    assert table["jumpstart"]["structure (itself)"].startswith("—")
    metrics = comparison_metrics(comparison)
    assert metrics["difference_vs_structure"]["parameter"]["n"] == 3
    assert metrics["difference_vs_structure_95%_CI"]["parameter"] == row["95% CI"]


def test_a_worker_waiting_for_its_turn_gives_up_when_the_runner_removes_the_go_folder(tmp_path):
    from workbench.warm_kernels import wait_for_go

    signals = tmp_path / "signals"
    signals.mkdir()
    outcome: dict = {}

    def wait(name: str) -> None:
        try:
            wait_for_go(signals / f"{name}.go")
            outcome[name] = "go"
        except RuntimeError as error:
            outcome[name] = str(error)

    first = threading.Thread(target=wait, args=("first",))
    first.start()
    (signals / "first.go").touch()
    first.join(timeout=10)
    assert outcome["first"] == "go"
    second = threading.Thread(target=wait, args=("second",))
    second.start()
    time.sleep(0.3)
    assert second.is_alive()  # still waiting for its turn
    shutil.rmtree(signals)  # what run_notebooks does when it stops early
    second.join(timeout=10)
    assert not second.is_alive() and "stopped before this notebook's turn" in outcome["second"]
