"""Runs in MLflow: parameters, per-epoch metrics, the run directory as artifacts, and tags.

`workbench export mlflow RUNS_DIR` makes one MLflow run per workbench run, in the experiment
"workbench" of the tracking store (by default a SQLite file in the current folder,
`sqlite:///mlruns.db`, with artifacts in `mlruns/` beside it). Each MLflow run is tagged with the
workbench run's fingerprint (`collect.run_fingerprint`); exporting again finds that tag and skips
the run, so nothing is duplicated, and a run trained again under the same name is a new MLflow run.

MLflow is an optional extra (`pip install -e '.[mlflow]'`); without it the export says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ExportError
from workbench.export.collect import NamedRun, collect_runs, created_seconds, measurement, run_fingerprint
from workbench.runs import HISTORY_COLUMNS, Run

DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
DEFAULT_EXPERIMENT = "workbench"
FINGERPRINT_TAG = "workbench.fingerprint"
INSTALL_HINT = "pip install -e '.[mlflow]'"
# Workbench run status → MLflow run status.
RUN_STATUS = {"finished": "FINISHED", "stopped": "KILLED", "failed": "FAILED"}
# Per-epoch history columns logged as metrics (step = epoch); "epoch" and "partial" are not measurements.
EPOCH_METRICS = tuple(column for column in HISTORY_COLUMNS if column not in ("epoch", "partial"))
FINAL_METRICS = ("test_accuracy", "test_loss", "best_val_accuracy")
BATCH_LIMIT = 1000  # MLflow's most metrics per log_batch call


@dataclass
class MlflowExport:
    """What `export_mlflow` did.

    Args:
        tracking_uri: the tracking store written to.
        experiment_id: the experiment's id there.
        exported: names of the runs created now.
        skipped: names of the runs that were there already (same fingerprint).
        run_ids: run name → MLflow run id, for both.
    """

    tracking_uri: str
    experiment_id: str
    exported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    run_ids: dict[str, str] = field(default_factory=dict)


def import_mlflow() -> Any:
    """The `mlflow` module.

    Raises:
        ExportError: when MLflow is not installed, naming the command that installs it.
    """
    try:
        import mlflow
    except ImportError as error:
        raise ExportError(
            f"MLflow is not installed in this environment ({error}). It is an optional extra of the workbench: "
            f"install it with `{INSTALL_HINT}` (`make setup` does), then run the export again."
        ) from None
    return mlflow


def export_mlflow(
    runs_dir: str | Path,
    tracking_uri: str = DEFAULT_TRACKING_URI,
    experiment: str = DEFAULT_EXPERIMENT,
) -> MlflowExport:
    """Export every run under `runs_dir` to MLflow, skipping runs exported before.

    Args:
        runs_dir: a folder of run directories (at any depth) or one run directory.
        tracking_uri: the MLflow tracking store. Defaults to "sqlite:///mlruns.db" (in the current
            folder; its artifacts go to `mlruns/` beside the file).
        experiment: the MLflow experiment, created if missing. Defaults to "workbench".

    Returns:
        What was exported and what was already there.

    Raises:
        ExportError: when there are no runs, MLflow is missing, or the store cannot be used.
    """
    named_runs = collect_runs(runs_dir)
    mlflow = import_mlflow()
    for noisy in ("mlflow", "alembic"):  # the store's set-up lines on first use
        logging.getLogger(noisy).setLevel(logging.WARNING)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiment_id = _experiment_id(client, tracking_uri, experiment)
    existing = _exported_fingerprints(client, experiment_id)
    result = MlflowExport(tracking_uri, experiment_id)
    for named in named_runs:
        fingerprint = run_fingerprint(named.run)
        if fingerprint in existing:
            result.skipped.append(named.name)
            result.run_ids[named.name] = existing[fingerprint]
            continue
        result.run_ids[named.name] = _export_run(client, experiment_id, named, fingerprint)
        result.exported.append(named.name)
    return result


def _experiment_id(client: Any, tracking_uri: str, name: str) -> str:
    try:
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        return str(client.create_experiment(name, artifact_location=_artifact_location(tracking_uri)))
    except Exception as error:  # noqa: BLE001 - any store failure gets one readable message
        raise ExportError(
            f"The MLflow tracking store {tracking_uri!r} cannot be used ({type(error).__name__}: "
            f"{str(error)[:300]}). Pass --tracking-uri with a store you can write to, e.g. "
            f"{DEFAULT_TRACKING_URI} (a file in the current folder) or http://127.0.0.1:5000 (an MLflow server)."
        ) from None


def _artifact_location(tracking_uri: str) -> str | None:
    """For a SQLite store, artifacts go to `mlruns/` beside the database file (MLflow's own default
    would be `mlruns/` in whatever folder the command runs in); other stores decide for themselves."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix) or tracking_uri == f"{prefix}:memory:":
        return None
    database = Path(tracking_uri[len(prefix):]).expanduser().resolve()
    return (database.parent / "mlruns").as_uri()


