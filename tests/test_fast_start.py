"""The start-up trim of workbench/fast_start.py: the slow optional import is skipped, and what
needs jsonschema (nbformat validating a notebook, plotly's renderers) still works without it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

CHECK = """
import sys
from workbench.fast_start import SKIPPED_MODULES, skip_slow_optional_imports
skip_slow_optional_imports()
import nbformat
notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
nbformat.validate(notebook)
try:
    nbformat.validate({"nbformat": 4, "cells": "not a list"})
except nbformat.ValidationError:
    pass
else:
    raise SystemExit("an invalid notebook passed validation")
import plotly.io as pio
assert pio.renderers.default is not None
loaded = [name for name in (*SKIPPED_MODULES, "lark") if sys.modules.get(name) is not None]
print("loaded:", loaded)
"""


def test_skipped_import_stays_out_and_notebook_validation_still_works() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout, result.stdout


def test_without_the_trim_the_module_would_load_so_the_test_above_means_something() -> None:
    if importlib.util.find_spec("rfc3987_syntax") is None:
        pytest.skip("rfc3987_syntax is not installed here: nothing to skip")
    probe = "import sys, nbformat; print('rfc3987_syntax' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
