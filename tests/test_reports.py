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
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from report_helpers import (
    CLI_SAMPLE_COUNT,
    EXPECTED_FIGURES,
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
    decoder = json.JSONDecoder()
    figures = []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page):
        traces, _ = decoder.raw_decode(page, match.end())
        figures.append(traces)
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

    assert papermill_times("02_transfer_modes")["start_time"] >= papermill_times("01_pretrain_source")["end_time"]
    source_run = quick_reports.output_dir / "runs" / "source"
    assert str(source_run) in quick_reports.html("02_transfer_modes")  # 02 reused 01's run


@pytest.mark.slow
@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_html_report_carries_its_figures_as_plotly_data(quick_reports, name):
    page = quick_reports.html(name)
    figures = plotly_figures(page)
    assert len(figures) == EXPECTED_FIGURES[name]
    assert all(len(traces) >= 1 for traces in figures), "no empty figure"
    trace_types = {trace.get("type") for traces in figures for trace in traces}
    expected_types = {"01_pretrain_source": {"scatter", "heatmap", "image"}, "02_transfer_modes": {"scatter", "bar"}}
    assert expected_types[name] <= trace_types
    # plotly.js itself: inline, exactly once, ahead of the figures that need it.
    assert page.count("* plotly.js v") == 1
    assert page.index("* plotly.js v") < page.index("Plotly.newPlot(")


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
    assert page.count('class="status status-ok"') == 2
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
    required = {"source_task", "target_task", "per_class", "learning_rate", "output_dir", "runs_dir"}
    required |= {"epochs", "seeds", "freeze_depth"} if name == "02_transfer_modes" else {"source_epochs", "source_seed"}
    assert required <= declared


def test_report_config_lists_existing_notebooks_with_mnist_defaults():
    config = yaml.safe_load(REPORT_CONFIG.read_text())
    for entry in config["notebooks"]:
        assert (REPORT_CONFIG.parent / entry["path"]).is_file()
    assert config["parameters"]["source_task"] == "mnist-5k:0-4"
    assert config["parameters"]["target_task"] == "mnist-5k:5-9"
    assert config["parameters"]["per_class"] == 5
    plan = plan_reports(REPORT_CONFIG, output_dir="/tmp/unused-report-dir")
    assert [notebook.name for notebook in plan.notebooks] == list(REPORT_NOTEBOOKS)
    assert plan.notebooks[1].after == ["01_pretrain_source"]


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
def test_transfer_notebook_pretrains_its_own_source_when_the_given_one_is_missing(tmp_path, capsys):
    from workbench import notebook_support

    runs_dir = tmp_path / "runs"
    made = notebook_support.ensure_source_run("source", str(runs_dir), task="mnist-5k:0-4", per_class=5, epochs=1)
    assert made.path == runs_dir / "source" and made.config["kind"] == "pretrain"
    assert "pretraining it now" in capsys.readouterr().out
    again = notebook_support.ensure_source_run("source", str(runs_dir), task="mnist-5k:0-4", epochs=99)
    assert again.path == made.path and len(again.history) == 1  # reused, not retrained
    assert "Using source run" in capsys.readouterr().out
