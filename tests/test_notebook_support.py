"""The notebooks' facade (`workbench.notebook_support`): the figure renderer that survives papermill
and nbconvert, the source-run fallback, per-epoch lines, and the key-figure sidecar."""

from __future__ import annotations

import json
import math
import re

import pytest
from report_helpers import network_references, plotly_figures

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



def test_record_metrics_merges_calls_and_writes_null_for_nan(tmp_path) -> None:
    from workbench import notebook_support

    notebook_support.record_metrics(tmp_path, first={"mean": 0.5, "sd": math.nan, "n": 1})
    notebook_support.record_metrics(tmp_path, second=2)
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"first": {"mean": 0.5, "sd": None, "n": 1},
                                                                   "second": 2}


def test_progress_lines_are_the_notebooks_epoch_log(capsys) -> None:
    from workbench import notebook_support

    callback = notebook_support.epoch_log("pretrain")
    callback.set_params({"epochs": 1})
    callback.on_train_begin()
    callback.on_epoch_end(0, {"loss": 0.25, "accuracy": 0.5})
    assert capsys.readouterr().out == "pretrain epoch 1/1: loss 0.2500, accuracy 0.5000\n"
