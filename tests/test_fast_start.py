"""The start-up trims of workbench/fast_start.py: the slow optional import is skipped, and what
needs jsonschema (nbformat validating a notebook, plotly's renderers) still works without it;
TensorFlow's C++ start-up lines are hidden, unless the user chose a log level."""

from __future__ import annotations

import os
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
    # Asked in a fresh process: the test processes skip the module too (conftest.py), so it looks absent here.
    probe = ("import importlib.util, sys\n"
             "if importlib.util.find_spec('rfc3987_syntax') is None: print('absent'); sys.exit()\n"
             "import nbformat; print(sys.modules.get('rfc3987_syntax') is not None)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    if result.stdout.strip() == "absent":
        pytest.skip("rfc3987_syntax is not installed here: nothing to skip")
    assert result.stdout.strip() == "True"


# TensorFlow's C++ start-up lines, as TensorFlow 2.21 prints them (twice) on a machine without a GPU.
ABSEIL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ONEDNN_LINE = ("I0000 00:00:1796045622.359059    6782 port.cc:153] oneDNN custom operations are on. You may see "
               "slightly different numerical results due to floating-point round-off errors.")
CUDA_LINE = ("I0000 00:00:1796045622.364810    6782 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
             "GPU will not be used.")
CUINIT_LINE = ("E0000 00:00:1796045804.998899   10621 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA "
               "error: Failed call to cuInit: UNKNOWN ERROR (303)")
STARTUP_FRAGMENTS = ("oneDNN", "cuda drivers", "absl::InitializeLog")


@pytest.mark.parametrize(("line", "hidden_from_level"), [
    (ABSEIL_NOTICE, 1), (ONEDNN_LINE, 1), (CUDA_LINE, 1),
    ("W0000 00:00:1796045622.1    6782 file.cc:1] a warning", 2), (CUINIT_LINE, 3),
    ("Traceback (most recent call last):", None), ("I0000 is how an info line starts, but this is prose", None),
])
def test_log_lines_are_hidden_by_tensorflows_own_level_rule(line: str, hidden_from_level: int | None) -> None:
    from workbench.fast_start import is_hidden_log_line

    for level in range(4):
        expected = hidden_from_level is not None and level >= hidden_from_level
        assert is_hidden_log_line(line + "\n", level) is expected, level


def test_the_filter_passes_on_every_other_stderr_line_in_order(capfd: pytest.CaptureFixture) -> None:
    from workbench.fast_start import _filtered_standard_error

    with _filtered_standard_error(2):
        os.write(2, f"{ABSEIL_NOTICE}\n{ONEDNN_LINE}\nfirst real line\n{CUINIT_LINE}\n".encode())
        os.write(2, b"second real line\n")
    assert capfd.readouterr().err == f"first real line\n{CUINIT_LINE}\nsecond real line\n"


def test_a_log_level_the_user_set_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.fast_start import _QuietTensorFlowImport, quiet_tensorflow_logs

    # Without the finder conftest.py installed where this process has not imported TensorFlow yet.
    monkeypatch.setattr(sys, "meta_path", [finder for finder in sys.meta_path
                                           if not isinstance(finder, _QuietTensorFlowImport)])
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    quiet_tensorflow_logs()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path)


def test_without_a_user_level_the_level_is_set_and_the_import_is_filtered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.fast_start import _QuietTensorFlowImport, quiet_tensorflow_logs

    monkeypatch.setattr(sys, "meta_path", [finder for finder in sys.meta_path
                                           if not isinstance(finder, _QuietTensorFlowImport)])
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    quiet_tensorflow_logs()
    quiet_tensorflow_logs()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert sum(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path) == 1


COMMAND_THAT_IMPORTS_TENSORFLOW = """
import sys
from workbench.cli import main
code = main(["runs", "--runs-dir", sys.argv[1]])
print("tensorflow imported:", "tensorflow" in sys.modules)
sys.exit(code)
"""


def test_a_cli_command_that_imports_tensorflow_prints_none_of_its_start_up_lines(tmp_path) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", COMMAND_THAT_IMPORTS_TENSORFLOW, str(tmp_path / "runs")],
                            capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr
    assert "tensorflow imported: True" in result.stdout
    assert "No runs in" in result.stdout
    assert not [line for line in result.stderr.splitlines() if any(text in line for text in STARTUP_FRAGMENTS)], \
        result.stderr
    unfiltered = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True,
                                timeout=300, env=environment)
    if not any(text in unfiltered.stderr for text in STARTUP_FRAGMENTS):
        pytest.skip("TensorFlow prints no start-up lines on this machine: nothing for the filter to hide")
