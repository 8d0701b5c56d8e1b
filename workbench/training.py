"""One training run: prepare data and model, fit, evaluate, write the run directory atomically.

Read `train_run` top to bottom: it is the one training path every front end uses.
"""

from __future__ import annotations

import dataclasses
import datetime as _datetime
import json
import os
import platform
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from workbench import __version__, run_cache
from workbench.callbacks import HistoryRecorder, NanGuard, StopOnEvent
from workbench.config import RunConfig, config_from_mapping, save_config
from workbench.data import TaskData, adaptable_input_shape, describe_adaptation, make_pipeline, prepare_task
from workbench.data.pipelines import steps_per_epoch
from workbench.devices import (
    describe_distribution,
    distribution_strategy,
    is_chief,
    model_scope,
    replica_count,
    shard_by_data,
)
from workbench.errors import ConfigError, SourceRunError
from workbench.fine_tuning import FineTuningPlan, build_metrics_before_fit, fit_head_on_cached_features
from workbench.models import Block, architecture_of, build_model, count_parameters, model_blocks
from workbench.runs import TEMPORARY_PREFIX, Run, load_run, write_history, write_json
from workbench.transfer_modes import format_transfer_report, transfer_model


@dataclass
class PreparedRun:
    """Everything a run needs before training starts: checked config, data, model, report."""

    config: RunConfig
    task_data: TaskData
    model: Any
    blocks: list[Block]
    freeze_depth: int
    input_shape: tuple[int, int, int]
    source: Run | None
    transfer_report: dict[str, Any] | None
    batch_size: int
    strategy: Any = None  # the tf.distribute strategy the model was built under

    def pipeline(self, split: str, shuffle: bool, augment: str = "none", first_epoch: int = 0,
                 epochs: int = 1) -> Any:
        """The split's tf.data pipeline (None for an empty validation split), sharded by data
        across multi-worker replicas: `epochs` passes from epoch `first_epoch`, each shuffled in
        its own (seed, epoch) order when `shuffle` is set (`data.pipelines.epoch_batches`)."""
        images, labels = getattr(self.task_data, split)
        if not len(labels):
            return None
        batch_size = self.batch_size if split == "train" else self.batch_size * 4
        return shard_by_data(make_pipeline(images, labels, self.input_shape, batch_size, shuffle=shuffle,
                                           seed=self.config.seed, augment=augment, first_epoch=first_epoch,
                                           epochs=epochs))


def prepare_run(config: RunConfig) -> PreparedRun:
    """Check every input and build the model: the source run, the task, the transfer.

    The model is built under the run's distribution strategy and with its precision (dtype
    policy); the global dtype policy is put back afterwards.

    Raises:
        WorkbenchError: for any bad input; nothing has been written yet.
    """
    strategy = distribution_strategy(config.strategy)
    source = load_run(config.source, config.runs_dir) if config.kind == "transfer" else None
    # The source model is only read (its weights are copied into the new model), so it is loaded
    # outside the strategy: mirroring it would put one more copy of it on every device.
    source_model = source.load_model(shared=True) if source else None
    input_shape = (adaptable_input_shape(source_model.input_shape[1:], f"The model of source run {str(source.path)!r}")
                   if source_model is not None else config.input_shape)
    config = config.replace(input_shape=input_shape, source=str(source.path) if source else None)
    task_data = prepare_task(config.task, config.per_class, config.validation_split, config.seed, config.data_root)
    with model_scope(strategy, config.precision):
        if source_model is not None:
            model, transfer_report = transfer_model(source_model, config.mode, task_data.num_classes,
                                                    config.freeze_depth, seed=config.seed,
                                                    copy_depth=config.copy_depth, batchnorm=config.batchnorm,
                                                    head_init=config.head_init)
            freeze_depth = transfer_report["freeze_depth"]
        else:
            model = build_model(config.model, task_data.num_classes, input_shape, config.weights, seed=config.seed)
            transfer_report, freeze_depth = None, 0
    batch_size = effective_batch_size(config.batch_size, len(task_data.train[1]), replica_count(strategy))
    return PreparedRun(config, task_data, model, model_blocks(model), freeze_depth, input_shape, source,
                       transfer_report, batch_size, strategy)


def compile_plan(prepared: PreparedRun) -> FineTuningPlan:
    """Build the run's `FineTuningPlan` and compile its model, under the run's strategy.

    The optimizer must be created in the same strategy scope as the model so that its slots are
    mirrored like the weights. For a mixed_float16 model `compile()` wraps the optimizer in a
    `LossScaleOptimizer`; it is built here, so its loss-scale variables exist (and are
    checkpointed and restored) from the start rather than from the first train step.

    Returns:
        The plan; `prepared.model.optimizer` is the optimizer that trains (the plan's, or its wrapper).
    """
    with prepared.strategy.scope():
        plan = FineTuningPlan(prepared.model, prepared.blocks, prepared.config, prepared.freeze_depth)
        plan.compile_model()
        if not prepared.model.optimizer.built:
            prepared.model.optimizer.build(prepared.model.trainable_variables)
    return plan


