"""Runs in TensorBoard: per-epoch scalars, and the HParams dashboard (config fields against test accuracy).

The layout is the one Keras' own `keras.callbacks.TensorBoard` writes, so workbench runs sit beside
any other Keras run: `LOGDIR/<run>/train` and `LOGDIR/<run>/validation` hold `epoch_loss` and
`epoch_accuracy` at steps 1, 2, ... (the epoch number); `LOGDIR/<run>` holds the run's
hyperparameters (its config fields) and its `test_accuracy` and `test_loss`; `LOGDIR` itself holds
the HParams experiment (which fields and metrics the dashboard shows).

Two ways in, one format:

- `export_tensorboard(runs_dir, logdir)` (`workbench export tensorboard`) writes finished runs from
  their files. Exporting again rewrites each run's logs instead of adding to them.
- `TensorBoardLogging(logdir)` (`--tensorboard DIR` on pretrain, transfer and the studies) logs each
  epoch while it trains, through the one progress callback (`callbacks.EpochProgress`, so it also
  works for runs trained on Dask workers with `-j N` or `--cluster`), then exports each run when it
  is saved, which adds its hyperparameters and test accuracy.
"""

from __future__ import annotations

import datetime
import json
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench.callbacks import EpochProgress, ProgressUpdate
from workbench.export.collect import NamedRun, collect_runs, created_seconds, measurement
from workbench.runs import Run

# Keras' TensorBoard callback names: (folder, history key, tag).
EPOCH_SCALARS = (
    ("train", "loss", "epoch_loss"),
    ("train", "accuracy", "epoch_accuracy"),
    ("validation", "val_loss", "epoch_loss"),
    ("validation", "val_accuracy", "epoch_accuracy"),
)
EPOCH_GROUPS = ("train", "validation")
TEST_METRICS = ("test_accuracy", "test_loss")
# Config fields that say where a run and its data are stored, or whether to reuse it, not how it trains.
NOT_HYPERPARAMETERS = ("name", "runs_dir", "overwrite", "cache", "data_root")
EVENT_FILES = "events.out.tfevents.*"


def hyperparameters(config: Mapping[str, Any]) -> dict[str, bool | int | float | str]:
    """A run's config fields as HParams values: numbers, booleans and text.

    Unset fields (None) are left out, so the dashboard shows them empty; lists become text
    ("32x32x3" for an input shape).

    Args:
        config: the run's `config.json`.
    """
    values: dict[str, bool | int | float | str] = {}
    for name, value in config.items():
        if name in NOT_HYPERPARAMETERS or value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = "x".join(str(item) for item in value) if name == "input_shape" else json.dumps(value)
        elif not isinstance(value, (bool, int, float, str)):
            value = str(value)
        values[name] = value
    return values


def hyperparameter_names() -> list[str]:
    """The HParams columns: every `RunConfig` field except where a run is stored."""
    from workbench.config import FIELD_NAMES

    return [name for name in FIELD_NAMES if name not in NOT_HYPERPARAMETERS]


def write_experiment(logdir: str | Path) -> None:
    """Write (or rewrite) the HParams experiment at the top of `logdir`: the config fields as
    hyperparameters; test accuracy and loss, and the last epoch's accuracy and loss, as metrics."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams_api

    root = Path(logdir)
    root.mkdir(parents=True, exist_ok=True)
    _remove_event_files(root)
    metrics = [hparams_api.Metric("test_accuracy", display_name="test accuracy"),
               hparams_api.Metric("test_loss", display_name="test loss")]
    for folder in reversed(EPOCH_GROUPS):  # validation first: what a reader compares runs by
        metrics += [hparams_api.Metric("epoch_accuracy", group=folder, display_name=f"{folder} accuracy (last epoch)"),
                    hparams_api.Metric("epoch_loss", group=folder, display_name=f"{folder} loss (last epoch)")]
    writer = tf.summary.create_file_writer(str(root))
    with writer.as_default():
        hparams_api.hparams_config(hparams=[hparams_api.HParam(name) for name in hyperparameter_names()],
                                   metrics=metrics, time_created_secs=time.time())
    writer.close()


def export_run(run: Run, logdir: str | Path, name: str | None = None) -> Path:
    """Write one run into `logdir/<name>`: its per-epoch scalars, hyperparameters and test metrics.

    Event files already in that run's folders are removed first, so exporting again (or after
    `--tensorboard` logged it live) leaves one copy of everything.

    Args:
        run: a finished (or stopped) run.
        logdir: the TensorBoard log folder.
        name: the run's name in TensorBoard. Defaults to the run directory's name.

    Returns:
        The run's folder in `logdir`.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams_api

    folder = Path(logdir) / (name or run.name)
    for subfolder in (folder, *(folder / group for group in EPOCH_GROUPS)):
        _remove_event_files(subfolder)
    _write_epochs(folder, [(int(row["epoch"]), row) for row in run.history])
    last_epoch = max((int(row["epoch"]) for row in run.history), default=0)
    writer = tf.summary.create_file_writer(str(folder))
    with writer.as_default():
        hparams_api.hparams(hyperparameters(run.config), trial_id=name or run.name,
                            start_time_secs=created_seconds(run))
        for metric in TEST_METRICS:
            value = measurement(run.metrics.get(metric))
            if value is not None:
                tf.summary.scalar(metric, value, step=last_epoch)
    writer.close()
    return folder


