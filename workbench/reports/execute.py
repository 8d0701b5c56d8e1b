"""Running one notebook, in this process or a report worker: papermill, its timeout, its log lines.

`execute_report` never raises for a notebook's own errors: a notebook that raises or times out
gives a result with its status, the error and the cell it happened in, and its executed notebook
is kept and rendered too, so the HTML shows how far it got.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.reports.html import render_html, report_header
from workbench.reports.kernel import (
    KERNEL_START_TIMEOUT,
    KernelLogManager,
    kernel_log_config,
    start_warm_kernel,
    stop_kernel,
    wait_for_go,
)
from workbench.reports.plan import NotebookPlan

logger = logging.getLogger(__name__)

KERNEL_LOG_FILE = "kernel.log"
EXECUTED_SUFFIX = ".executed"  # beside a worker's go file once papermill has finished with its notebook
STATUS_OK, STATUS_FAILED, STATUS_TIMED_OUT = "ok", "failed", "timed out"
# The loggers whose lines `_NotebookLogging` prefixes with the notebook's name.
PAPERMILL_LOGGER, REPORTS_LOGGER = "papermill", "workbench.reports"


@dataclass
class NotebookResult:
    """What happened to one notebook: status, timing, error location, metrics, files."""

    name: str
    title: str
    status: str
    seconds: float
    parameters: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None  # the comparison with --baseline (`reports.baseline.compare_report`)
    reused: dict[str, Any] | None = None  # kept from the previous report, inputs unchanged (`reports.reuse`)

    @property
    def ok(self) -> bool:
        """True when the notebook ran to the end and its report was written."""
        return self.status == STATUS_OK

    @property
    def regressed(self) -> bool:
        """True when a key figure got worse than the baseline's beyond noise (`reports.baseline`)."""
        return bool(self.baseline and self.baseline.get("regressed"))


def execute_report(plan: NotebookPlan, kernel: str, timeout: int, log_output: bool = True,
                   cwd: str | None = None, go_file: Path | None = None, warm_up: str = "") -> NotebookResult:
    """Run one notebook through papermill and render its report; never raises for notebook errors.

    A notebook that raises or times out gives a result with status "failed" or "timed out", the
    error and the cell it happened in; its executed notebook is kept, and rendered too, so the
    HTML shows how far it got. With `go_file` (report workers, `-j N`) the kernel is started and
    `warm_up` run in it first, then the notebook waits until the runner creates `go_file`
    (`workbench.reports.kernel`); its time counts from there.
    """
    import nbformat

    plan.folder.mkdir(parents=True, exist_ok=True)
    kernel_log = plan.folder / KERNEL_LOG_FILE
    for stale in (plan.executed_path, plan.html_path, plan.metrics_path, kernel_log):
        stale.unlink(missing_ok=True)
    # papermill adds one cell, the injected parameters, after the `parameters` cell.
    cells = len(nbformat.read(plan.source, as_version=4).cells) + (1 if plan.parameters else 0)
    cwd = cwd or os.getcwd()
    warm_kernel = _warm_kernel_at_its_turn(kernel, kernel_log, cwd, warm_up, go_file) if go_file is not None else None
    started = time.perf_counter()
    with _NotebookLogging(plan.name, log_output, cells):
        logger.info("[%s] started%s", plan.name, " (warm kernel)" if warm_kernel is not None else "")
        try:
            status, error = _run_papermill(plan, kernel, timeout, log_output, cwd, warm_kernel, kernel_log)
        finally:
            if go_file is not None:
                # What it wrote is complete: notebooks that run after it may start while its kernel
                # shuts down (a few seconds for TensorFlow) and its HTML renders.
                go_file.with_suffix(EXECUTED_SUFFIX).touch()
            if warm_kernel is not None:
                stop_kernel(warm_kernel)  # papermill leaves a kernel it was given running
        seconds = time.perf_counter() - started
        result = _collect_result(plan, status, error, seconds)
        message = f"in cell In [{error['cell']}]: " if error and error.get("cell") else ""
        logger.info("[%s] %s in %.0f s%s", plan.name, result.status, seconds,
                    f" ({message}{error['ename']}: {error['evalue']})" if error else "")
    return result


def _warm_kernel_at_its_turn(kernel: str, kernel_log: Path, cwd: str, warm_up: str, go_file: Path) -> Any | None:
    """Start and warm the notebook's kernel, then wait for the runner's go; None where warming failed."""
    manager = KernelLogManager(kernel_name=kernel, log_path=str(kernel_log))
    warm_kernel = start_warm_kernel(manager, cwd, warm_up, KERNEL_START_TIMEOUT)
    try:
        wait_for_go(go_file)
    except BaseException:
        if warm_kernel is not None:
            stop_kernel(warm_kernel)
        raise
    return warm_kernel


def _run_papermill(plan: NotebookPlan, kernel: str, timeout: int, log_output: bool, cwd: str,
                   warm_kernel: Any | None, kernel_log: Path) -> tuple[str, dict[str, Any] | None]:
    """Execute the notebook; (status, error description or None)."""
    import papermill
    from nbclient.exceptions import CellTimeoutError

    # papermill runs the notebook in the warm kernel when there is one, else starts its own.
    kernel_options: dict[str, Any] = ({"km": warm_kernel} if warm_kernel is not None else
                                      {"kernel_manager_class": KernelLogManager, "config": kernel_log_config(kernel_log)})
    try:
        papermill.execute_notebook(
            str(plan.source), str(plan.executed_path), parameters=plan.parameters, kernel_name=kernel,
            log_output=log_output, progress_bar=False, execution_timeout=timeout,
            start_timeout=KERNEL_START_TIMEOUT, cwd=cwd, **kernel_options,
        )
    except papermill.PapermillExecutionError as failure:
        return STATUS_FAILED, {"ename": failure.ename, "evalue": _strip_ansi(str(failure.evalue)),
                               "cell": failure.exec_count, "source": _excerpt(failure.source)}
    except CellTimeoutError:
        return STATUS_TIMED_OUT, mark_timeout(plan.executed_path, timeout)
    except Exception as failure:  # a dead kernel, a kernel that does not start, ...
        return STATUS_FAILED, {"ename": type(failure).__name__, "evalue": _strip_ansi(str(failure)).strip(),
                               "cell": None, "source": _tail(kernel_log)}
    return STATUS_OK, None


