"""Tracker export: TensorBoard (read back with TensorBoard's own event reader) and MLflow (read back
with MLflow's own client), from finished runs and live while runs train."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.config import RunConfig
from workbench.export import TensorBoardLogging, collect_runs, export_tensorboard, run_fingerprint
from workbench.engine import _CallbackReplay
from workbench.runs import load_run, write_history, write_json

NAN = math.nan


def write_run(folder: Path, history: list[tuple[float, float, float, float]], test_accuracy: float = 0.75,
              **config: object) -> Path:
    """A run directory in the real format (the writers `training` uses), without training: `history`
    holds (loss, accuracy, val_loss, val_accuracy) per epoch."""
    folder.mkdir(parents=True)
    values = RunConfig(**config).to_dict()
    values["name"] = folder.name
    (folder / "config.json").write_text(json.dumps(values))
    write_history(folder / "history.csv", [
        {"epoch": epoch, "loss": loss, "accuracy": accuracy, "val_loss": val_loss, "val_accuracy": val_accuracy,
         "seconds": 0.5, "partial": False}
        for epoch, (loss, accuracy, val_loss, val_accuracy) in enumerate(history, start=1)])
    write_json(folder / "metrics.json", {"status": "finished", "test_accuracy": test_accuracy, "test_loss": 0.61,
                                         "best_val_accuracy": max(row[3] for row in history)})
    write_json(folder / "manifest.json", {"created": "2026-11-27T18:15:00+01:00", "total_seconds": 12.5,
                                          "versions": {"tensorflow": "2.21.0"}, "data": {"fingerprint": "abc123"}})
    return folder


@pytest.fixture
def study_runs(tmp_path: Path) -> Path:
    """A report-like folder: two transfer runs under a notebook's runs folder, a source run beside them,
    a temporary folder of a run still training, and a folder that is no run."""
    root = tmp_path / "reports"
    write_run(root / "runs" / "source", [(1.2, 0.6, 1.0, 0.7), (0.8, 0.8, 0.7, 0.82)], test_accuracy=0.81)
    write_run(root / "02_transfer_modes" / "runs" / "compare-parameter-s0",
              [(1.0, 0.5, 0.9, 0.55), (0.7, 0.7, 0.6, 0.72), (0.5, 0.8, 0.5, 0.79)],
              kind="transfer", task="mnist-5k:5-9", source="runs/source", mode="parameter", freeze_depth=2,
              per_class=5, epochs=3)
    write_run(root / "02_transfer_modes" / "runs" / "compare-structure-s0",
              [(1.4, 0.3, NAN, NAN), (1.1, 0.45, 1.0, 0.5)],  # a first epoch without validation numbers
              test_accuracy=0.52, kind="transfer", task="mnist-5k:5-9", source="runs/source", mode="structure",
              epochs=2)
    (root / "runs" / ".tmp-training-1a2b").mkdir()
    (root / "runs" / ".tmp-training-1a2b" / "config.json").write_text("{}")
    (root / "02_transfer_modes" / "figures").mkdir()
    return root


def read_events(folder: Path) -> object:
    """TensorBoard's own reader over one run folder, everything loaded."""
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return accumulator


def scalars(folder: Path, tag: str) -> dict[int, float]:
    """step → value of one scalar tag (TF2 summaries are stored as tensors)."""
    from tensorboard.util import tensor_util

    return {event.step: float(tensor_util.make_ndarray(event.tensor_proto))
            for event in read_events(folder).Tensors(tag)}


def session_hyperparameters(folder: Path) -> dict[str, object]:
    from tensorboard.plugins.hparams import metadata

    content = read_events(folder).PluginTagToContent(metadata.PLUGIN_NAME)[metadata.SESSION_START_INFO_TAG]
    info = metadata.parse_session_start_info_plugin_data(content)
    values = {}
    for name, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        values[name] = getattr(value, kind)
    return values


def event_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("events.out.tfevents.*"))


def test_runs_are_found_at_any_depth_and_named_by_their_path(study_runs: Path) -> None:
    names = [named.name for named in collect_runs(study_runs)]
    assert names == ["02_transfer_modes/runs/compare-parameter-s0", "02_transfer_modes/runs/compare-structure-s0",
                     "runs/source"]
    assert [named.name for named in collect_runs(study_runs / "runs" / "source")] == ["source"]