def export_tensorboard(runs_dir: str | Path, logdir: str | Path) -> list[str]:
    """Export every run under `runs_dir` into `logdir` (what `workbench export tensorboard` does).

    Args:
        runs_dir: a folder of run directories (at any depth) or one run directory.
        logdir: the TensorBoard log folder; created if missing.

    Returns:
        The exported runs' names in TensorBoard (their paths below `runs_dir`).

    Raises:
        ExportError: when `runs_dir` holds no complete run.
    """
    named_runs: Sequence[NamedRun] = collect_runs(runs_dir)
    write_experiment(logdir)
    for named in named_runs:
        export_run(named.run, logdir, named.name)
    return [named.name for named in named_runs]


class _EpochWriter:
    """Writes the `ProgressUpdate`s of one training run as epoch scalars, flushed every epoch."""

    def __init__(self, folder: Path, on_begin: Any = None) -> None:
        self.folder = folder
        self.on_begin = on_begin
        self.writers: dict[str, Any] = {}

    def __call__(self, update: ProgressUpdate) -> None:
        if update.epoch == 0 and not update.finished:
            self.open()
        elif update.epoch and not update.finished:
            if not self.writers:
                self.open()
            self.write(update.epoch, update.logs)
        if update.finished:
            self.close()

    def open(self) -> None:
        """Start (or restart) the run's train and validation event files."""
        import tensorflow as tf

        self.close()
        if self.on_begin is not None:
            self.on_begin()
        self.writers = {group: tf.summary.create_file_writer(str(self.folder / group)) for group in EPOCH_GROUPS}

    def write(self, epoch: int, logs: Mapping[str, Any]) -> None:
        """Write one epoch's losses and accuracies, and flush them."""
        import tensorflow as tf

        for group, key, tag in EPOCH_SCALARS:
            value = measurement(logs.get(key))
            if value is not None:
                with self.writers[group].as_default():
                    tf.summary.scalar(tag, value, step=epoch)
        for writer in self.writers.values():
            writer.flush()  # TensorBoard shows the epoch now, not when the run ends

    def close(self) -> None:
        """Close the event files (a finished run)."""
        for writer in self.writers.values():
            writer.close()
        self.writers = {}


def tensorboard_logger(logdir: str | Path, name: str) -> EpochProgress:
    """A Keras callback that logs each epoch's loss and accuracy (train and validation) to TensorBoard.

    Example:
        >>> workbench.pretrain(task="mnist-5k:0-4", name="source",
        ...                    callbacks=[tensorboard_logger("tensorboard-logs", "source")])

    Args:
        logdir: the TensorBoard log folder.
        name: the run's name there; use the run's name, so that a later export replaces these logs.

    Returns:
        An `EpochProgress` (the one per-epoch progress callback) that writes instead of drawing.
    """
    return EpochProgress(name, _EpochWriter(Path(logdir) / name))


class TensorBoardLogging:
    """`--tensorboard DIR`: live per-epoch logs for every run a command trains, then the run exported.

    Pass `callbacks` where the API takes `run_callbacks` (or call it for `callbacks`), and
    `run_done` as `on_run_done` (or call it with the saved run):

        >>> tensorboard = TensorBoardLogging("tensorboard-logs")
        >>> workbench.compare(source="runs/source", run_callbacks=tensorboard.callbacks,
        ...                   on_run_done=tensorboard.run_done)

    A run without a name yet (a single run that names itself when it is saved) logs into a
    provisional folder, `training-<kind>-<time>`, which gives way to the run's own when it is saved.

    Args:
        logdir: the TensorBoard log folder; the HParams experiment is written into it when the
            first run starts.
    """

    def __init__(self, logdir: str | Path) -> None:
        self.logdir = Path(logdir)
        self._experiment_written = False
        self._provisional: list[Path] = []

    def callbacks(self, config: Any) -> list[EpochProgress]:
        """The live logger of one run, for its config (a `RunConfig` or its dict)."""
        values = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        name = values.get("name")
        if not name:
            name = f"training-{values.get('kind', 'run')}-{datetime.datetime.now():%Y%m%d-%H%M%S-%f}"
            self._provisional.append(self.logdir / name)
        return [EpochProgress(name, _EpochWriter(self.logdir / name, on_begin=self._ensure_experiment))]

    def run_done(self, run: Run, *rest: Any) -> None:
        """Export the saved run (its hyperparameters and test accuracy join the epoch scalars).

        Takes extra arguments, so it also serves as a study's `on_run_done(run, sweep)`.
        """
        self._ensure_experiment()
        export_run(run, self.logdir)
        if self._provisional:  # only single runs are unnamed, and they end one at a time
            shutil.rmtree(self._provisional.pop(0), ignore_errors=True)

    def _ensure_experiment(self) -> None:
        if not self._experiment_written:
            write_experiment(self.logdir)
            self._experiment_written = True


def _write_epochs(folder: Path, rows: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
    writer = _EpochWriter(folder)
    writer.open()
    for epoch, logs in rows:
        writer.write(epoch, logs)
    writer.close()


def _remove_event_files(folder: Path) -> None:
    if folder.is_dir():
        for path in folder.glob(EVENT_FILES):
            path.unlink()
