"""`workbench.engine` and `workbench.cluster`: `-j N` on an embedded Dask LocalCluster gives the serial
study's runs, with progress relayed and Stop honoured; the settings and checks around it, without a cluster.

The tests against a running `dask scheduler` and `dask worker` processes are in test_cluster.py."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import keras
import pytest
from interrupt_helpers import output_after_interrupt, start_as_in_a_terminal

from workbench.cli import main
from workbench.cluster import check_runs_folder, gpu_assignment, visible_gpus, worker_environment
from workbench.config import check_cluster, check_jobs, config_from_mapping, resolve_cluster
from workbench.engine import RunFailure, StudyRuns, format_failures, portable_config, train_runs
from workbench.errors import ConfigError
from workbench.experiments import run_comparison


class RecordingCallback(keras.callbacks.Callback):
    """Records the events a caller-side callback receives for one run."""

    def __init__(self, name: str, log: list, on_epoch=None) -> None:
        super().__init__()
        self.name, self.log, self.on_epoch = name, log, on_epoch

    def on_train_begin(self, logs=None):
        self.log.append((self.name, "begin", self.params.get("epochs")))

    def on_epoch_end(self, epoch, logs=None):
        self.log.append((self.name, "epoch", epoch, round(float(logs["accuracy"]), 6)))
        if self.on_epoch:
            self.on_epoch()

    def on_train_end(self, logs=None):
        self.log.append((self.name, "end"))


def same_runs(first, second) -> None:
    """Two studies made the same runs: names and plan order, seeds, splits, histories, accuracies."""
    assert [run.name for run in first] == [run.name for run in second]
    for one, other in zip(first, second):
        assert one.config["seed"] == other.config["seed"]
        assert one.manifest["data"] == other.manifest["data"]  # the data fingerprint and split sizes
        assert one.test_accuracy == pytest.approx(other.test_accuracy, abs=1e-6)
        assert [row["loss"] for row in one.history] == pytest.approx([row["loss"] for row in other.history], abs=1e-5)


@pytest.mark.xdist_group("multiprocess")
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_jobs_2_on_a_local_dask_cluster_gives_the_serial_comparison_and_replays_epochs(
        source_run, tmp_path, embedded_dask_cluster, monkeypatch):
    # `jobs=2` gets the session's embedded cluster, which `_start_local_cluster(2)` started: the same
    # LocalCluster it would start here, without two more TensorFlow processes; it stays open afterwards.
    started: list[int] = []

    def lend_the_session_cluster(jobs: int):
        started.append(jobs)
        return embedded_dask_cluster

    monkeypatch.setattr("workbench.cluster._start_local_cluster", lend_the_session_cluster)
    monkeypatch.setattr(embedded_dask_cluster, "close", lambda timeout=None: None)
    settings = {"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 5, "epochs": 2, "name": "par"}
    serial = run_comparison(config_from_mapping({**settings, "runs_dir": str(tmp_path / "serial")}, kind="transfer"),
                            seeds=[0], modes=["structure", "parameter"])
    log: list = []
    finished: list = []
    runs_dir = tmp_path / "dask"
    comparison = run_comparison(config_from_mapping({**settings, "runs_dir": str(runs_dir)}, kind="transfer"),
                                seeds=[0], modes=["structure", "parameter"], jobs=2,
                                run_callbacks=lambda config: [RecordingCallback(config.name, log)],
                                on_run_done=finished.append)

    assert [run.name for run in comparison.runs] == ["par-structure-s0", "par-parameter-s0"]
    same_runs(comparison.runs, serial.runs)
    assert sorted(run.name for run in finished) == sorted(run.name for run in comparison.runs)
    for run in comparison.runs:
        assert run.metrics["status"] == "finished"
        events = [event for event in log if event[0] == run.name]
        # begin (with the epoch count), one event per epoch carrying the worker's logs, end.
        assert events[0] == (run.name, "begin", 2)
        assert [event[2] for event in events if event[1] == "epoch"] == [0, 1]
        assert events[-1] == (run.name, "end")
        # The replayed logs are the worker's: the last epoch's accuracy is the saved history's.
        assert events[-2][3] == pytest.approx(run.history[-1]["accuracy"], abs=1e-5)
    assert not comparison.stopped and comparison.failures == []
    assert not list(runs_dir.glob(".tmp-*"))
    assert started == [2]


@pytest.mark.xdist_group("multiprocess")
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_stop_reaches_the_dask_workers_and_no_further_run_starts(source_run, runs_dir, local_dask_cluster):
    stop = threading.Event()  # the runs go to the session's embedded two-worker cluster, the one -j 2 starts
    configs = [config_from_mapping({"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 20,
                                    "epochs": 200, "seed": seed, "runs_dir": str(runs_dir),
                                    "name": f"long-s{seed}"}, kind="transfer") for seed in range(3)]
    runs = train_runs(configs, cluster=local_dask_cluster, stop_event=stop,
                      run_callbacks=lambda config: [RecordingCallback(config.name, [], on_epoch=stop.set)])

    started = [run for run in runs if run is not None]
    assert runs[2] is None, "the third run must not start after Stop"
    assert started and all(run.metrics["status"] == "stopped" for run in started)
    assert all(run.metrics["epochs_completed"] < 200 for run in started)
    assert runs.failures == []
    assert not list(runs_dir.glob(".tmp-*"))
    assert sorted(path.name for path in runs_dir.iterdir()) == sorted(run.name for run in started)


@pytest.mark.xdist_group("multiprocess")
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ctrl_c_in_a_terminal_stops_a_jobs_2_study_and_its_workers_save_their_runs(source_run, tmp_path):
    import glob
    import os
    import signal
    import subprocess
    import sys
    import time

    from workbench.runs import load_run

    runs_dir = tmp_path / "runs"
    command = [str(Path(sys.executable).with_name("workbench")), "compare", "--source", str(source_run.path),
               "--task", "mnist-5k:5-9", "--per-class", "20", "--epochs", "300", "--seeds", "3", "--modes",
               "structure", "--name", "cc", "--runs-dir", str(runs_dir), "-j", "2"]
    # A session of its own, so that SIGINT reaches the whole process group, as Ctrl-C in a terminal does:
    # the command and its LocalCluster's worker processes.
    process = start_as_in_a_terminal(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while len(glob.glob(str(runs_dir / ".tmp-cc-*" / "checkpoint.npz"))) < 2:
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the runs never started"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        error = output_after_interrupt(process, 180)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, error[-3000:]
    assert "saved as `stopped`, and no further run started" in error and "Traceback" not in error
    saved = sorted(path.name for path in runs_dir.iterdir())
    assert saved == ["cc-structure-s0", "cc-structure-s1"], saved  # nothing half-written, the third never began
    assert all(load_run(runs_dir / name).status == "stopped" for name in saved)


def test_jobs_must_be_a_positive_whole_number():
    assert check_jobs(2) == 2
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ConfigError, match="Pass e.g. -j 2"):
            check_jobs(bad)


def test_cli_rejects_jobs_zero_before_training(source_run, runs_dir, capsys):
    code = main(["compare", "--source", str(source_run.path), "--task", "mnist-5k:5-9", "--seeds", "1",
                 "--runs-dir", str(runs_dir), "-j", "0"])
    assert code == 2
    error = capsys.readouterr().err
    assert "jobs=0" in error and "-j 2" in error and "Traceback" not in error
    assert list(runs_dir.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# The cluster setting: --cluster, WORKBENCH_CLUSTER, -p cluster
# ------------------------------------------------------------------------------------------------


def test_scheduler_addresses_are_normalised_and_local_means_this_machine():
    assert check_cluster("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert check_cluster("scheduler.example.org") == "tcp://scheduler.example.org:8786"
    assert check_cluster("10.0.0.5:9000") == "tcp://10.0.0.5:9000"
    assert check_cluster("tls://head:8786") == "tls://head:8786"
    for here in (None, "", "local", " LOCAL "):
        assert check_cluster(here) is None


@pytest.mark.parametrize("bad", ["http://10.0.0.5:8786", "tcp://10.0.0.5:99999", "two words", "tcp://", 8786])
def test_a_bad_scheduler_address_names_the_forms_allowed(bad):
    with pytest.raises(ConfigError, match=r"is not a Dask scheduler address.*tcp://10\.0\.0\.5:8786.*--cluster local"):
        check_cluster(bad)


def test_the_environment_variable_is_the_default_and_local_overrides_it(monkeypatch):
    monkeypatch.setenv("WORKBENCH_CLUSTER", "10.0.0.5:8786")
    assert resolve_cluster() == "tcp://10.0.0.5:8786"
    assert resolve_cluster("local") is None
    assert resolve_cluster("tcp://other:1") == "tcp://other:1"
    monkeypatch.setenv("WORKBENCH_CLUSTER", "http://x")
    with pytest.raises(ConfigError, match="WORKBENCH_CLUSTER environment variable"):
        resolve_cluster()
    monkeypatch.delenv("WORKBENCH_CLUSTER")
    assert resolve_cluster() is None


@pytest.mark.parametrize("flags", [["--cluster", "http://10.0.0.5:8786"], ["-p", "cluster", "two words"]])
def test_cli_refuses_a_bad_cluster_before_anything_is_written(source_run, runs_dir, capsys, flags):
    code = main(["sweep-budget", "--source", str(source_run.path), "--task", "mnist-5k:5-9", "--budgets", "1",
                 "--seeds", "1", "--runs-dir", str(runs_dir), *flags])
    assert code == 2
    error = capsys.readouterr().err
    assert "workbench sweep-budget: error: cluster=" in error and "--cluster local" in error
    assert "Traceback" not in error
    assert list(runs_dir.iterdir()) == []


def test_cli_refuses_an_unreachable_scheduler_with_the_fix(source_run, runs_dir, capsys, monkeypatch):
    import socket

    monkeypatch.setattr("workbench.cluster.CONNECT_SECONDS", 2)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["compare", "--source", str(source_run.path), "--task", "mnist-5k:5-9", "--seeds", "1",
                 "--runs-dir", str(runs_dir), "--cluster", f"127.0.0.1:{port}"])
    assert code == 2
    error = capsys.readouterr().err
    assert f"Cannot reach the Dask scheduler at 'tcp://127.0.0.1:{port}'" in error
    assert "dask scheduler" in error and "dask worker" in error and "Traceback" not in error
    assert list(runs_dir.iterdir()) == []


def test_distributed_strategies_are_refused_on_a_cluster(source_run, runs_dir):
    config = config_from_mapping({"source": str(source_run.path), "runs_dir": str(runs_dir), "strategy": "mirrored"},
                                 kind="transfer")
    with pytest.raises(ConfigError, match=r"cluster='tcp://10\.0\.0\.5:8786' with strategy='mirrored'"):
        train_runs([config, config.replace(seed=1)], cluster="10.0.0.5:8786")
    with pytest.raises(ConfigError, match="jobs=2 with strategy='mirrored'"):
        train_runs([config, config.replace(seed=1)], jobs=2)


def test_report_checks_the_cluster_parameter_before_any_notebook_runs(tmp_path):
    from workbench.errors import ReportError
    from workbench.reports import plan_reports

    repository = Path(__file__).resolve().parents[1]
    plan = plan_reports(repository / "reports" / "config.yaml", tmp_path / "out",
                        parameters={"cluster": "10.0.0.5:8786"})
    # Every notebook that trains a study declares `cluster`; the pretraining one does not.
    declaring = {notebook.name for notebook in plan.notebooks if "cluster" in notebook.parameters}
    assert {"02_transfer_modes", "03_freeze_depth", "04_label_budget", "05_transferability"} <= declaring
    assert all(notebook.parameters["cluster"] == "10.0.0.5:8786" for notebook in plan.notebooks
               if notebook.name in declaring)
    with pytest.raises(ReportError, match=r"parameter cluster='http://x' is not usable.*Dask scheduler address"):
        plan_reports(repository / "reports" / "config.yaml", tmp_path / "out", parameters={"cluster": "http://x"})


def test_report_cluster_flag_is_the_cluster_parameter_and_appears_in_the_command():
    from workbench.cli.parser import build_parser
    from workbench.cli.report_command import with_cluster
    from workbench.reports import format_command

    arguments = build_parser().parse_args(["report", "--cluster", "tcp://10.0.0.5:8786", "--quick"])
    assert with_cluster({}, arguments.cluster) == {"cluster": "tcp://10.0.0.5:8786"}
    assert with_cluster({"cluster": "local"}, arguments.cluster) == {"cluster": "local"}  # an explicit -p wins
    assert "--cluster tcp://10.0.0.5:8786" in format_command(arguments)


# ------------------------------------------------------------------------------------------------
# Workers, GPUs, paths and the shared runs folder
# ------------------------------------------------------------------------------------------------


def test_local_workers_keep_tensorflows_threads_and_each_takes_one_gpu():
    cpu = worker_environment(gpus=[])
    # The serial run's intra-op pool: fewer threads per worker would change oneDNN's sums, and the numbers.
    assert "TF_NUM_INTRAOP_THREADS" not in cpu and cpu["TF_NUM_INTEROP_THREADS"] == "1"
    assert "WORKBENCH_WORKER_GPUS" not in cpu
    gpu = worker_environment(gpus=["0", "1"])
    assert gpu["WORKBENCH_WORKER_GPUS"] == "0,1" and gpu["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    # One worker per GPU; with more workers than GPUs they take turns.
    assert [gpu_assignment(name, ["0", "1"]) for name in (0, 1, 2, 3)] == ["0", "1", "0", "1"]
    assert gpu_assignment(0, []) is None and gpu_assignment("gpu-box", ["0"]) is None


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 3")
    assert visible_gpus() == ["2", "3"]
    for none in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", none)
        assert visible_gpus() == []


def test_paths_are_made_absolute_for_remote_workers(source_run, tmp_path, monkeypatch):
    (tmp_path / "photos" / "cat").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    config = config_from_mapping({"source": str(source_run.path), "runs_dir": "runs", "task": "folder:photos:cat"},
                                 kind="transfer")
    portable = portable_config(config)
    assert portable.runs_dir == str(tmp_path / "runs")
    assert portable.source == str(source_run.path.resolve())
    assert portable.task == f"folder:{tmp_path / 'photos'}:cat"
    named = config_from_mapping({"source": "source", "runs_dir": str(source_run.path.parent)}, kind="transfer")
    assert portable_config(named).source == str(source_run.path.resolve())  # a name under the runs folder


def test_a_runs_folder_the_workers_do_not_share_is_refused_with_the_fix(tmp_path):
    # A stand-in client: one worker writes its probe where this machine cannot see it, one cannot write.
    def run(function, *arguments, on_error="raise", **options):
        if function.__name__ == "_write_probe":
            return {"tcp://10.0.0.7:4000": str(tmp_path / "elsewhere" / ".tmp-probe-x"),
                    "tcp://10.0.0.8:4000": PermissionError(13, "Permission denied")}
        return {}

    with pytest.raises(ConfigError) as refused:
        check_runs_folder(SimpleNamespace(run=run), str(tmp_path / "runs"))
    message = str(refused.value)
    assert "tcp://10.0.0.7:4000 wrote" in message and "which this machine does not see" in message
    assert "tcp://10.0.0.8:4000 cannot write there (PermissionError" in message
    assert "--runs-dir" in message and "--cluster" in message


def test_failed_runs_are_listed_after_the_table_and_kept_apart_from_the_runs():
    failures = [RunFailure(2, "sweep-parameter-s1", "its worker tcp://10.0.0.7:4000 died while training it")]
    runs = StudyRuns([None, None, None], failures, {0: "tcp://10.0.0.7:4000"})
    assert list(runs) == [None, None, None] and runs.failures == failures and runs.workers == {0: "tcp://10.0.0.7:4000"}
    assert format_failures([]) == []
    assert format_failures(failures)[1:] == [
        "1 run(s) failed and are left out of the numbers above:",
        "  sweep-parameter-s1: its worker tcp://10.0.0.7:4000 died while training it"]