def _collect_result(plan: NotebookPlan, status: str, error: dict[str, Any] | None, seconds: float) -> NotebookResult:
    """The result record: metrics the notebook wrote, its rendered HTML, the files it left."""
    result = NotebookResult(plan.name, plan.title, status, round(seconds, 1), dict(plan.parameters), error=error)
    if plan.metrics_path.is_file():
        result.metrics = json.loads(plan.metrics_path.read_text())
    if plan.executed_path.is_file():
        result.files["notebook"] = plan.executed_path.name
        try:
            render_html(plan.executed_path, plan.html_path, report_header(result))
            result.files["html"] = plan.html_path.name
        except Exception as failure:
            if result.ok:
                result.status = STATUS_FAILED
                result.error = {"ename": type(failure).__name__, "evalue": f"rendering HTML: {failure}",
                                "cell": None, "source": ""}
    if plan.metrics_path.is_file():
        result.files["metrics"] = plan.metrics_path.name
    return result


def mark_timeout(executed_path: Path, timeout: int) -> dict[str, Any]:
    """Record a timeout in the executed notebook, as papermill records an exception.

    The cell that ran out of time is the last one papermill started. It gets an error output and
    the notebook a red note at the top, so the kept notebook and its HTML show where it stopped.

    Returns:
        The error description for the index.
    """
    import nbformat

    message = f"the cell ran longer than the {timeout} s timeout (--timeout / `timeout:` in the report config)"
    error = {"ename": "CellTimeoutError", "evalue": message, "cell": None, "source": ""}
    if not executed_path.is_file():
        return error
    notebook = nbformat.read(executed_path, as_version=4)
    started = [cell for cell in notebook.cells if cell.get("metadata", {}).get("papermill", {}).get("start_time")]
    if started:
        cell = started[-1]
        error.update(cell=cell.get("execution_count"), source=_excerpt(cell.source))
        cell.setdefault("outputs", []).append(nbformat.v4.new_output("error", ename="CellTimeoutError",
                                                                      evalue=message, traceback=[]))
        cell.metadata.papermill.update(exception=True, status="failed")
    note = nbformat.v4.new_markdown_cell(f'<span style="color:red; font-size:1.5em;">Timed out: {message}.</span>')
    note.metadata["tags"] = ["papermill-error-cell-tag"]
    notebook.cells.insert(0, note)
    nbformat.write(notebook, executed_path)
    return error


def _tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log file ("" when it is missing), e.g. why a kernel died."""
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _excerpt(source: str, lines: int = 3) -> str:
    kept = [line for line in str(source).splitlines() if line.strip()][:lines]
    return "\n".join(kept)


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


class _PrefixFormatter(logging.Formatter):
    """Prefixes every line of a message with the notebook's name; turns papermill's cell markers
    ("Executing Cell 3-----") into "cell 3/14"."""

    def __init__(self, name: str, cells: int | None) -> None:
        super().__init__()
        self.name = name
        self.cells = cells

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().rstrip("\n")
        marker = re.fullmatch(r"Executing Cell (\d+)-*", message)
        if marker:
            message = f"cell {marker.group(1)}/{self.cells}" if self.cells else f"cell {marker.group(1)}"
        if message.startswith(f"[{self.name}] "):
            return message
        return "\n".join(f"[{self.name}] {line}" for line in message.splitlines() or [""])


class _DropNoise(logging.Filter):
    """Drops papermill's cell-end and path lines, and the text stand-ins of rich outputs
    ("<IPython.core.display.HTML object>"), which say nothing in a terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage().strip()
        return not (message.startswith(("Ending Cell", "Input Notebook", "Output Notebook", "Working directory"))
                    or re.fullmatch(r"<[\w.]+ object>", message))


class _NotebookLogging:
    """While one notebook runs: papermill's log (cell markers and outputs) to stderr, prefixed.

    The runner's own lines ("[name] started", "[name] ok in 12 s") always show; papermill's only
    with `enabled`.
    """

    def __init__(self, name: str, enabled: bool, cells: int | None = None) -> None:
        self.name = name
        self.enabled = enabled
        self.cells = cells
        self.handler: logging.Handler | None = None

    def __enter__(self) -> _NotebookLogging:
        self.handler = logging.StreamHandler(sys.stderr)
        self.handler.setFormatter(_PrefixFormatter(self.name, self.cells))
        self.handler.addFilter(_DropNoise())
        names = (PAPERMILL_LOGGER, REPORTS_LOGGER) if self.enabled else (REPORTS_LOGGER,)
        for name in names:
            logging.getLogger(name).addHandler(self.handler)
            logging.getLogger(name).setLevel(logging.INFO)
            logging.getLogger(name).propagate = False
        return self

    def __exit__(self, *exc: Any) -> None:
        for name in (PAPERMILL_LOGGER, REPORTS_LOGGER):
            if self.handler in logging.getLogger(name).handlers:
                logging.getLogger(name).removeHandler(self.handler)
