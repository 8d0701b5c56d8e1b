"""The commands that run or score many runs: compare, sweep-depth, sweep-budget, lr-find, rank.

Each shows one overall bar (runs done) above one bar per training run, prints its table on
stdout, and writes its figure as offline HTML (plotly.js inlined, no CDN).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path
from typing import Any

from workbench.cli.parser import collect_parameters, split_items
from workbench.cli.export_command import tensorboard_logging
from workbench.cli.paths import check_readable_folder, check_source_argument, check_writable_file, check_writable_folder
from workbench.cli.run_commands import RUNS_DIR_EXAMPLE, check_run_paths
from workbench.errors import WorkbenchError

SWEEP_OPTIONS = ("seeds", "modes", "depths", "budgets", "fine_tuned", "figure", "jobs", "cluster", "tensorboard",
                 "detect")


def compare_command(arguments: argparse.Namespace) -> int:
    """`workbench compare`: every mode on identical splits per seed; prints mean ± sd per mode."""
    from tqdm import tqdm

    from workbench import api
    from workbench.config import check_detect, config_from_mapping, resolve_seeds

    parameters = collect_parameters(arguments, skip=("seeds", "modes", "jobs", "cluster", "tensorboard", "detect"))
    jobs = parameters.pop("jobs", None) or arguments.jobs
    cluster = parameters.pop("cluster", None) or arguments.cluster
    seeds = resolve_seeds(parameters.pop("seeds", None) or arguments.seeds)
    detect = check_detect(parameters.pop("detect") if "detect" in parameters else arguments.detect)
    modes = split_items(parameters.pop("modes", None) or arguments.modes)
    base = config_from_mapping({**parameters, "mode": "parameter"}, kind="transfer")
    check_run_paths(base)
    from workbench.callbacks import progress_bar  # Keras: only once the paths are known to be good

    tensorboard = tensorboard_logging(arguments)
    start_distribution(base.strategy, jobs, cluster)
    # delay: a study refused in its first second (a bad mode, budget or class) prints only its error.
    overall = tqdm(total=len(seeds) * len(modes), desc="compare", unit="run", position=0, dynamic_ncols=True,
                   delay=1)

    def callbacks_for(config: Any) -> list[Any]:
        return [progress_bar(f"{config.mode} seed {config.seed}"), *(tensorboard.callbacks(config) if tensorboard else [])]

    def run_done(run: Any) -> None:
        overall.update(1)
        if tensorboard:
            tensorboard.run_done(run)

    try:
        comparison = api.compare(seeds, modes, run_callbacks=callbacks_for, on_run_done=run_done, jobs=jobs,
                                 cluster=cluster, **parameters)
    finally:
        overall.close()
    print(comparison.format_table(detect))
    return study_exit_code("compare", comparison.failures)


def sweep_depth_command(arguments: argparse.Namespace) -> int:
    """`workbench sweep-depth`: AnB and AnB+ at every copied-block count against the baseline."""
    return _sweep(arguments, "depth")


def sweep_budget_command(arguments: argparse.Namespace) -> int:
    """`workbench sweep-budget`: every mode at every labels-per-class budget."""
    return _sweep(arguments, "budget")


def _sweep(arguments: argparse.Namespace, kind: str) -> int:
    from tqdm import tqdm

    from workbench import api
    from workbench.config import check_detect, config_from_mapping, parse_int_list, resolve_seeds
    from workbench.figures import plot_sweep
    from workbench.sweeps import BASELINE_SERIES
    from workbench.text_tables import format_paired_differences

    parameters = collect_parameters(arguments, skip=SWEEP_OPTIONS)
    options = {key: parameters.pop(key) if key in parameters else getattr(arguments, key, None) for key in SWEEP_OPTIONS}
    seeds = resolve_seeds(options["seeds"])
    detect = check_detect(options["detect"])
    parameters["name"] = name = parameters.get("name") or f"sweep-{kind}-{_timestamp()}"
    base = config_from_mapping({**parameters, "mode": "parameter"}, kind="transfer")
    figure_path = options["figure"] or str(Path(base.runs_dir) / f"{name}.html")
    check_run_paths(base)
    check_writable_file(figure_path, "--figure", f"{RUNS_DIR_EXAMPLE}/{name}.html")
    from workbench.callbacks import progress_bar  # Keras: only once the paths are known to be good

    tensorboard = tensorboard_logging(arguments)
    if kind == "depth":
        depths = None if options["depths"] is None else parse_int_list(
            options["depths"], "depths", fix="Pass e.g. --depths 0,2,4.")
    else:
        # None: the --preset's budgets, else the default list (`api.sweep_budget`).
        budgets = None if options["budgets"] is None else parse_int_list(
            options["budgets"], "budgets", allow_all=True, minimum=1, fix="Pass e.g. --budgets 1,5,25,all.")
        modes = split_items(options["modes"])
    start_distribution(base.strategy, options["jobs"], options["cluster"])
    overall = tqdm(desc=f"sweep {kind}", unit="run", position=0, dynamic_ncols=True, delay=1)
    def run_done(run: Any, sweep: Any) -> None:
        overall.update(1)
        if tensorboard:
            tensorboard.run_done(run)

    hooks = {"run_callbacks": lambda config: [progress_bar(f"{config.name}"),
                                              *(tensorboard.callbacks(config) if tensorboard else [])],
             "on_run_done": run_done, "jobs": options["jobs"], "cluster": options["cluster"]}
    try:
        if kind == "depth":
            sweep = api.sweep_depth(depths, seeds, bool(options["fine_tuned"]), **hooks, **parameters)
            figure = plot_sweep(sweep.points(), "freeze_depth", "blocks copied (n)",
                                title="Target test accuracy against the number of copied blocks")
        else:
            sweep = api.sweep_budget(budgets, seeds, modes, **hooks, **parameters)
            figure = plot_sweep(sweep.points(), "per_class", "labels per class", log_x=True,
                                title="Data efficiency: test accuracy against labels per class")
    finally:
        overall.close()
    print(sweep.format_table())
    differences = format_paired_differences(sweep.differences(), BASELINE_SERIES, detect)
    if differences:
        print(f"\n{differences}")
    write_figure(figure, figure_path, sweep.describe())
    print(f"figure: {figure_path}")
    return study_exit_code(f"sweep-{kind}", sweep.failures)


def lr_find_command(arguments: argparse.Namespace) -> int:
    """`workbench lr-find`: the learning-rate range test; prints the suggestion, writes the figure."""
    from workbench import api
    from workbench.config import RunConfig
    from workbench.figures import plot_lr_find

    parameters = collect_parameters(arguments, skip=("min_lr", "max_lr", "steps", "figure"))
    runs_dir = parameters.get("runs_dir") or RunConfig.runs_dir
    check_writable_folder(runs_dir, "--runs-dir", RUNS_DIR_EXAMPLE)
    if parameters.get("source"):
        check_source_argument(parameters["source"], runs_dir, "--source")
    if arguments.figure:
        check_writable_file(arguments.figure, "--figure", f"{RUNS_DIR_EXAMPLE}/lr-find.html")
    result = api.lr_find(arguments.min_lr, arguments.max_lr, arguments.steps, **parameters)
    print(f"suggested learning rate: {result['suggestion']:.3g} "
          f"({len(result['losses'])} steps from {arguments.min_lr:g} to {result['learning_rates'][-1]:.3g})")
    figure_path = arguments.figure or str(Path(result["config"]["runs_dir"]) / "lr-find.html")
    write_figure(plot_lr_find(result), figure_path, f"lr-find on {result['config']['task']}")
    print(f"figure: {figure_path}")
    return 0


def rank_command(arguments: argparse.Namespace) -> int:
    """`workbench rank`: transferability scores before training; with --verify, checked by real fine-tunes."""
    from tqdm import tqdm

    from workbench import api
    from workbench.config import resolve_seeds
    from workbench.text_tables import format_block_scores, format_source_ranking, format_verification

    sources = split_items(arguments.sources)
    if not sources:
        raise WorkbenchError("--sources is empty. Pass one or more source runs, e.g. --sources runs/source.")
    seeds = resolve_seeds(arguments.seeds)
    check_folder = check_writable_folder if arguments.verify else check_readable_folder
    check_folder(arguments.runs_dir, "--runs-dir", RUNS_DIR_EXAMPLE)
    for source in sources:
        check_source_argument(source, arguments.runs_dir, "--sources")
    ranked = api.rank(sources, arguments.task, per_class=arguments.per_class, seed=arguments.seed,
                      runs_dir=arguments.runs_dir, data_root=arguments.data_root, preset=arguments.preset)
    if ranked["block_scores"] is not None:
        print(format_block_scores(ranked["block_scores"]))
    else:
        print(format_source_ranking(ranked["ranking"]))
    if not arguments.verify:
        return 0
    progress = tqdm(desc="verify", unit="run", dynamic_ncols=True)
    try:
        verified = api.verify_rank(ranked, epochs=arguments.epochs, seeds=seeds,
                                   on_run_done=lambda run: progress.update(1), jobs=arguments.jobs,
                                   cluster=arguments.cluster)
    finally:
        progress.close()
    print()
    print(f"verification ({verified.get('describe', '')}):")
    candidates = "cut points" if ranked["block_scores"] is not None else "sources"
    print(format_verification(verified["correlations"], candidates))
    failures = verified.get("failures", [])
    if failures:
        from workbench.engine import format_failures

        print("\n".join(format_failures(failures)))
    return study_exit_code("rank", failures)


def study_exit_code(command: str, failures: Any) -> int:
    """0, or 1 with a line on stderr when runs of the study failed (its table lists them and leaves them out)."""
    if not failures:
        return 0
    print(f"workbench {command}: {len(failures)} run(s) failed (listed above); the numbers are from the others.",
          file=sys.stderr)
    return 1


def start_distribution(strategy: str, jobs: Any = 1, cluster: Any = None) -> None:
    """Set up a multi-worker strategy before anything else in this process runs TensorFlow.

    Only multiworker needs that; the other strategies are created by each run, in the process
    that trains it (creating one here would take the GPUs for a process that, with -j N or a
    cluster, only hands runs to its workers).
    """
    if strategy != "multiworker":
        return
    from workbench.config import resolve_cluster

    address = resolve_cluster(cluster)
    if address is not None:
        raise WorkbenchError(
            f"strategy='multiworker' trains each run on every machine in TF_CONFIG together, so its runs cannot "
            f"also be handed out to the Dask cluster at {address}. Pass --cluster local (or unset "
            "WORKBENCH_CLUSTER) with --strategy multiworker, or --strategy default to train on the cluster."
        )
    if isinstance(jobs, int) and jobs > 1:
        raise WorkbenchError(
            f"strategy='multiworker' trains each run on every worker of the cluster together, so the runs cannot "
            f"also be shared among -j {jobs} local processes. Pass -j 1 (the default) with --strategy multiworker."
        )
    from workbench.devices import distribution_strategy

    distribution_strategy(strategy)


def write_figure(figure: Any, path: str, caption: str) -> None:
    """Offline HTML with plotly.js inlined (no CDN), written atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    figure.update_layout(meta={"caption": caption})
    figure.write_html(temporary, include_plotlyjs=True, full_html=True)
    os.replace(temporary, target)


def _timestamp() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
