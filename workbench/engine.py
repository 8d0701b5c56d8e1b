"""Train a study's independent runs: here, one after another, or on Dask distributed.

Every run of a comparison, sweep or verification is independent of the others (its own seed,
split and model), so `train_runs` is the one place that decides where they train:

- `jobs=1` and no cluster: here, in this process, one after another (every Keras event reaches
  the caller's callbacks, batches included);
- `jobs=N`: an embedded Dask `LocalCluster` of N worker processes, one run at a time each;
- a cluster address (`--cluster`, `-p cluster`, WORKBENCH_CLUSTER): a running Dask scheduler.

On Dask each run is one task. The worker trains it with `training.train_run` into the study's
runs folder (which the workers and this machine share, `cluster.check_runs_folder`), and this
process reads the saved run back. The runs come back in plan order, the same runs a serial study
makes (same names, seeds, splits), whatever order they finish in.

Progress: the worker's one progress callback (`callbacks.EpochProgress`) puts each epoch's
`ProgressUpdate` on a Dask queue, and this process replays it into the caller's callbacks (CLI
bars, the panel's live curves, the notebooks' lines), so they see epoch events.

Stop: `Future.cancel()` cannot stop a task that is already running, so a Dask `Event` is the
study's stop flag: each running task mirrors it into the `threading.Event` that its run's
`StopOnEvent` reads after every batch, so running runs stop after a batch and are saved
"stopped", and tasks not yet started return without training. Stop in the panel, the caller's
`stop_event`, Ctrl-C and a run's bad input all set it.

Failures: Dask reschedules a task whose worker died. A task first claims its run (a Dask
`Variable` holding its worker's address); a rescheduled task that finds the claim does not train
the run again but reports it failed with the reason, and the study goes on. A `KilledWorker`
error (repeated deaths) is reported the same way. No run is retried silently.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.config import RunConfig, check_jobs, resolve_cluster
from workbench.errors import ConfigError
from workbench.runs import TEMPORARY_PREFIX, Run, load_run, resolve_run_path

RunCallbacks = Callable[[RunConfig], Sequence[Any]]
OnRunDone = Callable[[int, Run], None]
POLL_SECONDS = 0.1
STOP_POLL_SECONDS = 0.2
STOP_RETRY_SECONDS = 1.0
CLAIM_SECONDS = 10
UNCLAIMED = ""


@dataclass
class RunFailure:
    """A run that did not finish because its worker died (or the cluster lost it).

    Args:
        index: its place in the study's plan.
        name: the run's name.
        reason: what happened, and what is left of it (a resumable checkpoint, or nothing).
    """

    index: int
    name: str
    reason: str


def format_failures(failures: Sequence[RunFailure]) -> list[str]:
    """The lines a study's table ends with when runs failed: one per run, with the reason."""
    if not failures:
        return []
    return ["", f"{len(failures)} run(s) failed and are left out of the numbers above:",
            *(f"  {failure.name}: {failure.reason}" for failure in failures)]


class StudyRuns(list):
    """What `train_runs` returns: the runs in plan order (None for a run that never started or
    failed), with `failures` (`RunFailure`s, plan order) and `workers` (plan index → the address
    of the Dask worker that trained it; empty when the runs trained here)."""

    def __init__(self, runs: Sequence[Run | None], failures: Sequence[RunFailure] = (),
                 workers: dict[int, str] | None = None) -> None:
        super().__init__(runs)
        self.failures = sorted(failures, key=lambda failure: failure.index)
        self.workers = dict(workers or {})


