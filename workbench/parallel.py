"""Run a study's independent runs one after another or in parallel worker processes (`jobs`, `-j N`).

Every run of a comparison or sweep is independent of the others (its own seed, split and model),
so `jobs > 1` trains them in a pool of fresh processes. Processes, not threads: each TensorFlow
run traces its own functions in Python, which a thread pool would serialise on the GIL. The
workers are started with "spawn" (TensorFlow is not fork-safe) and reused for several runs, so
TensorFlow is imported once per worker, not once per run.

Progress crosses the process boundary as the workers' `ProgressUpdate`s (the one progress
callback, `callbacks.EpochProgress`): the caller's per-run callbacks (progress bars, live curves)
live in this process and are replayed from them, so they work unchanged at epoch granularity. A stop request reaches the workers within a fraction
of a second; their current runs stop after a batch and are saved "stopped", and no further run
starts.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from workbench.fast_start import quiet_tensorflow_logs

# Spawned workers import this module first: quiet TensorFlow's start-up lines before Keras loads.
quiet_tensorflow_logs()

from workbench.callbacks import EpochProgress, ProgressUpdate  # noqa: E402
from workbench.config import RunConfig, check_jobs, config_from_mapping  # noqa: E402
from workbench.errors import ConfigError  # noqa: E402
from workbench.runs import Run, load_run  # noqa: E402

RunCallbacks = Callable[[RunConfig], Sequence[Any]]
OnRunDone = Callable[[int, Run], None]
POLL_SECONDS = 0.1


def train_runs(
    configs: Sequence[RunConfig],
    jobs: int = 1,
    run_callbacks: RunCallbacks | None = None,
    on_run_done: OnRunDone | None = None,
    stop_event: threading.Event | None = None,
) -> list[Run | None]:
    """Train every config and return the runs in the order of `configs`.

    Args:
        configs: the runs to train, each with its own name.
        jobs: worker processes; 1 trains in this process, one run at a time. Defaults to 1.
        run_callbacks: makes the extra Keras callbacks of one run (progress bars, live curves).
            With `jobs > 1` they run here and see the epoch events only (no batch events).
        on_run_done: called with (index in `configs`, run) as each run is saved.
        stop_event: once set, the running runs stop after their current batch (saved "stopped")
            and no further run starts.

    Returns:
        The runs, in the order of `configs`; None for a run that never started (stopped study).

    Raises:
        WorkbenchError: the first bad input a run reports; runs not yet started are cancelled.
    """
    check_jobs(jobs)
    distributed = sorted({config.strategy for config in configs if getattr(config, "strategy", "default") != "default"})
    if jobs > 1 and distributed:
        raise ConfigError(f"jobs={jobs} with strategy={distributed[0]!r}: a distributed run already uses every "
                          "device, so runs cannot also share them in parallel processes. Pass -j 1, or "
                          "--strategy default to run independent single-device runs side by side.")
    stop_event = stop_event or threading.Event()
    if jobs == 1 or len(configs) <= 1:
        return _train_here(configs, run_callbacks, on_run_done, stop_event)
    return _train_in_pool(configs, min(jobs, len(configs)), run_callbacks, on_run_done, stop_event)


def _train_here(configs: Sequence[RunConfig], run_callbacks: RunCallbacks | None, on_run_done: OnRunDone | None,
                stop_event: threading.Event) -> list[Run | None]:
    from workbench.training import train_run

    runs: list[Run | None] = [None] * len(configs)
    for index, config in enumerate(configs):
        if stop_event.is_set():
            break
        extra = list(run_callbacks(config)) if run_callbacks else []
        runs[index] = train_run(config, callbacks=extra, stop_event=stop_event)
        if on_run_done:
            on_run_done(index, runs[index])
    return runs


def _train_in_pool(configs: Sequence[RunConfig], jobs: int, run_callbacks: RunCallbacks | None,
                   on_run_done: OnRunDone | None, stop_event: threading.Event) -> list[Run | None]:
    context = multiprocessing.get_context("spawn")
    runs: list[Run | None] = [None] * len(configs)
    relays: dict[int, _CallbackReplay] = {}
    with context.Manager() as manager:
        events, worker_stop = manager.Queue(), manager.Event()
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                                                    initializer=_start_worker, initargs=(threads,)) as pool:
            futures = {pool.submit(_train_in_worker, index, config.to_dict(), events, worker_stop): index
                       for index, config in enumerate(configs)}
            pending = set(futures)
            failure: BaseException | None = None
            try:
                while pending:
                    done, pending = concurrent.futures.wait(pending, timeout=POLL_SECONDS,
                                                            return_when=concurrent.futures.FIRST_COMPLETED)
                    _replay_events(events, configs, run_callbacks, relays)
                    for future in done:
                        index = futures[future]
                        if future.cancelled():
                            continue
                        if future.exception() is not None:
                            failure = failure or future.exception()
                            continue
                        _replay_events(events, configs, run_callbacks, relays)
                        if future.result() is None:
                            continue
                        runs[index] = load_run(future.result())
                        relays.pop(index, _CallbackReplay([])).end()
                        if on_run_done:
                            on_run_done(index, runs[index])
                    if (failure is not None or stop_event.is_set()) and not worker_stop.is_set():
                        worker_stop.set()
                        for future in pending:
                            future.cancel()
            except BaseException:
                worker_stop.set()
                for future in pending:
                    future.cancel()
                raise
            finally:
                for relay in relays.values():
                    relay.end()
    if failure is not None:
        raise failure
    return runs


def _replay_events(events: Any, configs: Sequence[RunConfig], run_callbacks: RunCallbacks | None,
                   relays: dict[int, _CallbackReplay]) -> None:
    while True:
        try:
            kind, index, payload = events.get_nowait()
        except queue.Empty:
            return
        update: ProgressUpdate = payload
        if kind != "progress" or update.finished:
            continue  # the run's end is replayed when its result arrives (relay.end)
        if update.epoch == 0 or index not in relays:
            relays[index] = _CallbackReplay(list(run_callbacks(configs[index])) if run_callbacks else [])
            relays[index].begin({"epochs": update.epochs})
        if update.epoch:
            relays[index].epoch(update.epoch - 1, update.logs)


class _CallbackReplay:
    """Feeds a run's epoch events, relayed from its worker, to callbacks living in this process."""

    def __init__(self, callbacks: list[Any]) -> None:
        self.callbacks = callbacks

    def begin(self, params: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.set_params(params)
            callback.on_train_begin({})

    def epoch(self, epoch: int, logs: dict[str, float]) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def end(self) -> None:
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback.on_train_end({})


def _start_worker(threads: int) -> None:
    """Worker start-up: share the cores between the workers instead of each claiming all of them."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _train_in_worker(index: int, config_values: dict[str, Any], events: Any, worker_stop: Any) -> str | None:
    """Train one run in a worker process and return its path (Runs are read back by the parent).

    Returns None without training when Stop came first: the pool hands out a task or two ahead,
    and those cannot be cancelled from the parent any more.
    """
    from workbench.training import train_run

    if worker_stop.is_set():
        return None
    local_stop = threading.Event()
    # Asking the manager at every batch would cost a round trip per batch: a thread mirrors its
    # event into a local one instead, which StopOnEvent reads for nanoseconds.
    watcher = threading.Thread(target=_mirror_stop, args=(worker_stop, local_stop), daemon=True)
    watcher.start()
    try:
        config = config_from_mapping(config_values)
        run = train_run(config, callbacks=[_relay_progress(index, events)], stop_event=local_stop)
        return str(run.path)
    finally:
        local_stop.set()  # ends the watcher


def _mirror_stop(worker_stop: Any, local_stop: threading.Event) -> None:
    while not local_stop.is_set():
        try:
            if worker_stop.wait(POLL_SECONDS * 2):
                local_stop.set()
        except (EOFError, OSError, BrokenPipeError):
            return


def _relay_progress(index: int, events: Any) -> EpochProgress:
    """The worker's progress callback: each `ProgressUpdate` goes to the parent process, which
    replays it into the callbacks living there (bars, live curves)."""
    return EpochProgress(f"run {index}", lambda update: events.put(("progress", index, update)))
