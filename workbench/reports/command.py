"""The whole `workbench report` command: plan, run, write the index; and the command line it shows."""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from workbench.config import check_jobs
from workbench.errors import ReportError
from workbench.reports.baseline import compare_with_baseline, load_baseline
from workbench.reports.execute import NotebookResult
from workbench.reports.html import local_timestamp
from workbench.reports.index import package_versions, write_index
from workbench.reports.kernel import resolve_kernel
from workbench.reports.plan import DEFAULT_CONFIG, RUNS_FOLDER, ReportPlan, plan_reports
from workbench.reports.reuse import describe_reuse, notebook_keys, reusable_results, runs_state
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
    baseline: str | Path | None = None,
    cache: bool | None = None,
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
        baseline: an earlier report's output folder or `index.json`: every key figure is compared
            with it (`reports.baseline`), in the index and in each result's `baseline`. Defaults to None.
        cache: False trains every run even where a finished one matches (`workbench.run_cache`);
            None takes the parameters' `cache` (default true). Defaults to None.

    Returns:
        The plan (`plan.baseline`: the baseline read) and one result per notebook (check `result.ok`
        and `result.regressed`).

    Raises:
        ReportError, ConfigError: for bad input, before any notebook runs.
    """
    if jobs is not None:
        check_jobs(jobs)
    plan = plan_reports(config_path, output_dir, parameters_file, parameters, quick, kernel, timeout)
    if baseline is not None:
        plan.baseline = load_baseline(baseline)  # read now: the run may overwrite it (same folder)
    plan.cache = plan.cache and cache is not False
    jobs = plan.jobs if jobs is None else jobs
    kernel_choice = resolve_kernel(plan.kernel)
    try:
        create_output_dir(plan.output_dir)
        if kernel_choice.note:
            plan.notes.append(kernel_choice.note)
            print(f"workbench report: note: {kernel_choice.note}", file=sys.stderr)
        started, started_at = time.perf_counter(), datetime.datetime.now().astimezone()
        keys = notebook_keys(plan)
        kept = reusable_results(plan, keys, runs_state(plan))
        with _cache_switch(plan.cache):
            results = run_notebooks(plan, jobs, log_output, kept=kept)
    finally:
        kernel_choice.release()
    plan.notes += [note for note in (describe_reuse(results),) if note]
    cache_note = _describe_cache_use(plan, started_at)
    if cache_note:
        plan.notes.append(cache_note)
    info = {
        "generated": local_timestamp(), "seconds": round(time.perf_counter() - started, 1), "quick": plan.quick,
        "kernel": plan.kernel, "timeout": plan.timeout, "jobs": jobs, "config": str(plan.config_path),
        "command": command, "notes": plan.notes, "versions": package_versions(), "cache": plan.cache,
        "notebook_keys": keys, "runs_state": runs_state(plan),
    }
    if plan.baseline is not None:
        info["baseline"] = compare_with_baseline(plan.baseline, results)
    write_index(plan, results, info)
    return plan, results


@contextlib.contextmanager
def _cache_switch(enabled: bool) -> Iterator[None]:
    """With the cache off, `WORKBENCH_RUN_CACHE=off` for the notebooks' kernels: they are other processes,
    started with a copy of this environment, and their notebooks do not take a `cache` parameter."""
    from workbench.run_cache import CACHE_ENVIRONMENT_VARIABLE

    previous = os.environ.get(CACHE_ENVIRONMENT_VARIABLE)
    if not enabled:
        os.environ[CACHE_ENVIRONMENT_VARIABLE] = "off"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(CACHE_ENVIRONMENT_VARIABLE, None)
        else:
            os.environ[CACHE_ENVIRONMENT_VARIABLE] = previous


def _describe_cache_use(plan: ReportPlan, since: datetime.datetime) -> str:
    """"Runs: 3 trained, 6 reused from the run cache", counted in the notebooks' run folders; "" for
    a set that made no runs with the cache on."""
    from workbench.run_cache import cache_use

    folders = [notebook.parameters.get("runs_dir") or plan.output_dir / RUNS_FOLDER for notebook in plan.notebooks]
    counts = cache_use(folders, since)
    if not any(counts.values()) and plan.cache:
        return ""
    switched = "" if plan.cache else " (run cache off: every run trained)"
    return f"Runs: {counts['trained']} trained, {counts['reused']} reused from the run cache{switched}."


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
    for flag, name in (("--baseline", "baseline"), ("--junit", "junit")):
        value = getattr(arguments, name, None)
        if value is not None:
            words += [flag, str(value)]
    if getattr(arguments, "fail_on_regression", False):
        words.append("--fail-on-regression")
    if getattr(arguments, "cache", True) is False:
        words.append("--no-cache")
    if arguments.jobs is not None:
        words += ["-j", str(arguments.jobs)]
    if getattr(arguments, "cluster", None) is not None:
        words += ["--cluster", str(arguments.cluster)]
    for name, value in arguments.parameter:
        words += ["-p", name, value]
    return " ".join(shlex.quote(word) for word in words)