def train_runs(
    configs: Sequence[RunConfig],
    jobs: int = 1,
    run_callbacks: RunCallbacks | None = None,
    on_run_done: OnRunDone | None = None,
    stop_event: threading.Event | None = None,
    cluster: str | None = None,
) -> StudyRuns:
    """Train every config and return the runs in the order of `configs`.

    Args:
        configs: the runs to train, each with its own name.
        jobs: runs trained at once on this machine: 1 trains here, one after another; N > 1
            starts an embedded Dask LocalCluster of N worker processes. Not used with a cluster
            address (its workers decide). Defaults to 1.
        run_callbacks: makes the extra Keras callbacks of one run (progress bars, live curves).
            On Dask they run here and see the epoch events only (no batch events).
        on_run_done: called with (index in `configs`, run) as each run is saved.
        stop_event: once set, the running runs stop after their current batch (saved "stopped")
            and no further run starts.
        cluster: a Dask scheduler address (`tcp://HOST:8786`), "local" for this machine, or None
            for the WORKBENCH_CLUSTER environment variable (this machine when it is unset).
            Defaults to None.

    Returns:
        The runs, in the order of `configs` (None for a run that never started or failed), with
        `.failures` saying which runs failed and why.

    Raises:
        WorkbenchError: bad jobs or cluster settings, an unreachable cluster or unshared runs
            folder (before any run starts), or the first bad input a run reports (the other runs
            then stop after a batch and no further run starts).
    """
    check_jobs(jobs)
    address = resolve_cluster(cluster)
    distributed = sorted({config.strategy for config in configs if getattr(config, "strategy", "default") != "default"})
    if (jobs > 1 or address) and distributed:
        where = f"cluster={address!r}" if address else f"jobs={jobs}"
        raise ConfigError(f"{where} with strategy={distributed[0]!r}: a distributed run already uses every "
                          "device, so runs cannot also share them as parallel tasks. Pass -j 1 without --cluster, "
                          "or --strategy default to run independent single-device runs side by side.")
    stop_event = stop_event or threading.Event()
    if address is None and (jobs == 1 or len(configs) <= 1):
        return StudyRuns(_train_here(configs, run_callbacks, on_run_done, stop_event))
    from workbench.cluster import check_runs_folder, open_cluster

    if address is not None:
        configs = [portable_config(config) for config in configs]
    with open_cluster(min(jobs, len(configs)), address) as client:
        for runs_dir in dict.fromkeys(config.runs_dir for config in configs):
            check_runs_folder(client, runs_dir)
        return _ClusterStudy(client, configs, run_callbacks, on_run_done, stop_event).run()


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


def portable_config(config: RunConfig) -> RunConfig:
    """The config with the paths a remote worker must find made absolute: the runs folder, the
    source run, the `data_root` copy and a `folder:` task's folder. (A worker's working directory
    is its own.)"""
    changes: dict[str, Any] = {"runs_dir": str(Path(config.runs_dir).expanduser().resolve())}
    if config.source:
        changes["source"] = str(resolve_run_path(config.source, config.runs_dir).resolve())
    if getattr(config, "data_root", None):
        changes["data_root"] = str(Path(config.data_root).expanduser().resolve())
    if config.task.startswith("folder:"):
        from workbench.data.tasks import parse_task

        spec = parse_task(config.task)
        if spec.path and not Path(spec.path).expanduser().is_absolute():
            rest = config.task[len("folder:") + len(spec.path):]
            changes["task"] = f"folder:{Path(spec.path).expanduser().resolve()}{rest}"
    return config.replace(**changes)


