"""Tests for workbench.figures as a whole (style, one import path, light imports) and its style module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from figure_examples import all_figures

from workbench import figures
from workbench.figures import FALLBACK_COLORS, MODE_COLORS, assign_colors, empty_figure, plain_text, spread_offsets


def test_empty_figure_shows_the_message_centred():
    figure = empty_figure("Nothing here")
    (annotation,) = figure.layout.annotations
    assert annotation.text == "Nothing here"
    assert (annotation.x, annotation.y) == (0.5, 0.5)
    assert annotation.showarrow is False


def test_modes_keep_their_colour_and_other_labels_take_fallbacks_in_order():
    colors = assign_colors(["Feature seed 1", "baseline", "other", "baseline", "structure"])
    assert colors == {"Feature seed 1": MODE_COLORS["feature"], "baseline": FALLBACK_COLORS[0],
                      "other": FALLBACK_COLORS[1], "structure": MODE_COLORS["structure"]}


def test_plain_text_escapes_what_plotly_would_render_as_html():
    assert plain_text("<b>cat</b> & dog") == "&lt;b&gt;cat&lt;/b&gt; &amp; dog"


def test_spread_offsets_are_centred_and_deterministic():
    assert spread_offsets(0) == [] and spread_offsets(1) == [0.0]
    assert spread_offsets(3) == [-0.15, 0.0, 0.15]


def test_every_figure_serialises_to_json_with_a_title_or_message():
    for figure in all_figures():
        payload = json.loads(figure.to_json())
        layout = payload["layout"]
        assert layout.get("title", {}).get("text") or layout.get("annotations")


def test_figures_are_deterministic():
    first = [figure.to_json() for figure in all_figures()]
    second = [figure.to_json() for figure in all_figures()]
    assert first == second


def test_package_imports_only_numpy_plotly_and_the_formatting_module():
    # Checked on the source of every module: reports and panels import the figures, so they must
    # stay light (no TensorFlow, no engine module).
    imported = set()
    for path in Path(figures.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module)
    workbench_modules = {name for name in imported if name.split(".")[0] == "workbench"}
    assert {name.split(".")[0] for name in imported - workbench_modules} <= {
        "__future__", "collections", "math", "typing", "numpy", "plotly"}
    assert workbench_modules <= {"workbench.formatting"} | {
        f"workbench.figures.{path.stem}" for path in Path(figures.__file__).parent.glob("*.py")}


def test_importing_the_figures_does_not_import_tensorflow():
    code = "import sys, workbench.figures; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_every_public_name_is_importable_from_the_package():
    for name in figures.__all__:
        assert getattr(figures, name) is not None
    for module in ("style", "curves", "studies", "predictions", "transfer", "diagnostics"):
        assert hasattr(figures, module)  # the submodules are loaded by the package's __init__
