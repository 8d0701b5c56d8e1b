"""The run format on disk: complete directories, names, safe model loading, and reading runs back."""

from __future__ import annotations

import json
import math
import os
import shutil
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import workbench
from workbench.errors import ConfigError, SourceRunError
from workbench.runs import load_run, write_json


def _transfer(source_run, runs_dir: Path, **overrides):
    values = {"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 5, "epochs": 2,
              "runs_dir": str(runs_dir), **overrides}
    return workbench.transfer(**values)


def test_a_transfer_run_directory_is_complete(source_run, runs_dir: Path) -> None:
    run = _transfer(source_run, runs_dir, mode="parameter", freeze_depth=2, name="one")
    names = {path.name for path in run.path.iterdir()}
    assert {"config.json", "history.csv", "metrics.json", "model.keras", "manifest.json",
            "transfer.json", "transfer.txt"} <= names
    assert [row["epoch"] for row in run.history] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(run.history[0])
    metrics = run.metrics
    assert metrics["status"] == "finished"
    assert metrics["test_examples"] == 500 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert np.array(metrics["confusion_matrix"]).sum() == 500
    assert set(metrics["per_class_accuracy"]) == {"5", "6", "7", "8", "9"}
    manifest = run.manifest
    assert manifest["versions"]["tensorflow"] and manifest["versions"]["keras"].startswith("3")
    assert manifest["data"]["fingerprint"] and manifest["seed"] == 0
    assert manifest["input_adaptation"] == ["grayscale → RGB (channel repeated)", "resized 28x28 → 32x32 (bilinear)"]
    assert run.transfer_report["freeze_depth"] == 2
    assert json.loads((run.path / "config.json").read_text())["source"] == str(source_run.path)


def test_saved_models_end_in_logits_and_load_in_safe_mode(source_run) -> None:
    model = keras.saving.load_model(source_run.model_path, safe_mode=True)
    # A Keras 3 archive: a zip holding the architecture and the weights, not a bare HDF5 file.
    with zipfile.ZipFile(source_run.model_path) as archive:
        assert {"config.json", "model.weights.h5"} <= set(archive.namelist())
    assert model.get_layer("head").activation.__name__ == "linear"
    assert model.loss is None or getattr(model.loss, "from_logits", True)


def test_a_source_run_without_a_model_is_refused(source_run, runs_dir: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "no-model"
    shutil.copytree(source_run.path, broken)
    (broken / "model.keras").unlink()
    with pytest.raises(SourceRunError, match="holds no model.keras"):
        _transfer(source_run, runs_dir, source=str(broken))


def test_existing_names_need_overwrite(source_run, runs_dir: Path) -> None:
    first = _transfer(source_run, runs_dir, name="same", epochs=1)
    with pytest.raises(ConfigError, match="--overwrite"):
        _transfer(source_run, runs_dir, name="same", epochs=1)
    replaced = _transfer(source_run, runs_dir, name="same", epochs=1, overwrite=True, mode="structure")
    assert replaced.path == first.path and replaced.config["mode"] == "structure"
    assert [path.name for path in runs_dir.iterdir()] == ["same"]


def test_a_truncated_model_file_is_a_readable_error(source_run, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "truncated"
    shutil.copytree(source_run.path, broken)
    data = (broken / "model.keras").read_bytes()
    (broken / "model.keras").write_bytes(data[: len(data) // 3])
    with pytest.raises(SourceRunError, match="cannot be loaded.*train the run again"):
        load_run(broken).load_model()


def test_a_model_with_a_lambda_layer_is_refused_in_safe_mode(source_run, tmp_path: Path) -> None:
    import shutil

    sneaky = tmp_path / "lambda"
    shutil.copytree(source_run.path, sneaky)
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    keras.Model(inputs, outputs).save(sneaky / "model.keras")
    with pytest.raises(SourceRunError, match="Lambda layer"):
        load_run(sneaky).load_model()


def test_a_shared_source_model_is_read_once_until_its_file_changes(source_run, tmp_path: Path) -> None:
    copy = load_run(shutil.copytree(source_run.path, tmp_path / "source"))
    first = copy.load_model(shared=True)
    assert copy.load_model(shared=True) is first
    assert copy.load_model() is not first  # an ordinary load is always a fresh model
    model_file = copy.path / "model.keras"
    model_file.write_bytes(model_file.read_bytes())  # rewritten: a later modification time
    os.utime(model_file, ns=(model_file.stat().st_atime_ns, model_file.stat().st_mtime_ns + 1_000_000))
    assert copy.load_model(shared=True) is not first



def test_task_data_rebuilds_the_runs_splits_from_its_config(source_run) -> None:
    data = source_run.task_data()
    assert list(data.class_names) == source_run.manifest["data"]["classes"]
    assert data.summary()["train_examples"] == source_run.manifest["data"]["train_examples"]
    everything = source_run.task_data(all_labels=True)
    assert everything.summary()["train_examples"] > data.summary()["train_examples"]  # the budget is dropped
    assert np.array_equal(everything.test[1], data.test[1])  # the test split does not depend on it


def test_run_files_hold_null_where_a_number_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    write_json(path, {"accuracy": math.nan, "gain": math.inf, "values": (1.0, np.float32(0.5)), "count": np.int64(3)})
    assert json.loads(path.read_text()) == {"accuracy": None, "gain": None, "values": [1.0, 0.5], "count": 3}
