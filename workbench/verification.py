"""Verify transferability scores by training: run the real fine-tunes behind them and correlate.

A study, like `workbench.experiments` and `workbench.sweeps`, whose machinery it reuses: the
scores come from `workbench.diagnostics` (which trains nothing), the fine-tunes from a freeze-depth
sweep (`verify_by_training`) or one comparison per source (`verify_sources_by_training`), and the
verdict from `diagnostics.verify_cut_points` / `verify_source_ranking`: Kendall's τ and
Spearman's ρ between each score and the fine-tuned test accuracies.

    scores = diagnostics.score_blocks("runs/source", "mnist-5k:5-9", per_class=5)
    verified = verification.verify_by_training(scores, epochs=3, seeds=2)
    print(text_tables.format_verification(verified["correlations"]))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench import experiments, sweeps
from workbench.config import config_from_mapping
from workbench.diagnostics.ranking import verify_cut_points, verify_source_ranking
from workbench.errors import ConfigError
from workbench.statistics import summarize

__all__ = ["verify_by_training", "verify_sources_by_training"]


def verify_by_training(
    block_scores: Mapping[str, Any],
    epochs: int = 3,
    seeds: int | Sequence[int] = 1,
    depths: Sequence[int] | None = None,
    runs_dir: str | Path = "runs",
    name: str | None = None,
    on_run_done: Callable[..., Any] | None = None,
    stop_event: Any = None,
    jobs: int = 1,
    cluster: str | None = None,
    **parameters: Any,
) -> dict[str, Any]:
    """Run the real fine-tunes behind a `score_blocks` result and report how well each score ranked them.

    Reuses `sweeps.sweep_freeze_depth` (the frozen AnB series only, plus its structure
    baseline) with the same source, task, label budget and validation split as the scores.

    Args:
        block_scores: a `score_blocks` result for a source *run* (it needs the run's path).
        epochs: epochs per fine-tune. Defaults to 3.
        seeds: a count or a list of seeds; accuracies are averaged over them. Defaults to 1.
        depths: freeze depths to train. Defaults to every scored cut point.
        runs_dir: where the sweep's runs are written. Defaults to "runs".
        name: prefix of the run names. Defaults to a time stamp.
        on_run_done, stop_event: progress hook (run, sweep) and stop flag, as for the sweep.
        jobs: fine-tunes trained at once on this machine (an embedded Dask cluster). Defaults to 1.
        cluster: a Dask scheduler address, "local", or None for WORKBENCH_CLUSTER. Defaults to None.
        **parameters: further `RunConfig` fields (learning_rate, batch_size, …).

    Returns:
        {"correlations": score name → `verify_scores` result, "points": the sweep's points,
        "runs": run names, "describe": how the sweep ran, "stopped", "failures": the
        `engine.RunFailure`s of runs whose worker died}.

    Raises:
        ConfigError: when the scores came from a bare model rather than a run.
    """
    if not block_scores.get("source_path"):
        raise ConfigError("These scores were computed for a model, not a source run, so nothing can be fine-tuned. "
                          "Score a run: score_blocks('runs/source', task).")
    base = config_from_mapping({
        **parameters, "source": block_scores["source_path"], "task": block_scores["task"],
        "per_class": block_scores.get("per_class"), "seed": block_scores.get("seed", 0), "epochs": epochs,
        "data_root": block_scores.get("data_root"), "runs_dir": str(runs_dir), "name": name, "mode": "parameter"},
        kind="transfer")
    depth_list = [int(row["freeze_depth"]) for row in block_scores["cut_points"]] if depths is None else list(depths)
    sweep = sweeps.sweep_freeze_depth(base, depth_list, seeds, include_fine_tuned=False,
                                      on_run_done=on_run_done, stop_event=stop_event, jobs=jobs, cluster=cluster)
    points = sweep.points()
    return {"correlations": verify_cut_points(block_scores, points), "points": points,
            # The structure baseline is drawn at every depth but trained once: list each run once.
            "runs": list(dict.fromkeys(run.name for run in sweep.runs)), "describe": sweep.describe(),
            "stopped": sweep.stopped, "failures": sweep.failures}


def verify_sources_by_training(
    ranking: Sequence[Mapping[str, Any]],
    task: str,
    per_class: int | None = None,
    epochs: int = 3,
    seeds: int | Sequence[int] = 1,
    mode: str = "parameter",
    runs_dir: str | Path = "runs",
    name: str | None = None,
    on_run_done: Callable[..., Any] | None = None,
    stop_event: Any = None,
    jobs: int = 1,
    cluster: str | None = None,
    **parameters: Any,
) -> dict[str, Any]:
    """Fine-tune every ranked source on the task and report how well each score ranked them.

    Each source runs through `experiments.run_comparison` with the one `mode` (same seeds, so the
    same splits and label budget for every source); its accuracy is the mean test accuracy over
    the seeds.

    Args:
        ranking: rows of `rank_sources` for source *runs* (each needs its "source_path").
        task: the target task the sources were ranked on.
        per_class: the label budget they were ranked with. Defaults to None (all labels).
        epochs: epochs per fine-tune. Defaults to 3.
        seeds: a count or a list of seeds. Defaults to 1.
        mode: the transfer mode to verify with. Defaults to "parameter" (fine-tune everything).
        runs_dir: where the runs are written. Defaults to "runs".
        name: prefix of the run names; each source's name is appended. Defaults to a time stamp.
        on_run_done, stop_event: called with each finished run; stop flag.
        jobs: a source's seeds trained at once on this machine (an embedded Dask cluster). Defaults to 1.
        cluster: a Dask scheduler address, "local", or None for WORKBENCH_CLUSTER. Defaults to None.
        **parameters: further `RunConfig` fields (freeze_depth, learning_rate, …).

    Returns:
        {"correlations": score name → `verify_scores` result, "accuracies": source → mean test
        accuracy, "runs": run names, "stopped", "failures": the `engine.RunFailure`s}.

    Raises:
        ConfigError: for a ranked model that is not a run.
    """
    missing = [str(row.get("source")) for row in ranking if not row.get("source_path")]
    if missing:
        raise ConfigError(f"Source(s) {', '.join(missing)} were ranked as models, not runs, so they cannot be "
                          "fine-tuned. Rank source runs: rank_sources(['runs/a', 'runs/b'], task).")
    prefix = name or f"verify-sources-{experiments.study_stamp()}"
    shared = {**parameters, "task": task, "per_class": per_class, "epochs": epochs, "runs_dir": str(runs_dir),
              "mode": "parameter"}
    accuracies: dict[str, float] = {}
    runs: list[str] = []
    failures: list[Any] = []
    stopped = False
    for row in ranking:
        if stop_event is not None and stop_event.is_set():
            stopped = True
            break
        comparison = _fine_tune_source(row, prefix, shared, seeds, mode, on_run_done, stop_event, jobs, cluster)
        accuracies[str(row["source"])] = summarize([run.test_accuracy for run in comparison.runs])["mean"]
        runs += [run.name for run in comparison.runs]
        stopped = stopped or comparison.stopped
        failures += comparison.failures
    return {"correlations": verify_source_ranking(ranking, accuracies), "accuracies": accuracies, "runs": runs,
            "stopped": stopped, "failures": failures}


def _fine_tune_source(row: Mapping[str, Any], prefix: str, shared: Mapping[str, Any], seeds: int | Sequence[int],
                      mode: str, on_run_done: Callable[..., Any] | None, stop_event: Any, jobs: int,
                      cluster: str | None = None) -> Any:
    """The comparison (one mode, every seed) that fine-tunes one ranked source, runs named prefix-source."""
    base = config_from_mapping({**shared, "source": row["source_path"], "name": f"{prefix}-{row['source']}"},
                               kind="transfer")
    return experiments.run_comparison(base, seeds, [mode], on_run_done=on_run_done, stop_event=stop_event, jobs=jobs,
                                      cluster=cluster)