class _ClusterStudy:
    """One study on a Dask client: submit every run, relay progress, honour Stop, collect in plan order."""

    def __init__(self, client: Any, configs: Sequence[RunConfig], run_callbacks: RunCallbacks | None,
                 on_run_done: OnRunDone | None, stop_event: threading.Event) -> None:
        from distributed import Event, Queue

        self.client, self.configs = client, list(configs)
        self.run_callbacks, self.on_run_done, self.stop_event = run_callbacks, on_run_done, stop_event
        self.study = f"workbench-{secrets.token_hex(6)}"
        self.remote_stop = Event(f"{self.study}-stop", client=client)
        self.progress = Queue(f"{self.study}-progress", client=client)
        self.runs: list[Run | None] = [None] * len(configs)
        self.failures: list[RunFailure] = []
        self.workers: dict[int, str] = {}
        self.relays: dict[int, _CallbackReplay] = {}
        self.finished: set[int] = set()
        self.error: BaseException | None = None
        self.futures: dict[Any, int] = {}
        self.pending: set[Any] = set()
        self.stop_sent = False

    def run(self) -> StudyRuns:
        """Submit, then collect every result; Ctrl-C stops the study and still collects the stopped runs."""
        from distributed import Variable

        from workbench.cluster import run_resources

        resources = run_resources(self.client)
        for index in range(len(self.configs)):
            Variable(f"{self.study}-claim-{index}", client=self.client).set(UNCLAIMED)  # a get then never waits
        self.futures = {
            self.client.submit(train_on_worker, index, config, self.study, key=f"train_run-{self.study}-"
                               f"{index}", pure=False, retries=0, resources=resources): index
            for index, config in enumerate(self.configs)}
        self.pending = set(self.futures)
        try:
            # Ctrl-C sets a flag that the collecting loop reads, instead of raising at whatever line
            # of Dask's client code this thread is in (an exception there can cancel a call half-way
            # or leave one of its locks held, and the study then never learns the runs stopped).
            # Running runs stop after their batch and are saved "stopped"; pending ones return at
            # once. Both are waited for, so that nothing is left half-written, then Ctrl-C is passed on.
            with interrupt_as_flag() as interrupted:
                try:
                    self._collect(interrupted)
                except KeyboardInterrupt:  # a second Ctrl-C, or one outside the main thread's handler
                    self._request_stop()
                    self._collect(interrupted)
                    raise
            if interrupted.is_set():
                raise KeyboardInterrupt
        finally:
            for relay in self.relays.values():
                relay.end()
            self._clean_up()
        if self.error is not None:
            raise self.error
        return StudyRuns(self.runs, self.failures, self.workers)

    def _collect(self, interrupted: threading.Event) -> None:
        while self.pending:
            self._replay_progress()
            done = [future for future in self.pending if future.done()]
            for future in done:
                self.pending.discard(future)
                self._settle(self.futures[future], future)
            if self.stop_event.is_set() or self.error is not None or interrupted.is_set():
                self._request_stop()
            if not done:
                time.sleep(POLL_SECONDS)

    def _settle(self, index: int, future: Any) -> None:
        """One task ended: read its run back, or record its failure or error."""
        from distributed import KilledWorker

        if future.status == "error":
            error = future.exception()
            if isinstance(error, KilledWorker):  # its workers kept dying: Dask itself gave up on it
                self._fail(index, f"its worker died while training it, and Dask gave up on it ({error})")
            else:  # a bad input (WorkbenchError) or a bug: the whole study stops, as it does here
                self.error = self.error or error
            return
        if future.status == "cancelled":
            self._fail(index, "the Dask scheduler cancelled it (it restarted, or this client lost its connection)")
            return
        outcome = future.result()
        self._replay_progress()  # the worker put its last epochs on the queue before it returned
        if outcome.get("worker"):
            self.workers[index] = outcome["worker"]
        if outcome["status"] == "failed":
            self._fail(index, outcome["reason"])
        elif outcome["status"] == "trained":
            self.runs[index] = load_run(outcome["path"])
            self._end_relay(index)
            if self.on_run_done:
                self.on_run_done(index, self.runs[index])
        else:
            self._end_relay(index)

    def _fail(self, index: int, reason: str) -> None:
        config = self.configs[index]
        self._end_relay(index)
        self.failures.append(RunFailure(index, config.name or f"run {index}", reason + _leftover_note(config)))

    def _end_relay(self, index: int) -> None:
        self.finished.add(index)
        self.relays.pop(index, _CallbackReplay([])).end()

    def _replay_progress(self) -> None:
        for item in self.progress.get(batch=True):
            index = int(item["index"])
            if index in self.finished:
                continue  # a late event of a run already settled
            if item["epoch"] == 0 or index not in self.relays:
                callbacks = list(self.run_callbacks(self.configs[index])) if self.run_callbacks else []
                self.relays[index] = _CallbackReplay(callbacks)
                self.relays[index].begin({"epochs": item["epochs"]})
            if item["epoch"]:
                self.relays[index].epoch(int(item["epoch"]) - 1, dict(item["logs"]))

    def _request_stop(self) -> None:
        if not self.stop_sent:
            self.stop_sent = True
            self.remote_stop.set()

    def _clean_up(self) -> None:
        """Remove the study's stop flag, queue and claims from a long-lived scheduler."""
        from distributed import Variable

        try:
            self.remote_stop.clear()
            for index in range(len(self.configs)):
                Variable(f"{self.study}-claim-{index}", client=self.client).delete()
        except Exception:  # noqa: BLE001 - the scheduler may already be gone; nothing to clean then
            pass


def _leftover_note(config: RunConfig) -> str:
    """What a failed run left in the runs folder: a resumable checkpoint, or nothing (removed)."""
    from workbench.training import CHECKPOINT_FILE

    name = config.name or ""
    leftovers = sorted(Path(config.runs_dir).glob(f"{TEMPORARY_PREFIX}{glob.escape(name)}-*")) if name else []
    resumable = [folder for folder in leftovers if (folder / CHECKPOINT_FILE).is_file()]
    for folder in leftovers:
        if folder not in resumable:
            shutil.rmtree(folder, ignore_errors=True)
    if resumable:
        return (f". Its finished epochs are kept: `workbench resume {name} --runs-dir {config.runs_dir}` "
                "continues it")
    return ". Nothing of it was kept"


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


