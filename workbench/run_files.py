"""Writing one run's files: the per-epoch resume checkpoint, the finished run directory (history,
metrics, model, transfer report, manifest) and the rename that puts it into place.

`workbench.training` trains; this module only writes what a run produced (the format is described
in `workbench.runs`). Moved out of `training.py` in issue #15.
"""

from __future__ import annotations

import datetime as _datetime
import json
import os
import platform
import secrets
from pathlib import Path
from typing import Any

import keras
import numpy as np

from workbench import __version__
from workbench.callbacks import HistoryRecorder, NanGuard
from workbench.config import RunConfig
from workbench.data import describe_adaptation
from workbench.devices import describe_distribution
from workbench.errors import ConfigError, SourceRunError
from workbench.models import architecture_of, count_parameters, model_blocks
from workbench.runs import TEMPORARY_PREFIX, replace_directory, write_history, write_json
from workbench.transfer_modes import format_transfer_report

CHECKPOINT_FILE = "checkpoint.npz"


def interrupted_runs(runs_dir: str | Path = "runs") -> dict[str, Path]:
    """Runs that were killed after at least one epoch: run name → its temporary folder (newest wins)."""
    found: dict[str, Path] = {}
    root = Path(runs_dir)
    if not root.is_dir():
        return found
    for folder in sorted(root.glob(f"{TEMPORARY_PREFIX}*"), key=lambda path: path.stat().st_mtime):
        if (folder / CHECKPOINT_FILE).is_file() and (folder / "config.json").is_file():
            found[json.loads((folder / "config.json").read_text())["name"]] = folder
    return found


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes weights, optimizer state, the epoch and the history so far after every finished epoch.

    One `.npz` file, written beside and then renamed over the previous one, so a kill at any
    moment leaves either the old or the new checkpoint, never half of one.
    """

    def __init__(self, folder: Path, optimizer: Any, history: HistoryRecorder, nan_guard: NanGuard) -> None:
        super().__init__()
        self.folder, self.optimizer, self.history, self.nan_guard = folder, optimizer, history, nan_guard

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.nan_guard.reason or not self.history.rows or self.history.rows[-1]["partial"]:
            return
        weights = self.model.get_weights()
        optimizer_values = [variable.numpy() for variable in self.optimizer.variables]
        state = {"epoch": epoch + 1, "history": self.history.rows, "weights": len(weights),
                 "optimizer": len(optimizer_values)}
        arrays = {f"weight_{index}": value for index, value in enumerate(weights)}
        arrays.update({f"optimizer_{index}": value for index, value in enumerate(optimizer_values)})
        partial = self.folder / f".{CHECKPOINT_FILE}.partial"
        with partial.open("wb") as handle:
            np.savez(handle, state=np.array(json.dumps(state)), **arrays)
        os.replace(partial, self.folder / CHECKPOINT_FILE)


def read_checkpoint(folder: Path) -> dict[str, Any]:
    """The arrays of a temporary run folder's checkpoint (`EpochCheckpoint`)."""
    with np.load(folder / CHECKPOINT_FILE, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def restore_checkpoint(model: Any, optimizer: Any, checkpoint: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """Put a checkpoint's weights and optimizer state back; return (epochs done, history rows).

    Raises:
        SourceRunError: when the checkpoint's variables do not match the rebuilt model's.
    """
    state = json.loads(str(checkpoint["state"]))
    if state["optimizer"] != len(optimizer.variables) or state["weights"] != len(model.weights):
        raise SourceRunError(
            "The checkpoint does not match the model rebuilt from the run's config (different variables). "
            "Start the run again."
        )
    model.set_weights([checkpoint[f"weight_{index}"] for index in range(state["weights"])])
    for index, variable in enumerate(optimizer.variables):
        variable.assign(checkpoint[f"optimizer_{index}"])
    return int(state["epoch"]), list(state["history"])


def write_run_files(folder: Path, model: Any, transfer_report: dict[str, Any] | None,
                    history_rows: list[dict[str, Any]], metrics: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Everything a finished run directory holds (`workbench.runs`), written into the temporary
    folder that is then renamed into place; the resume checkpoint goes."""
    write_history(folder / "history.csv", history_rows)
    write_json(folder / "metrics.json", metrics)
    model.save(folder / "model.keras")
    if transfer_report is not None:
        write_json(folder / "transfer.json", transfer_report)
        (folder / "transfer.txt").write_text(format_transfer_report(transfer_report) + "\n")
    write_json(folder / "manifest.json", manifest)
    (folder / CHECKPOINT_FILE).unlink(missing_ok=True)


def default_run_name(config: RunConfig) -> str:
    """A new run's name when none is given: mode (or pretrain and model), seed, time and a random tail."""
    stamp = _datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if config.kind == "pretrain":
        label = f"pretrain-{config.model}"
    else:
        depth = f"-fd{config.freeze_depth}" if config.mode == "parameter" and config.freeze_depth else ""
        label = f"{config.mode}{depth}"
    return f"{label}-s{config.seed}-{stamp}-{secrets.token_hex(2)}"


def move_into_place(temporary: Path, final_path: Path, overwrite: bool) -> None:
    """Rename the finished run into place; an overwritten run is swapped out, then deleted."""
    if final_path.exists() and not overwrite:
        raise ConfigError(f"Run {str(final_path)!r} appeared while training. Pass another --name.")
    replace_directory(temporary, final_path)


def build_manifest(prepared: Any, notes: list[str], train_seconds: float, total_seconds: float,
                   status: str) -> dict[str, Any]:
    """The run's `manifest.json`: versions, seed, architecture, data summary and fingerprint, input
    adaptation, distribution, timings.

    Args:
        prepared: the run's `workbench.training.PreparedRun`.
        notes: sentences on settings the run changed (e.g. a reduced batch size).
        train_seconds, total_seconds: the fit and the whole run, in seconds.
        status: "finished", "stopped" or "failed".
    """
    import tensorflow as tf

    config, task_data, model, source = prepared.config, prepared.task_data, prepared.model, prepared.source
    distribution = describe_distribution(config.strategy, prepared.strategy, prepared.batch_size, config.precision)
    return {
        "workbench_version": __version__,
        "created": _datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "status": status,
        "seed": config.seed,
        "architecture": architecture_of(model),
        "blocks": [block.name for block in model_blocks(model)],
        "input_shape": list(prepared.input_shape),
        "input_adaptation": describe_adaptation(task_data.image_shape, prepared.input_shape),
        "batch_size": prepared.batch_size,
        "distribution": distribution,
        "notes": notes,
        "data": task_data.summary(),
        "source_run": str(source.path) if source else None,
        "source_task": source.config.get("task") if source else None,
        "parameters": count_parameters(model),
        "train_seconds": round(train_seconds, 3),
        "total_seconds": round(total_seconds, 3),
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
        },
        "platform": platform.platform(),
        "devices": [device.device_type for device in tf.config.list_logical_devices()],
    }
