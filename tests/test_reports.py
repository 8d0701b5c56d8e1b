"""Tests for `workbench report` on the real notebooks: papermill execution, offline HTML, metrics
sidecars and the index, and the notebooks themselves.

The real notebooks run once per session with `--quick` parameters (see `report_helpers`). The
tiny-notebook tests of each part of `workbench.reports` live in `test_reports_<module>.py`.
"""

from __future__ import annotations

import ast
import json
import re
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
    network_references,
    plotly_figures,
    plotly_figures_with_layout,
    without_plotly_js,
)

from workbench import reports
from workbench.reports import plan_reports


@pytest.fixture(scope="module")
def quick_reports(tmp_path_factory: pytest.TempPathFactory):
    return build_quick_reports(tmp_path_factory)


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
    for name in ("02_transfer_modes", "03_freeze_depth", "04_label_budget", "05_transferability", "06_structure"):
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
                      "05_transferability": {"bar", "scatter", "heatmap"}, "06_structure": {"bar", "scatter"}}
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
        "06_structure": {"preset", "per_class", "epochs", "seeds", "freeze_depth", "cut_edits", "widen_edits",
                         "source_run"},
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


