"""The whole `workbench report` command: plan, run, write the index; and the command line it shows."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.config import check_jobs
from workbench.errors import ReportError
from workbench.reports.execute import NotebookResult
from workbench.reports.html import local_timestamp
from workbench.reports.index import package_versions, write_index
from workbench.reports.kernel import resolve_kernel
from workbench.reports.plan import DEFAULT_CONFIG, ReportPlan, plan_reports
from workbench.reports.scheduler import run_notebooks


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
    plan = plan_reports(config_path, output_dir, parameters_file, parameters, quick, kernel, timeout)
    jobs = plan.jobs if jobs is None else jobs
    kernel_choice = resolve_kernel(plan.kernel)
    try:
        create_output_dir(plan.output_dir)
        if kernel_choice.note:
            plan.notes.append(kernel_choice.note)
            print(f"workbench report: note: {kernel_choice.note}", file=sys.stderr)
        started = time.perf_counter()
        results = run_notebooks(plan, jobs, log_output)
    finally:
        kernel_choice.release()
    info = {
        "generated": local_timestamp(), "seconds": round(time.perf_counter() - started, 1), "quick": plan.quick,
        "kernel": plan.kernel, "timeout": plan.timeout, "jobs": jobs, "config": str(plan.config_path),
        "command": command, "notes": plan.notes, "versions": package_versions(),
    }
    write_index(plan, results, info)
    return plan, results


def create_output_dir(path: Path) -> None:
    """Create the output folder (and its parents), turning an OS refusal into a readable error.

    Raises:
        ReportError: when the folder cannot be created (a file in the way, no permission, ...).
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(
            f"Output folder {str(path)!r} cannot be created ({error.strerror or error}). --output-dir must be a "
            "folder you can write to (it is created if missing). Pass another path, e.g. --output-dir reports-out."
        ) from None


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