def _exported_fingerprints(client: Any, experiment_id: str) -> dict[str, str]:
    """Fingerprint → MLflow run id of every active run in the experiment that the workbench exported."""
    found: dict[str, str] = {}
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string=f"tags.`{FINGERPRINT_TAG}` != ''",
                                  max_results=1000, page_token=token)
        for mlflow_run in page:
            fingerprint = mlflow_run.data.tags.get(FINGERPRINT_TAG)
            if fingerprint:
                found[fingerprint] = mlflow_run.info.run_id
        token = page.token
        if not token:
            return found


def _export_run(client: Any, experiment_id: str, named: NamedRun, fingerprint: str) -> str:
    """One MLflow run: created, filled, ended; the fingerprint tag last, so that a run cut short is
    exported again next time (and the partial one is deleted at once)."""
    from mlflow.entities import Metric, Param, RunTag

    run = named.run
    created = created_seconds(run)
    started = round(created * 1000) if created is not None else None
    mlflow_run = client.create_run(experiment_id, start_time=started, run_name=named.name, tags=run_tags(named))
    run_id = mlflow_run.info.run_id
    try:
        params = [Param(key, value) for key, value in run_parameters(run.config).items()]
        metrics = [Metric(key, value, started or 0, step) for key, value, step in run_metrics(run)]
        client.log_batch(run_id, params=params)
        for start in range(0, len(metrics), BATCH_LIMIT):
            client.log_batch(run_id, metrics=metrics[start:start + BATCH_LIMIT])
        client.log_artifacts(run_id, str(run.path), artifact_path="run")
        ended = started + round(float(run.manifest.get("total_seconds") or 0) * 1000) if started else None
        client.set_terminated(run_id, RUN_STATUS.get(run.status, "FINISHED"), end_time=ended)
        client.log_batch(run_id, tags=[RunTag(FINGERPRINT_TAG, fingerprint)])
    except BaseException:
        client.delete_run(run_id)
        raise
    return str(run_id)


def run_parameters(config: Mapping[str, Any]) -> dict[str, str]:
    """A run's config fields as MLflow parameters: text as it is, everything else as JSON
    (0.001, null, true, [32, 32, 3]).

    Args:
        config: the run's `config.json`.
    """
    return {name: value if isinstance(value, str) else json.dumps(value) for name, value in config.items()}


def run_metrics(run: Run) -> list[tuple[str, float, int]]:
    """(name, value, step) of a run's metrics: every history column per epoch (step = epoch), then
    test accuracy, test loss and best validation accuracy at the last epoch. Missing values are left out.

    Args:
        run: the run.
    """
    rows: list[tuple[str, float, int]] = []
    for row in run.history:
        for column in EPOCH_METRICS:
            value = measurement(row.get(column))
            if value is not None:
                rows.append((column, value, int(row["epoch"])))
    last_epoch = max((int(row["epoch"]) for row in run.history), default=0)
    for name in FINAL_METRICS:
        value = measurement(run.metrics.get(name))
        if value is not None:
            rows.append((name, value, last_epoch))
    return rows


def run_tags(named: NamedRun) -> dict[str, str]:
    """Tags that say where a run came from: its kind, mode, task, status, path, source and versions."""
    run = named.run
    config, manifest = run.config, run.manifest
    versions = manifest.get("versions") or {}
    tags = {
        "workbench.run_name": named.name,
        "workbench.run_path": str(run.path.resolve()),
        "workbench.kind": str(config.get("kind", "")),
        "workbench.mode": str(config.get("mode", "")) if config.get("kind") == "transfer" else "pretrain",
        "workbench.task": str(config.get("task", "")),
        "workbench.status": run.status,
        "workbench.version": str(manifest.get("workbench_version", "")),
        "workbench.source_run": str(manifest.get("source_run") or ""),
        "workbench.data_fingerprint": str((manifest.get("data") or {}).get("fingerprint", "")),
    }
    tags.update({f"versions.{package}": str(version) for package, version in versions.items()})
    return {key: value for key, value in tags.items() if value}