def train_run(
    config: RunConfig,
    callbacks: Sequence[Any] = (),
    stop_event: threading.Event | None = None,
) -> Run:
    """Train one run from a config and return it, read back from its complete run directory.

    Every input check (task, classes, budget, source run, freeze depth) happens before the first
    file is written; the run is written under a temporary name and renamed into place at the end,
    so a failed run leaves nothing behind. Each finished epoch is checkpointed inside the
    temporary folder, so a run killed mid-training continues with `resume_run`.

    Args:
        config: what to train (see `RunConfig`).
        callbacks: extra Keras callbacks (progress bars, live curves).
        stop_event: when set during training, the run stops after the current batch and is saved
            with status "stopped".

    Returns:
        The saved `Run`.

    Raises:
        WorkbenchError: for any bad input, before anything is written.
    """
    # First: a multi-worker strategy must exist before any other TensorFlow operation runs.
    strategy = distribution_strategy(config.strategy)
    run_name = config.name or _default_run_name(config)
    final_path = Path(config.runs_dir) / run_name
    if final_path.exists() and not config.overwrite:
        raise ConfigError(
            f"Run {str(final_path)!r} already exists. Pass another --name, or --overwrite to replace it."
        )
    # A finished run with the same settings, source, data and versions is reused (workbench.run_cache).
    reused = run_cache.reuse_cached_run(config.replace(name=run_name))
    if reused is not None:
        return reused
    prepared = prepare_run(config.replace(name=run_name))
    if not is_chief(strategy):
        return _train_as_worker(prepared, final_path, callbacks, stop_event)
    temporary = Path(config.runs_dir) / f"{TEMPORARY_PREFIX}{run_name}-{secrets.token_hex(4)}"
    return _train(prepared, temporary, final_path, callbacks, stop_event, checkpoint=None)


