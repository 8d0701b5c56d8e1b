"""Report regeneration: papermill runs the notebooks, nbconvert renders them, an index links them.

`workbench report` (and `make report`) calls `build_reports`:

1. `plan_reports` reads the report set (`reports/config.yaml`), merges the parameters
   papermill-style and checks them before anything runs;
2. `execute_report` runs each notebook through papermill with an explicit kernel and a per-cell
   timeout, keeps the executed notebook (also when it fails), renders it to a self-contained HTML
   page (`render_html`) and reads the `metrics.json` the notebook wrote;
3. `write_index` writes `index.html` (and `index.json`) linking every report with its key figures,
   its parameters, the date, the package versions and its status.

The output folder holds one folder per notebook:

    reports/index.html, reports/index.json
    reports/01_pretrain_source/01_pretrain_source.html   the report (code hidden, plotly.js inline once)
    reports/01_pretrain_source/01_pretrain_source.ipynb  the executed notebook
    reports/01_pretrain_source/metrics.json              the key numbers the notebook recorded
    reports/01_pretrain_source/kernel.log                the kernel's own stderr (why a kernel died)
    reports/runs/                                        the runs the notebooks trained

Parameters, later layers winning: the config's `parameters`, the notebook entry's `parameters`,
with `--quick` the config's `quick` and the entry's `quick`, then `-f FILE`, then `-p NAME VALUE`.
Each notebook receives only the names its `parameters` cell declares.
"""

from __future__ import annotations

import concurrent.futures
import datetime as _datetime
import html
import importlib.metadata
import json
import logging
import math
import numbers
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager

from workbench.config import ConfigError, RunConfig, check_jobs, load_parameter_file
from workbench.errors import WorkbenchError
from workbench.fast_start import skip_slow_optional_imports
from workbench.warm_kernels import start_warm_kernel, stop_kernel, wait_for_go

DEFAULT_CONFIG = Path("reports") / "config.yaml"
DEFAULT_KERNEL = "workbench"
DEFAULT_TIMEOUT = 1800
KERNEL_START_TIMEOUT = 120
CONFIG_KEYS = ("kernel", "timeout", "jobs", "warm_up", "output_dir", "parameters", "quick", "notebooks")
NOTEBOOK_KEYS = ("path", "after", "parameters", "quick")
# Set by the runner for each notebook; the user moves the whole set with --output-dir instead.
MANAGED_PARAMETERS = ("output_dir",)
RUNS_FOLDER = "runs"
METRICS_FILE = "metrics.json"
KERNEL_LOG_FILE = "kernel.log"
EXECUTED_SUFFIX = ".executed"  # beside a worker's go file once papermill has finished with its notebook
STATUS_OK, STATUS_FAILED, STATUS_TIMED_OUT = "ok", "failed", "timed out"
VERSION_PACKAGES = ("workbench", "tensorflow", "keras", "numpy", "plotly", "papermill", "nbconvert",
                    "nbclient", "ipykernel", "jupyter_client")

logger = logging.getLogger("workbench.reports")


class ReportError(WorkbenchError):
    """The report set, a parameter, the kernel or an option is unusable; nothing was run."""


# ------------------------------------------------------------------------------------------------
# Planning: the report set and its parameters
# ------------------------------------------------------------------------------------------------


@dataclass
class NotebookPlan:
    """One notebook of the report set, with the parameters it will run with."""

    name: str
    source: Path
    folder: Path
    after: list[str]
    parameters: dict[str, Any]
    title: str

    @property
    def executed_path(self) -> Path:
        """The executed notebook, kept for debugging."""
        return self.folder / f"{self.name}.ipynb"

    @property
    def html_path(self) -> Path:
        """The rendered report."""
        return self.folder / f"{self.name}.html"

    @property
    def metrics_path(self) -> Path:
        """The key numbers the notebook recorded."""
        return self.folder / METRICS_FILE


@dataclass
class ReportPlan:
    """Everything `workbench report` will do, fixed and checked before the first kernel starts."""

    config_path: Path
    output_dir: Path
    kernel: str
    timeout: int
    quick: bool
    notebooks: list[NotebookPlan]
    notes: list[str] = field(default_factory=list)
    jobs: int = 1
    warm_up: str = ""

    @property
    def index_path(self) -> Path:
        """The page that links every report."""
        return self.output_dir / "index.html"


def load_report_config(path: str | Path) -> dict[str, Any]:
    """Read and check a report-set file such as `reports/config.yaml`.

    Raises:
        ReportError: for a missing file, unknown keys or a malformed notebook list.
    """
    path = Path(path)
    if not path.is_file():
        raise ReportError(
            f"Report config {str(path)!r} does not exist. Run `workbench report` from the project folder "
            "(it reads reports/config.yaml), or pass --config PATH."
        )
    try:
        config = load_parameter_file(path)
    except ConfigError as error:
        raise ReportError(str(error).replace("Parameter file", "Report config")) from None
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ReportError(
            f"Report config {str(path)!r} has unknown key(s) {', '.join(unknown)}. Allowed keys: "
            f"{', '.join(CONFIG_KEYS)}. Check the spelling."
        )
    notebooks = config.get("notebooks")
    if not isinstance(notebooks, list) or not notebooks:
        raise ReportError(
            f"Report config {str(path)!r} lists no notebooks. Add a `notebooks:` list with one "
            "`- path: ../notebooks/NAME.ipynb` entry per notebook."
        )
    for entry in notebooks:
        if not isinstance(entry, dict) or "path" not in entry:
            raise ReportError(
                f"Notebook entry {entry!r} in {str(path)!r} has no `path`. Write `- path: ../notebooks/NAME.ipynb`."
            )
        extra = sorted(set(entry) - set(NOTEBOOK_KEYS))
        if extra:
            raise ReportError(
                f"Notebook entry for {entry['path']!r} has unknown key(s) {', '.join(extra)}. Allowed keys: "
                f"{', '.join(NOTEBOOK_KEYS)}."
            )
    for key in ("parameters", "quick"):
        if not isinstance(config.get(key) or {}, dict):
            raise ReportError(f"`{key}` in {str(path)!r} must be a mapping of `name: value` lines.")
    if not isinstance(config.get("warm_up") or "", str):
        raise ReportError(f"`warm_up` in {str(path)!r} must be Python code on one line, e.g. `warm_up: import workbench.api`.")
    return config


