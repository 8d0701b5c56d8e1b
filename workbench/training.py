"""One training run: prepare data and model, fit, evaluate, write the run directory atomically.

Read `train_run` top to bottom: it is the one training path every front end uses.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench import run_cache
from workbench.callbacks import HistoryRecorder, NanGuard, PipelineEpoch, StopOnEvent
from workbench.config import RunConfig, config_from_mapping, save_config
from workbench.data import TaskData, adaptable_input_shape, make_pipeline, prepare_task, split_source
from workbench.data.pipelines import steps_per_epoch
from workbench.devices import (
    distribution_strategy,
    is_chief,
    model_scope,
    replica_count,
    shard_by_data,
)
from workbench.errors import ConfigError, SourceRunError
from workbench.evaluation import (  # noqa: F401 - evaluation_batch_size: public here too
    evaluate_model,
    evaluation_batch_size,
    one_iterator_pass,
    unshuffled_pipeline,
)
from workbench.fine_tuning import (
    FineTuningPlan,
    build_metrics_before_fit,
    fit_head_on_cached_features,
    steps_per_execution_for,
)
from workbench.models import Block, build_model, model_blocks
from workbench.run_files import (  # noqa: F401 - CHECKPOINT_FILE, EpochCheckpoint, interrupted_runs: public here too
    CHECKPOINT_FILE,
    EpochCheckpoint,
    build_manifest,
    default_run_name,
    interrupted_runs,
    move_into_place,
    read_checkpoint,
    restore_checkpoint,
    write_run_files,
)
from workbench.runs import TEMPORARY_PREFIX, Run, load_run
from workbench.traced_models import borrow_traced_model, return_traced_model
from workbench.transfer_modes import transfer_model_for


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

    def split_batch_size(self, split: str) -> int:
        """The batch size a split is read in: the run's for training, four times it for the others."""
        return self.batch_size if split == "train" else self.batch_size * 4

    def pipeline(self, split: str, shuffle: bool, augment: str = "none", first_epoch: int = 0,
                 epochs: int = 1, epoch_variable: Any = None) -> Any:
        """The split's tf.data pipeline (None for an empty validation split), sharded by data
        across multi-worker replicas: `epochs` passes from epoch `first_epoch`, each shuffled in
        its own (seed, epoch) order when `shuffle` is set, or one pass in the order of the epoch
        `epoch_variable` holds (`data.pipelines.epoch_batches`)."""
        images, rows, labels = split_source(getattr(self.task_data, split))  # no copy of the images
        if not len(labels):
            return None
        batch_size = self.split_batch_size(split)
        if not shuffle and augment == "none" and (first_epoch, epochs, epoch_variable) == (0, 1, None):
            return shard_by_data(unshuffled_pipeline(images, rows, labels, self.input_shape, batch_size))
        return shard_by_data(make_pipeline(images, labels, self.input_shape, batch_size, shuffle=shuffle,
                                           seed=self.config.seed, augment=augment, first_epoch=first_epoch,
                                           epochs=epochs, rows=rows, epoch_variable=epoch_variable))


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
            model, transfer_report = transfer_model_for(source_model, config, task_data.num_classes)
            if config.edits:  # an `input` edit gives the model its own input shape; the pipeline resizes to it
                input_shape = tuple(int(size) for size in model.input_shape[1:])
                config = config.replace(input_shape=input_shape)
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
        # Several batches per call into the traced step where an epoch allows it: same steps, less
        # per-step Python (`fine_tuning.steps_per_execution_for`).
        plan.compile_model(steps_per_execution_for(steps_per_epoch(len(prepared.task_data.train[1]),
                                                                   prepared.batch_size)))
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
    run_name = config.name or default_run_name(config)
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
    checkpoint = read_checkpoint(temporary)
    prepared = prepare_run(config)
    return _train(prepared, temporary, Path(config.runs_dir) / name, callbacks, stop_event, checkpoint=checkpoint)