# ------------------------------------------------------------------------------------------------
# On the worker
# ------------------------------------------------------------------------------------------------


def train_on_worker(index: int, config: RunConfig, study: str) -> dict[str, Any]:
    """The task of one run, on a Dask worker: claim the run, train it, return where it was saved.

    Args:
        index: the run's place in the plan (progress events carry it).
        config: the run's config. (An object, not a dict: Dask sizes a dict of more than ten items
            by sampling it with Python's global `random`, on another thread, which would race
            with the seeding of the run being built here.)
        study: the study's name: its stop flag, progress queue and claims are named after it.

    Returns:
        {"status": "trained", "path", "worker"}; {"status": "not started"} when Stop came first;
        {"status": "failed", "reason", "worker"} when an earlier attempt of this run was lost
        with its worker (it is not trained again).
    """
    from workbench.cluster import prepare_worker

    prepare_worker()  # before TensorFlow loads in this process
    from distributed import Event, Queue, get_worker

    worker = get_worker().address
    remote_stop = Event(f"{study}-stop")
    # One run at a time per process, also on a worker started with several threads: a run sets
    # process-wide state (Keras' seeds, the dtype policy) that a second run would change under it.
    with _one_run_at_a_time():
        if remote_stop.is_set():
            return {"status": "not started", "worker": worker}
        outcome = _claim(study, index, worker)
        if outcome is not None:
            return outcome
        local_stop = threading.Event()
        # Asking the scheduler at every batch would cost a round trip per batch: a thread mirrors the
        # study's flag into a local event instead, which StopOnEvent reads in nanoseconds.
        watcher = threading.Thread(target=_mirror_stop, args=(remote_stop, local_stop), daemon=True)
        watcher.start()
        try:
            from workbench.callbacks import EpochProgress
            from workbench.training import train_run

            queue = Queue(f"{study}-progress")
            relay = EpochProgress(f"run {index}", lambda update: _put_progress(queue, index, update))
            run = train_run(config, callbacks=[relay], stop_event=local_stop)
            return {"status": "trained", "path": str(run.path), "worker": worker}
        finally:
            local_stop.set()  # ends the watcher; joined so that no wait of it outlives the study's cluster
            watcher.join()


@functools.cache
def _one_run_at_a_time() -> threading.Lock:
    """This worker process's lock around training (one per process, made on first use)."""
    return threading.Lock()


def _claim(study: str, index: int, worker: str) -> dict[str, Any] | None:
    """Mark the run as started by this worker; if an earlier attempt had started it (its worker
    died and Dask rescheduled the task), the outcome that reports it failed instead."""
    from distributed import Variable

    claim = Variable(f"{study}-claim-{index}")
    try:
        earlier = claim.get(timeout=CLAIM_SECONDS)
    except TimeoutError:  # the study is over (its claims are deleted): a stray task
        return {"status": "not started", "worker": worker}
    if earlier != UNCLAIMED:
        return {"status": "failed", "worker": worker, "reason":
                f"its worker {earlier} died while training it (killed, or out of memory); the workbench does not "
                "train a run twice"}
    claim.set(worker)
    return None


def _put_progress(queue: Any, index: int, update: Any) -> None:
    if not update.finished:  # the run's end is replayed when its result arrives
        queue.put({"index": index, "epoch": update.epoch, "epochs": update.epochs,
                   "logs": {key: float(value) for key, value in update.logs.items()}})


def _mirror_stop(remote_stop: Any, local_stop: threading.Event) -> None:
    while not local_stop.is_set():
        try:
            if remote_stop.wait(STOP_POLL_SECONDS):
                local_stop.set()
        except Exception:  # noqa: BLE001 - a slow or lost scheduler: ask again, until the run ends
            # Giving up here would let the run train to its last epoch after a Stop that came later.
            local_stop.wait(STOP_RETRY_SECONDS)


@contextlib.contextmanager
def interrupt_as_flag() -> Iterator[threading.Event]:
    """While inside, the first Ctrl-C (SIGINT) sets the yielded event instead of raising.

    A second Ctrl-C raises KeyboardInterrupt as usual. Only the main thread can handle signals, and
    only Python's own handler is replaced: elsewhere (a panel's thread, a host that installed its
    own handler) the event stays clear and Ctrl-C behaves as it did.
    """
    interrupted = threading.Event()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield interrupted
        return

    def first_interrupt(signum: int, frame: Any) -> None:
        interrupted.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