def test_tensorboard_export_writes_every_epoch_where_keras_would(study_runs: Path, tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    export_tensorboard(study_runs, logdir)
    run = logdir / "02_transfer_modes" / "runs" / "compare-parameter-s0"
    assert scalars(run / "train", "epoch_accuracy") == pytest.approx({1: 0.5, 2: 0.7, 3: 0.8})
    assert scalars(run / "train", "epoch_loss") == pytest.approx({1: 1.0, 2: 0.7, 3: 0.5})
    assert scalars(run / "validation", "epoch_accuracy") == pytest.approx({1: 0.55, 2: 0.72, 3: 0.79})
    assert scalars(run / "validation", "epoch_loss") == pytest.approx({1: 0.9, 2: 0.6, 3: 0.5})
    # A missing validation number is left out, not written as NaN.
    structure = logdir / "02_transfer_modes" / "runs" / "compare-structure-s0"
    assert scalars(structure / "validation", "epoch_accuracy") == pytest.approx({2: 0.5})
    assert scalars(logdir / "runs" / "source" / "train", "epoch_accuracy") == pytest.approx({1: 0.6, 2: 0.8})


def test_tensorboard_export_fills_the_hparams_dashboard(study_runs: Path, tmp_path: Path) -> None:
    from tensorboard.plugins.hparams import metadata

    logdir = tmp_path / "logs"
    export_tensorboard(study_runs, logdir)
    experiment_content = read_events(logdir).PluginTagToContent(metadata.PLUGIN_NAME)[metadata.EXPERIMENT_TAG]
    experiment = metadata.parse_experiment_plugin_data(experiment_content)
    columns = {info.name for info in experiment.hparam_infos}
    assert {"mode", "freeze_depth", "per_class", "learning_rate", "epochs", "seed", "task", "source"} <= columns
    assert not columns & {"name", "runs_dir", "overwrite"}  # where a run is stored is no hyperparameter
    metrics = {(info.name.group, info.name.tag) for info in experiment.metric_infos}
    assert ("", "test_accuracy") in metrics and ("validation", "epoch_accuracy") in metrics

    run = logdir / "02_transfer_modes" / "runs" / "compare-parameter-s0"
    values = session_hyperparameters(run)
    assert values["mode"] == "parameter" and values["task"] == "mnist-5k:5-9" and values["input_shape"] == "32x32x3"
    assert values["freeze_depth"] == 2 and values["per_class"] == 5 and values["learning_rate"] == pytest.approx(1e-3)
    assert "copy_depth" not in values  # unset (None): left empty in the dashboard
    assert scalars(run, "test_accuracy") == pytest.approx({3: 0.75})
    assert scalars(logdir / "runs" / "source", "test_accuracy") == pytest.approx({2: 0.81})


def test_exporting_again_rewrites_the_logs_instead_of_adding_to_them(study_runs: Path, tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    export_tensorboard(study_runs, logdir)
    first = [path.relative_to(logdir).parent for path in event_files(logdir)]
    export_tensorboard(study_runs, logdir)
    second = [path.relative_to(logdir).parent for path in event_files(logdir)]
    assert sorted(first) == sorted(second)  # one event file per folder, both times
    run = logdir / "02_transfer_modes" / "runs" / "compare-parameter-s0"
    assert len(read_events(run / "train").Tensors("epoch_accuracy")) == 3


def test_live_logging_relayed_from_worker_processes_then_the_run_exported(study_runs: Path, tmp_path: Path) -> None:
    """`-j N` and `--cluster` replay each Dask worker's epoch events into this process's callbacks (`_CallbackReplay`);
    the live logger is one of them. An unnamed run logs into a provisional folder until it is saved."""
    logdir = tmp_path / "logs"
    tensorboard = TensorBoardLogging(logdir)
    replay = _CallbackReplay(tensorboard.callbacks({"kind": "transfer", "name": None}))
    replay.begin({"epochs": 3})
    replay.epoch(0, {"loss": 1.0, "accuracy": 0.5, "val_loss": 0.9, "val_accuracy": 0.55})
    replay.epoch(1, {"loss": 0.7, "accuracy": 0.7, "val_loss": 0.6, "val_accuracy": 0.72})
    (provisional,) = [path for path in logdir.iterdir() if path.is_dir()]
    assert provisional.name.startswith("training-transfer-")
    assert scalars(provisional / "validation", "epoch_accuracy") == pytest.approx({1: 0.55, 2: 0.72})  # live
    replay.epoch(2, {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.5, "val_accuracy": 0.79})
    replay.end()
    run = load_run(study_runs / "02_transfer_modes" / "runs" / "compare-parameter-s0")
    tensorboard.run_done(run)
    assert not provisional.exists()
    assert scalars(logdir / run.name / "train", "epoch_accuracy") == pytest.approx({1: 0.5, 2: 0.7, 3: 0.8})
    assert scalars(logdir / run.name, "test_accuracy") == pytest.approx({3: 0.75})
    assert session_hyperparameters(logdir / run.name)["mode"] == "parameter"


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """`workbench ...` in this process, in `cwd`: (exit code, stdout, stderr)."""

    def call(*arguments: str, cwd: Path) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(arguments))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


@pytest.mark.slow
def test_transfer_and_compare_log_live_with_tensorboard(source_run, tmp_path: Path, run_cli) -> None:
    shutil.copytree(source_run.path, tmp_path / "runs" / "source")
    code, out, err = run_cli("transfer", "--source", "runs/source", "--task", "digits:5-9", "--per-class", "3",
                             "--epochs", "2", "--tensorboard", "logs", cwd=tmp_path)
    assert code == 0, err
    run = load_run(out.strip())
    assert [path.name for path in (tmp_path / "logs").iterdir() if path.is_dir()] == [run.name]  # no provisional left
    assert sorted(scalars(tmp_path / "logs" / run.name / "train", "epoch_accuracy")) == [1, 2]
    assert scalars(tmp_path / "logs" / run.name, "test_accuracy") == pytest.approx({2: run.test_accuracy})

    code, out, err = run_cli("compare", "--source", "runs/source", "--task", "digits:5-9", "--per-class", "2",
                             "--epochs", "1", "--seeds", "1", "--modes", "structure,feature", "--name", "cmp",
                             "--tensorboard", "logs", cwd=tmp_path)
    assert code == 0, err
    for mode in ("structure", "feature"):
        folder = tmp_path / "logs" / f"cmp-{mode}-s0"
        assert sorted(scalars(folder / "validation", "epoch_accuracy")) == [1]
        assert session_hyperparameters(folder)["mode"] == mode


def test_export_command_refuses_bad_folders_in_one_paragraph(study_runs: Path, tmp_path: Path, run_cli) -> None:
    (tmp_path / "a-file").write_text("x")
    cases = [
        (("export", "tensorboard", "missing"), "RUNS_DIR 'missing' does not exist"),
        (("export", "tensorboard", "a-file"), "RUNS_DIR 'a-file' is a file, not a folder"),
        (("export", "tensorboard", str(tmp_path / "reports" / "02_transfer_modes" / "figures")),
         "holds no complete run directory"),
        (("export", "tensorboard", "reports", "--logdir", "a-file"), "--logdir 'a-file' is a file, not a folder"),
        (("export", "mlflow", "missing"), "RUNS_DIR 'missing' does not exist"),
    ]
    for arguments, message in cases:
        code, out, err = run_cli(*arguments, cwd=tmp_path)
        assert code == 2, (arguments, err)
        assert err.startswith("workbench export: error: ") and message in err and "Pass " in err, err
        assert "Traceback" not in err and err.count("\n") == 1, err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file", "reports"]  # nothing written


def test_export_mlflow_without_mlflow_names_the_install_command(study_runs: Path, tmp_path: Path, run_cli,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what an environment without the extra sees
    code, out, err = run_cli("export", "mlflow", "reports", cwd=tmp_path)
    assert code == 2
    assert "MLflow is not installed" in err and "pip install -e '.[mlflow]'" in err
    assert not (tmp_path / "mlruns.db").exists()


@pytest.fixture
def mlflow_client(tmp_path: Path):
    mlflow = pytest.importorskip("mlflow", reason="MLflow is the optional extra: pip install -e '.[mlflow]' "
                                                   "(make setup installs it)")
    uri = f"sqlite:///{tmp_path / 'tracking' / 'mlruns.db'}"
    (tmp_path / "tracking").mkdir()
    return uri, mlflow.MlflowClient(tracking_uri=uri)


def test_mlflow_export_reads_back_and_is_not_duplicated(study_runs: Path, tmp_path: Path, mlflow_client,
                                                        run_cli) -> None:
    uri, client = mlflow_client
    code, out, err = run_cli("export", "mlflow", "reports", "--tracking-uri", uri, cwd=tmp_path)
    assert code == 0, err
    assert out.strip() == uri and "3 run(s) exported, 0 already there" in err
    experiment = client.get_experiment_by_name("workbench")
    found = {mlflow_run.info.run_name: mlflow_run for mlflow_run in client.search_runs([experiment.experiment_id])}
    assert sorted(found) == [named.name for named in collect_runs(study_runs)]

    name = "02_transfer_modes/runs/compare-parameter-s0"
    mlflow_run = found[name]
    run = load_run(study_runs / name)
    assert mlflow_run.data.params["mode"] == "parameter" and mlflow_run.data.params["freeze_depth"] == "2"
    assert json.loads(mlflow_run.data.params["input_shape"]) == [32, 32, 3]
    assert mlflow_run.data.params["copy_depth"] == "null"
    history = client.get_metric_history(mlflow_run.info.run_id, "val_accuracy")
    assert {metric.step: metric.value for metric in history} == pytest.approx({1: 0.55, 2: 0.72, 3: 0.79})
    assert mlflow_run.data.metrics["test_accuracy"] == pytest.approx(0.75)
    assert mlflow_run.info.status == "FINISHED"
    tags = mlflow_run.data.tags
    assert tags["workbench.fingerprint"] == run_fingerprint(run) and tags["workbench.mode"] == "parameter"
    assert tags["workbench.run_path"] == str(run.path.resolve()) and tags["versions.tensorflow"] == "2.21.0"
    artifacts = {artifact.path for artifact in client.list_artifacts(mlflow_run.info.run_id, "run")}
    assert artifacts == {f"run/{file}" for file in ("config.json", "history.csv", "metrics.json", "manifest.json")}
    # The SQLite store keeps its artifacts beside the database file, not in the current folder.
    assert (tmp_path / "tracking" / "mlruns").is_dir() and not (tmp_path / "mlruns").exists()

    code, out, err = run_cli("export", "mlflow", "reports", "--tracking-uri", uri, cwd=tmp_path)
    assert code == 0 and "0 run(s) exported, 3 already there" in err
    assert len(client.search_runs([experiment.experiment_id])) == 3

    # A run trained again under the same name is another run, so it is exported once more.
    source = study_runs / "runs" / "source"
    write_json(source / "metrics.json", {**json.loads((source / "metrics.json").read_text()), "test_accuracy": 0.9})
    code, out, err = run_cli("export", "mlflow", "reports", "--tracking-uri", uri, cwd=tmp_path)
    assert "1 run(s) exported, 2 already there" in err
    assert len(client.search_runs([experiment.experiment_id])) == 4


def test_mlflow_default_store_is_a_sqlite_file_in_the_current_folder(source_run, tmp_path: Path,
                                                                      mlflow_client, run_cli) -> None:
    code, out, err = run_cli("export", "mlflow", str(source_run.path), cwd=tmp_path)
    assert code == 0, err
    assert out.strip() == "sqlite:///mlruns.db" and (tmp_path / "mlruns.db").is_file()
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns.db'}")
    (mlflow_run,) = client.search_runs([client.get_experiment_by_name("workbench").experiment_id])
    assert mlflow_run.info.run_name == "source"
    assert len(client.get_metric_history(mlflow_run.info.run_id, "accuracy")) == len(source_run.history)
    artifacts = {artifact.path for artifact in client.list_artifacts(mlflow_run.info.run_id, "run")}
    assert "run/model.keras" in artifacts


def test_make_tensorboard_exports_the_runs_then_serves_on_localhost_only(study_runs: Path, tmp_path: Path) -> None:
    """Runs the real `tensorboard` recipe with stand-ins for `workbench` and `tensorboard` that print
    their arguments."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("workbench", "tensorboard"):
        (bin_dir / program).write_text(f"#!/bin/sh\nfor a in \"$@\"; do echo \"{program}: $a\"; done\n")
        (bin_dir / program).chmod(0o755)
    stamp = tmp_path / "installed"
    stamp.touch()  # newer than pyproject.toml and the lock: `setup` has nothing to do
    repository = Path(__file__).resolve().parents[1]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TENSORBOARD_")}

    def make(*variables: str) -> list[str]:
        result = subprocess.run(["make", "--no-print-directory", "tensorboard", f"BIN={bin_dir}", f"STAMP={stamp}",
                                 f"TENSORBOARD_LOGDIR={tmp_path / 'logs'}", *variables], cwd=repository,
                                env=environment, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    lines = make(f"TENSORBOARD_RUNS={study_runs}")
    assert lines[:5] == ["workbench: export", "workbench: tensorboard", f"workbench: {study_runs}",
                         "workbench: --logdir", f"workbench: {tmp_path / 'logs'}"]
    served = [line.removeprefix("tensorboard: ") for line in lines if line.startswith("tensorboard: ")]
    assert served == ["--logdir", str(tmp_path / "logs"), "--host", "127.0.0.1", "--port", "6006"]
    assert "TensorBoard: http://127.0.0.1:6006/" in "\n".join(lines)
    # No runs folder: nothing to export, TensorBoard still serves the folder (made if missing).
    lines = make(f"TENSORBOARD_RUNS={tmp_path / 'no-runs'}", "TENSORBOARD_PORT=6123")
    assert not [line for line in lines if line.startswith("workbench: ")] and "tensorboard: 6123" in lines


def test_export_help_shows_real_examples(capsys: pytest.CaptureFixture) -> None:
    for command in (["export"], ["export", "tensorboard"], ["export", "mlflow"]):
        with pytest.raises(SystemExit) as caught:
            main([*command, "--help"])
        assert caught.value.code == 0
        text = capsys.readouterr().out
        assert "examples:" in text and "workbench export tensorboard runs --logdir tensorboard-logs" in text
    for command in ("pretrain", "transfer", "compare", "sweep-depth", "sweep-budget"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--tensorboard DIR" in capsys.readouterr().out
