"""Run the benchmarks (the six of issue #6, #12's image-folder cache, #13's study engine and #15's per-run
fixed cost), print their figures as one table and write bench/RESULTS.md.

| # | figure | script | goal |
|---|---|---|---|
| 1 | overhead: workbench run / plain `model.fit` | bench/overhead.py | ≤ 1.05 |
| 2 | memory: peak RSS on 50,000 CIFAR-sized images, workbench / plain fit | bench/memory.py | ≤ 0.3 |
| 3 | training rate: batch 32 / best batch, best batch / matmul rate | bench/throughput.py | ≥ 0.8, ≥ 0.5 |
| 4 | feature caching speed-up per epoch | bench/feature_cache.py | ≥ 10x |
| 5 | `workbench report` wall time, first run (run cache off), defaults and `--quick` | bench/report_time.py | ≤ 120 s, ≤ 45 s |
| 6 | accelerator images/s: float32, mixed_float16, XLA | bench/gpu.py (bench/gpu.sh) | report |
| 7 | time to the first epoch on a 60,000-JPEG CIFAR-10 folder, first run vs cached | bench/dataset_cache.py | report |
| 8 | study engine: 12-run sweep serial / Dask `-j 2`, Dask / the old pool, overhead per run | bench/study_engine.py | Dask / pool ≤ 1.05 |
| 9 | per-run fixed cost: one-epoch run on 25 images minus its fit time, warm process, with its split | bench/fixed_cost.py | ≤ 1 s |

Each runs in its own process (one benchmark's memory and TensorFlow state never touch another's)
and writes its figure as JSON, which this collects. Figure 6 runs only where TensorFlow sees a
GPU; elsewhere the table says so, and the results of the last GPU run (bench/gpu-results.json,
written by bench/gpu.sh) go into RESULTS.md with their own date and device. RESULTS.md keeps its
hand-written "Notes" section from one run to the next.

    make bench                        # = .venv/bin/python bench/run_all.py
    make bench BENCH_SKIP_REPORTS=1   # without figure 5 (the slowest, minutes)
    .venv/bin/python bench/run_all.py --quick --results /tmp/RESULTS.md   # a smoke test of the runner
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import common
import gpu

RESULTS = common.REPO / "bench" / "RESULTS.md"
NOTES_HEADING = "## Notes (kept between runs)"
GPU_RESULTS = common.REPO / "bench" / "gpu-results.json"

# (number, name, title, script, arguments, quick arguments)
BENCHMARKS = (
    (1, "overhead", "Overhead: workbench run / plain fit", "overhead.py", [], ["--repeats", "1", "--epochs", "2",
                                                                           "--train-images", "600"]),
    (2, "memory", "Memory: peak RSS, workbench / plain fit (50,000 x 32x32x3)", "memory.py", [],
     ["--steps", "5", "--train-images", "5000", "--test-images", "1000"]),
    (3, "throughput", "Training rate: seed CNN batch 32 / best batch, best batch / matmul rate", "throughput.py", [],
     ["--repeats", "1", "--epochs", "2", "--train-images", "600", "--matmul-size", "1024", "--no-reference",
      "--batch-sizes", "32,64"]),
    (4, "feature_cache", "Feature caching speed-up per epoch", "feature_cache.py", [],
     ["--repeats", "1", "--epochs", "3"]),
    (5, "report_time", "Report regeneration: `workbench report` defaults and --quick", "report_time.py", [],
     ["--only", "quick"]),
    (6, "gpu", "Accelerator: images/s float32 / mixed_float16 / XLA", "gpu.py", [], []),
    (7, "dataset_cache", "Image folder: time to the first epoch, first run / cached (60,000 JPEGs)",
     "dataset_cache.py", [], ["--repeats", "1", "--train-per-class", "500", "--test-per-class", "100"]),
    (8, "study_engine", "Study engine: 12-run sweep serial / Dask -j 2, Dask / old pool, overhead per run",
     "study_engine.py", [], ["--repeats", "1", "--epochs", "1", "--budgets", "2,5", "--overhead-runs", "4"]),
    (9, "fixed_cost", "Per-run fixed cost: one-epoch run on 25 images minus its fit time, warm process",
     "fixed_cost.py", [], ["--repeats", "1"]),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-reports", action="store_true", default=os.environ.get("BENCH_SKIP_REPORTS") == "1",
                        help="leave out figure 5, the report timing (also BENCH_SKIP_REPORTS=1)")
    parser.add_argument("--only", help="comma list of figure numbers or names to run (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings for every benchmark: checks the runner, the figures mean nothing")
    parser.add_argument("--results", default=str(RESULTS), help=f"where to write the results (default {RESULTS})")
    arguments = parser.parse_args(argv)
    wanted = {item.strip() for item in (arguments.only or "").split(",") if item.strip()}

    machine = common.machine_description()
    started = datetime.datetime.now().astimezone()
    print(f"bench: {started:%Y-%m-%d %H:%M %Z} on {machine['cpu']}, {machine['cores']} cores, {machine['memory']}",
          flush=True)
    figures: list[dict] = []
    scratch = common.scratch_folder("bench-run-all-")
    for number, name, title, script, script_arguments, quick_arguments in BENCHMARKS:
        if wanted and str(number) not in wanted and name not in wanted:
            continue
        extra = quick_arguments if arguments.quick else script_arguments
        command = common.python_command(script, *extra)
        shown_command = " ".join([".venv/bin/python", f"bench/{script}", *extra])
        figure = {"number": number, "name": name, "title": title, "command": shown_command}
        if name == "report_time" and arguments.skip_reports:
            figure.update(value=None, met=None, goal="defaults <= 120 s and --quick <= 45 s",
                          text="skipped (BENCH_SKIP_REPORTS=1 / --skip-reports)")
            figures.append(figure)
            print(f"\n[{number}] {title}: skipped", flush=True)
            continue
        print(f"\n[{number}] {title}\n    {shown_command}", flush=True)
        json_path = scratch / f"{name}.json"
        if name == "gpu":
            figure.update(run_gpu(command, json_path, arguments.quick))
        else:
            clock = time.perf_counter()
            finished = subprocess.run([*command, "--json", str(json_path)], cwd=common.REPO)
            seconds = time.perf_counter() - clock
            if json_path.is_file():
                figure.update(json.loads(json_path.read_text()))
                figure["name"] = name
            else:
                figure.update(value=None, met=False, goal="", text=f"FAILED: exit status {finished.returncode}")
            figure["seconds"] = round(seconds, 1)
        figures.append(figure)

    table = format_summary(figures)
    print("\n" + table, flush=True)
    results_path = Path(arguments.results)
    results_path.write_text(format_results(figures, machine, started, arguments, results_path))
    print(f"\nwritten to {results_path}", flush=True)
    failed = [figure for figure in figures if str(figure.get("text", "")).startswith("FAILED")]
    return 1 if failed else 0


def run_gpu(command: list[str], json_path: Path, quick: bool) -> dict:
    """Figure 6: run bench/gpu.py where a GPU is visible; elsewhere say so (exit status 3)."""
    finished = subprocess.run([*command, "--json", str(json_path)], cwd=common.REPO, capture_output=True, text=True)
    if finished.returncode == 3:
        text = "not measured: no GPU on this machine (run bench/gpu.sh on one)"
        print(f"    {text}", flush=True)
        return {"value": None, "met": None, "goal": "report (no goal)", "text": text, "gpu_rows": None}
    print(finished.stdout, flush=True)
    if finished.returncode != 0 or not json_path.is_file():
        return {"value": None, "met": False, "goal": "report (no goal)",
                "text": f"FAILED: exit status {finished.returncode}: {finished.stderr.strip()[-500:]}"}
    result = json.loads(json_path.read_text())
    if not quick:
        GPU_RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    best = max((row for row in result["rows"] if row.get("images_per_second")),
               key=lambda row: row["images_per_second"])
    return {"value": best["images_per_second"], "met": None, "goal": "report (no goal)", "gpu_rows": result["rows"],
            "text": f"measured on {result['device']}: best {best['images_per_second']:,.0f} images/s "
                    f"({best['model']}, batch {best['batch_size']}, {best['variant']}); table below"}


def format_summary(figures: list[dict]) -> str:
    """The figures as a Markdown table: figure, value, goal, met?"""
    lines = ["| # | figure | value | goal | met? |", "|---|---|---|---|---|"]
    for figure in figures:
        met = {True: "yes", False: "**no**", None: "—"}[figure.get("met")]
        lines.append(f"| {figure['number']} | {figure['title']} | {_value_text(figure)} | "
                     f"{figure.get('goal', '')} | {met} |")
    return "\n".join(lines)


def _value_text(figure: dict) -> str:
    value, details = figure.get("value"), figure.get("details") or {}
    if value is None:
        return str(figure.get("text", "")).split(":")[0] if figure.get("text") else "—"
    name = figure["name"]
    if name == "overhead":
        return f"{value:.3f} (fit alone {details.get('fit_ratio', float('nan')):.3f})"
    if name == "memory":
        peaks, split = details.get("peak_mib", {}), details.get("split_mib") or {}
        split_text = (f"; runtime {split['runtime_baseline']} + data {split['data']} + rest {split['rest']} MiB"
                      if split else "")
        return (f"{value:.3f} ({common.format_values(peaks.get('workbench', []), 0)} vs "
                f"{common.format_values(peaks.get('baseline', []), 0)} MiB{split_text})")
    if name == "throughput":
        return (f"batch {details.get('batch', 32)} / best (batch {details.get('best_batch', '?')}) {value:.3f}; "
                f"best {details.get('best_images_per_second', float('nan')):,.0f} images/s = fraction "
                f"{details.get('best_fraction', float('nan')):.3f} of {details.get('matmul_gflops', float('nan')):.1f}"
                " GFLOP/s")
    if name == "feature_cache":
        return f"{value:.1f}x"
    if name == "report_time":
        medians = details.get("medians", {})
        return ", ".join(f"{'--quick' if kind == 'quick' else 'defaults'} {seconds:.0f} s"
                         for kind, seconds in medians.items())
    if name == "gpu":
        return f"best {value:,.0f} images/s"
    if name == "fixed_cost":
        afresh = (details.get("medians") or {}).get("afresh", {}).get("fixed")
        return f"{value:.2f} s" + (f" (traced afresh {afresh:.2f} s)" if afresh is not None else "")
    if name == "study_engine":
        per_run = (details.get("overhead") or {}).get("per_run_seconds") or {}
        versus = details.get("dask_over_pool")
        return (f"{value:.2f}x" + (f", Dask / pool {versus:.2f}" if versus is not None else "")
                + (f", {per_run['dask']:.2f} s per short run" if "dask" in per_run else ""))
    if name == "dataset_cache":
        return f"{details.get('first_median', float('nan')):.1f} s / {value:.1f} s ({details.get('ratio', float('nan')):.1f}x)"
    return str(value)


def format_results(figures: list[dict], machine: dict, started: datetime.datetime, arguments: argparse.Namespace,
                   results_path: Path) -> str:
    """bench/RESULTS.md: date, machine, the summary table, each figure's line and command, the GPU
    table, and the hand-written notes of the previous file."""
    lines = [
        "# Benchmark results",
        "",
        f"Written by `bench/run_all.py` (`make bench`) on {started:%Y-%m-%d %H:%M %Z}"
        f"{' with --quick (smoke-test settings: the figures mean nothing)' if arguments.quick else ''}. "
        "Each figure is a ratio or rate measured within one run (contenders interleaved, medians of "
        "per-round ratios); the machine is shared, so absolute times are noisy.",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()) + ".",
        "",
        format_summary(figures),
        "",
        "## Figures and commands",
        "",
    ]
    for figure in figures:
        took = f" (took {figure['seconds']:.0f} s)" if figure.get("seconds") is not None else ""
        lines += [f"{figure['number']}. **{figure['title']}**: {figure.get('text', '')}{took}",
                  f"   `{figure['command']}`", ""]
    lines += ["## Accelerator (figure 6)", "", *format_gpu_section(figures), ""]
    previous = results_path.read_text() if results_path.is_file() else ""
    if NOTES_HEADING in previous:
        lines.append(previous[previous.index(NOTES_HEADING):].rstrip())
    else:
        lines += [NOTES_HEADING, "", "(Hand-written notes on the figures go here; `bench/run_all.py` keeps this "
                  "section when it rewrites the file.)"]
    return "\n".join(lines) + "\n"


def format_gpu_section(figures: list[dict]) -> list[str]:
    """This run's GPU table, or the last one bench/gpu.sh wrote, or a line saying there is none."""
    measured = next((figure for figure in figures if figure["name"] == "gpu" and figure.get("gpu_rows")), None)
    if measured:
        return ["Measured in this run:", "", gpu.format_table(measured["gpu_rows"])]
    if GPU_RESULTS.is_file():
        last = json.loads(GPU_RESULTS.read_text())
        return [f"Not measured in this run (no GPU here). The last `bench/gpu.sh` run, {last['date']} on "
                f"{last['device']} ({last['steps']} timed steps after {last['warmup']}):", "",
                gpu.format_table(last["rows"])]
    return ["Not measured: no GPU on this machine, and no `bench/gpu-results.json` from an earlier "
            "`bench/gpu.sh` run. Run `bench/gpu.sh` on a GPU machine, then `make bench` here again."]


if __name__ == "__main__":
    sys.exit(main())
