"""Benchmark 7: the study engine: a 12-run sweep serially, with the process pool the workbench had
before issue #13, and on Dask (an embedded `LocalCluster`), plus the scheduling overhead per run.

Part 1, speed-up: one label-budget sweep of 12 runs (budgets 50 and all labels × structure, feature
and parameter × seeds 0 and 1, mnist-5k:5-9, 5 epochs) trained by each engine in turn, S P D S P D …: serially
in this process, with the old pool (`-j 2`) and with Dask (`-j 2`). The runs have the same names,
seeds and splits in every engine, so the test accuracies must agree too; the largest difference is
printed. Figures: serial ÷ Dask (the speed-up of `-j 2`) and Dask ÷ pool (goal ≤ 1.05: Dask is not
slower than the pool it replaces, within the noise of a shared machine).

Part 2, scheduling overhead: a study of trivially short runs (1 epoch on 25 images) with each
engine; wall time ÷ runs, and Dask's per-run cost above the serial one (its cluster start-up
included, and without it).

The old pool no longer lives in `workbench/`: it is read from the commit before its removal
(`git show POOL_COMMIT:workbench/parallel.py`) into a temporary module, so this benchmark keeps
measuring against it. Where git or that commit is missing, the pool is skipped and said so.

    .venv/bin/python bench/study_engine.py [--repeats 1] [--epochs 5] [--budgets 50,all] [--engines serial,pool,dask]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common

GOAL = 1.05  # Dask -j 2 ÷ pool -j 2 wall time
POOL_COMMIT = "4655c75"  # the last commit with workbench/parallel.py's process pool
POOL_MODULE = "workbench_pool_before_dask"
ENGINES = ("serial", "pool", "dask")


def load_engines(names: list[str]) -> dict[str, Any]:
    """name → a `train_runs(configs, jobs)` function; the pool comes from git history if need be."""
    try:
        from workbench import engine
    except ImportError:  # before issue #13: the pool was the engine
        engine = importlib.import_module("workbench.parallel")

    found: dict[str, Any] = {}
    for name in names:
        if name == "serial":
            found[name] = lambda configs, jobs: engine.train_runs(configs, 1)
        elif name == "dask" and engine.__name__ == "workbench.engine":
            found[name] = engine.train_runs
        elif name == "pool":
            module = engine if hasattr(engine, "_train_in_pool") else load_old_pool()
            if module is None:
                print(f"  pool: skipped (cannot read workbench/parallel.py at commit {POOL_COMMIT})")
            else:
                found[name] = module.train_runs
    return found


def load_old_pool() -> Any:
    """The pre-Dask `workbench/parallel.py` as an importable module (spawned workers import it by name)."""
    folder = common.scratch_folder("bench-pool-")
    try:
        source = subprocess.run(["git", "show", f"{POOL_COMMIT}:workbench/parallel.py"], cwd=common.REPO,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    (folder / f"{POOL_MODULE}.py").write_text(source)
    sys.path.insert(0, str(folder))  # spawned children get the parent's sys.path
    return importlib.import_module(POOL_MODULE)


def sweep_configs(source: str, runs_dir: Path, epochs: int, budgets: list[int | None], seeds: list[int],
                  prefix: str) -> list[Any]:
    """The configs of a label-budget sweep, in the sweep's plan order (seed, budget, mode)."""
    from workbench.config import config_from_mapping
    from workbench.experiments import DEFAULT_COMPARE_MODES, config_for_mode

    base = config_from_mapping({"source": source, "task": "mnist-5k:5-9", "epochs": epochs,
                                "runs_dir": str(runs_dir), "overwrite": True, "cache": False}, kind="transfer")
    return [config_for_mode(base, mode, seed=seed, per_class=budget, name=f"{prefix}-{mode}-b{budget or 'all'}-s{seed}")
            for seed in seeds for budget in budgets for mode in DEFAULT_COMPARE_MODES]


def time_study(train_runs: Any, configs: list[Any], jobs: int) -> dict[str, Any]:
    """Wall seconds of one study and its runs' test accuracies by name."""
    started = time.perf_counter()
    runs = train_runs(configs, jobs)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "accuracy": {run.name: run.test_accuracy for run in runs if run is not None}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="rounds of the 12-run sweep per engine (default 1)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each sweep run (default 5)")
    parser.add_argument("--budgets", default="50,all", help="two labels-per-class budgets (default 50,all)")
    parser.add_argument("--jobs", type=int, default=2, help="workers of the pool and of Dask (default 2)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma list of serial, pool, dask")
    parser.add_argument("--overhead-runs", type=int, default=12, help="runs of the trivially short study (default 12)")
    parser.add_argument("--skip-overhead", action="store_true", help="leave out part 2")
    common.add_json_argument(parser)
    arguments = parser.parse_args(argv)
    names = [name.strip() for name in arguments.engines.split(",") if name.strip()]

    import workbench

    scratch = common.scratch_folder("bench-engine-")
    source = workbench.pretrain(task="mnist-5k:0-4", per_class=50, epochs=1, name="source", runs_dir=str(scratch))
    engines = load_engines(names)
    budgets = [None if item.strip() == "all" else int(item) for item in arguments.budgets.split(",")]
    sweeps = {name: sweep_configs(str(source.path), scratch / name, arguments.epochs, budgets, [0, 1], "sweep")
              for name in engines}
    print(f"12-run sweep ({arguments.epochs} epochs per run), engines {', '.join(engines)}, -j {arguments.jobs}, "
          f"{arguments.repeats} round(s)", flush=True)
    results = common.interleave({name: (lambda name=name: time_study(engines[name], sweeps[name], arguments.jobs))
                                 for name in engines}, arguments.repeats, warmup=False,
                                log=lambda line: print(line.split(", accuracy")[0], flush=True))
    seconds = {name: [row["seconds"] for row in rows] for name, rows in results.items()}
    accuracies = {name: rows[-1]["accuracy"] for name, rows in results.items()}
    differences = {name: max(abs(values[run] - accuracies["serial"][run]) for run in accuracies["serial"])
                   for name, values in accuracies.items() if name != "serial" and "serial" in accuracies}
    for name, value in differences.items():
        differing = [run for run in accuracies["serial"] if accuracies[name][run] != accuracies["serial"][run]]
        print(f"  {name}: largest test-accuracy difference from serial {value:.3g} ({', '.join(differing) or 'none'})")

    overhead: dict[str, Any] = {}
    if not arguments.skip_overhead:
        overhead = measure_overhead(engines, source, scratch, arguments.jobs, arguments.overhead_runs)

    figure = summarise(seconds, differences, overhead, arguments)
    common.emit_result(figure, arguments.json)
    return 0


