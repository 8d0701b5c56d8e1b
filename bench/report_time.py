"""Benchmark 5: wall time of regenerating the reports, `workbench report` with its defaults and with
`--quick`, and of a second `workbench report` with nothing changed (`regenerated`: the defaults
again into the same folder, served by the run cache and the kept notebooks, `workbench.run_cache`
and `workbench.reports.reuse`), given with the first run's time.

Each runs as its own `workbench report -o TMPDIR` process (so the reports and runs in the
repository stay untouched), from the start of the process to its exit: the notebooks through
papermill, the HTML rendering and the index. Where the time went is printed beside it: each
notebook's papermill duration and its slowest cells (the rest is kernel start-up, HTML rendering
and the index). The defaults and `--quick` are first runs with `--no-cache` (the kernels get
`WORKBENCH_RUN_CACHE=off`), so every run trains (issue #15). Goals on a 2-core CPU: defaults
≤ 120 s, `--quick` ≤ 45 s, regenerated ≤ 20 s. Slow (minutes):
`make bench BENCH_SKIP_REPORTS=1` leaves it out.

    .venv/bin/python bench/report_time.py [--repeats 1] [--only quick|defaults|regenerated]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

# Issue #15: first runs (the run cache off, so every run trains) on 2 cores.
GOALS = {"defaults": 120.0, "quick": 45.0, "regenerated": 20.0}


def time_report(quick: bool, output_dir: str | None = None,
                run_cache: bool = False) -> tuple[float, int, str, list[dict]]:
    """Seconds one `workbench report` process takes, its exit status, its stderr's tail, and where
    the time went (`notebook_timings`). Into a new temporary folder (removed afterwards), or into
    `output_dir` (kept: a second run regenerates it)."""
    keep = output_dir is not None
    output_dir = output_dir or tempfile.mkdtemp(prefix="bench-report-")
    script = Path(sys.executable).with_name("workbench")  # the console script beside this interpreter
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "workbench.cli"]
    command += ["report", "--no-log-output", "-o", output_dir]
    if quick:
        command.append("--quick")
    if not run_cache:
        command.append("--no-cache")
    try:
        started = time.perf_counter()
        # common.py turns the run cache off for every benchmark; a timing that measures it turns it on.
        environment = {name: value for name, value in os.environ.items()
                       if not (run_cache and name == "WORKBENCH_RUN_CACHE")}
        finished = subprocess.run(command, cwd=common.REPO, capture_output=True, text=True, env=environment)
        elapsed = time.perf_counter() - started
        return elapsed, finished.returncode, finished.stderr[-2000:], notebook_timings(Path(output_dir))
    finally:
        if not keep:
            shutil.rmtree(output_dir, ignore_errors=True)


def time_regeneration() -> tuple[tuple[float, int, str, list[dict]], tuple[float, int, str, list[dict]]]:
    """The defaults into a new folder, then again into the same folder with nothing changed."""
    output_dir = tempfile.mkdtemp(prefix="bench-report-")
    try:
        return time_report(False, output_dir, run_cache=True), time_report(False, output_dir, run_cache=True)
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)


def notebook_timings(output_dir: Path, slowest: int = 3) -> list[dict]:
    """Each executed notebook's papermill duration and its slowest cells (seconds, first source line)."""
    import json

    timings = []
    for path in sorted(output_dir.rglob("*.ipynb")):
        try:
            notebook = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        duration = (notebook.get("metadata", {}).get("papermill") or {}).get("duration")
        if duration is None:
            continue
        cells = []
        for cell in notebook.get("cells", []):
            seconds = (cell.get("metadata", {}).get("papermill") or {}).get("duration")
            if seconds:
                source = "".join(cell.get("source", "")).strip().splitlines()
                cells.append({"seconds": round(seconds, 1), "source": source[0][:80] if source else ""})
        cells.sort(key=lambda cell: -cell["seconds"])
        timings.append({"notebook": path.stem, "seconds": round(duration, 1), "slowest_cells": cells[:slowest]})
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="rounds of [defaults, quick] (default 1)")
    parser.add_argument("--only", choices=tuple(GOALS),
                        help="time only one of them (regenerated runs the defaults twice)")
    common.add_json_argument(parser)
    arguments = parser.parse_args(argv)

    kinds = [arguments.only] if arguments.only else list(GOALS)
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    failures: list[str] = []
    breakdown: dict[str, list[dict]] = {}
    print(f"report regeneration: {arguments.repeats} round(s) of {' and '.join(kinds)}, each "
          "`workbench report -o TMPDIR` in its own process", flush=True)
    first_runs: list[float] = []
    for repeat in range(arguments.repeats):
        for kind in kinds:
            if kind == "defaults" and "regenerated" in kinds:
                continue  # its time is the first run of the regeneration below
            if kind == "regenerated":
                first, second = time_regeneration()
                first_runs.append(first[0])
                if "defaults" in kinds:
                    seconds["defaults"].append(first[0])
                elapsed, status, stderr, timings = second
                print(f"  round {repeat + 1} regenerated: the first run (defaults, a new folder) {first[0]:.1f} s, "
                      f"exit status {first[1]}, then the second into the same folder, nothing changed "
                      f"({stderr.count('(kept, inputs unchanged')} notebook(s) kept without running; the cell "
                      "times below are the first run's):", flush=True)
            else:
                elapsed, status, stderr, timings = time_report(quick=kind == "quick")
            seconds[kind].append(elapsed)
            breakdown[kind] = timings
            print(f"  round {repeat + 1} {kind}: {elapsed:.1f} s, exit status {status}; inside it "
                  f"{sum(row['seconds'] for row in timings):.0f} s in the notebooks' cells (papermill):", flush=True)
            for row in timings:
                cells = "; ".join(f"{cell['seconds']:.0f} s `{cell['source']}`" for cell in row["slowest_cells"])
                print(f"    {row['notebook']}: {row['seconds']:.0f} s (slowest cells: {cells})", flush=True)
            if status != 0:
                failures.append(f"{kind} exited {status}: {stderr.strip().splitlines()[-1] if stderr.strip() else ''}")
    medians = {kind: statistics.median(values) for kind, values in seconds.items()}
    met = not failures and all(medians[kind] <= GOALS[kind] for kind in kinds)
    labels = {"quick": "--quick", "defaults": "defaults", "regenerated": "defaults regenerated with nothing changed"}
    shown = ", ".join(f"{labels[kind]} {medians[kind]:.0f} s (goal <= {GOALS[kind]:.0f} s)" for kind in kinds)
    if first_runs:
        shown += f" (its first run {statistics.median(first_runs):.0f} s)"
    text = (f"workbench report wall time: {shown}, n={arguments.repeats}"
            f"{'; FAILED: ' + '; '.join(failures) if failures else ''}; {'met' if met else 'NOT met'}")
    common.emit_result({
        "name": "report_time", "value": round(medians.get("defaults", medians.get("quick", 0.0)), 1), "unit": "s",
        "goal": " and ".join(f"{kind} <= {GOALS[kind]:.0f} s" for kind in kinds), "met": met, "text": text,
        "details": {"seconds": seconds, "medians": medians, "failures": failures, "repeats": arguments.repeats,
                    "notebooks_last_round": breakdown, "regenerated_first_runs": first_runs},
    }, arguments.json)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
