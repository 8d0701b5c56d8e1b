"""`jobs`: a study's independent runs in worker processes, with progress relayed and Stop honoured."""

from __future__ import annotations

import threading

import keras
import pytest

from workbench.cli import main
from workbench.config import config_from_mapping
from workbench.errors import ConfigError
from workbench.experiments import run_comparison
from workbench.parallel import check_jobs, train_runs


class RecordingCallback(keras.callbacks.Callback):
    """Records the events a parent-side callback receives for one run."""

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


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_parallel_comparison_keeps_plan_order_and_replays_epochs(source_run, runs_dir):
    base = config_from_mapping({"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 5,
                                "epochs": 2, "runs_dir": str(runs_dir), "name": "par"}, kind="transfer")
    log: list = []
    finished: list = []
    comparison = run_comparison(base, seeds=[0], modes=["structure", "parameter"], jobs=2,
                                run_callbacks=lambda config: [RecordingCallback(config.name, log)],
                                on_run_done=finished.append)

    assert [run.name for run in comparison.runs] == ["par-structure-s0", "par-parameter-s0"]
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
    assert not comparison.stopped
    assert not list(runs_dir.glob(".tmp-*"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_stop_reaches_worker_processes_and_no_further_run_starts(source_run, runs_dir):
    stop = threading.Event()
    configs = [config_from_mapping({"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 20,
                                    "epochs": 200, "seed": seed, "runs_dir": str(runs_dir),
                                    "name": f"long-s{seed}"}, kind="transfer") for seed in range(3)]
    runs = train_runs(configs, jobs=2, stop_event=stop,
                      run_callbacks=lambda config: [RecordingCallback(config.name, [], on_epoch=stop.set)])

    started = [run for run in runs if run is not None]
    assert runs[2] is None, "the third run must not start after Stop"
    assert started and all(run.metrics["status"] == "stopped" for run in started)
    assert all(run.metrics["epochs_completed"] < 200 for run in started)


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
