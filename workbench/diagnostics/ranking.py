"""Scoring cut points and source models for a target task, and checking the scores against real fine-tunes.

`score_blocks` scores every *cut point* of a source model (freeze depth k uses the features at
the output of the k-th block; depth 0 uses the input images) and suggests a freeze depth;
`rank_sources` ranks several source runs. `verify_scores`, `verify_cut_points` and
`verify_source_ranking` say how well each score predicted the fine-tuned accuracies, as Kendall's
τ, weighted τ (as thuml's Transfer-Learning-Library model-selection benchmark reports it) and
Spearman's ρ; the fine-tunes themselves are trained by `workbench.verification`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.data import check_data_root, prepare_task
from workbench.diagnostics.activations import INPUT_CUT, PENULTIMATE_CUT, block_activations, subsample_indices
from workbench.diagnostics.scores import (
    DEFAULT_LOGME_CONVENTION,
    check_logme_convention,
    leep,
    linear_probe_accuracy,
    logme,
    softmax,
)
from workbench.errors import ConfigError
from workbench.formatting import to_float
from workbench.runs import Run, as_run
from workbench.sweeps import SWEEP_SERIES_FROZEN

BLOCK_SCORES = ("logme", "probe_accuracy")
SOURCE_SCORES = ("logme", "leep", "probe_accuracy")
DEFAULT_TOLERANCE = 0.02


def score_blocks(
    source: Any,
    task: str,
    per_class: int | None = None,
    seed: int = 0,
    max_examples: int | None = 500,
    validation_split: float = 0.1,
    tolerance: float = DEFAULT_TOLERANCE,
    runs_dir: str | Path = "runs",
    logme_convention: str = DEFAULT_LOGME_CONVENTION,
    data_root: str | None = None,
) -> dict[str, Any]:
    """Score every cut point of a source model on a target task, without training, and suggest a freeze depth.

    Cut point k (freeze depth k) is scored on the features the trainable part would receive:
    the output of the k-th block, or the adapted input images for k = 0. LogME uses the target's
    training images (the label budget); the linear probe is fitted on them and scored on the
    validation split (the test split stays untouched for final evaluation). LEEP is computed once,
    from the source head's softmax on the training images.

    Args:
        source: a source `Run`, its path or name under `runs_dir`, or a Keras model.
        task: the target task, `DATASET[:CLASSES]`.
        per_class: label budget per class, as for training; None uses every example. Defaults to None.
        seed: seeds the splits, the budget draw and the subsample. Defaults to 0.
        max_examples: training (and validation) images used at most, subsampled. Defaults to 500.
        validation_split: fraction held out to score the probe; must be > 0. Defaults to 0.1.
        tolerance: accuracy a deeper cut may lose and still count as near the best (see
            `suggest_freeze_depth`). Defaults to 0.02.
        runs_dir: where bare run names are looked up. Defaults to "runs".
        logme_convention: "workbench" (exact evidence) or "reference" (thuml/LogME, the
            published tables); they part where a cut point's features are wider than the
            training examples (`diagnostics.scores.logme_details`). Defaults to "workbench".
        data_root: a folder copy of the task's keras.datasets dataset, as for training
            (`RunConfig.data_root`); None downloads. Defaults to None.

    Returns:
        {"source", "source_path", "task", "per_class", "seed", "data_root", "classes", "source_classes" (the
        source head's classes, which LEEP sees), "train_examples", "validation_examples", "leep",
        "logme_convention", "cut_points": [{"freeze_depth", "block", "features", "logme",
        "probe_accuracy", "seconds"}], "suggested_freeze_depth", "suggestion_rule", "seconds"}.
        One cut point per freeze depth 0..(blocks below the head), i.e. one per block.

    Raises:
        ConfigError: validation_split of 0 (nothing to score the probe on), or an unknown LogME
            convention.
        WorkbenchError: an unknown task or source run.
    """
    # Here, not at the top: models and transfer_modes import Keras; the scores above need no TensorFlow.
    from workbench.models import model_blocks
    from workbench.transfer_modes import max_freeze_depth

    started = time.perf_counter()
    _check_convention(logme_convention)
    if not validation_split > 0:
        raise ConfigError(f"validation_split={validation_split} leaves no validation images to score the linear "
                          "probe on. Pass validation_split=0.1, for example.")
    data_root = check_data_root(data_root, task)
    name, path, model, _ = _describe_source(source, runs_dir)
    blocks = model_blocks(model)
    cuts = [INPUT_CUT] + [block.name for block in blocks[:max_freeze_depth(blocks)]]
    data = prepare_task(task, per_class, validation_split, seed, data_root)
    train_images, train_labels = _subsample(data.train, max_examples, seed)
    validation_images, validation_labels = _subsample(data.validation, max_examples, seed)
    train, validation = _split_activations(model, train_images, validation_images, cuts + ["head"])
    rows = _score_cut_points(cuts, train, train_labels, validation, validation_labels, logme_convention)
    suggestion = suggest_freeze_depth(rows, "probe_accuracy", tolerance, len(validation_labels))
    return {"source": name, "source_path": path, "task": task, "per_class": per_class, "seed": seed,
            "data_root": data_root, "classes": list(data.class_names), "source_classes": int(train["head"].shape[1]),
            "train_examples": int(len(train_labels)), "validation_examples": int(len(validation_labels)),
            "leep": leep(softmax(train["head"]), train_labels), "logme_convention": logme_convention,
            "cut_points": rows,
            "suggested_freeze_depth": suggestion,
            "suggestion_rule": describe_suggestion_rule("probe_accuracy", tolerance, len(validation_labels)),
            "seconds": round(time.perf_counter() - started, 3)}


def _score_cut_points(cuts: Sequence[str], train: Mapping[str, np.ndarray], train_labels: np.ndarray,
                      validation: Mapping[str, np.ndarray], validation_labels: np.ndarray,
                      logme_convention: str = DEFAULT_LOGME_CONVENTION) -> list[dict[str, Any]]:
    """One row per cut point (its freeze depth is its position): LogME and probe accuracy, timed."""
    rows = []
    for depth, cut in enumerate(cuts):
        cut_started = time.perf_counter()
        score = logme(train[cut], train_labels, logme_convention)
        accuracy = linear_probe_accuracy(train[cut], train_labels, validation[cut], validation_labels)
        rows.append({"freeze_depth": depth, "block": cut, "features": int(train[cut].shape[1]), "logme": score,
                     "probe_accuracy": accuracy, "seconds": round(time.perf_counter() - cut_started, 3)})
    return rows


def suggest_freeze_depth(
    cut_points: Sequence[Mapping[str, Any]],
    score: str = "probe_accuracy",
    tolerance: float = DEFAULT_TOLERANCE,
    validation_examples: int | None = None,
) -> int:
    """The deepest freeze depth whose features still score near the best cut point.

    Freezing deeper trains fewer parameters: less to overfit on a small label budget, and faster.
    So among the cut points whose score is within the margin of the best, take the deepest. For
    probe accuracy the margin is max(`tolerance`, one binomial standard error of the best
    accuracy on `validation_examples` images), so on a small validation set noise alone does not
    rule a deeper cut out. For LogME (`score="logme"`) the margin is `tolerance` in LogME units
    (nats per example).

    Args:
        cut_points: rows with "freeze_depth" and the score (as in `score_blocks`).
        score: "probe_accuracy" or "logme". Defaults to "probe_accuracy".
        tolerance: the smallest margin. Defaults to 0.02.
        validation_examples: images the probe accuracy was measured on. Defaults to None (no
            standard-error term).

    Returns:
        The suggested freeze depth (0 when no cut point has a finite score).
    """
    if score not in BLOCK_SCORES:
        raise ConfigError(f"score={score!r} is not known. Allowed: {', '.join(BLOCK_SCORES)}. "
                          "Pass score='probe_accuracy'.")
    scored = [(int(row["freeze_depth"]), float(row[score])) for row in cut_points
              if row.get(score) is not None and math.isfinite(float(row[score]))]
    if not scored:
        return 0
    best = max(value for _, value in scored)
    margin = _suggestion_margin(score, best, tolerance, validation_examples)
    return max(depth for depth, value in scored if value >= best - margin)


def _suggestion_margin(score: str, best: float, tolerance: float, validation_examples: int | None) -> float:
    if score == "probe_accuracy" and validation_examples:
        return max(tolerance, math.sqrt(max(best * (1 - best), 0.0) / validation_examples))
    return tolerance


def describe_suggestion_rule(score: str = "probe_accuracy", tolerance: float = DEFAULT_TOLERANCE,
                             validation_examples: int | None = None) -> str:
    """One sentence saying how `suggest_freeze_depth` chose, for tables and the panel."""
    name = "linear-probe accuracy" if score == "probe_accuracy" else "LogME"
    margin = f"{tolerance:g}"
    if score == "probe_accuracy" and validation_examples:
        margin = f"max({tolerance:g}, one standard error on {validation_examples} validation images)"
    return f"deepest freeze depth whose {name} is within {margin} of the best cut point"


def rank_sources(
    sources: Sequence[Any],
    task: str,
    per_class: int | None = None,
    seed: int = 0,
    max_examples: int | None = 500,
    validation_split: float = 0.1,
    runs_dir: str | Path = "runs",
    logme_convention: str = DEFAULT_LOGME_CONVENTION,
    data_root: str | None = None,
) -> list[dict[str, Any]]:
    """Rank source models for a target task by LogME at the penultimate layer (the head's input).

    LEEP and a linear probe on the same features come along; every source sees the same training
    and validation images (each adapted to its own input shape).

    Args:
        sources: source runs, their paths or names, or Keras models.
        task: the target task.
        per_class, seed, max_examples, validation_split, runs_dir, logme_convention, data_root: as
            for `score_blocks`.

    Returns:
        One row per source, best first: {"rank", "source", "source_path", "architecture",
        "source_task", "source_classes", "features", "train_examples", "logme",
        "logme_convention", "leep", "probe_accuracy", "seconds"}.

    Raises:
        ConfigError: for an empty list of sources, or an unknown LogME convention.
    """
    from workbench.models import architecture_of  # here: it imports Keras (see score_blocks)

    _check_convention(logme_convention)
    if not sources:
        raise ConfigError("rank_sources got no sources. Pass one or more source runs, e.g. ['runs/a', 'runs/b'].")
    data = prepare_task(task, per_class, validation_split, seed, check_data_root(data_root, task))
    train_images, train_labels = _subsample(data.train, max_examples, seed)
    validation_images, validation_labels = _subsample(data.validation, max_examples, seed)
    rows = []
    for source in sources:
        started = time.perf_counter()
        name, path, model, source_task = _describe_source(source, runs_dir)
        train, validation = _split_activations(model, train_images, validation_images, [PENULTIMATE_CUT, "head"])
        features = train[PENULTIMATE_CUT]
        probe = (linear_probe_accuracy(features, train_labels, validation[PENULTIMATE_CUT], validation_labels)
                 if len(validation_labels) else math.nan)
        rows.append({"source": name, "source_path": path, "architecture": architecture_of(model),
                     "source_task": source_task, "source_classes": int(train["head"].shape[1]),
                     "features": int(features.shape[1]), "train_examples": int(len(train_labels)),
                     "logme": logme(features, train_labels, logme_convention), "logme_convention": logme_convention,
                     "leep": leep(softmax(train["head"]), train_labels),
                     "probe_accuracy": probe, "seconds": round(time.perf_counter() - started, 3)})
    rows.sort(key=lambda row: -row["logme"] if math.isfinite(row["logme"]) else math.inf)
    return [{"rank": index + 1, **row} for index, row in enumerate(rows)]


def _check_convention(convention: str) -> None:
    try:
        check_logme_convention(convention)
    except ValueError as error:
        raise ConfigError(str(error).replace("convention=", "logme_convention=")) from None


def _split_activations(model: Any, train_images: np.ndarray, validation_images: np.ndarray,
                       cuts: list[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Activations of the training and validation images, from one pass (one extractor, one trace)."""
    activations = block_activations(model, np.concatenate([train_images, validation_images]), cuts, max_examples=None)
    count = len(train_images)
    return ({name: values[:count] for name, values in activations.items()},
            {name: values[count:] for name, values in activations.items()})


def _subsample(
    split: tuple[np.ndarray, np.ndarray], max_examples: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = split
    indices = subsample_indices(len(labels), max_examples, seed)
    return images[indices], labels[indices]


def _describe_source(source: Any, runs_dir: str | Path) -> tuple[str, str | None, Any, str | None]:
    """(display name, run path, model, source task) of a source given as a run, a reference or a
    model; a bare model has no run path and no known source task (None)."""
    if isinstance(source, (Run, str, Path)):
        run = as_run(source, runs_dir)
        return run.name, str(run.path), run.load_model(), run.config.get("task")
    return str(getattr(source, "name", "model")), None, source, None


def verify_scores(
    scores: Sequence[float] | Mapping[Any, float],
    accuracies: Sequence[float] | Mapping[Any, float],
    labels: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Rank correlation between predicted scores and the accuracies actually reached.

    Kendall's τ and Spearman's ρ (with their p-values) weigh every pair of candidates alike;
    weighted τ (`scipy.stats.weightedtau`, hyperbolic weights 1/(r + 1) by rank, as thuml's
    Transfer-Learning-Library model-selection benchmark and the LogME paper report it) weighs
    the pairs among the top-scored candidates most, since picking the best is what a score is
    for. It has no p-value.

    Args:
        scores: one score per candidate (cut point or source); a mapping is matched to
            `accuracies` by key.
        accuracies: the fine-tuned test accuracy of each candidate, same order (or keys).
        labels: names of the candidates, for the points. Defaults to the keys or positions.

    Returns:
        {"n" (pairs with both values finite), "kendall_tau", "kendall_p", "weighted_tau",
        "spearman_rho", "spearman_p", "points": [{"label", "score", "accuracy"}]}; the
        correlations are NaN for n < 2 or when either side is constant (no ranking to compare).

    Raises:
        ValueError: when the lengths differ, or the mappings share no key.
    """
    # Here, not at the top: scipy.stats takes about half a second to import, and only this needs it.
    from scipy import stats

    if isinstance(scores, Mapping) or isinstance(accuracies, Mapping):
        if not (isinstance(scores, Mapping) and isinstance(accuracies, Mapping)):
            raise ValueError("Pass scores and accuracies both as mappings (matched by key) or both as sequences.")
        keys = [key for key in scores if key in accuracies]
        if not keys:
            raise ValueError(f"scores ({list(scores)}) and accuracies ({list(accuracies)}) share no key. "
                             "Key both by the same candidates (freeze depth or source name).")
        labels = keys if labels is None else labels
        score_values, accuracy_values = [scores[key] for key in keys], [accuracies[key] for key in keys]
    else:
        score_values, accuracy_values = list(scores), list(accuracies)
        if len(score_values) != len(accuracy_values):
            raise ValueError(f"Got {len(score_values)} scores but {len(accuracy_values)} accuracies. "
                             "Pass one accuracy per scored candidate, in the same order.")
        labels = list(range(len(score_values))) if labels is None else labels
    points = [{"label": label, "score": to_float(score, finite=True), "accuracy": to_float(accuracy, finite=True)}
              for label, score, accuracy in zip(labels, score_values, accuracy_values)]
    usable = [point for point in points if math.isfinite(point["score"]) and math.isfinite(point["accuracy"])]
    result = {"n": len(usable), "kendall_tau": math.nan, "kendall_p": math.nan, "weighted_tau": math.nan,
              "spearman_rho": math.nan, "spearman_p": math.nan, "points": points}
    x, y = [point["score"] for point in usable], [point["accuracy"] for point in usable]
    if len(usable) >= 2 and len(set(x)) > 1 and len(set(y)) > 1:
        tau = stats.kendalltau(x, y)
        rho = stats.spearmanr(x, y)
        weighted = stats.weightedtau(x, y)
        result.update(kendall_tau=float(tau.statistic), kendall_p=float(tau.pvalue),
                      weighted_tau=float(weighted.statistic),
                      spearman_rho=float(rho.statistic), spearman_p=float(rho.pvalue))
    return result


def verify_cut_points(
    block_scores: Mapping[str, Any],
    sweep_points: Sequence[Mapping[str, Any]],
    series: str | None = None,
    scores: Sequence[str] = BLOCK_SCORES,
) -> dict[str, dict[str, Any]]:
    """Correlate each cut point's scores with a freeze-depth sweep's mean test accuracy at that depth.

    Args:
        block_scores: the result of `score_blocks`.
        sweep_points: `Sweep.points()` of `sweeps.sweep_freeze_depth` (or hand-made dicts with
            "series", "x" and "mean").
        series: which sweep series gives the accuracy at depth k. Defaults to the frozen series
            (AnB: the first k blocks copied and frozen, the rest trained), the counterpart of
            features at cut k with a trained top.
        scores: which scores to check. Defaults to LogME and probe accuracy.

    Returns:
        Score name → `verify_scores` result (points labelled by freeze depth).
    """
    series = series or SWEEP_SERIES_FROZEN
    accuracy_by_depth = {int(point["x"]): float(point["mean"]) for point in sweep_points
                         if point.get("series") == series}
    results = {}
    for name in scores:
        by_depth = {int(row["freeze_depth"]): float(row[name]) for row in block_scores["cut_points"]}
        results[name] = verify_scores(by_depth, accuracy_by_depth)
    return results


def verify_source_ranking(
    ranking: Sequence[Mapping[str, Any]],
    accuracies: Mapping[str, float],
    scores: Sequence[str] = SOURCE_SCORES,
) -> dict[str, dict[str, Any]]:
    """Correlate each source score of `rank_sources` with the accuracy each source reached when fine-tuned.

    Args:
        ranking: rows of `rank_sources`.
        accuracies: source name → fine-tuned test accuracy (e.g. a `Comparison` row's mean).
        scores: which scores to check. Defaults to LogME, LEEP and probe accuracy.

    Returns:
        Score name → `verify_scores` result (points labelled by source).
    """
    return {name: verify_scores({row["source"]: float(row[name]) for row in ranking}, dict(accuracies))
            for name in scores}