def measure_overhead(engines: dict[str, Any], source: Any, scratch: Path, jobs: int, count: int) -> dict[str, Any]:
    """Part 2: wall time per run of a study of `count` 1-epoch runs on 25 images, per engine."""
    from workbench.config import config_from_mapping

    per_run: dict[str, float] = {}
    for name, train_runs in engines.items():
        base = config_from_mapping({"source": str(source.path), "task": "mnist-5k:5-9", "per_class": 5, "epochs": 1,
                                    "runs_dir": str(scratch / f"short-{name}"), "overwrite": True, "cache": False},
                                   kind="transfer")
        configs = [base.replace(seed=seed, name=f"short-s{seed}") for seed in range(count)]
        per_run[name] = time_study(train_runs, configs, jobs)["seconds"] / count
        print(f"  trivially short study, {name}: {per_run[name]:.2f} s per run ({count} runs)", flush=True)
    startup = None
    if "dask" in engines and "serial" in per_run:
        from workbench.cluster import open_cluster

        started = time.perf_counter()
        with open_cluster(jobs, None):
            startup = time.perf_counter() - started
        print(f"  Dask LocalCluster start and stop ({jobs} workers): {startup:.2f} s", flush=True)
    return {"per_run_seconds": per_run, "count": count, "cluster_start_seconds": startup}


def summarise(seconds: dict[str, list[float]], differences: dict[str, float], overhead: dict[str, Any],
              arguments: argparse.Namespace) -> dict[str, Any]:
    """The figure: speed-up serial ÷ Dask, Dask ÷ pool (goal), overhead per run."""
    for name, values in seconds.items():
        print(f"  {name}: {common.format_values(values, 1)} s")
    speed_up = common.median_ratio(seconds["serial"], seconds["dask"]) if {"serial", "dask"} <= set(seconds) else None
    versus_pool = common.median_ratio(seconds["dask"], seconds["pool"]) if {"pool", "dask"} <= set(seconds) else None
    pool_speed_up = common.median_ratio(seconds["serial"], seconds["pool"]) if {"serial", "pool"} <= set(seconds) \
        else None
    per_run = overhead.get("per_run_seconds", {})
    parts = []
    if speed_up is not None:
        parts.append(f"12-run sweep serial / Dask -j {arguments.jobs}: {speed_up:.2f}x "
                     f"({statistics.median(seconds['serial']):.0f} s vs {statistics.median(seconds['dask']):.0f} s)")
    if pool_speed_up is not None:
        parts.append(f"old pool -j {arguments.jobs}: {pool_speed_up:.2f}x ({statistics.median(seconds['pool']):.0f} s)")
    if versus_pool is not None:
        parts.append(f"Dask / pool {versus_pool:.3f} (goal <= {GOAL})")
    parts += [f"{name}'s largest test-accuracy difference from serial {value:.2g}"
              for name, value in differences.items()]
    if per_run:
        parts.append("trivially short runs: "
                     + ", ".join(f"{name} {value:.2f} s/run" for name, value in per_run.items()))
        if "dask" in per_run and "serial" in per_run:
            parts.append(f"Dask overhead above serial {per_run['dask'] - per_run['serial']:+.2f} s/run "
                         f"(cluster start {overhead['cluster_start_seconds']:.1f} s per study)")
    # Met: Dask is not slower than the pool it replaced, and trains the serial study's numbers.
    met = None if versus_pool is None else versus_pool <= GOAL and differences.get("dask", 0.0) == 0.0
    text = "; ".join(parts) + f"; n={arguments.repeats} round(s)" + ("" if met is None else
                                                                       f"; {'met' if met else 'NOT met'}")
    return {"name": "study_engine", "value": None if speed_up is None else round(speed_up, 2), "unit": "x",
            "goal": f"Dask / pool <= {GOAL}, accuracies equal to serial", "met": met, "text": text,
            "details": {"seconds": seconds, "speed_up": speed_up, "dask_over_pool": versus_pool,
                        "pool_speed_up": pool_speed_up, "accuracy_differences": differences, "overhead": overhead,
                        "epochs": arguments.epochs, "jobs": arguments.jobs, "repeats": arguments.repeats}}


if __name__ == "__main__":
    sys.exit(main())
