"""Studies on a real Dask cluster: `dask scheduler` and two `dask worker --nthreads 1` processes on
127.0.0.1, started as subprocesses the way a user starts them (in a working folder of their own).

A sweep through `--cluster` matches the serial sweep; a worker killed mid-run leaves that run
`failed` with the reason while the others finish (and it is not trained again); Ctrl-C on a CLI
cluster study stops the running runs after a batch, saved `stopped`, starts no pending run and
leaves nothing half-written; runs ask for a `GPU` resource where workers offer one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import pytest
from interrupt_helpers import output_after_interrupt, start_as_in_a_terminal

from workbench.cli import main
from workbench.config import config_from_mapping
from workbench.engine import train_runs
from workbench.errors import ConfigError
from workbench.runs import list_runs, load_run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.xdist_group("multiprocess")]

DASK = str(Path(sys.executable).with_name("dask"))
WORKBENCH = str(Path(sys.executable).with_name("workbench"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class DaskCluster:
    """A scheduler address, a client of the test's own, and the processes to stop at the end."""

    address: str
    folder: Path
    client: object
    processes: list[subprocess.Popen] = field(default_factory=list)

    def start_worker(self, name: str, *options: str) -> subprocess.Popen:
        """`dask worker ADDRESS --nthreads 1 --name NAME` in its own working folder, as a user runs it."""
        work = self.folder / name
        work.mkdir(exist_ok=True)
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen([DASK, "worker", self.address, "--nthreads", "1", "--name", name,
                                    "--no-dashboard", "--local-directory", str(work), *options],
                                   cwd=work, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def worker_address(self, name: str, timeout: float = 60) -> str:
        """The address of the (running) worker called `name`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for address, worker in self.client.scheduler_info(n_workers=-1)["workers"].items():
                if worker.get("name") == name:
                    return address
            time.sleep(0.2)
        raise AssertionError(f"worker {name} did not join; see {self.folder / (name + '.log')}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A scheduler and two single-thread workers on 127.0.0.1 (random free ports), stopped at the end."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask-cluster")
    address = f"tcp://127.0.0.1:{free_port()}"
    log = open(folder / "scheduler.log", "ab")  # noqa: SIM115 - closed with the process
    scheduler = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                  "--no-dashboard"], cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    cluster = DaskCluster(address, folder, None, [scheduler])
    try:
        cluster.client = Client(address, timeout=60)
        for number in range(2):
            cluster.start_worker(f"worker-{number}")
        cluster.client.wait_for_workers(2, timeout=120)
        yield cluster
    finally:
        if cluster.client is not None:
            cluster.client.close()
        for process in reversed(cluster.processes):  # workers first, the scheduler last
            stop(process)


def tiny_config(source_run, runs_dir: Path, name: str, **values):
    return config_from_mapping({"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 5, "epochs": 1,
                                "runs_dir": str(runs_dir), "name": name, **values}, kind="transfer")


class Recording(keras.callbacks.Callback):
    """Records a run's replayed events here; `on_epoch` runs at each epoch end (once per epoch)."""

    def __init__(self, name: str, log: list, on_epoch=None) -> None:
        super().__init__()
        self.name, self.log, self.on_epoch = name, log, on_epoch

    def on_train_begin(self, logs=None):
        self.log.append((self.name, "begin"))

    def on_epoch_end(self, epoch, logs=None):
        self.log.append((self.name, "epoch", epoch))
        if self.on_epoch:
            self.on_epoch()

    def on_train_end(self, logs=None):
        self.log.append((self.name, "end"))


def test_a_sweep_through_cluster_matches_the_serial_sweep(dask_cluster, source_run, tmp_path, capsys):
    def sweep(runs_dir: Path, *extra: str) -> str:
        code = main(["sweep-budget", "--source", str(source_run.path), "--task", "mnist-5k:5-9", "--budgets", "2",
                     "--modes", "structure,parameter", "--seeds", "1", "--epochs", "1", "--name", "sweep",
                     "--runs-dir", str(runs_dir), *extra])
        output = capsys.readouterr()
        assert code == 0, output.err
        return output.out

    serial_table = sweep(tmp_path / "serial")
    cluster_table = sweep(tmp_path / "cluster", "--cluster", dask_cluster.address)

    # The same table (every point's mean ± sd and n) above the figure line, which names its folder.
    assert cluster_table.split("figure:")[0] == serial_table.split("figure:")[0]
    serial = {run.name: run for run in list_runs(tmp_path / "serial")}
    cluster = {run.name: run for run in list_runs(tmp_path / "cluster")}
    # Two runs for the two workers, from the same splits as the serial sweep.
    assert sorted(cluster) == sorted(serial) == ["sweep-parameter-b2-s0", "sweep-structure-b2-s0"]
    for name, run in cluster.items():
        assert run.status == "finished"
        assert run.manifest["data"] == serial[name].manifest["data"]  # same fingerprint, same splits
        assert run.test_accuracy == pytest.approx(serial[name].test_accuracy, abs=1e-6)
        assert run.history[-1]["loss"] == pytest.approx(serial[name].history[-1]["loss"], abs=1e-5)
        assert run.config["runs_dir"] == str((tmp_path / "cluster").resolve())  # absolute: workers have their own cwd
    assert not list((tmp_path / "cluster").glob(".tmp-*"))


def test_runs_return_in_plan_order_with_their_epochs_relayed(dask_cluster, source_run, tmp_path):
    log: list = []
    configs = [tiny_config(source_run, tmp_path, f"order-{seed}", seed=seed, epochs=2) for seed in (3, 1, 2)]
    runs = train_runs(configs, cluster=dask_cluster.address,
                      run_callbacks=lambda config: [Recording(config.name, log)])
    assert [run.name for run in runs] == ["order-3", "order-1", "order-2"]
    assert [run.config["seed"] for run in runs] == [3, 1, 2]
    assert set(runs.workers.values()) <= set(dask_cluster.client.scheduler_info()["workers"])
    for run in runs:
        assert [event[1:] for event in log if event[0] == run.name] == [("begin",), ("epoch", 0), ("epoch", 1),
                                                                        ("end",)]


def test_a_killed_worker_fails_its_run_with_the_reason_and_the_others_finish(dask_cluster, source_run, tmp_path):
    client = dask_cluster.client
    killed: dict[str, str] = {}

    def kill_the_worker_of_the_long_run() -> None:
        if killed:
            return
        for worker, keys in client.processing().items():
            if any(str(key).startswith("train_run-") and str(key).endswith("-0") for key in keys):
                pid = client.run(os.getpid, workers=[worker])[worker]
                os.kill(pid, signal.SIGKILL)
                killed["worker"] = worker
                return

    configs = [tiny_config(source_run, tmp_path, "long", per_class=20, epochs=300),
               tiny_config(source_run, tmp_path, "short-a", seed=1),
               tiny_config(source_run, tmp_path, "short-b", seed=2)]
    runs = train_runs(configs, cluster=dask_cluster.address, run_callbacks=lambda config: [
        Recording(config.name, [], on_epoch=kill_the_worker_of_the_long_run if config.name == "long" else None)])

    assert killed, "the long run's worker was never found"
    assert runs[0] is None
    assert [run.status for run in runs[1:]] == ["finished", "finished"]
    (failure,) = runs.failures
    assert failure.name == "long" and failure.index == 0
    assert f"its worker {killed['worker']} died while training it" in failure.reason
    assert "does not train a run twice" in failure.reason  # rescheduled by Dask, refused by the workbench
    assert not (tmp_path / "long").exists()
    leftovers = list(tmp_path.glob(".tmp-long-*"))
    if leftovers:  # it had finished an epoch: kept, and the reason says how to continue it
        assert all((folder / "checkpoint.npz").is_file() for folder in leftovers)
        assert "workbench resume long" in failure.reason
    else:
        assert "Nothing of it was kept" in failure.reason
    # The nanny restarts the killed worker: the cluster has two workers again for the next test.
    client.wait_for_workers(2, timeout=120)


def test_ctrl_c_stops_a_cluster_study_and_leaves_nothing_half_written(dask_cluster, source_run, tmp_path):
    runs_dir = tmp_path / "runs"
    command = [WORKBENCH, "compare", "--source", str(source_run.path), "--task", "mnist-5k:5-9", "--per-class", "20",
               "--epochs", "300", "--seeds", "3", "--modes", "structure", "--name", "ctrl-c", "--runs-dir",
               str(runs_dir), "--cluster", dask_cluster.address]
    process = start_as_in_a_terminal(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        # Two runs training (each has checkpointed an epoch), the third waiting for a worker.
        while len(list(runs_dir.glob(".tmp-ctrl-c-*/checkpoint.npz"))) < 2:
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the runs never started"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        error = output_after_interrupt(process, 180)
    finally:
        stop(process)
    assert process.returncode == 130, error[-3000:]
    assert "workbench compare: interrupted" in error and "saved as `stopped`" in error and "Traceback" not in error
    saved = sorted(path.name for path in runs_dir.iterdir())
    assert not [name for name in saved if name.startswith(".tmp-")], saved  # nothing half-written
    assert len(saved) == 2, saved  # the pending run never started
    for name in saved:
        run = load_run(runs_dir / name)
        assert run.status == "stopped" and 1 <= run.metrics["epochs_completed"] < 300


def test_runs_ask_for_a_gpu_where_workers_offer_one(dask_cluster, source_run, tmp_path):
    gpu_worker = dask_cluster.start_worker("gpu-worker", "--resources", "GPU=1")
    try:
        address = dask_cluster.worker_address("gpu-worker")
        configs = [tiny_config(source_run, tmp_path, f"gpu-{seed}", seed=seed) for seed in range(2)]
        runs = train_runs(configs, cluster=dask_cluster.address)
        assert [run.status for run in runs] == ["finished", "finished"]
        # Only the worker with the GPU resource trains, one run at a time; the two CPU workers do not.
        assert runs.workers == {0: address, 1: address}
    finally:
        stop(gpu_worker)
    deadline = time.monotonic() + 60
    while len(dask_cluster.client.scheduler_info()["workers"]) > 2 and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_runs_folder_the_workers_cannot_write_is_refused_before_any_run(dask_cluster, source_run, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError) as refused:
        train_runs([tiny_config(source_run, blocker / "runs", "never")], cluster=dask_cluster.address)
    message = str(refused.value)
    assert "is not shared by this machine and the cluster's workers" in message
    assert "cannot write there" in message and "--runs-dir" in message
    assert blocker.read_text() == "not a folder"


def test_a_bad_input_in_one_run_stops_the_study_with_that_error(dask_cluster, source_run, tmp_path):
    from workbench.errors import DataError

    configs = [tiny_config(source_run, tmp_path, "fine", epochs=50, per_class=20),
               tiny_config(source_run, tmp_path, "too-many", per_class=100_000)]
    with pytest.raises(DataError, match="per_class=100000"):
        train_runs(configs, cluster=dask_cluster.address)
    assert not list(tmp_path.glob(".tmp-*"))  # the other run stopped after a batch and was saved, or never began
    assert not (tmp_path / "too-many").exists()