def _train_as_worker(
    prepared: PreparedRun, final_path: Path, callbacks: Sequence[Any], stop_event: threading.Event | None
) -> Run:
    """A non-chief worker of a multi-worker run: the same steps as the chief, into a throwaway folder.

    Every worker must run every step the chief runs (training, evaluation and saving can all use
    collective operations that wait for every worker), so this one writes a whole run too, the
    standard Keras multi-worker pattern, but into a temporary folder outside `runs_dir` that is
    deleted at the end; only the chief writes the run directory.

    Returns:
        The run as this worker saw it, with `path` set to where the chief writes it.
    """
    scratch = Path(tempfile.mkdtemp(prefix="workbench-worker-"))
    try:
        run = _train(prepared, scratch / "training", scratch / final_path.name, callbacks, stop_event,
                     checkpoint=None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dataclasses.replace(run, path=final_path)


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


def resume_run(
    name: str,
    runs_dir: str | Path = "runs",
    callbacks: Sequence[Any] = (),
    stop_event: threading.Event | None = None,
) -> Run:
    """Continue a run that was killed mid-training from its last finished epoch.

    The data, model and optimizer are rebuilt from the run's config, then the checkpoint's
    weights, optimizer state and history are put back, and training goes on to the configured
    epoch count: one run, one continuous history, the weights of an uninterrupted run (each epoch's
    order depends only on the seed and the epoch, `data.pipelines.epoch_batches`). Except with
    augmentation, whose generator the checkpoint does not hold: it restarts on resume.

    Raises:
        SourceRunError: when no interrupted run of that name exists.
    """
    candidates = interrupted_runs(runs_dir)
    if name not in candidates:
        known = ", ".join(candidates) or "none"
        raise SourceRunError(
            f"No interrupted run named {name!r} in {str(runs_dir)!r} (interrupted runs there: {known}). A run can "
            "be resumed once it has finished at least one epoch; otherwise start it again."
        )
    temporary = candidates[name]
    config = config_from_mapping(json.loads((temporary / "config.json").read_text()))
    if config.strategy == "multiworker":
        raise ConfigError(
            f"Run {name!r} was trained with strategy='multiworker'. Resuming it would need every worker to "
            "restore the same checkpoint at the same moment, which `resume` does not do. Start the run again "
            f"on every worker, and delete {str(temporary)!r}."
        )
    with np.load(temporary / CHECKPOINT_FILE, allow_pickle=False) as archive:
        checkpoint = {key: archive[key] for key in archive.files}
    prepared = prepare_run(config)
    return _train(prepared, temporary, Path(config.runs_dir) / name, callbacks, stop_event, checkpoint=checkpoint)


CHECKPOINT_FILE = "checkpoint.npz"


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


def _restore_checkpoint(model: Any, optimizer: Any, checkpoint: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
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


def _train(
    prepared: PreparedRun,
    temporary: Path,
    final_path: Path,
    callbacks: Sequence[Any],
    stop_event: threading.Event | None,
    checkpoint: dict[str, Any] | None,
) -> Run:
    started = time.perf_counter()
    config, model = prepared.config, prepared.model
    # Trainability changes take effect when the train step is traced, so the plan freezes blocks
    # first and compiles after.
    plan = compile_plan(prepared)
    cached = config.uses_feature_cache()
    initial_epoch, rows = (0, [])
    # model.optimizer, not plan.optimizer: with mixed_float16 it is the LossScaleOptimizer around
    # the plan's, and its loss scale belongs in the checkpoint too.
    if checkpoint is not None and not cached:
        initial_epoch, rows = _restore_checkpoint(model, model.optimizer, checkpoint)

    history = HistoryRecorder(initial_rows=rows)
    stopper = StopOnEvent(stop_event or threading.Event())
    nan_guard = NanGuard()
    run_callbacks = [history, stopper, nan_guard, *callbacks]
    try:
        temporary.mkdir(parents=True, exist_ok=checkpoint is not None)
        save_config(config, temporary / "config.json")  # first: a killed run can be resumed from it
        fit_started = time.perf_counter()
        _fit(prepared, plan, temporary, run_callbacks, history, nan_guard, initial_epoch)
        train_seconds = time.perf_counter() - fit_started
        metrics = evaluate_model(model, prepared.task_data, prepared.input_shape, prepared.batch_size * 4)
        metrics["status"] = "failed" if nan_guard.reason else "stopped" if stopper.stopped else "finished"
        metrics["failure"] = nan_guard.reason
        metrics["epochs_completed"] = sum(1 for row in history.rows if not row["partial"])
        metrics["resumed_at_epoch"] = initial_epoch or None
        validation_accuracies = [row["val_accuracy"] for row in history.rows if not np.isnan(row["val_accuracy"])]
        metrics["best_val_accuracy"] = max(validation_accuracies) if validation_accuracies else None

        manifest = _manifest(prepared, train_seconds, time.perf_counter() - started, metrics["status"])
        manifest["cache"] = run_cache.manifest_record(config, manifest["data"]["fingerprint"])  # for reuse
        manifest["fine_tuning"] = {"stages": plan.log, "feature_cache": cached, "augment": config.augment,
                                   "batchnorm": config.batchnorm, "head_init": config.head_init,
                                   "head": (prepared.transfer_report or {}).get("head")}
        _write_run_files(temporary, prepared, history.rows, metrics, manifest)
        _move_into_place(temporary, final_path, config.overwrite)
    except KeyboardInterrupt:
        # Ctrl-C: keep a checkpointed run resumable; a run without a finished epoch is removed.
        if not (temporary / CHECKPOINT_FILE).is_file():
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return load_run(final_path)


def _fit(prepared: PreparedRun, plan: Any, temporary: Path, run_callbacks: list[Any], history: HistoryRecorder,
         nan_guard: NanGuard, initial_epoch: int) -> None:
    """Train: the head alone on cached features where the config allows it, else the whole model
    with a checkpoint after every epoch."""
    config, model = prepared.config, prepared.model
    if config.uses_feature_cache():
        # Training a head on cached features takes seconds: no checkpoints, a resume restarts it.
        # The head model and its optimizer are created inside, so under the run's strategy.
        with prepared.strategy.scope():
            fit_head_on_cached_features(model, lambda split: prepared.pipeline(split, shuffle=False),
                                        config.epochs, config.learning_rate, prepared.batch_size, config.seed,
                                        run_callbacks)
        return
    schedule = plan.callback()
    saver = EpochCheckpoint(temporary, model.optimizer, history, nan_guard)
    # The remaining epochs as one stream, each in its (seed, epoch) order, read by one iterator (Keras
    # keeps it across epochs given steps_per_epoch): a resumed run sees an uninterrupted run's batches.
    train_data = prepared.pipeline("train", shuffle=True, augment=config.augment, first_epoch=initial_epoch,
                                   epochs=config.epochs - initial_epoch)
    with prepared.strategy.scope():  # metric variables too must belong to the run's strategy
        build_metrics_before_fit(model, train_data)
    model.fit(
        train_data,
        validation_data=prepared.pipeline("validation", shuffle=False),
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch(len(prepared.task_data.train[1]), prepared.batch_size),
        shuffle=False,  # the pipeline shuffles, seeded; this only silences Keras' warning
        verbose=0,
        callbacks=[*([schedule] if schedule else []), *run_callbacks, saver],
    )


def _write_run_files(folder: Path, prepared: PreparedRun, history_rows: list[dict[str, Any]],
                     metrics: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Everything a finished run directory holds (`workbench.runs`), written into the temporary
    folder that is then renamed into place; the resume checkpoint goes."""
    write_history(folder / "history.csv", history_rows)
    write_json(folder / "metrics.json", metrics)
    prepared.model.save(folder / "model.keras")
    if prepared.transfer_report is not None:
        write_json(folder / "transfer.json", prepared.transfer_report)
        (folder / "transfer.txt").write_text(format_transfer_report(prepared.transfer_report) + "\n")
    write_json(folder / "manifest.json", manifest)
    (folder / CHECKPOINT_FILE).unlink(missing_ok=True)


MIN_STEPS_PER_EPOCH = 8


def effective_batch_size(batch_size: int, train_examples: int, replicas: int = 1) -> int:
    """The (global) batch size actually used: small enough that an epoch has `MIN_STEPS_PER_EPOCH`
    updates, and a multiple of the replica count.

    With a label budget of 5 per class, a batch of 32 would make each epoch a single update, and
    ten epochs ten updates: too few for a new head to learn anything, which would make every
    comparison at small budgets measure the step count instead of the transfer. Under a
    distribution strategy each batch is split across the replicas, so it is rounded down to a
    multiple of their number (and is at least one example per replica).

    Args:
        batch_size: the configured global batch size.
        train_examples: the number of training examples.
        replicas: replicas sharing each batch. Defaults to 1.
    """
    batch = max(1, min(batch_size, train_examples // MIN_STEPS_PER_EPOCH))
    return max(replicas, batch - batch % replicas)


def evaluate_model(model: Any, task_data: TaskData, input_shape: tuple[int, int, int], batch_size: int) -> dict[str, Any]:
    """Score a model on the task's held-out test set.

    Returns:
        test_accuracy, test_loss, per_class_accuracy (class name → accuracy), confusion_matrix
        (rows = true class, columns = predicted), class_names and test_examples.
    """
    images, labels = task_data.test
    # Sharded by data, multi-worker prediction gathers every worker's share back in input order.
    logits = model.predict(shard_by_data(make_pipeline(images, labels, input_shape, batch_size)), verbose=0)
    logits = logits.astype(np.float64)
    predictions = logits.argmax(axis=1)
    # Cross-entropy from logits with a stable log-softmax, matching the training loss.
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    num_classes = task_data.num_classes
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class = {
        name: float(confusion[index, index] / confusion[index].sum()) if confusion[index].sum() else None
        for index, name in enumerate(task_data.class_names)
    }
    return {
        "test_accuracy": float((predictions == labels).mean()),
        "test_loss": float(-log_probabilities[np.arange(len(labels)), labels].mean()),
        "test_examples": int(len(labels)),
        "class_names": list(task_data.class_names),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
    }


def _default_run_name(config: RunConfig) -> str:
    stamp = _datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if config.kind == "pretrain":
        label = f"pretrain-{config.model}"
    else:
        depth = f"-fd{config.freeze_depth}" if config.mode == "parameter" and config.freeze_depth else ""
        label = f"{config.mode}{depth}"
    return f"{label}-s{config.seed}-{stamp}-{secrets.token_hex(2)}"


def _move_into_place(temporary: Path, final_path: Path, overwrite: bool) -> None:
    """Rename the finished run into place; an overwritten run is swapped out, then deleted."""
    if final_path.exists():
        if not overwrite:
            raise ConfigError(f"Run {str(final_path)!r} appeared while training. Pass another --name.")
        retired = final_path.with_name(f"{TEMPORARY_PREFIX}{final_path.name}-replaced-{secrets.token_hex(4)}")
        os.replace(final_path, retired)
        os.replace(temporary, final_path)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(temporary, final_path)


def _manifest(prepared: PreparedRun, train_seconds: float, total_seconds: float, status: str) -> dict[str, Any]:
    import tensorflow as tf

    config, task_data, model, source = prepared.config, prepared.task_data, prepared.model, prepared.source
    notes = []
    train_examples = len(task_data.train[1])
    capped = effective_batch_size(config.batch_size, train_examples)
    if capped != config.batch_size:
        notes.append(f"batch size {config.batch_size} reduced to {capped} so that each epoch of "
                     f"{train_examples} examples has at least {MIN_STEPS_PER_EPOCH} updates")
    distribution = describe_distribution(config.strategy, prepared.strategy, prepared.batch_size, config.precision)
    if prepared.batch_size != capped:
        notes.append(f"batch size {capped} changed to {prepared.batch_size}, a multiple of the "
                     f"{distribution['replicas']} replicas that share each batch")
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
