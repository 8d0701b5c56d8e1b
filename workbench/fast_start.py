"""Start-up time of the processes the workbench owns: the CLI, report workers and report kernels.

jsonschema imports `rfc3987_syntax` when it is installed (jupyter-events' `format-nongpl` extra
installs it) only to check the "iri" string formats, and that package builds about 40 lark
parsers when it is imported: 3 s on a quiet 2-core machine, 7 s on a busy one. jsonschema comes in
through nbformat, which papermill and nbconvert import, and which plotly imports as soon as its
renderers are touched, so every report notebook's kernel paid it too. No schema here uses those
formats. `skip_slow_optional_imports` is called where the process is ours (`workbench` commands,
report worker processes, `notebook_support.prepare_notebook` in report kernels) and where a kernel
builds the panel (`TransferPanel`: its first plotly FigureWidget would pay the 3-4 s), never on
import, so a Python session that merely imports the workbench keeps its jsonschema as it is.

TensorFlow's C++ runtime prints notices at start-up (the oneDNN notice, "Could not find cuda
drivers on your machine") that say nothing about the user's run, and prints them twice: the core
library and `tensorflow/python/profiler/internal/_pywrap_profiler_plugin.so` (loaded by
`import tensorflow`, through `tf.profiler`) each link their own copy of TensorFlow's platform code
and of Abseil's logging, so each runs the start-up checks and logs them. TensorFlow 2.21 logs them
with Abseil before anything calls `absl::InitializeLog()`, and Abseil then writes every severity
to stderr: TF_CPP_MIN_LOG_LEVEL does not reach these lines (it still quiets TensorFlow's own
later logging). `quiet_tensorflow_logs` therefore sets the variable and, for the one import of
TensorFlow, filters the process's stderr by the variable's own rule. It must run before TensorFlow
is imported: the CLI's `main` calls it first thing; the panels and the notebooks' support module
call it before anything of theirs imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

SKIPPED_MODULES = ("rfc3987_syntax",)
TENSORFLOW_LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
# "3", not "2": on a machine without a GPU driver, "2" still shows "failed call to cuInit" (an
# error-level line) at the first operation of every process. Errors that matter reach Python as
# exceptions with their message. The CLI used "3" before this function existed.
QUIET_TENSORFLOW_LOG_LEVEL = "3"
# An Abseil log line: severity letter, date, time (before initialisation: seconds since 1970), thread, file:line].
ABSEIL_LOG_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
ABSEIL_SEVERITIES = "IWEF"  # TF_CPP_MIN_LOG_LEVEL 1 hides I, 2 hides I and W, 3 hides I, W and E
ABSEIL_UNINITIALISED_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def skip_slow_optional_imports() -> None:
    """Make the optional imports above fail fast (jsonschema then skips the formats they check).

    Has no effect on a module that this process has already imported.
    """
    for name in SKIPPED_MODULES:
        sys.modules.setdefault(name, None)  # None in sys.modules: `import` raises ImportError


def quiet_tensorflow_logs() -> None:
    """Hide TensorFlow's C++ start-up notices, unless the user chose a log level themselves.

    Sets TF_CPP_MIN_LOG_LEVEL to "3" (TensorFlow's C++ info, warning and error lines hidden) when
    the user has not set it; a level the user set, even "0" to see everything, is left untouched. Then filters
    the lines TensorFlow prints while it is imported by that level, since the variable alone does
    not hide them (see the module docstring). Must run before TensorFlow is imported: the runtime
    reads the variable once, when it loads. Calling it again is harmless.
    """
    os.environ.setdefault(TENSORFLOW_LOG_LEVEL_VARIABLE, QUIET_TENSORFLOW_LOG_LEVEL)
    level = os.environ[TENSORFLOW_LOG_LEVEL_VARIABLE].strip()
    minimum_level = int(level) if level.isdigit() else 0
    if minimum_level == 0 or "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport(minimum_level))


def is_hidden_log_line(line: str, minimum_level: int) -> bool:
    """Whether TF_CPP_MIN_LOG_LEVEL=`minimum_level` would hide this Abseil-format stderr line."""
    if minimum_level <= 0:
        return False
    if line.rstrip("\r\n") == ABSEIL_UNINITIALISED_NOTICE:
        return True
    match = ABSEIL_LOG_LINE.match(line)
    return match is not None and ABSEIL_SEVERITIES.index(match.group(1)) < minimum_level


@contextlib.contextmanager
def _filtered_standard_error(minimum_level: int) -> Iterator[None]:
    """Hold what is written to file descriptor 2 and pass on the lines `minimum_level` keeps.

    Works on the descriptor, not on `sys.stderr`, because the lines come from C++. Whatever
    another thread writes to stderr meanwhile is held too, and passed on (in order) at the end.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as held:
        _flush_standard_error()
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            _flush_standard_error()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not is_hidden_log_line(line, minimum_level))
            if kept:
                os.write(2, kept.encode())


def _flush_standard_error() -> None:
    with contextlib.suppress(Exception):  # a replaced or closed sys.stderr has nothing to flush
        sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Import finder that runs the first `import tensorflow` under `_filtered_standard_error`.

    It only wraps the loader Python's own finders return, and removes itself when it is used.
    """

    def __init__(self, minimum_level: int) -> None:
        self.minimum_level = minimum_level

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _FilteredLoader(spec.loader, self.minimum_level)
        return spec


class _FilteredLoader(importlib.abc.Loader):
    """Runs the wrapped loader's `exec_module` with stderr filtered; the module keeps the real loader."""

    def __init__(self, loader: Any, minimum_level: int) -> None:
        self.loader = loader
        self.minimum_level = minimum_level

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        with _filtered_standard_error(self.minimum_level):
            self.loader.exec_module(module)
