"""Running the whole set: dependency order, `-j N` worker processes, warm kernels, longest first.

With `jobs` > 1 each notebook runs in a worker process with its own kernel. A notebook is handed to
a worker as soon as the notebooks in its `after` list are under way; the worker warms a kernel
(`workbench.reports.kernel`) and waits for its go file, which the runner creates once those
notebooks have executed and a place is free. The go and executed files live in a temporary folder
that the runner removes when it stops, which releases every worker still waiting.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from workbench.fast_start import skip_slow_optional_imports
from workbench.reports.execute import EXECUTED_SUFFIX, STATUS_FAILED, STATUS_OK, NotebookResult, execute_report
from workbench.reports.plan import INDEX_JSON_FILE, NotebookPlan, ReportPlan

# How often the runner looks for prerequisites that have executed but still render their HTML.
EXECUTED_POLL_SECONDS = 0.2


def previous_seconds(plan: ReportPlan) -> dict[str, float]:
    """Each notebook's time in the last run of this set into the same folder (`index.json`), if that
    run had the same `--quick` setting and the notebook succeeded; {} when there is none."""
    try:
        record = json.loads((plan.output_dir / INDEX_JSON_FILE).read_text())
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
    kept: Mapping[str, NotebookResult] | None = None,
) -> list[NotebookResult]:
    """Execute every notebook of the plan; a failure does not stop the others.

    With `jobs` > 1 up to `jobs` notebooks run at once, each in a worker process with its own
    kernel, and a notebook still starts only after the notebooks in its `after` list have
    finished. Up to `jobs` more notebooks, whose prerequisites are at least under way, start and
    warm their kernels meanwhile (`workbench.reports.kernel`), so that they begin warm when their
    turn comes: the second core is otherwise idle while the first notebook (01) runs alone. Where
    several could start, the longest in the previous run goes first (`longest_first`).

    Args:
        plan: the checked plan.
        jobs: notebooks run at once. Defaults to 1.
        log_output: stream each notebook's progress and output to stderr. Defaults to True.
        on_result: called with each result as it comes.
        kept: results that stand without running (`reports.reuse`): their notebooks count as
            finished from the start. Defaults to none.

    Returns:
        One result per notebook, in plan order.
    """
    cwd = os.getcwd()
    results: dict[str, NotebookResult] = {}

    def done(result: NotebookResult) -> None:
        results[result.name] = result
        if on_result:
            on_result(result)

    for result in (kept or {}).values():
        done(result)
    if jobs <= 1 or len(results) == len(plan.notebooks):
        for notebook in plan.notebooks:
            if notebook.name not in results:
                done(execute_report(notebook, plan.kernel, plan.timeout, log_output, cwd))
        return [results[notebook.name] for notebook in plan.notebooks]

    # "spawn": a forked copy of a process that already runs threads (zmq, TensorFlow) can hang.
    context = multiprocessing.get_context("spawn")
    signals = Path(tempfile.mkdtemp(prefix="workbench-report-"))
    run = _ParallelRun(plan, jobs, log_output, cwd, signals, results, done)
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=2 * jobs, mp_context=context,
                                                    initializer=skip_slow_optional_imports) as pool:
            try:
                run.run(pool)
            except BaseException:
                # Stopped early (Ctrl-C, an error here): workers still waiting for their turn see
                # the go folder vanish and shut their kernels down, so the pool can close.
                shutil.rmtree(signals, ignore_errors=True)
                raise
    finally:
        shutil.rmtree(signals, ignore_errors=True)
    return [results[notebook.name] for notebook in plan.notebooks]


class _ParallelRun:
    """Where each notebook of a `-j N` run stands: not handed to a worker yet (`pending`), handed
    over and warming a kernel or waiting for its go file (`waiting`), or not finished (`running`)."""

    def __init__(self, plan: ReportPlan, jobs: int, log_output: bool, cwd: str, signals: Path,
                 results: Mapping[str, NotebookResult], done: Callable[[NotebookResult], None]) -> None:
        self.plan = plan
        self.jobs = jobs
        self.log_output = log_output
        self.cwd = cwd
        self.signals = signals
        self.results = results
        self.done = done
        self.pending = [notebook for notebook in longest_first(plan.notebooks, previous_seconds(plan))
                        if notebook.name not in results]
        self.waiting: list[NotebookPlan] = []
        self.running: dict[concurrent.futures.Future, NotebookPlan] = {}

    def run(self, pool: concurrent.futures.Executor) -> None:
        """Hand notebooks over and give them their go until every one has finished."""
        while self.pending or self.running:
            self.give_go()
            while self.hand_over(pool):  # one handed over may get its go at once, freeing a warming place
                self.give_go()
            # A short wait, to see prerequisites that have executed but still render their HTML.
            finished, _ = concurrent.futures.wait(self.running, timeout=EXECUTED_POLL_SECONDS if self.waiting else None,
                                                  return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                self.collect(future)

    def executed(self) -> set[str]:
        """Notebooks whose papermill run is over (their HTML may still be rendering)."""
        return set(self.results) | {path.stem for path in self.signals.glob(f"*{EXECUTED_SUFFIX}")}

    def give_go(self) -> None:
        """Let waiting notebooks start, longest first, while places are free and prerequisites done."""
        finished = self.executed()
        # Running and not yet executed: one that only renders its HTML no longer holds a place.
        executing = sum(1 for notebook in self.running.values()
                        if notebook not in self.waiting and notebook.name not in finished)
        for notebook in list(self.waiting):  # longest first; one whose prerequisites still run waits
            if executing < self.jobs and set(notebook.after) <= finished:
                (self.signals / f"{notebook.name}.go").touch()
                self.waiting.remove(notebook)
                executing += 1

    def hand_over(self, pool: concurrent.futures.Executor) -> bool:
        """Give one pending notebook whose prerequisites are under way to a worker; False if none may go."""
        under_way = set(self.results) | {notebook.name for notebook in self.running.values()}
        for notebook in self.pending:
            if len(self.waiting) < self.jobs and set(notebook.after) <= under_way:
                self.pending.remove(notebook)
                self.waiting.append(notebook)
                future = pool.submit(execute_report, notebook, self.plan.kernel, self.plan.timeout, self.log_output,
                                     self.cwd, self.signals / f"{notebook.name}.go", self.plan.warm_up)
                self.running[future] = notebook
                return True
        return False

    def collect(self, future: concurrent.futures.Future) -> None:
        """Record a finished worker's result, or a failure when the worker process itself died."""
        notebook = self.running.pop(future)
        if notebook in self.waiting:
            self.waiting.remove(notebook)
        try:
            self.done(future.result())
        except Exception as failure:  # the worker process itself died
            self.done(NotebookResult(notebook.name, notebook.title, STATUS_FAILED, 0.0, notebook.parameters,
                                     error={"ename": type(failure).__name__, "evalue": str(failure), "cell": None,
                                            "source": ""}))