def _train(
    prepared: PreparedRun,
    temporary: Path,
    final_path: Path,
    callbacks: Sequence[Any],
    stop_event: threading.Event | None,
    checkpoint: dict[str, Any] | None,
) -> Run:
    started = time.perf_counter()
    config = prepared.config
    # Trainability changes take effect when the train step is traced, so the plan freezes blocks
    # first and compiles after.
    plan = compile_plan(prepared)
    cached = config.uses_feature_cache()
    prepared, signature = _borrow_traced_model(prepared, plan)
    model = prepared.model
    initial_epoch, rows = (0, [])
    # model.optimizer, not plan.optimizer: with mixed_float16 it is the LossScaleOptimizer around
    # the plan's, and its loss scale belongs in the checkpoint too.
    if checkpoint is not None and not cached:
        initial_epoch, rows = restore_checkpoint(model, model.optimizer, checkpoint)

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
        metrics = evaluate_model(model, prepared.task_data, prepared.input_shape,
                                 evaluation_batch_size(prepared.batch_size))
        metrics["status"] = "failed" if nan_guard.reason else "stopped" if stopper.stopped else "finished"
        metrics["failure"] = nan_guard.reason
        metrics["epochs_completed"] = sum(1 for row in history.rows if not row["partial"])
        metrics["resumed_at_epoch"] = initial_epoch or None
        validation_accuracies = [row["val_accuracy"] for row in history.rows if not np.isnan(row["val_accuracy"])]
        metrics["best_val_accuracy"] = max(validation_accuracies) if validation_accuracies else None

        manifest = build_manifest(prepared, _batch_notes(prepared), train_seconds, time.perf_counter() - started,
                                  metrics["status"])
        manifest["cache"] = run_cache.manifest_record(config, manifest["data"]["fingerprint"])  # for reuse
        manifest["fine_tuning"] = {"stages": plan.log, "feature_cache": cached, "augment": config.augment,
                                   "batchnorm": config.batchnorm, "head_init": config.head_init,
                                   "head": (prepared.transfer_report or {}).get("head")}
        write_run_files(temporary, model, prepared.transfer_report, history.rows, metrics, manifest)
        move_into_place(temporary, final_path, config.overwrite)
    except KeyboardInterrupt:
        # Ctrl-C: keep a checkpointed run resumable; a run without a finished epoch is removed.
        if not (temporary / CHECKPOINT_FILE).is_file():
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return_traced_model(model, signature)  # only after a run that ended normally: its state is sound
    return load_run(final_path)


def _borrow_traced_model(prepared: PreparedRun, plan: FineTuningPlan) -> tuple[PreparedRun, str | None]:
    """Train an idle model of an earlier run with the same graph, set to this run's fresh weights
    and optimizer state, where that trains the same numbers (`workbench.traced_models`): it saves
    the tracing of the train, test and predict steps."""
    config = prepared.config
    if (len(plan.stages) > 1 or config.uses_feature_cache() or config.strategy != "default"
            or config.precision != "float32"):
        return prepared, None
    model, signature = borrow_traced_model(prepared.model)
    if model is not prepared.model:
        plan.model, plan.optimizer = model, model.optimizer
        prepared = dataclasses.replace(prepared, model=model)
    return prepared, signature


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
    # Each epoch in its (seed, epoch) order, so a resumed run sees an uninterrupted run's batches.
    steps = steps_per_epoch(len(prepared.task_data.train[1]), prepared.batch_size)
    if model.steps_per_execution > 1:
        # A call of several steps must end with its epoch: one epoch per iterator (Keras starts one
        # every epoch without steps_per_epoch), told its epoch by `PipelineEpoch`.
        epoch_counter = PipelineEpoch(initial_epoch)
        train_data = prepared.pipeline("train", shuffle=True, augment=config.augment,
                                       epoch_variable=epoch_counter.variable)
        stepping: dict[str, Any] = {"steps_per_epoch": None}
        first_callbacks = [epoch_counter]
    else:
        # The remaining epochs as one stream read by one iterator (Keras keeps it across epochs
        # given steps_per_epoch); tf.distribute strategies take this path (one step per call).
        train_data = prepared.pipeline("train", shuffle=True, augment=config.augment, first_epoch=initial_epoch,
                                       epochs=config.epochs - initial_epoch)
        stepping, first_callbacks = {"steps_per_epoch": steps}, []
    with prepared.strategy.scope():  # metric variables too must belong to the run's strategy
        build_metrics_before_fit(model, train_data)
    validation_data, validation_stepping = _validation_passes(prepared)
    model.fit(
        train_data,
        validation_data=validation_data,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        shuffle=False,  # the pipeline shuffles, seeded; this only silences Keras' warning
        verbose=0,
        callbacks=[*first_callbacks, *([schedule] if schedule else []), *run_callbacks, saver],
        **stepping,
        **validation_stepping,
    )


def _validation_passes(prepared: PreparedRun) -> tuple[Any, dict[str, int]]:
    """fit's validation data, read with one iterator for the whole fit where it can be
    (`evaluation.one_iterator_pass`): the pass repeated, with `validation_steps` batches per epoch."""
    validation = prepared.pipeline("validation", shuffle=False)
    if validation is None:
        return None, {}
    validation, steps = one_iterator_pass(validation, len(prepared.task_data.validation[1]),
                                          prepared.split_batch_size("validation"), prepared.strategy,
                                          prepared.model.steps_per_execution)
    return validation, ({"validation_steps": steps} if steps else {})


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


def _batch_notes(prepared: PreparedRun) -> list[str]:
    """The manifest's notes on a batch size the run changed (`effective_batch_size`)."""
    config = prepared.config
    notes = []
    train_examples = len(prepared.task_data.train[1])
    capped = effective_batch_size(config.batch_size, train_examples)
    if capped != config.batch_size:
        notes.append(f"batch size {config.batch_size} reduced to {capped} so that each epoch of "
                     f"{train_examples} examples has at least {MIN_STEPS_PER_EPOCH} updates")
    if prepared.batch_size != capped:
        notes.append(f"batch size {capped} changed to {prepared.batch_size}, a multiple of the "
                     f"{replica_count(prepared.strategy)} replicas that share each batch")
    return notes
