"""Where a study's runs train when they do not train here: Dask distributed.

`open_cluster(jobs, address)` gives a connected `distributed.Client`:

- no address: an embedded `LocalCluster` on this machine, `jobs` worker processes of one thread
  each (one run at a time per worker), started with "spawn" and kept for the whole study, so each
  worker imports TensorFlow once. Where GPUs are visible each worker is pinned to one
  (`gpu_assignment`), so `-j` = the number of GPUs gives one worker per GPU.
- an address (`tcp://HOST:8786`): the running scheduler there, with whatever workers it has. Before
  the first run is submitted, `check_runs_folder` has every worker write and remove a probe file
  in the runs folder and checks that this machine sees it at the same path.

The address comes from `--cluster`, `-p cluster …`, the `cluster` argument of the API, or the
WORKBENCH_CLUSTER environment variable (`config.resolve_cluster`). Nothing here imports
TensorFlow: the workers import it when their first run starts (`prepare_worker` first quiets its
start-up lines and pins the GPU).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

CONNECT_SECONDS = 10
WORKER_WAIT_SECONDS = 30
PROBE_PREFIX = ".tmp-probe-"
GPU_RESOURCE = "GPU"
# Set by `open_cluster` in the environment of a LocalCluster's workers: the GPUs to share out, and
# that the process is one of ours (to end it quickly, see `prepare_worker`).
WORKER_GPUS_VARIABLE = "WORKBENCH_WORKER_GPUS"
EMBEDDED_WORKER_VARIABLE = "WORKBENCH_EMBEDDED_WORKER"


@contextlib.contextmanager
def open_cluster(jobs: int, address: str | None, announce: Any = None) -> Iterator[Any]:
    """A Dask client for one study: an embedded LocalCluster of `jobs` workers, or the scheduler at `address`.

    Args:
        jobs: worker processes of the embedded cluster (ignored with an address: the cluster's
            workers decide how many runs train at once).
        address: a checked scheduler address (`config.resolve_cluster`), or None for the embedded one.
        announce: called with one line (where the runs go, the dashboard link when there is one).
            Defaults to printing on stderr.

    Yields:
        The connected `distributed.Client`.

    Raises:
        ConfigError: the scheduler cannot be reached or has no workers.
    """
    from distributed import Client

    announce = announce or (lambda line: print(line, file=sys.stderr, flush=True))
    if address is None:
        cluster = _start_local_cluster(jobs)
        try:
            with Client(cluster) as client:
                link = dashboard_link(client)
                if link:
                    announce(f"workbench: runs on a local Dask cluster of {jobs} workers; dashboard {link}")
                yield client
        finally:
            cluster.close(timeout=30)
        return
    try:
        client = Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as error:
        raise ConfigError(
            f"Cannot reach the Dask scheduler at {address!r} ({type(error).__name__}: {error}). Start one with "
            "`dask scheduler` and workers with `dask worker ADDRESS --nthreads 1` (README: \"Running studies on a "
            "cluster\"), check the host and port (default 8786), or leave --cluster out and unset "
            "WORKBENCH_CLUSTER to train on this machine."
        ) from None
    with client:
        _wait_for_workers(client, address)
        link = dashboard_link(client)
        announce(f"workbench: runs go to the Dask scheduler at {address} "
                 f"({len(client.scheduler_info()['workers'])} workers){'; dashboard ' + link if link else ''}")
        yield client


def _start_local_cluster(jobs: int) -> Any:
    """The embedded cluster: `jobs` worker processes, one thread each, with their share of the machine."""
    from distributed import LocalCluster

    env = worker_environment(visible_gpus())
    # Worker processes started while SIGINT is ignored keep ignoring it: Ctrl-C in a terminal goes to
    # the whole process group, and a worker must not die mid-run; this process sets the study's stop
    # flag instead, and the workers stop their runs after a batch. Only the main thread may do this.
    ignoring = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if ignoring else None
    try:
        return LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, memory_limit=0,
                            dashboard_address=":0", silence_logs=logging.ERROR, env=env, scheduler_port=0,
                            host="127.0.0.1")
    finally:
        if ignoring:
            signal.signal(signal.SIGINT, previous)


def worker_environment(gpus: list[str]) -> dict[str, str]:
    """The environment of an embedded cluster's workers.

    TensorFlow's intra-op pool keeps its default size, the one a serial run in this process has:
    oneDNN's sums depend on the number of threads, so workers with fewer threads each (a share of
    the cores) trained other numbers than the serial study (6 of 1,000 test images apart after five
    epochs on all labels, bench/study_engine.py); with the default pool they are the same numbers.
    The inter-op pool, which only runs independent operations side by side and leaves the sums
    alone, gets one thread, so that N workers oversubscribe the cores less. With GPUs, TensorFlow
    grows its GPU memory as needed (two workers may share a GPU when `-j` exceeds the GPUs) and
    each worker takes the GPU `gpu_assignment` gives it.

    Args:
        gpus: the visible GPUs (`visible_gpus`).

    Returns:
        Variable name → value.
    """
    env = {EMBEDDED_WORKER_VARIABLE: "1", "TF_NUM_INTEROP_THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    if gpus:
        env.update({WORKER_GPUS_VARIABLE: ",".join(gpus), "TF_FORCE_GPU_ALLOW_GROWTH": "true"})
    return env


def gpu_assignment(worker_name: Any, gpus: list[str]) -> str | None:
    """The GPU an embedded cluster's worker trains on: worker i takes GPU i modulo the GPU count.

    Args:
        worker_name: the worker's name in its LocalCluster (0, 1, …).
        gpus: the GPUs shared out (`WORKBENCH_WORKER_GPUS`).

    Returns:
        The CUDA_VISIBLE_DEVICES value for this worker, or None without GPUs or a numbered name.
    """
    if not gpus:
        return None
    try:
        index = int(worker_name)
    except (TypeError, ValueError):
        return None
    return gpus[index % len(gpus)]


def visible_gpus() -> list[str]:
    """The GPUs this machine shows, without starting CUDA here: CUDA_VISIBLE_DEVICES, else `nvidia-smi`."""
    chosen = os.environ.get("CUDA_VISIBLE_DEVICES")
    if chosen is not None:
        return [item.strip() for item in chosen.split(",") if item.strip() and item.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                                text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listed.splitlines() if line.strip().isdigit()]


@functools.cache
def prepare_worker() -> None:
    """Once per worker process, before its first run imports TensorFlow: give Dask a random
    generator of its own, quiet TensorFlow's start-up lines and, in an embedded cluster with GPUs,
    make only this worker's GPU visible."""
    import dask.sizeof

    from workbench.fast_start import quiet_tensorflow_logs

    # Dask sizes every message a worker sends (heartbeats, progress, results) on its event-loop
    # thread, sampling collections of more than ten items with Python's global `random`. Keras
    # draws each layer's initializer seed from that same generator right after the run seeds it,
    # so a sample landing while a run builds its model changed its initial weights: the same config
    # gave another run than the serial study. A private generator for Dask's sampling leaves the
    # global one to the run.
    dask.sizeof.random = random.Random()

    if os.environ.get(EMBEDDED_WORKER_VARIABLE) == "1":
        # A worker process that ran TensorFlow on a task thread hangs in TensorFlow's teardown when
        # it exits, until its nanny kills it 4 s later: every study would end 4 s late. The worker
        # has closed by then (its threads are daemons); leaving at the first exit handler skips it.
        atexit.register(os._exit, 0)

    gpus = [item for item in os.environ.get(WORKER_GPUS_VARIABLE, "").split(",") if item]
    if gpus and "tensorflow" not in sys.modules:
        from distributed import get_worker

        chosen = gpu_assignment(get_worker().name, gpus)
        if chosen is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = chosen
    quiet_tensorflow_logs()