def merge_parameters(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge parameter mappings, later layers winning (papermill's `-f` then `-p` order)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer or {})
    return merged


def parse_parameter_pairs(pairs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """`-p name value` pairs → a dict, each value parsed as YAML the way papermill does."""
    from workbench.config import parse_parameter_value

    return {str(name).replace("-", "_"): parse_parameter_value(str(value)) for name, value in pairs}


def declared_parameters(notebook: Path) -> dict[str, str]:
    """The names a notebook's `parameters` cell declares, with their default source text.

    Raises:
        ReportError: when the file is missing, unreadable, or has no cell tagged `parameters`.
    """
    import nbformat
    import papermill

    if not notebook.is_file():
        raise ReportError(
            f"Notebook {str(notebook)!r} does not exist. Fix its `path` in the report config (paths are "
            "relative to the config file)."
        )
    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except Exception as error:  # nbformat raises several unrelated types for a broken file
        raise ReportError(f"Notebook {str(notebook)!r} cannot be read ({error}). Fix or replace the file.") from None
    if not any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in cells):
        raise ReportError(
            f"Notebook {str(notebook)!r} has no cell tagged `parameters`. Tag the cell that sets the "
            "defaults (JupyterLab: property inspector → Cell Tags → parameters)."
        )
    return {name: spec["default"] for name, spec in papermill.inspect_notebook(str(notebook)).items()}


def plan_reports(
    config_path: str | Path = DEFAULT_CONFIG,
    output_dir: str | Path | None = None,
    parameters_file: str | Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    quick: bool = False,
    kernel: str | None = None,
    timeout: int | None = None,
) -> ReportPlan:
    """Work out what to run: notebooks in dependency order, each with its final parameters.

    Args:
        config_path: the report-set file. Defaults to "reports/config.yaml".
        output_dir: where reports go; None takes the config's `output_dir` (relative to the config
            file; default: the config file's folder).
        parameters_file: a YAML file of parameters (papermill's `-f`).
        parameters: `-p` values, winning over everything else.
        quick: apply the config's `quick` parameters (tiny runs for CI). Defaults to False.
        kernel: Jupyter kernel name; None takes the config's (default "workbench").
        timeout: seconds one cell may run; None takes the config's (default 1800).

    Returns:
        The checked plan.

    Raises:
        ReportError, ConfigError: for anything unusable, before any notebook runs.
    """
    config_path = Path(config_path)
    config = load_report_config(config_path)
    base = config_path.resolve().parent
    root = Path(output_dir).resolve() if output_dir is not None else (base / str(config.get("output_dir", "."))).resolve()
    kernel = str(kernel or config.get("kernel") or DEFAULT_KERNEL)
    timeout = _check_timeout(timeout if timeout is not None else config.get("timeout", DEFAULT_TIMEOUT))
    file_values = load_parameter_file(parameters_file) if parameters_file else {}
    user_values = merge_parameters(file_values, parameters)

    entries = config["notebooks"]
    declared = {}
    sources = {}
    for entry in entries:
        source = (base / str(entry["path"])).resolve()
        name = source.stem
        if name in sources:
            raise ReportError(f"Notebook {name!r} is listed twice in {str(config_path)!r}. List each notebook once.")
        sources[name] = source
        declared[name] = declared_parameters(source)
    _check_parameter_names(config, user_values, declared, config_path)

    plans = []
    for entry in entries:
        name = Path(str(entry["path"])).stem
        layers = [config.get("parameters"), entry.get("parameters")]
        if quick:
            layers += [config.get("quick"), entry.get("quick")]
        config_values = merge_parameters(*layers)
        if "runs_dir" in config_values:  # paths in the config file are relative to the config file
            config_values["runs_dir"] = str((base / str(config_values["runs_dir"])).resolve())
        values = merge_parameters(config_values, user_values)
        values.setdefault("runs_dir", str(root / RUNS_FOLDER))
        values["runs_dir"] = str(Path(str(values["runs_dir"])).expanduser().resolve())
        values["output_dir"] = str(root / name)
        final = {key: value for key, value in values.items() if key in declared[name]}
        validate_parameters(name, final)
        after = entry.get("after") or []
        after = [after] if isinstance(after, str) else [str(item) for item in after]
        plans.append(NotebookPlan(name, sources[name], root / name, after, final, _notebook_title(sources[name])))
    jobs = check_jobs(config.get("jobs", 1), "`jobs:` in the report config")
    return ReportPlan(config_path, root, kernel, timeout, quick, order_notebooks(plans), jobs=jobs,
                      warm_up=str(config.get("warm_up") or ""))


def _check_timeout(value: Any) -> int:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = 0
    if seconds < 1:
        raise ReportError(f"timeout={value!r} is not a positive number of seconds. Pass --timeout 600, for example.")
    return seconds


def _check_parameter_names(config: Mapping[str, Any], user_values: Mapping[str, Any],
                           declared: Mapping[str, Mapping[str, str]], config_path: Path) -> None:
    """Reject names no notebook declares (a typo would otherwise be ignored silently)."""
    known = sorted({name for names in declared.values() for name in names} - set(MANAGED_PARAMETERS))
    sources: list[tuple[str, Mapping[str, Any]]] = [
        (f"`parameters` in {config_path}", config.get("parameters") or {}),
        (f"`quick` in {config_path}", config.get("quick") or {}),
        ("-f/-p", user_values),
    ]
    sources += [(f"the entry for {entry['path']} in {config_path}", merge_parameters(entry.get("parameters"), entry.get("quick")))
                for entry in config["notebooks"]]
    for where, values in sources:
        for name in values:
            if name in MANAGED_PARAMETERS:
                raise ReportError(
                    f"Parameter {name!r} (from {where}) is set by `workbench report` for each notebook. "
                    "Pass --output-dir DIR to move the whole report set instead."
                )
            if name not in known:
                raise ReportError(
                    f"Parameter {name!r} (from {where}) is not declared by any notebook's `parameters` cell. "
                    f"Known parameters: {', '.join(known)}. Check the spelling (e.g. -p epochs 2)."
                )


# Which RunConfig field checks each notebook parameter: one validation, the same messages.
_RUN_CONFIG_FIELDS = {
    "epochs": "epochs", "source_epochs": "epochs", "per_class": "per_class", "source_per_class": "per_class",
    "learning_rate": "learning_rate", "batch_size": "batch_size", "freeze_depth": "freeze_depth",
    "source_seed": "seed",
}


def validate_parameters(notebook: str, values: Mapping[str, Any]) -> None:
    """Check the values the workbench knows how to check (tasks, counts, rates, seeds).

    Raises:
        ReportError: naming the notebook, the parameter and the fix.
    """
    # TensorFlow-free imports: the report command starts its first kernel sooner without it.
    from workbench.config import resolve_seeds
    from workbench.data import parse_task
    from workbench.presets import get_preset

    for name, value in values.items():
        try:
            if name.endswith("_task"):
                parse_task(str(value))
            elif name == "seeds":
                resolve_seeds(value)
            elif name == "sample_count" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"sample_count={value!r} must be a whole number of at least 1. Pass -p sample_count 16.")
            elif name in _RUN_CONFIG_FIELDS and not (value is None and name.endswith("per_class")):
                RunConfig(**{_RUN_CONFIG_FIELDS[name]: value})
            elif name == "preset" and value not in (None, ""):
                get_preset(value)
            elif name in ("depths", "budgets", "modes") and value is not None:
                check_sweep_list(name, value)
        except WorkbenchError as error:
            raise ReportError(f"Notebook {notebook}: parameter {name}={value!r} is not usable: {error}") from None


def check_sweep_list(name: str, value: Any) -> None:
    """Check a sweep notebook's list parameter: `depths` (n >= 0), `budgets` (n >= 1 or "all"), `modes`.

    Raises:
        ConfigError: for a value that is not a list, or an item outside what the sweep accepts.
    """
    from workbench.config import MODES

    examples = {"depths": "[0, 2, 4]", "budgets": "[1, 5, all]", "modes": "[structure, parameter]"}
    fix = f'Pass a YAML list, e.g. -p {name} "{examples[name]}".'
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{name}={value!r} is not a non-empty list. {fix}")
    if name == "modes":
        bad = [item for item in value if item not in MODES]
        allowed = ", ".join(MODES)
    else:
        lowest = 0 if name == "depths" else 1
        bad = [item for item in value if not (name == "budgets" and item in ("all", None)) and (
            isinstance(item, bool) or not isinstance(item, int) or item < lowest)]
        allowed = "whole numbers from 0" if name == "depths" else "whole numbers from 1, or all"
    if bad:
        raise ConfigError(f"{name}={value!r} holds {', '.join(repr(item) for item in bad)}; allowed: {allowed}. {fix}")


def order_notebooks(plans: Sequence[NotebookPlan]) -> list[NotebookPlan]:
    """Config order, moved only as far as needed so that every notebook comes after its `after` list.

    Raises:
        ReportError: for an unknown name in `after`, or a cycle.
    """
    by_name = {plan.name: plan for plan in plans}
    for plan in plans:
        missing = [name for name in plan.after if name not in by_name]
        if missing:
            raise ReportError(
                f"Notebook {plan.name} runs after {', '.join(missing)}, which the report config does not list. "
                f"Listed notebooks: {', '.join(by_name)}."
            )
    ordered: list[NotebookPlan] = []
    placed: set[str] = set()
    while len(ordered) < len(plans):
        ready = [plan for plan in plans if plan.name not in placed and set(plan.after) <= placed]
        if not ready:
            cycle = [plan.name for plan in plans if plan.name not in placed]
            raise ReportError(f"Notebooks {', '.join(cycle)} wait for each other (`after` forms a cycle). Break the cycle.")
        ordered.append(ready[0])
        placed.add(ready[0].name)
    return ordered


def _notebook_title(path: Path) -> str:
    """The text of the notebook's first Markdown heading, or its file name."""
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#+\s+(.+)$", cell.source, flags=re.MULTILINE)
            if match:
                return match.group(1).strip()
    return path.stem


# ------------------------------------------------------------------------------------------------
# The kernel
# ------------------------------------------------------------------------------------------------


@dataclass
class KernelChoice:
    """The kernel notebooks run on; `provided_dir` is set when the runner had to supply its spec."""

    name: str
    note: str | None = None
    provided_dir: Path | None = None
    previous_jupyter_path: str | None = None

    def release(self) -> None:
        """Remove a supplied kernel spec again and restore `JUPYTER_PATH`."""
        if self.provided_dir is None:
            return
        shutil.rmtree(self.provided_dir, ignore_errors=True)
        if self.previous_jupyter_path is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = self.previous_jupyter_path
        self.provided_dir = None


def resolve_kernel(name: str) -> KernelChoice:
    """Make sure kernel `name` exists; provide the default one for this interpreter if it does not.

    `make setup` installs the "workbench" kernel into the virtual environment. Where it is
    missing (a plain `pip install`), a kernel spec of the same name that runs this very
    interpreter is written to a temporary folder and put on `JUPYTER_PATH`, so papermill still
    runs an explicit, known kernel rather than whatever "python3" happens to be.

    Returns:
        The kernel, with a note for the log and index when its spec had to be supplied; call
        `.release()` once the notebooks have run.

    Raises:
        ReportError: for an unknown kernel other than the default one.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    available = KernelSpecManager().find_kernel_specs()
    if name in available:
        return KernelChoice(name)
    if name != DEFAULT_KERNEL:
        raise ReportError(
            f"Jupyter kernel {name!r} is not installed. Installed kernels: {', '.join(sorted(available)) or 'none'}. "
            f"Pass --kernel {DEFAULT_KERNEL} (run `make setup` to install it) or one of those."
        )
    folder = Path(tempfile.mkdtemp(prefix="workbench-kernel-"))
    spec_dir = folder / "kernels" / name
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python (workbench)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    previous = os.environ.get("JUPYTER_PATH")
    # Worker processes (-j N) inherit the environment, so they find the spec too.
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), previous]))
    note = (f"kernel {name!r} is not installed (`make setup` installs it); using this interpreter, "
            f"{sys.executable}, under that name")
    return KernelChoice(name, note, folder, previous)


_kernel_log_path: Path | None = None


class KernelLogManager(AsyncKernelManager):
    """Starts each kernel with its own stdout and stderr going to the notebook's `kernel.log`.

    ipykernel echoes what it captures at the file-descriptor level (TensorFlow's C++ start-up
    lines, its own transport warnings) to the process's original streams; the notebook's outputs
    already hold those lines, so the terminal would show each twice and without the notebook's
    name. The log keeps them for a kernel that dies before it can report anything.
    """

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if _kernel_log_path is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        with open(_kernel_log_path, "ab") as log:
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", log)
            return await super()._async_launch_kernel(kernel_cmd, **kw)


# ------------------------------------------------------------------------------------------------
# Running one notebook (in this process or a worker process)
# ------------------------------------------------------------------------------------------------


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

    @property
    def ok(self) -> bool:
        """True when the notebook ran to the end and its report was written."""
        return self.status == STATUS_OK


def execute_report(plan: NotebookPlan, kernel: str, timeout: int, log_output: bool = True,
                   cwd: str | None = None, go_file: Path | None = None, warm_up: str = "") -> NotebookResult:
    """Run one notebook through papermill and render its report; never raises for notebook errors.

    A notebook that raises or times out gives a result with status "failed" or "timed out", the
    error and the cell it happened in; its executed notebook is kept, and rendered too, so the
    HTML shows how far it got. With `go_file` (report workers, `-j N`) the kernel is started and
    `warm_up` run in it first, then the notebook waits until the runner creates `go_file`
    (`workbench.warm_kernels`); its time counts from there.
    """
    global _kernel_log_path
    import nbformat
    import papermill
    from nbclient.exceptions import CellTimeoutError

    plan.folder.mkdir(parents=True, exist_ok=True)
    kernel_log = plan.folder / KERNEL_LOG_FILE
    for stale in (plan.executed_path, plan.html_path, plan.metrics_path, kernel_log):
        stale.unlink(missing_ok=True)
    # papermill adds one cell, the injected parameters, after the `parameters` cell.
    cells = len(nbformat.read(plan.source, as_version=4).cells) + (1 if plan.parameters else 0)
    cwd = cwd or os.getcwd()
    warm_kernel = None
    if go_file is not None:
        _kernel_log_path = kernel_log
        try:
            warm_kernel = start_warm_kernel(KernelLogManager, kernel, cwd, warm_up, KERNEL_START_TIMEOUT)
        finally:
            _kernel_log_path = None
        try:
            wait_for_go(go_file)
        except BaseException:
            if warm_kernel is not None:
                stop_kernel(warm_kernel)
            raise
    # papermill runs the notebook in the warm kernel when there is one, else starts its own.
    kernel_options = {"km": warm_kernel} if warm_kernel is not None else {"kernel_manager_class": KernelLogManager}
    started = time.perf_counter()
    status, error = STATUS_OK, None
    with _notebook_log(plan.name, log_output, cells):
        logger.info("[%s] started%s", plan.name, " (warm kernel)" if warm_kernel is not None else "")
        _kernel_log_path = kernel_log
        try:
            papermill.execute_notebook(
                str(plan.source), str(plan.executed_path), parameters=plan.parameters, kernel_name=kernel,
                log_output=log_output, progress_bar=False, execution_timeout=timeout,
                start_timeout=KERNEL_START_TIMEOUT, cwd=cwd, **kernel_options,
            )
        except papermill.PapermillExecutionError as failure:
            status = STATUS_FAILED
            error = {"ename": failure.ename, "evalue": _strip_ansi(str(failure.evalue)),
                     "cell": failure.exec_count, "source": _excerpt(failure.source)}
        except CellTimeoutError:
            status = STATUS_TIMED_OUT
            error = mark_timeout(plan.executed_path, timeout)
        except Exception as failure:  # a dead kernel, a kernel that does not start, ...
            status = STATUS_FAILED
            error = {"ename": type(failure).__name__, "evalue": _strip_ansi(str(failure)).strip(),
                     "cell": None, "source": _tail(kernel_log)}
        finally:
            _kernel_log_path = None
            if go_file is not None:
                # What it wrote is complete: notebooks that run after it may start while its kernel
                # shuts down (a few seconds for TensorFlow) and its HTML renders.
                go_file.with_suffix(EXECUTED_SUFFIX).touch()
            if warm_kernel is not None:
                stop_kernel(warm_kernel)  # papermill leaves a kernel it was given running
        seconds = time.perf_counter() - started
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
        message = f"in cell In [{error['cell']}]: " if error and error.get("cell") else ""
        logger.info("[%s] %s in %.0f s%s", plan.name, result.status, seconds,
                    f" ({message}{error['ename']}: {error['evalue']})" if error else "")
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


class _notebook_log:
    """While one notebook runs: papermill's log (cell markers and outputs) to stderr, prefixed."""

    def __init__(self, name: str, enabled: bool, cells: int | None = None) -> None:
        self.name = name
        self.enabled = enabled
        self.cells = cells
        self.handler: logging.Handler | None = None

    def __enter__(self) -> _notebook_log:
        self.handler = logging.StreamHandler(sys.stderr)
        self.handler.setFormatter(_PrefixFormatter(self.name, self.cells))
        self.handler.addFilter(_DropNoise())
        names = ("papermill", "workbench.reports") if self.enabled else ("workbench.reports",)
        for name in names:
            logging.getLogger(name).addHandler(self.handler)
            logging.getLogger(name).setLevel(logging.INFO)
            logging.getLogger(name).propagate = False
        return self

    def __exit__(self, *exc: Any) -> None:
        for name in ("papermill", "workbench.reports"):
            if self.handler in logging.getLogger(name).handlers:
                logging.getLogger(name).removeHandler(self.handler)


# ------------------------------------------------------------------------------------------------
# HTML: code hidden, plotly.js inline once, nothing loaded from the network
# ------------------------------------------------------------------------------------------------

# Extends JupyterLab's template. The blocks emptied here are the ones that load scripts from a CDN
# (require.js, MathJax, mermaid, the widget manager); plotly.js goes inline into <head> instead,
# once, before every figure's `Plotly.newPlot` call.
REPORT_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
<script type="text/javascript">{{ resources.plotly_js }}</script>
{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
.workbench-header { margin: 1em 2em 0 2em; font-family: var(--jp-ui-font-family); font-size: 14px; }
.workbench-header .status-ok { color: #1a7f37; font-weight: bold; }
.workbench-header .status-failed { color: #cf222e; font-weight: bold; }
.workbench-table { border-collapse: collapse; margin: 0.5em 0; font-size: 13px; }
.workbench-table th, .workbench-table td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; }
.workbench-table caption { text-align: left; font-weight: bold; padding: 4px 0; }
</style>
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
{{ resources.workbench_header }}
{%- endblock body_header -%}
"""


def report_header(result: NotebookResult) -> str:
    """The block at the top of a report: status, date, links and the parameters it ran with."""
    status_class = "status-ok" if result.ok else "status-failed"
    error = ""
    if result.error:
        where = f" in cell In [{result.error['cell']}]" if result.error.get("cell") else ""
        error = f"<p class=\"status-failed\">{html.escape(result.error['ename'])}{where}: {html.escape(result.error['evalue'])}</p>"
    rows = [{"parameter": name, "value": value} for name, value in result.parameters.items()
            if name not in MANAGED_PARAMETERS]
    return (
        '<div class="workbench-header">'
        f'<p><a href="../index.html">← all reports</a> · status <span class="{status_class}">{html.escape(result.status)}</span>'
        f" · generated {html.escape(_now())} · {result.seconds:.0f} s"
        f' · <a href="{html.escape(result.name)}.ipynb">executed notebook</a></p>{error}'
        f"<details><summary>Parameters</summary>{format_table_html(rows)}</details></div>"
    )


def render_html(executed_path: Path, html_path: Path, header: str = "") -> Path:
    """Render an executed notebook to one self-contained HTML file that works offline.

    Code cells, prompts and stderr streams are left out (the reader wants results; the executed
    notebook keeps everything). plotly.js is embedded once, in `<head>`; require.js, MathJax and
    mermaid, which the stock template loads from a CDN, are not referenced at all.
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter
    from plotly.offline import get_plotlyjs

    notebook = nbformat.read(executed_path, as_version=4)
    kept = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.get("outputs", [])
                            if not (output.get("output_type") == "stream" and output.get("name") == "stderr")]
            if not cell.outputs:
                continue  # a code cell without output would leave an empty box
        kept.append(cell)
    notebook.cells = kept
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"workbench_report.html.j2": REPORT_TEMPLATE})],
        template_file="workbench_report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    resources = {"metadata": {"name": _notebook_title(executed_path)},
                 "plotly_js": get_plotlyjs(), "workbench_header": header}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def format_value(value: Any) -> str:
    """A table cell as text: floats to 3 decimals, None as "—", lists comma-joined."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return "n/a" if math.isnan(float(value)) else f"{float(value):.3f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(item) for item in value)
    return str(value)


def format_table_html(rows: Sequence[Mapping[str, Any]], caption: str | None = None) -> str:
    """Rows of dicts as an HTML table (columns in the first row's order), values escaped.

    Args:
        rows: one dict per table row; every row should have the same keys.
        caption: optional caption above the table. Defaults to none.

    Returns:
        A `<table>` element as a string ("" for no rows).
    """
    if not rows:
        return ""
    columns = list(rows[0])
    parts = ['<table class="workbench-table">']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    parts.append("<thead><tr>" + "".join(f"<th>{html.escape(str(column))}</th>" for column in columns) + "</tr></thead>")
    parts.append("<tbody>")
    for row in rows:
        cells = "".join(f"<td>{html.escape(format_value(row.get(column)))}</td>" for column in columns)
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


# ------------------------------------------------------------------------------------------------
# Running the set: dependency order, -j N worker processes
# ------------------------------------------------------------------------------------------------


def previous_seconds(plan: ReportPlan) -> dict[str, float]:
    """Each notebook's time in the last run of this set into the same folder (`index.json`), if that
    run had the same `--quick` setting and the notebook succeeded; {} when there is none."""
    try:
        record = json.loads((plan.output_dir / "index.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or record.get("quick") != plan.quick:
        return {}
    return {str(entry["name"]): float(entry["seconds"]) for entry in record.get("reports") or []
            if isinstance(entry, dict) and entry.get("status") == STATUS_OK and "name" in entry
            and isinstance(entry.get("seconds"), (int, float))}


def longest_first(notebooks: Sequence[NotebookPlan], seconds: Mapping[str, float]) -> list[NotebookPlan]:
    """The order in which to start notebooks when several may start: the longest last time first.

    With two lanes and 02-05 waiting for 01, starting the two longest first lets the lanes end close
    together (the default set on 2 cores: 247 s instead of 263 s). Notebooks without a time, and
    ties, keep plan order; a notebook still never starts before the ones it runs `after`.
    """
    return sorted(notebooks, key=lambda notebook: -seconds.get(notebook.name, 0.0))


def run_notebooks(
    plan: ReportPlan,
    jobs: int = 1,
    log_output: bool = True,
    on_result: Callable[[NotebookResult], None] | None = None,
) -> list[NotebookResult]:
    """Execute every notebook of the plan; a failure does not stop the others.

    With `jobs` > 1 up to `jobs` notebooks run at once, each in a worker process with its own
    kernel, and a notebook still starts only after the notebooks in its `after` list have
    finished. Up to `jobs` more notebooks, whose prerequisites are at least under way, start and
    warm their kernels meanwhile (`workbench.warm_kernels`), so that they begin warm when their
    turn comes: the second core is otherwise idle while the first notebook (01) runs alone. Where
    several could start, the longest in the previous run goes first (`longest_first`).

    Returns:
        One result per notebook, in plan order.
    """
    cwd = os.getcwd()
    results: dict[str, NotebookResult] = {}

    def done(result: NotebookResult) -> None:
        results[result.name] = result
        if on_result:
            on_result(result)

    if jobs <= 1:
        for notebook in plan.notebooks:
            done(execute_report(notebook, plan.kernel, plan.timeout, log_output, cwd))
        return [results[notebook.name] for notebook in plan.notebooks]

    # "spawn": a forked copy of a process that already runs threads (zmq, TensorFlow) can hang.
    context = multiprocessing.get_context("spawn")
    signals = Path(tempfile.mkdtemp(prefix="workbench-report-"))
    pending = longest_first(plan.notebooks, previous_seconds(plan))  # not handed to a worker yet
    waiting: list[NotebookPlan] = []  # handed over, warming a kernel or waiting for its go file
    running: dict[concurrent.futures.Future, NotebookPlan] = {}  # handed over, not finished

    def executed() -> set[str]:
        return set(results) | {path.stem for path in signals.glob(f"*{EXECUTED_SUFFIX}")}

    def give_go() -> None:
        finished = executed()
        # Running and not yet executed: one that only renders its HTML no longer holds a place.
        executing = sum(1 for notebook in running.values() if notebook not in waiting and notebook.name not in finished)
        for notebook in list(waiting):  # longest first; one whose prerequisites still run waits
            if executing < jobs and set(notebook.after) <= finished:
                (signals / f"{notebook.name}.go").touch()
                waiting.remove(notebook)
                executing += 1

    def hand_over() -> bool:
        under_way = set(results) | {notebook.name for notebook in running.values()}
        for notebook in pending:
            if len(waiting) < jobs and set(notebook.after) <= under_way:
                pending.remove(notebook)
                waiting.append(notebook)
                future = pool.submit(execute_report, notebook, plan.kernel, plan.timeout, log_output, cwd,
                                     signals / f"{notebook.name}.go", plan.warm_up)
                running[future] = notebook
                return True
        return False

    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=2 * jobs, mp_context=context,
                                                    initializer=skip_slow_optional_imports) as pool:
            try:
                while pending or running:
                    give_go()
                    while hand_over():  # one handed over may get its go at once, freeing a warming place
                        give_go()
                    # A short wait, to see prerequisites that have executed but still render their HTML.
                    finished, _ = concurrent.futures.wait(running, timeout=0.2 if waiting else None,
                                                          return_when=concurrent.futures.FIRST_COMPLETED)
                    for future in finished:
                        notebook = running.pop(future)
                        if notebook in waiting:
                            waiting.remove(notebook)
                        try:
                            done(future.result())
                        except Exception as failure:  # the worker process itself died
                            done(NotebookResult(notebook.name, notebook.title, STATUS_FAILED, 0.0,
                                                notebook.parameters, error={"ename": type(failure).__name__,
                                                                            "evalue": str(failure), "cell": None,
                                                                            "source": ""}))
            except BaseException:
                # Stopped early (Ctrl-C, an error here): workers still waiting for their turn see
                # the go folder vanish and shut their kernels down, so the pool can close.
                shutil.rmtree(signals, ignore_errors=True)
                raise
    finally:
        shutil.rmtree(signals, ignore_errors=True)
    return [results[notebook.name] for notebook in plan.notebooks]


# ------------------------------------------------------------------------------------------------
# The index
# ------------------------------------------------------------------------------------------------


def package_versions() -> dict[str, str]:
    """Python and the versions of the packages a report depends on (without importing them)."""
    versions = {"python": sys.version.split()[0]}
    for package in VERSION_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Key figures as (name, text) rows: `{"mean", "sd", "n"}` becomes "0.812 ± 0.020 (n=3)".

    Nested dicts become "outer · inner" names; per-seed value lists and file paths are left out
    (the report shows them).
    """
    rows: list[tuple[str, str]] = []
    for key, value in metrics.items():
        name = f"{prefix} · {key}" if prefix else str(key).replace("_", " ")
        if isinstance(value, Mapping) and "mean" in value:
            mean, sd, n = value.get("mean"), value.get("sd"), value.get("n")
            text = format_value(mean) if mean is not None else "n/a"
            if sd is not None and n and n > 1:
                text += f" ± {format_value(sd)}"
            rows.append((name, f"{text} (n={n})" if n is not None else text))
        elif isinstance(value, Mapping):
            rows += flatten_metrics(value, name)
        elif isinstance(value, (list, tuple)) or key in ("run", "path"):
            continue
        elif "gain" in name and isinstance(value, numbers.Real) and not isinstance(value, bool):
            rows.append((name, f"{float(value):+.3f}"))
        else:
            rows.append((name, format_value(value)))
    return rows


INDEX_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 60em;
       padding: 0 1em; color: #1f2328; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-bottom: 0.2em; }
section { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5em 1em 1em 1em; margin: 1em 0; }
.status { display: inline-block; padding: 0 0.5em; border-radius: 1em; font-size: 0.8em; color: white;
          vertical-align: middle; }
.status-ok { background: #1a7f37; } .status-failed, .status-timed-out { background: #cf222e; }
.error { background: #ffebe9; border-left: 4px solid #cf222e; padding: 0.4em 0.8em; white-space: pre-wrap;
         font-family: ui-monospace, monospace; font-size: 0.85em; }
table { border-collapse: collapse; margin: 0.4em 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d7de; padding: 2px 8px; text-align: left; }
.meta { color: #59636e; font-size: 0.9em; }
"""


def format_index_html(results: Sequence[NotebookResult], info: Mapping[str, Any]) -> str:
    """The index page: one section per report (link, status, error, key figures, parameters),
    then the run's details and package versions. Static HTML: no scripts at all."""
    failed = [result for result in results if not result.ok]
    summary = (f"all {len(results)} reports ok" if not failed else
               f"{len(failed)} of {len(results)} reports failed: {', '.join(result.name for result in failed)}")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">',
        "<title>Transfer Learning Workbench — reports</title>", f"<style>{INDEX_STYLE}</style></head><body>",
        "<h1>Transfer Learning Workbench — reports</h1>",
        f'<p class="meta">Generated {html.escape(str(info["generated"]))} in {info["seconds"]:.0f} s'
        f'{" with --quick parameters" if info.get("quick") else ""} · kernel {html.escape(str(info["kernel"]))}'
        f" · {html.escape(summary)}</p>",
    ]
    for note in info.get("notes", []):
        parts.append(f'<p class="meta">Note: {html.escape(note)}</p>')
    for result in results:
        status_class = "status-" + result.status.replace(" ", "-")
        link = html.escape(result.title)
        if "html" in result.files:
            link = f'<a href="{html.escape(result.name)}/{html.escape(result.files["html"])}">{link}</a>'
        files = " · ".join(f'<a href="{html.escape(result.name)}/{html.escape(name)}">{label}</a>'
                           for label, name in (("executed notebook", result.files.get("notebook")),
                                               ("metrics.json", result.files.get("metrics"))) if name)
        parts.append(f'<section id="{html.escape(result.name)}">')
        parts.append(f'<h2>{link} <span class="status {status_class}">{html.escape(result.status)}</span></h2>')
        parts.append(f'<p class="meta">{html.escape(result.name)}.ipynb · {result.seconds:.0f} s'
                     f'{" · " + files if files else ""}</p>')
        if result.error:
            where = f"Failed in cell In [{result.error['cell']}]" if result.error.get("cell") else "Failed"
            code = f"\n\n{result.error['source']}" if result.error.get("source") else ""
            parts.append(f'<div class="error">{html.escape(where)}: {html.escape(result.error["ename"])}: '
                         f'{html.escape(result.error["evalue"])}{html.escape(code)}</div>')
        figures = [{"key figure": name, "value": text} for name, text in flatten_metrics(result.metrics)]
        if figures:
            parts.append(format_table_html(figures))
        parameters = [{"parameter": name, "value": value} for name, value in result.parameters.items()
                      if name not in MANAGED_PARAMETERS]
        parts.append(f"<details><summary>Parameters</summary>{format_table_html(parameters)}</details>")
        parts.append("</section>")
    versions = [{"package": name, "version": version} for name, version in info["versions"].items()]
    parts.append("<h2>Package versions</h2>" + format_table_html(versions))
    parts.append(f'<p class="meta">Report set {html.escape(str(info["config"]))}; regenerate with '
                 f'<code>{html.escape(str(info["command"]))}</code>.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_index(plan: ReportPlan, results: Sequence[NotebookResult], info: Mapping[str, Any]) -> Path:
    """Write `index.html` and its machine-readable twin `index.json` into the output folder."""
    plan.output_dir.mkdir(parents=True, exist_ok=True)
    plan.index_path.write_text(format_index_html(results, info), encoding="utf-8")
    record = {**info, "reports": [
        {"name": result.name, "title": result.title, "status": result.status, "seconds": result.seconds,
         "error": result.error, "files": {key: f"{result.name}/{name}" for key, name in result.files.items()},
         "metrics": result.metrics, "parameters": result.parameters}
        for result in results]}
    (plan.output_dir / "index.json").write_text(json.dumps(_json_safe(record), indent=2) + "\n")
    return plan.index_path


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _now() -> str:
    return _datetime.datetime.now().astimezone().isoformat(timespec="seconds")


# ------------------------------------------------------------------------------------------------
# The whole command
# ------------------------------------------------------------------------------------------------


def build_reports(
    config_path: str | Path = DEFAULT_CONFIG,
    output_dir: str | Path | None = None,
    parameters_file: str | Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    quick: bool = False,
    kernel: str | None = None,
    timeout: int | None = None,
    jobs: int | None = None,
    log_output: bool = True,
    command: str = "workbench report",
) -> tuple[ReportPlan, list[NotebookResult]]:
    """Plan, execute and render every report, then write the index. What `workbench report` runs.

    Args:
        config_path: the report-set file. Defaults to "reports/config.yaml".
        output_dir: where the reports go; None takes the config's (the config file's folder).
        parameters_file: papermill-style `-f` YAML file of parameters.
        parameters: `-p` values (already parsed), winning over everything.
        quick: use the config's tiny `quick` parameters (CI). Defaults to False.
        kernel: Jupyter kernel name; None takes the config's ("workbench").
        timeout: seconds one cell may run before the notebook counts as failed; None takes the config's.
        jobs: notebooks run at the same time, each in its own process; None takes the config's
            `jobs` (default 1).
        log_output: stream each notebook's cell progress and output to stderr. Defaults to True.
        command: the command line shown in the index.

    Returns:
        The plan and one result per notebook (check `result.ok`).

    Raises:
        ReportError, ConfigError: for bad input, before any notebook runs.
    """
    if jobs is not None:
        check_jobs(jobs)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    plan = plan_reports(config_path, output_dir, parameters_file, parameters, quick, kernel, timeout)
    jobs = plan.jobs if jobs is None else jobs
    kernel_choice = resolve_kernel(plan.kernel)
    if kernel_choice.note:
        plan.notes.append(kernel_choice.note)
        print(f"workbench report: note: {kernel_choice.note}", file=sys.stderr)
    plan.output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        results = run_notebooks(plan, jobs, log_output)
    finally:
        kernel_choice.release()
    info = {
        "generated": _now(), "seconds": round(time.perf_counter() - started, 1), "quick": plan.quick,
        "kernel": plan.kernel, "timeout": plan.timeout, "jobs": jobs, "config": str(plan.config_path),
        "command": command, "notes": plan.notes, "versions": package_versions(),
    }
    write_index(plan, results, info)
    return plan, results


def format_command(arguments: Any) -> str:
    """The `workbench report` command line that reproduces a run, from parsed CLI arguments."""
    import shlex

    words = ["workbench", "report"]
    if getattr(arguments, "config", None) and Path(arguments.config) != DEFAULT_CONFIG:
        words += ["--config", arguments.config]
    for flag, value in (("--output-dir", arguments.output_dir), ("-f", arguments.parameters_file),
                        ("--kernel", arguments.kernel), ("--timeout", arguments.timeout)):
        if value is not None:
            words += [flag, str(value)]
    if arguments.quick:
        words.append("--quick")
    if arguments.jobs is not None:
        words += ["-j", str(arguments.jobs)]
    for name, value in arguments.parameter:
        words += ["-p", name, value]
    return " ".join(shlex.quote(word) for word in words)
