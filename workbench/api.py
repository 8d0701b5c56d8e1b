"""The Python API: the same verbs as the command line, taking the same parameters."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from workbench.config import config_from_mapping
from workbench.experiments import DEFAULT_COMPARE_MODES, Comparison, VariantComparison, run_comparison
from workbench.runs import Run
from workbench.structure_study import DEFAULT_CUT_EDITS, DEFAULT_WIDEN_EDITS
from workbench.sweeps import Sweep, sweep_freeze_depth, sweep_label_budget


def pretrain(callbacks: Sequence[Any] = (), stop_event: threading.Event | None = None, **parameters: Any) -> Run:
    """Train a source model, e.g. `pretrain(task="mnist-5k:0-4", epochs=5, name="source")`.

    Args:
        callbacks: extra Keras callbacks.
        stop_event: set it to stop training after the current batch (the run is kept, "stopped").
        **parameters: any `RunConfig` field (task, model, epochs, seed, name, runs_dir, data_root, …),
            and `preset` (`workbench.presets`: the source task, epochs and budget it suggests fill in
            what is not given).

    Returns:
        The saved run.
    """
    from workbench.training import train_run

    return train_run(config_from_mapping(parameters, kind="pretrain"), callbacks, stop_event)


def transfer(callbacks: Sequence[Any] = (), stop_event: threading.Event | None = None, **parameters: Any) -> Run:
    """Carry a source run to a target task, e.g.
    `transfer(source="runs/source", task="mnist-5k:5-9", mode="parameter", freeze_depth=2, per_class=5)`.

    Args:
        callbacks: extra Keras callbacks.
        stop_event: set it to stop training after the current batch (the run is kept, "stopped").
        **parameters: any `RunConfig` field, and `preset` (its target task, epochs and budget fill
            in what is not given); `source` is required. `edits="cut conv2; add dense 128"` (or a
            list of items) adapts the source's architecture first, `grow_noise` adds noise to
            Net2Net-grown weights (`workbench.structure`).

    Returns:
        The saved run.
    """
    from workbench.training import train_run

    return train_run(config_from_mapping(parameters, kind="transfer"), callbacks, stop_event)


def compare(
    seeds: int | Sequence[int] = 3,
    modes: Sequence[str] = DEFAULT_COMPARE_MODES,
    run_callbacks: Callable[[Any], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
    cluster: str | None = None,
    **parameters: Any,
) -> Comparison:
    """Run structure, feature and parameter transfer on identical splits for each seed, e.g.
    `compare(source="runs/source", task="mnist-5k:5-9", per_class=5, seeds=3, epochs=10)`.

    Args:
        seeds: a count (0..n-1) or a list of seeds. Defaults to 3.
        modes: modes to compare. Defaults to structure, feature, parameter.
        run_callbacks: makes extra Keras callbacks for each run.
        on_run_done: called with each finished run.
        stop_event: once set, stops the current run and starts no more.
        jobs: runs trained at once on this machine, by an embedded Dask cluster of that many
            worker processes; callbacks then see epoch events only. Defaults to 1.
        cluster: a Dask scheduler address (`tcp://HOST:8786`) to train the runs on, "local", or
            None for the WORKBENCH_CLUSTER environment variable. Defaults to None.
        **parameters: any `RunConfig` field (source, task, per_class, epochs, freeze_depth, …,
            `edits`: every mode then transfers into the same edited architecture), and `preset`;
            `name` becomes the prefix of the run names.

    Returns:
        The comparison; `.format_table()` prints it, `.rows()` gives mean, sd and n per mode.
    """
    base = config_from_mapping({**parameters, "mode": "parameter"}, kind="transfer")
    return run_comparison(base, seeds, modes, run_callbacks, on_run_done, stop_event, jobs, cluster)


def compare_structures(
    seeds: int | Sequence[int] = 3,
    cut_edits: str | None = DEFAULT_CUT_EDITS,
    widen_edits: str | None = DEFAULT_WIDEN_EDITS,
    grow_noise: float = 0.0,
    run_callbacks: Callable[[Any], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
    cluster: str | None = None,
    **parameters: Any,
) -> VariantComparison:
    """Carry the source's architecture four ways on identical splits for each seed: fresh weights
    (the baseline), plain parameter transfer, cut-and-new-top and a widened (Net2Net) transfer, e.g.
    `compare_structures(source="runs/source", task="mnist-5k:5-9", per_class=5, seeds=3, epochs=10)`.

    Args:
        seeds: a count (0..n-1) or a list of seeds. Defaults to 3.
        cut_edits: the cut-and-new-top arm's structure edits; "" leaves the arm out. Defaults to
            "cut conv2; add dense 64".
        widen_edits: the widened arm's edits; "" leaves the arm out. Defaults to "widen dense1 to 128".
        grow_noise: the widened arm's Net2Net noise (0 keeps the function exactly). Defaults to 0.0.
        run_callbacks, on_run_done, stop_event: progress hooks and a stop flag.
        jobs: runs trained at once on this machine (an embedded Dask cluster). Defaults to 1.
        cluster: a Dask scheduler address, "local", or None for WORKBENCH_CLUSTER. Defaults to None.
        **parameters: any `RunConfig` field (source, task, per_class, epochs, freeze_depth for the
            three parameter-transfer arms, ...) but `edits` and `grow_noise`, which each arm sets,
            and `preset`; `name` becomes the prefix of the run names.

    Returns:
        The comparison (`experiments.VariantComparison`); `.format_table()` prints it, with each
        arm's paired difference from the fresh-weights baseline.

    Raises:
        ConfigError: a bad parameter, or an edit the source network cannot take, before any training.
    """
    from workbench.errors import ConfigError
    from workbench.structure_study import run_structure_study

    given = sorted(name for name in parameters if str(name).replace("-", "_") in ("edits", "grow_noise"))
    if given:
        raise ConfigError(f"compare_structures sets each arm's structure edits itself, so {', '.join(given)} cannot "
                          "be given. Pass cut_edits=\"cut conv2; add dense 64\" and "
                          "widen_edits=\"widen dense1 to 128\" (and grow_noise=) instead.")
    base = config_from_mapping({**parameters, "mode": "parameter"}, kind="transfer")
    return run_structure_study(base, seeds, base.freeze_depth, cut_edits, widen_edits, grow_noise, run_callbacks,
                               on_run_done, stop_event, jobs, cluster)


def sweep_depth(
    depths: Sequence[int] | None = None,
    seeds: int | Sequence[int] = 3,
    include_fine_tuned: bool = True,
    run_callbacks: Callable[[Any], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run, Sweep], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
    cluster: str | None = None,
    **parameters: Any,
) -> Sweep:
    """Freeze-depth sweep (Yosinski's AnB and AnB+ against the scratch baseline), e.g.
    `sweep_depth(source="runs/source", task="mnist-5k:5-9", per_class=5, seeds=3, epochs=10)`.

    Args:
        depths: the numbers of copied blocks to try. Defaults to every depth of the source model.
        seeds: a count or a list of seeds. Defaults to 3.
        include_fine_tuned: also run AnB+ (copy n blocks, fine-tune all). Defaults to True.
        run_callbacks, on_run_done, stop_event: progress hooks and a stop flag.
        jobs: runs trained at once on this machine (an embedded Dask cluster). Defaults to 1.
        cluster: a Dask scheduler address, "local", or None for WORKBENCH_CLUSTER. Defaults to None.
        **parameters: any `RunConfig` field, and `preset`; `name` becomes the prefix of the run names.

    Returns:
        The sweep; `.points()` feeds `figures.plot_sweep(points, "freeze_depth", "freeze depth")`.
    """
    base = config_from_mapping({**parameters, "mode": "parameter"}, kind="transfer")
    return sweep_freeze_depth(base, depths, seeds, include_fine_tuned, run_callbacks, on_run_done, stop_event, jobs,
                              cluster)


DEFAULT_BUDGETS = (1, 2, 5, 10, 25, 50, None)


def sweep_budget(
    budgets: Sequence[int | None] | None = None,
    seeds: int | Sequence[int] = 3,
    modes: Sequence[str] = DEFAULT_COMPARE_MODES,
    run_callbacks: Callable[[Any], Sequence[Any]] | None = None,
    on_run_done: Callable[[Run, Sweep], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
    cluster: str | None = None,
    **parameters: Any,
) -> Sweep:
    """Label-budget sweep (the data-efficiency curve), e.g.
    `sweep_budget(source="runs/source", task="mnist-5k:5-9", budgets=[1, 5, 25], seeds=3)`.

    Args:
        budgets: labels per class; None (or "all") in the list uses every example. Defaults to the
            preset's budgets with `preset=`, else 1, 2, 5, 10, 25, 50, all.
        seeds: a count or a list of seeds. Defaults to 3.
        modes: modes to run at each budget. Defaults to structure, feature, parameter.
        run_callbacks, on_run_done, stop_event: progress hooks and a stop flag.
        jobs: runs trained at once on this machine (an embedded Dask cluster). Defaults to 1.
        cluster: a Dask scheduler address, "local", or None for WORKBENCH_CLUSTER. Defaults to None.
        **parameters: any `RunConfig` field, and `preset`.

    Returns:
        The sweep; `.points()` feeds `figures.plot_sweep(points, "per_class", "labels per class", log_x=True)`.
    """
    from workbench.presets import preset_budgets

    if budgets is None:
        budgets = preset_budgets(parameters.get("preset")) or DEFAULT_BUDGETS
    base = config_from_mapping({**parameters, "mode": "parameter"}, kind="transfer")
    return sweep_label_budget(base, budgets, seeds, modes, run_callbacks, on_run_done, stop_event, jobs, cluster)


def lr_find(min_lr: float = 1e-6, max_lr: float = 1.0, steps: int = 100, **parameters: Any) -> dict[str, Any]:
    """The learning-rate range test on exactly the model and data a run with these parameters
    would train, e.g. `lr_find(source="runs/source", task="mnist-5k:5-9", mode="parameter")`.
    Nothing is saved; the model's weights are restored afterwards.

    Args:
        min_lr, max_lr: the range swept exponentially. Defaults to 1e-6 and 1.
        steps: batches to try. Defaults to 100.
        **parameters: any `RunConfig` field; without `source` it tests a pretraining run.

    Returns:
        learning_rates, losses, smoothed_losses and suggestion; `figures.plot_lr_find` draws it.

    Raises:
        ConfigError: for a range that is not 0 < min_lr < max_lr, fewer than 2 steps, or a bad parameter.
    """
    from workbench.fine_tuning import find_learning_rate
    from workbench.training import compile_plan, prepare_run

    _check_lr_range(min_lr, max_lr, steps)
    kind = "transfer" if parameters.get("source") else "pretrain"
    prepared = prepare_run(config_from_mapping(parameters, kind=kind))
    compile_plan(prepared)  # under the run's strategy, like a real run
    result = find_learning_rate(prepared.model, prepared.pipeline("train", shuffle=True), min_lr, max_lr, steps)
    result["config"] = prepared.config.to_dict()
    return result


def _check_lr_range(min_lr: Any, max_lr: Any, steps: Any) -> None:
    """The learning-rate finder sweeps geometrically upwards: 0 < min_lr < max_lr, at least 2 steps."""
    from workbench.errors import ConfigError

    numbers = [value for value in (min_lr, max_lr) if isinstance(value, (int, float)) and not isinstance(value, bool)]
    if len(numbers) < 2 or not 0 < min_lr < max_lr <= 10:
        raise ConfigError(
            f"min_lr={min_lr!r}, max_lr={max_lr!r} is not a range 0 < min_lr < max_lr <= 10 to sweep upwards. "
            "Pass e.g. --min-lr 1e-6 --max-lr 1."
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ConfigError(f"steps={steps!r} must be a whole number of at least 2 batches. Pass e.g. --steps 100.")


# ------------------------------------------------------------------------------------------------
# The other command-line verbs (resume, rank, report): the CLI parses and calls these.
# ------------------------------------------------------------------------------------------------


def resume(
    name: str,
    runs_dir: str = "runs",
    callbacks: Sequence[Any] = (),
    stop_event: threading.Event | None = None,
) -> Run:
    """Continue a run that was killed after at least one finished epoch, e.g. `resume("source")`.

    Args:
        name: the run's name.
        runs_dir: the folder holding its temporary directory. Defaults to "runs".
        callbacks: extra Keras callbacks.
        stop_event: set it to stop training after the current batch.

    Returns:
        The saved run, with one continuous history.
    """
    from workbench.training import resume_run

    return resume_run(name, runs_dir, callbacks=callbacks, stop_event=stop_event)


def interrupted_runs(runs_dir: str = "runs") -> dict[str, Any]:
    """Runs killed after at least one finished epoch, which `resume` can continue: name → temporary folder."""
    from workbench.training import interrupted_runs as find_interrupted_runs

    return find_interrupted_runs(runs_dir)


def rank(
    sources: str | Sequence[str],
    task: str | None = None,
    per_class: int | None = None,
    seed: int = 0,
    runs_dir: str = "runs",
    data_root: str | None = None,
    preset: str | None = None,
) -> dict[str, Any]:
    """Transferability scores before any training, e.g. `rank(["runs/source"], "mnist-5k:5-9", per_class=5)`.

    One source: LogME, LEEP and a linear probe at every cut point, and a suggested freeze depth
    (`diagnostics.score_blocks`). Several: a ranking of the sources by LogME at the penultimate
    layer (`diagnostics.rank_sources`).

    Args:
        sources: one source run or several.
        task: the target task. Defaults to the preset's target task, else "mnist-5k:5-9".
        per_class: target labels per class; None takes the preset's, else all. Defaults to None.
        seed: seed of the label-budget draw. Defaults to 0.
        runs_dir: where bare run names are looked up. Defaults to "runs".
        data_root: a folder copy of the task's keras.datasets dataset (`RunConfig.data_root`).
            Defaults to None (download).
        preset: a task-distance preset (`workbench.presets`) whose target task and label budget
            fill in `task` and `per_class` where they are None. Defaults to None.

    Returns:
        sources, task, per_class, data_root, runs_dir, and either block_scores (one source) or
        ranking (several); the other is None. `verify_rank` takes this dict.
    """
    from workbench import diagnostics
    from workbench.config import DEFAULT_TARGET_TASK
    from workbench.data import check_data_root
    from workbench.presets import TARGET, apply_preset

    chosen = apply_preset({"task": task, "per_class": per_class, "preset": preset}, TARGET)
    task, per_class = chosen.get("task") or DEFAULT_TARGET_TASK, chosen.get("per_class")
    data_root = check_data_root(data_root, task)
    names = [sources] if isinstance(sources, str) else list(sources)
    common = {"per_class": per_class, "seed": seed, "runs_dir": runs_dir, "data_root": data_root}
    ranked: dict[str, Any] = {"sources": names, "task": task, "per_class": per_class, "data_root": data_root,
                              "runs_dir": runs_dir, "block_scores": None, "ranking": None}
    if len(names) == 1:
        ranked["block_scores"] = diagnostics.score_blocks(names[0], task, **common)
    else:
        ranked["ranking"] = diagnostics.rank_sources(names, task, **common)
    return ranked


def verify_rank(
    ranked: dict[str, Any],
    epochs: int = 3,
    seeds: int | Sequence[int] = 1,
    on_run_done: Callable[[Run], None] | None = None,
    stop_event: threading.Event | None = None,
    jobs: int = 1,
    cluster: str | None = None,
) -> dict[str, Any]:
    """Fine-tune for real behind a `rank` result and say how well each score ranked the outcomes.

    Args:
        ranked: what `rank` returned.
        epochs: epochs per fine-tune. Defaults to 3.
        seeds: a count or a list of seeds. Defaults to 1.
        on_run_done: called with each finished run.
        stop_event: once set, stops the current run and starts no more.
        jobs: runs trained at once on this machine (an embedded Dask cluster). Defaults to 1.
        cluster: a Dask scheduler address, "local", or None for WORKBENCH_CLUSTER. Defaults to None.

    Returns:
        The verification; `correlations` holds Kendall tau and Spearman rho per score.
    """
    from workbench.verification import verify_by_training, verify_sources_by_training

    def done(run: Run, *rest: Any) -> None:
        if on_run_done is not None:
            on_run_done(run)

    if ranked["block_scores"] is not None:
        return verify_by_training(ranked["block_scores"], epochs=epochs, seeds=seeds, runs_dir=ranked["runs_dir"],
                                  on_run_done=done, stop_event=stop_event, jobs=jobs, cluster=cluster)
    return verify_sources_by_training(
        ranked["ranking"], ranked["task"], per_class=ranked["per_class"], epochs=epochs, seeds=seeds,
        runs_dir=ranked["runs_dir"], on_run_done=done, stop_event=stop_event, jobs=jobs, cluster=cluster,
        data_root=ranked.get("data_root"))


def report(
    config_path: str = "reports/config.yaml",
    output_dir: str | None = None,
    parameters: dict[str, Any] | None = None,
    quick: bool = False,
    **options: Any,
) -> tuple[Any, list[Any]]:
    """Run the report notebooks with papermill and render them to offline HTML, e.g. `report(quick=True)`.

    Args:
        config_path: the report set. Defaults to "reports/config.yaml".
        output_dir: where reports and index.html go; None takes the config's. Defaults to None.
        parameters: papermill parameters for every notebook that declares them. Defaults to None.
        quick: use the config's tiny `quick` parameters. Defaults to False.
        **options: parameters_file, kernel, timeout, jobs, log_output, command, baseline (an
            earlier report's folder or index.json to compare every key figure with), cache (False
            runs every notebook and trains every run again) (see `reports.build_reports`).

    Returns:
        (plan, results): `plan.index_path` is the index; one result per notebook
        (`result.regressed` against a baseline, `result.reused` when kept unchanged).
    """
    from workbench.reports import build_reports

    return build_reports(config_path=config_path, output_dir=output_dir, parameters=parameters, quick=quick,
                         **options)