def run_resources(client: Any) -> dict[str, float] | None:
    """What each run asks of its worker: one GPU where workers offer a `GPU` resource
    (`dask worker ADDRESS --resources GPU=1`), so that a GPU worker trains one run at a time and
    runs wait for GPU workers; None (any worker) otherwise."""
    workers = client.scheduler_info().get("workers", {})
    if any(GPU_RESOURCE in (worker.get("resources") or {}) for worker in workers.values()):
        return {GPU_RESOURCE: 1}
    return None


def dashboard_link(client: Any) -> str | None:
    """The scheduler's dashboard URL where it serves the dashboard, else None.

    A scheduler always serves HTTP, but its dashboard pages need bokeh where the scheduler runs,
    so the scheduler is asked (a lambda: it travels by value, no workbench needed there).
    """
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        has_bokeh = client.run_on_scheduler(lambda: __import__("importlib.util").util.find_spec("bokeh") is not None)
    except Exception:  # noqa: BLE001 - a link is a courtesy: never fail a study for it
        return None
    return client.dashboard_link if has_bokeh else None


def check_runs_folder(client: Any, runs_dir: str) -> None:
    """Refuse a runs folder that some worker cannot write or that this machine does not share with them.

    Every worker writes a probe file into `runs_dir` (created if missing); this machine then reads
    each one back at the same path, and the probes are removed. A study's runs are read back here
    from where the workers wrote them, so both must hold.

    Raises:
        ConfigError: naming the worker, what went wrong and the fix.
    """
    token = secrets.token_hex(4)
    written = client.run(_write_probe, runs_dir, token, on_error="return")
    broken = {worker: result for worker, result in written.items()
              if isinstance(result, BaseException) and not isinstance(result, OSError)}
    if broken:
        worker, error = sorted(broken.items())[0]
        raise ConfigError(
            f"Worker {worker} cannot run the workbench ({type(error).__name__}: {error}). Every worker must run "
            "in an environment with the workbench and its packages installed (the same versions as here, e.g. "
            "`pip install -e .` from this checkout), then start it again with `dask worker ADDRESS --nthreads 1`."
        )
    problems: list[str] = []
    for worker, result in sorted(written.items()):
        if isinstance(result, BaseException):
            problems.append(f"worker {worker} cannot write there ({type(result).__name__}: {result})")
            continue
        probe = Path(result)
        if not probe.is_file() or probe.read_text() != f"{token} {worker}":
            problems.append(f"worker {worker} wrote {result!r}, which this machine does not see")
        probe.unlink(missing_ok=True)
    client.run(_remove_probe, runs_dir, token, on_error="return")
    if problems:
        raise ConfigError(
            f"The runs folder {runs_dir!r} is not shared by this machine and the cluster's workers: "
            f"{'; '.join(problems)}. A study's runs are written by the workers and read back here, so the "
            "folder must be on storage every worker and this machine see at the same path (NFS, a shared "
            "disk). Pass --runs-dir with such a folder (an absolute path), or leave --cluster out (and "
            "unset WORKBENCH_CLUSTER) to train on this machine."
        )


def _write_probe(runs_dir: str, token: str, dask_worker: Any = None) -> str:
    """On a worker: write `runs_dir/.tmp-probe-TOKEN-N` holding the token and the worker's address."""
    folder = Path(runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    address = dask_worker.address if dask_worker is not None else "?"
    probe = folder / f"{PROBE_PREFIX}{token}-{secrets.token_hex(3)}"
    probe.write_text(f"{token} {address}")
    return str(probe)


def _remove_probe(runs_dir: str, token: str) -> None:
    """On a worker: remove what is left of its probe (this machine removed those it could see)."""
    for probe in Path(runs_dir).glob(f"{PROBE_PREFIX}{token}-*"):
        probe.unlink(missing_ok=True)


def _wait_for_workers(client: Any, address: str) -> None:
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
    except TimeoutError:
        raise ConfigError(
            f"The Dask scheduler at {address!r} has no workers (waited {WORKER_WAIT_SECONDS} s). Start some with "
            f"`dask worker {address} --nthreads 1` on machines that share the runs folder, then run the study again."
        ) from None

